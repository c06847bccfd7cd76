"""mmcls's standard data set types on tiny copies written in their published on-disk formats."""
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from ms_cls.data.builder import ScanSpec, build_dataloader, build_dataset
from ms_cls.data.scan import DecodeCheck
from ms_cls.data.datasets import PILLOW_MAX_PIXELS
from ms_cls.errors import ConfigError

from conftest import tiny_cfg


def pixels(seed, size=8):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_png(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels(seed)).save(path, format='PNG')   # lossless, whatever the name
    return pixels(seed)


def build(split_cfg, split='train', classes=None):
    return build_dataset({split: split_cfg}, split, classes)


# ---------------------------------------------------------------- CustomDataset keys

def test_custom_dataset_accepts_mmcls_keys_and_only_the_disk_backend(tmp_path):
    write_png(str(tmp_path / 'a' / '1.png'), 0)
    write_png(str(tmp_path / 'b' / '2.PNG'), 1)
    write_png(str(tmp_path / 'b' / '3.gif'), 2)
    cfg = dict(type='CustomDataset', data_prefix=str(tmp_path), test_mode=True,
               extensions=('.png',), file_client_args=dict(backend='disk'))
    dataset = build(cfg)
    assert [os.path.basename(p) for p, _ in dataset.samples] == ['1.png', '2.PNG']
    assert dataset.classes == ['a', 'b'] and dataset.test_mode
    with pytest.raises(ConfigError, match=r"data.train.file_client_args = \{'backend': "
                                          r"'petrel'\}: ms_cls reads local files only"):
        build(dict(cfg, file_client_args=dict(backend='petrel')))


# ---------------------------------------------------------------- ImageNet, ImageNet21k

def make_imagenet(root):
    first = write_png(f'{root}/train/n01/a.JPEG', 0)
    write_png(f'{root}/train/n02/deep/b.JPEG', 1)
    write_png(f'{root}/val/v1.JPEG', 2)
    write_png(f'{root}/val/v2.JPEG', 3)
    os.makedirs(f'{root}/meta')
    with open(f'{root}/meta/val.txt', 'w') as f:
        f.write('v1.JPEG 1\nv2.JPEG 0\n')
    return first


@pytest.mark.parametrize('kind', ['ImageNet', 'ImageNet21k'])
def test_imagenet_folders_and_ann_file_labels_index_the_training_classes(tmp_path, kind):
    root = str(tmp_path)
    first = make_imagenet(root)
    extra = dict(recursion_subdir=True, serialize_data=False) if kind == 'ImageNet21k' else {}
    train = build(dict(type=kind, data_prefix=f'{root}/train', **extra))
    assert train.classes == ['n01', 'n02'] and train.labels.tolist() == [0, 1]
    assert train.samples[1][0].endswith(os.path.join('n02', 'deep', 'b.JPEG'))
    np.testing.assert_array_equal(train.load_image(0), first)
    val = build(dict(type=kind, data_prefix=f'{root}/val', ann_file=f'{root}/meta/val.txt',
                     test_mode=True, **extra), 'val', train.classes)
    assert val.classes == ['n01', 'n02'] and val.labels.tolist() == [1, 0]


def test_imagenet21k_refuses_what_it_cannot_honour(tmp_path):
    make_imagenet(str(tmp_path))
    cfg = dict(type='ImageNet21k', data_prefix=str(tmp_path / 'train'))
    with pytest.raises(ConfigError, match='recursion_subdir = False: mmcls 0.25 always reads'):
        build(dict(cfg, recursion_subdir=False))
    with pytest.raises(ConfigError, match='multi_label = True'):
        build(dict(cfg, multi_label=True))
    with pytest.raises(ConfigError, match="Unknown key 'extensions'"):
        build(dict(type='ImageNet', data_prefix=str(tmp_path / 'train'), extensions=('.png',)))


# ---------------------------------------------------------------- CIFAR

