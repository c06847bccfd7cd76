import os
import re

import numpy as np
import pytest
from PIL import Image

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.builder import build_dataloader, build_dataset
from ms_cls.data.datasets import CustomDataset, load_rgb
from ms_cls.errors import ImageLoadError


def make_images(root, layout, size=(20, 16), mode='RGB'):
    """layout: {'rel/path.jpg': None}; writes small images."""
    for rel in layout:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.new(mode, size, 128).save(path)


def test_folder_mode_sorted_classes_and_case_insensitive_extensions(tmp_path):
    root = str(tmp_path)
    make_images(root, ['b/1.JPG', 'b/sub/2.png', 'a/3.jpeg', 'a/4.WebP'])
    (tmp_path / 'a' / 'readme.txt').write_text('x')
    (tmp_path / 'a' / '.hidden.jpg').write_text('x')
    ds = CustomDataset(root)
    assert ds.classes == ['a', 'b']
    assert [(os.path.relpath(p, root), l) for p, l in ds.samples] == [
        ('a/3.jpeg', 0), ('a/4.WebP', 0), ('b/1.JPG', 1), ('b/sub/2.png', 1)]


def test_ann_file_mode_with_classes_list_and_txt(tmp_path):
    root = str(tmp_path / 'img')
    make_images(root, ['x/1.jpg', 'y/my photo.jpg'])
    ann = tmp_path / 'train.txt'
    ann.write_text('x/1.jpg 1\ny/my photo.jpg 0\n\n')
    classes_txt = tmp_path / 'classes.txt'
    classes_txt.write_text('cat\ndog\n')
    for classes in (['cat', 'dog'], str(classes_txt)):
        ds = CustomDataset(root, ann_file=str(ann), classes=classes)
        assert ds.classes == ['cat', 'dog']
        assert [l for _, l in ds.samples] == [1, 0]
    assert CustomDataset(root, ann_file=str(ann)).classes == ['0', '1']


def test_ann_file_errors_name_file_and_line(tmp_path):
    root = str(tmp_path)
    make_images(root, ['a.jpg'])
    ann = tmp_path / 'ann.txt'
    ann.write_text('a.jpg 0\na.jpg\n')
    with pytest.raises(ConfigError, match=r'ann\.txt, line 2'):
        CustomDataset(root, ann_file=str(ann))
    ann.write_text('a.jpg 3\n')
    with pytest.raises(ConfigError, match='label 3 .* outside 0..1'):
        CustomDataset(root, ann_file=str(ann), classes=['p', 'q'])
    ann.write_text('missing.jpg 0\n')
    with pytest.raises(ConfigError, match='do not exist'):
        CustomDataset(root, ann_file=str(ann))


def test_unlabelled_test_folder_flat_or_nested(tmp_path):
    root = str(tmp_path)
    make_images(root, ['2.jpg', '1.jpg', 'deep/er/0.png'])
    ds = CustomDataset(root, with_label=False)
    assert [os.path.relpath(p, root) for p, _ in ds.samples] == ['1.jpg', '2.jpg', 'deep/er/0.png']
    assert set(l for _, l in ds.samples) == {-1}


def test_bad_layouts_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match='folder not found'):
        CustomDataset(str(tmp_path / 'nope'))
    make_images(str(tmp_path / 'flat'), ['1.jpg'])
    with pytest.raises(ConfigError, match='no class sub-folders.*with_label=False'):
        CustomDataset(str(tmp_path / 'flat'))
    make_images(str(tmp_path / 'cls'), ['a/1.jpg'])
    os.makedirs(tmp_path / 'cls' / 'empty_class')
    with pytest.raises(ConfigError, match=r"class folders without images.*\['empty_class'\]"):
        CustomDataset(str(tmp_path / 'cls'))


def test_val_class_unknown_to_train_is_an_error(tmp_path, write):
    make_images(str(tmp_path / 'train'), ['a/1.jpg', 'b/1.jpg'])
    make_images(str(tmp_path / 'val'), ['b/1.jpg', 'zebra/1.jpg'])
    cfg = Config.fromfile(write('d.py', f"""
data = dict(samples_per_gpu=2,
            train=dict(type='CustomDataset', data_prefix='{tmp_path}/train'),
            val=dict(type='CustomDataset', data_prefix='{tmp_path}/val'))
"""))
    train = build_dataset(cfg.data, 'train')
    with pytest.raises(ConfigError, match=r"data\.val: classes \['zebra'\] are not among"):
        build_dataset(cfg.data, 'val', train.classes)


def test_val_labels_follow_train_classes_by_name(tmp_path):
    make_images(str(tmp_path / 'train'), ['a/1.jpg', 'b/1.jpg', 'c/1.jpg'])
    make_images(str(tmp_path / 'val'), ['c/1.jpg'])
    val = CustomDataset(str(tmp_path / 'val'))
    val.relabel(['a', 'b', 'c'])
    assert val.samples[0][1] == 2 and val.classes == ['a', 'b', 'c']


def test_broken_image_found_at_construction_and_named_at_decode(tmp_path):
    make_images(str(tmp_path), ['a/ok.jpg'])
    (tmp_path / 'a' / 'broken.jpg').write_bytes(b'not an image at all')
    ds = CustomDataset(str(tmp_path))
    with pytest.raises(ConfigError, match=r'(?s)1 unreadable image.*broken\.jpg'):
        ds.check_readable()
    with pytest.raises(ImageLoadError, match=r'broken\.jpg'):
        load_rgb(str(tmp_path / 'a' / 'broken.jpg'))


