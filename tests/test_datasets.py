import os
import re

import numpy as np
import pytest
from PIL import Image

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.builder import build_dataloader, build_dataset
from ms_cls.data.builder import ScanSpec
from ms_cls.data.datasets import (PILLOW_MAX_PIXELS, CustomDataset, decode_error, load_rgb,
                                  set_max_image_pixels)
from ms_cls.data.scan import DecodeCache, DecodeCheck
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


def make_truncated_jpeg(path, keep=0.6):
    """A JPEG whose header is fine and whose pixel data is cut short."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    blob = open(path, 'rb').read()
    open(path, 'wb').write(blob[:int(len(blob) * keep)])


@pytest.fixture
def pixel_limit():
    """Restores Pillow's pixel limit, which DecodeCheck sets for the process."""
    yield
    set_max_image_pixels(PILLOW_MAX_PIXELS)


def spec(skip_broken=True, cache=None, max_pixels=PILLOW_MAX_PIXELS):
    return ScanSpec(skip_broken, cache, max_pixels)


def test_broken_images_are_skipped_and_listed_or_stop_the_run(tmp_path, pixel_limit):
    make_images(str(tmp_path / 'd'), ['a/ok1.jpg', 'a/ok2.jpg', 'b/ok.jpg'])
    make_truncated_jpeg(str(tmp_path / 'd' / 'a' / 'cut.jpg'))
    (tmp_path / 'd' / 'b' / 'junk.jpg').write_bytes(b'not an image at all')
    root = str(tmp_path / 'd')
    with pytest.raises(ImageLoadError, match=r'(?s)data: 2 of 5 training images do not decode:'
                       r'.*a/cut\.jpg: OSError: image file is truncated.*b/junk\.jpg: .*'
                       r'set data\.skip_broken=True'):
        DecodeCheck(spec(skip_broken=False)).check([(CustomDataset(root), 'training')])
    dataset = CustomDataset(root)
    check = DecodeCheck(spec())
    assert check.check([(dataset, 'training')], 'W/broken_images.txt') == [
        '2 of 5 training images do not decode; skipped, listed in W/broken_images.txt']
    assert [os.path.relpath(p, root) for p, _ in dataset.samples] == [
        'a/ok1.jpg', 'a/ok2.jpg', 'b/ok.jpg']
    check.write(str(tmp_path / 'wd'))
    listed = (tmp_path / 'wd' / 'broken_images.txt').read_text().splitlines()
    assert [line.split('\t')[0] for line in listed] == [f'{root}/a/cut.jpg', f'{root}/b/junk.jpg']
    assert 'truncated' in listed[0].split('\t')[1]
    with pytest.raises(ImageLoadError, match=r'Cannot decode image .*cut\.jpg'):
        load_rgb(str(tmp_path / 'd' / 'a' / 'cut.jpg'))


def test_a_class_that_loses_every_image_is_an_error(tmp_path, pixel_limit):
    make_images(str(tmp_path), ['a/ok.jpg', 'b/ok.jpg'])
    os.makedirs(tmp_path / 'b2')
    make_truncated_jpeg(str(tmp_path / 'b2' / 'only.jpg'))
    with pytest.raises(ImageLoadError, match=r"data: no image of class\(es\) \[b2\] under .* "
                       r"decodes: .*b2/only\.jpg \(OSError: image file is truncated.*\)\nReplace"):
        DecodeCheck(spec()).check([(CustomDataset(str(tmp_path)), 'training')])


def test_decode_cache_answers_unchanged_files_only(tmp_path, pixel_limit):
    make_images(str(tmp_path / 'd'), ['a/1.jpg', 'a/2.jpg', 'b/3.png'])
    make_truncated_jpeg(str(tmp_path / 'd' / 'b' / 'cut.jpg'))
    paths = [p for p, _ in CustomDataset(str(tmp_path / 'd')).samples]
    cache_file = str(tmp_path / 'cache' / 'decode_cache.json')
    first = DecodeCache(cache_file)
    broken = first.find_broken(paths)
    assert (first.decoded, first.hits) == (4, 0) and [p for p, _ in broken] == [paths[3]]
    first.store()
    second = DecodeCache(cache_file)
    assert second.find_broken(paths) == broken and (second.decoded, second.hits) == (0, 4)
    Image.new('RGB', (30, 30), 7).save(paths[0])          # rewritten: another size
    third = DecodeCache(cache_file)
    assert third.find_broken(paths) == broken and (third.decoded, third.hits) == (1, 3)
    set_max_image_pixels(10 ** 6)                           # results under another limit
    assert DecodeCache(cache_file).entries == {}
    (tmp_path / 'cache' / 'decode_cache.json').write_text('{"version": 1, "fil')
    assert DecodeCache(cache_file).entries == {}            # damaged: checked afresh