class Python2Pickler(pickle._Pickler):
    """Protocol 2 with bytes written as Python 2 str (SHORT_BINSTRING / BINSTRING), as in the
    published CIFAR files: Python 3's protocol 2 would reach for _codecs.encode instead."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_str2(self, obj):
        size = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([size]) + obj if size < 256
                   else pickle.BINSTRING + struct.pack('<i', size) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_str2


def write_pickle(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        Python2Pickler(f, protocol=2).dump(obj)


def cifar_rows(seed, n):
    """n CIFAR rows (R plane, G plane, B plane of 32x32 each) and their HWC images."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return images.transpose(0, 3, 1, 2).reshape(n, 3072).copy(), images


def make_cifar(root, kind='CIFAR10', per_batch=3):
    """The published layout with bytes keys, as the Python 2 pickles read with
    encoding='bytes'; returns the first training image and the first test image."""
    if kind == 'CIFAR10':
        folder, key = f'{root}/cifar-10-batches-py', b'labels'
        names = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
        write_pickle(f'{folder}/batches.meta', {b'label_names': [b'plane', b'car', b'bird'],
                                                b'num_vis': 3072})
    else:
        folder, key = f'{root}/cifar-100-python', b'fine_labels'
        names = ['train', 'test']
        write_pickle(f'{folder}/meta', {b'fine_label_names': [b'apple', b'bear'],
                                        b'coarse_label_names': [b'fruit', b'animal']})
    firsts = []
    for i, name in enumerate(names):
        data, images = cifar_rows(i, per_batch)
        labels = [(i + row) % 2 for row in range(per_batch)]
        write_pickle(f'{folder}/{name}', {b'batch_label': name.encode(), key: labels,
                                          b'data': data, b'coarse_labels': labels,
                                          b'filenames': [b'x.png'] * per_batch})
        firsts.append(images[0])
    return firsts[0], firsts[-1]


@pytest.mark.parametrize('kind', ['CIFAR10', 'CIFAR100'])
def test_cifar_batches_train_and_test_split(tmp_path, kind):
    first_train, first_test = make_cifar(str(tmp_path), kind)
    train = build(dict(type=kind, data_prefix=str(tmp_path)))
    test = build(dict(type=kind, data_prefix=str(tmp_path), test_mode=True), 'test',
                 train.classes)
    n_train = 15 if kind == 'CIFAR10' else 3
    assert len(train) == n_train and len(test) == 3
    assert train.classes == (['plane', 'car', 'bird'] if kind == 'CIFAR10' else ['apple', 'bear'])
    assert train.labels.tolist()[:3] == [0, 1, 0] and test.labels.tolist() == [1, 0, 1]
    image = train.load_image(0)
    assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
    np.testing.assert_array_equal(image, first_train)
    np.testing.assert_array_equal(test.load_image(0), first_test)
    check = DecodeCheck(ScanSpec(skip_broken=False, cache=None, max_pixels=PILLOW_MAX_PIXELS),
                        writable=False)
    warnings = check.check([(train, 'training'), (test, 'test')])
    assert check.images == 0 and len(warnings) == 2
    assert 'differ from the published' in warnings[0] and 'md5' in warnings[0]
    renamed = build(dict(type=kind, data_prefix=str(tmp_path),
                         classes=[f'c{i}' for i in range(len(train.classes))]))
    assert renamed.classes[0] == 'c0'


def test_cifar_batches_feed_the_loader_and_drop(tmp_path):
    make_cifar(str(tmp_path))
    train = build(dict(type='CIFAR10', data_prefix=str(tmp_path), pipeline=[]))
    train.drop([(train.samples[0][0], 'gone')])
    loader = build_dataloader(train, 4, workers_per_gpu=1)
    images, labels = next(loader.create_tuple_iterator(output_numpy=True))[:2]
    assert images.shape == (4, 3, 32, 32) and len(train) == 14
    np.testing.assert_array_equal(images[0].transpose(1, 2, 0), train.load_image(0))
    assert labels.tolist() == train.labels[:4].tolist()