def test_gif_tiff_are_images_and_other_files_are_reported(tmp_path):
    root = tmp_path / 'd'
    make_images(str(root), ['a/x.tiff', 'b/z.png'])
    frames = [Image.new('RGB', (12, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(root / 'a' / 'anim.gif', save_all=True, append_images=frames[1:])
    for name in ('a/notes.txt', 'b/photo.heic', 'labels.csv'):
        (root / name).write_text('x')
    dataset = CustomDataset(str(root))
    assert [os.path.relpath(p, root) for p, _ in dataset.samples] == [
        'a/anim.gif', 'a/x.tiff', 'b/z.png']
    assert load_rgb(str(root / 'a' / 'anim.gif'))[0, 0].tolist() == [255, 0, 0]   # first frame
    assert re.fullmatch(
        rf"data: 3 file\(s\) under {root} are not images ms_cls reads and are left out "
        r"\(\.csv 1, \.heic 1, \.txt 1\), e\.g\. .*; read are \.jpg, .*\.gif.*\. "
        "Convert or remove them\\.", dataset.other_files_warning())
    chosen = CustomDataset(str(root), extensions=('.PNG', '.gif'))   # mmcls's argument, honoured
    assert [os.path.relpath(p, root) for p, _ in chosen.samples] == ['a/anim.gif', 'b/z.png']
    assert '4 file(s)' in chosen.other_files_warning() and '.tiff 1' in chosen.other_files_warning()
    with pytest.raises(ConfigError, match=r"data\.extensions = '\.png': give a tuple"):
        CustomDataset(str(root), extensions='.png')


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'CMYK', 'P', 'I;16', 'LA', '1'])
def test_any_image_mode_becomes_rgb_uint8(tmp_path, mode):
    path = str(tmp_path / ('x.tiff' if mode == 'CMYK' else 'x.png'))
    img = Image.new(mode, (7, 5), 200 if mode != 'I;16' else 50000)
    img.save(path)
    arr = load_rgb(path)
    assert arr.shape == (5, 7, 3) and arr.dtype == np.uint8
    if mode == 'I;16':
        assert arr[0, 0, 0] == round(50000 / 65535 * 255)


def test_pipeline_output_shapes_and_dtypes_for_odd_modes(tmp_path, write):
    for i, mode in enumerate(['L', 'RGBA', 'P', 'CMYK', 'RGB']):
        os.makedirs(tmp_path / 'data' / f'c{i}')
        Image.new(mode, (50 + i, 40), (100,) * len(mode) if mode != 'P' else 100).save(
            tmp_path / 'data' / f'c{i}' / ('0.jpg' if mode in ('CMYK', 'RGB', 'L') else '0.png'))
    cfg = Config.fromfile(write('p.py', f"""
norm = dict(mean=[1.0, 2.0, 3.0], std=[2.0, 2.0, 2.0], to_rgb=True)
data = dict(samples_per_gpu=5, workers_per_gpu=1, train=dict(
    type='CustomDataset', data_prefix='{tmp_path}/data',
    pipeline=[dict(type='LoadImageFromFile'), dict(type='Resize', size=(24, -1)),
              dict(type='CenterCrop', crop_size=(16, 20)), dict(type='RandomFlip', flip_prob=1.0),
              dict(type='Normalize', **norm), dict(type='Collect', keys=['img'])]))
"""))
    loader = build_dataloader(build_dataset(cfg.data, 'train'), 5, 1)
    batch = next(loader.create_dict_iterator(output_numpy=True))
    assert batch['image'].shape == (5, 3, 16, 20) and batch['image'].dtype == np.float32
    assert batch['label'].dtype == np.int32 and list(batch['label']) == [0, 1, 2, 3, 4]
    # a constant 100-grey image normalises to (100 - mean) / std per channel
    assert np.allclose(batch['image'][4, :, 0, 0], [(100 - 1) / 2, (100 - 2) / 2, (100 - 3) / 2],
                       atol=1.0)


def test_unknown_transform_lists_known_ones(tmp_path, write):
    os.makedirs(tmp_path / 'd' / 'a')
    Image.new('RGB', (8, 8)).save(tmp_path / 'd' / 'a' / '0.png')
    for bad, pattern in ((dict(type='RandomFlp'), r"Unknown transform type 'RandomFlp'.*"
                          r"Did you mean 'RandomFlip'.*Known types:.*Resize"),
                         (dict(type='RandomFlip', flip_prb=0.5),
                          r"'flip_prb'.*Did you mean 'flip_prob'"),
                         (dict(type='Resize', size=(8, 8), interpolation='fancy'),
                          r"train\.pipeline\[0\] Resize: interpolation='fancy'")):
        cfg = Config.fromfile(write('p.py', f"data = dict(samples_per_gpu=1, train=dict("
                                            f"type='CustomDataset', data_prefix='{tmp_path}/d', "
                                            f"pipeline=[{bad!r}]))\n"))
        with pytest.raises(ConfigError, match=pattern):
            build_dataloader(build_dataset(cfg.data, 'train'), 1, where='data.train')


def test_resize_semantics_match_mmcls():
    from ms_cls.data.pipeline import apply_pipeline, build_pipeline
    img = np.zeros((40, 80, 3), np.uint8)
    assert apply_pipeline(build_pipeline([dict(type='Resize', size=(20, -1))]), img).shape == (3, 20, 40)
    assert apply_pipeline(build_pipeline([dict(type='Resize', size=20)]), img).shape == (3, 20, 20)
    assert apply_pipeline(build_pipeline([dict(type='Resize', size=(10, 30))]), img).shape == (3, 10, 30)


def test_batch_larger_than_train_set_is_explained(tmp_path):
    make_images(str(tmp_path), ['a/1.jpg', 'b/1.jpg'])
    with pytest.raises(ConfigError, match='fewer than one batch'):
        build_dataloader(CustomDataset(str(tmp_path)), 4, drop_last=True)