def test_check_writes_its_cache_and_removes_a_stale_list(tmp_path, pixel_limit):
    make_images(str(tmp_path / 'd'), ['a/1.jpg', 'b/2.jpg'])
    (tmp_path / 'wd').mkdir()
    (tmp_path / 'wd' / 'broken_images.txt').write_text('old\treason\n')
    check = DecodeCheck(spec(), str(tmp_path / 'wd' / 'decode_cache.json'))
    assert check.check([(CustomDataset(str(tmp_path / 'd')), 'training')]) == []
    check.write(str(tmp_path / 'wd'))
    assert sorted(os.listdir(tmp_path / 'wd')) == ['decode_cache.json']
    again = DecodeCheck(spec(), str(tmp_path / 'wd' / 'decode_cache.json'))
    again.check([(CustomDataset(str(tmp_path / 'd')), 'training')])
    assert again.summary().startswith('decode check: 2 images in ') and \
        ', 0 decoded, 2 unchanged since the last check' in again.summary()


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


@pytest.mark.filterwarnings('ignore::PIL.Image.DecompressionBombWarning')
def test_huge_images_are_named_with_their_pixel_count(tmp_path, pixel_limit):
    """Over twice the limit Pillow refuses at open; between the limit and twice it would only
    warn, without naming the file; both are refused, named, with the key that allows them.
    (pytest resets the warning filter ms_cls sets at import, hence the mark.)"""
    Image.new('1', (20000, 10000)).save(tmp_path / 'huge.png')     # a 24 kB file
    Image.new('1', (10000, 10000)).save(tmp_path / 'big.png')
    huge, big = decode_error(str(tmp_path / 'huge.png')), decode_error(str(tmp_path / 'big.png'))
    assert huge == ("DecompressionBombError: 200,000,000 pixels, over the limit of 89,478,485 "
                    "(Pillow's decompression-bomb guard); shrink the file, or raise "
                    "data.max_image_pixels (None: no limit) to use it")
    assert big.startswith('DecompressionBombError: 10000x10000 = 100,000,000 pixels, over')
    with pytest.raises(ImageLoadError, match=r'Cannot decode image .*huge\.png: 200,000,000 '
                       r'pixels.*data\.max_image_pixels'):
        load_rgb(str(tmp_path / 'huge.png'))
    Image.new('RGB', (20, 16)).save(tmp_path / 'small.png')
    set_max_image_pixels(300)                  # what data.max_image_pixels=300 does
    assert '20x16 = 320 pixels, over the limit of 300' in decode_error(str(tmp_path / 'small.png'))
    set_max_image_pixels(None)
    assert decode_error(str(tmp_path / 'small.png')) is None


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


def test_exif_orientation_non_ascii_names_and_symlinked_folders(tmp_path):
    """The decode battery: an EXIF-rotated JPEG comes out upright (as mmcv loads it), a file
    named in another script and a class folder that is a symlink are found like any other."""
    from PIL import Image
    root, elsewhere = tmp_path / 'train', tmp_path / 'elsewhere'
    (root / 'cat').mkdir(parents=True)
    elsewhere.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6                                     # orientation: rotate 90 degrees
    Image.new('RGB', (40, 20), (200, 10, 10)).save(root / 'cat' / 'rotated.jpg', exif=exif)
    Image.new('RGB', (8, 8), (0, 0, 255)).save(root / 'cat' / '猫の写真.png')
    Image.new('RGB', (8, 8), (0, 255, 0)).save(elsewhere / 'dog.png')
    os.symlink(elsewhere, root / 'dog')
    dataset = CustomDataset(str(root))
    assert dataset.classes == ['cat', 'dog']
    names = sorted(os.path.basename(p) for p, _ in dataset.samples)
    assert names == ['dog.png', 'rotated.jpg', '猫の写真.png']
    assert load_rgb(str(root / 'cat' / 'rotated.jpg')).shape == (40, 20, 3)   # H, W swapped