def test_cifar_missing_or_malformed_files_are_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        build(dict(type='CIFAR10', data_prefix=str(tmp_path / 'cifar10')))
    message = str(err.value)
    assert 'https://www.cs.toronto.edu/~kriz/cifar.html' in message and '\n' not in message
    assert 'cifar-10-batches-py' in message and 'data_batch_1' in message
    make_cifar(str(tmp_path))
    with pytest.raises(ConfigError, match='leave ann_file out'):
        build(dict(type='CIFAR10', data_prefix=str(tmp_path), ann_file='x.txt'))
    write_pickle(str(tmp_path / 'cifar-10-batches-py' / 'test_batch'),
                 {b'labels': [0], b'data': np.zeros((1, 10), np.uint8)})
    with pytest.raises(ConfigError, match=r"test_batch: 'data' should be a uint8 array of N x"):
        build(dict(type='CIFAR10', data_prefix=str(tmp_path), test_mode=True))


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_a_cifar_pickle_that_asks_for_a_function_is_refused_and_nothing_runs(tmp_path):
    make_cifar(str(tmp_path))
    marker = tmp_path / 'ran'
    write_pickle(str(tmp_path / 'cifar-10-batches-py' / 'data_batch_1'),
                 {b'labels': [0], b'data': RunsACommand(marker)})
    with pytest.raises(ConfigError, match=r"data_batch_1: not a CIFAR python batch \(it names "
                                          r"(posix|os)\.system"):
        build(dict(type='CIFAR10', data_prefix=str(tmp_path)))
    assert not marker.exists()


def test_training_runs_on_cifar_batches(tmp_path):
    from ms_cls.engine.trainer import train
    make_cifar(str(tmp_path / 'cifar'), per_batch=4)
    cfg = tiny_cfg(str(tmp_path), **{
        'data.train.type': 'CIFAR10', 'data.train.data_prefix': str(tmp_path / 'cifar'),
        'data.val.type': 'CIFAR10', 'data.val.data_prefix': str(tmp_path / 'cifar'),
        'data.val.test_mode': True, 'data.samples_per_gpu': 10, 'runner.max_epochs': 1,
        'model.head.num_classes': 3})
    summary = train(cfg, str(tmp_path / 'work'))
    assert os.path.isfile(os.path.join(str(tmp_path / 'work'), 'epoch_1.ckpt')), summary


# ---------------------------------------------------------------- CUB

def make_cub(root):
    """4 images of 2 classes; ids 1 and 4 train, 2 and 3 test (CUB's text files)."""
    files = ['001.Albatross/a1.jpg', '001.Albatross/a2.jpg', '002.Auklet/b1.jpg',
             '002.Auklet/b2.jpg']
    first = None
    for i, rel in enumerate(files):
        image = write_png(f'{root}/images/{rel}', i)
        first = image if first is None else first
    lines = {'images.txt': [f'{i} {rel}' for i, rel in enumerate(files, 1)],
             'image_class_labels.txt': ['1 1', '2 1', '3 2', '4 2'],
             'train_test_split.txt': ['1 1', '2 0', '3 0', '4 1']}
    for name, rows in lines.items():
        with open(f'{root}/{name}', 'w') as f:
            f.write('\n'.join(rows) + '\n')
    return first


def cub_cfg(root, **extra):
    return dict(type='CUB', ann_file=f'{root}/images.txt',
                image_class_labels_file=f'{root}/image_class_labels.txt',
                train_test_split_file=f'{root}/train_test_split.txt',
                data_prefix=f'{root}/images', **extra)


def test_cub_split_labels_and_folder_class_names(tmp_path):
    root = str(tmp_path)
    first = make_cub(root)
    train = build(cub_cfg(root))
    test = build(cub_cfg(root, test_mode=True), 'test', train.classes)
    assert train.classes == ['001.Albatross', '002.Auklet']
    assert [os.path.basename(p) for p, _ in train.samples] == ['a1.jpg', 'b2.jpg']
    assert train.labels.tolist() == [0, 1] and test.labels.tolist() == [0, 1]
    assert [os.path.basename(p) for p, _ in test.samples] == ['a2.jpg', 'b1.jpg']
    np.testing.assert_array_equal(train.load_image(0), first)
    with open(f'{root}/train_test_split.txt', 'a') as f:
        f.write('5 1\n')
    with pytest.raises(ConfigError, match='should list the same image ids'):
        build(cub_cfg(root))
    with pytest.raises(ConfigError, match=r'cub_200_2011/ and point the keys'):
        build(cub_cfg(str(tmp_path / 'nowhere')))


# ---------------------------------------------------------------- Stanford Cars

def write_annos(path, rows):
    """An 'annotations' struct array as the devkit's: bbox_x1..y2, class (from 1), fname."""
    from scipy.io import savemat
    fields = ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname']
    records = np.zeros((1, len(rows)), dtype=[(f, 'O') for f in fields])
    for i, (fname, label) in enumerate(rows):
        records[0, i] = (np.array([[1]]), np.array([[1]]), np.array([[7]]), np.array([[7]]),
                         np.array([[label]], dtype=np.uint8), np.array([fname]))
    savemat(path, {'annotations': records})


def make_cars(root, meta=True):
    from scipy.io import savemat
    first = write_png(f'{root}/cars_train/00001.jpg', 0)
    write_png(f'{root}/cars_train/00002.jpg', 1)
    write_png(f'{root}/cars_test/00001.jpg', 2)
    os.makedirs(f'{root}/devkit')
    write_annos(f'{root}/devkit/cars_train_annos.mat', [('00001.jpg', 2), ('00002.jpg', 1)])
    write_annos(f'{root}/devkit/cars_test_annos_withlabels.mat', [('00001.jpg', 1)])
    if meta:
        names = np.empty((1, 2), dtype=object)
        names[0, 0], names[0, 1] = np.array(['AM General Hummer']), np.array(['Acura RL'])
        savemat(f'{root}/devkit/cars_meta.mat', {'class_names': names})
    return first


def test_stanford_cars_mat_files(tmp_path):
    pytest.importorskip('scipy')
    root = str(tmp_path)
    first = make_cars(root)
    train = build(dict(type='StanfordCars', data_prefix=root, test_mode=False))
    test = build(dict(type='StanfordCars', data_prefix=root, test_mode=True), 'test',
                 train.classes)
    assert train.classes == ['AM General Hummer', 'Acura RL']
    assert train.labels.tolist() == [1, 0] and test.labels.tolist() == [0]
    assert test.samples[0][0] == os.path.join(root, 'cars_test', '00001.jpg')
    np.testing.assert_array_equal(train.load_image(0), first)
    with pytest.raises(ConfigError, match='StanfordCars needs it set'):
        build(dict(type='StanfordCars', data_prefix=root))
    with pytest.raises(ConfigError, match=r'jkrause/cars/car_dataset.html'):
        build(dict(type='StanfordCars', data_prefix=str(tmp_path / 'none'), test_mode=True))


def test_stanford_cars_without_meta_numbers_classes_as_training_indices(tmp_path):
    pytest.importorskip('scipy')
    root = str(tmp_path)
    make_cars(root, meta=False)
    train = build(dict(type='StanfordCars', data_prefix=root, test_mode=False,
                       classes=['hummer', 'acura']))
    test = build(dict(type='StanfordCars', data_prefix=root, test_mode=True), 'test',
                 train.classes)
    assert test.classes == ['hummer', 'acura'] and test.labels.tolist() == [0]
    write_annos(f'{root}/devkit/bad.mat', [])
    with pytest.raises(ConfigError, match='no test images are listed'):
        build(dict(type='StanfordCars', data_prefix=root, test_mode=True,
                   ann_file=f'{root}/devkit/bad.mat'))
