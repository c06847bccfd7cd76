import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import DEMO_CONFIG, ROOT, tiny_cfg
from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.builder import build_dataset
from ms_cls.data.datasets import CustomDataset, list_images
from ms_cls.data.tools import browse_dataset, offline_augment, split_dataset, verify_dataset


def read(path):
    with open(path, encoding='utf-8') as f:
        return [line.split() for line in f.read().splitlines()]


def script(name, *args, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', name), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_split_is_stratified_reproducible_and_loads(tiny_demo, tmp_path, write):
    train_dir = os.path.join(tiny_demo, 'train')
    lines = []
    split_dataset(train_dir, 0.25, seed=0, out_dir=str(tmp_path / 'a'), log=lines.append)
    train, val = read(tmp_path / 'a' / 'train.txt'), read(tmp_path / 'a' / 'val.txt')
    for label in map(str, range(10)):   # 8 images per class: 6 train, 2 val
        assert [l for _, l in train].count(label) == 6 and [l for _, l in val].count(label) == 2
    assert sorted(p for p, _ in train + val) == list_images(train_dir)
    split_dataset(train_dir, 0.25, seed=0, out_dir=str(tmp_path / 'b'), log=lines.append)
    split_dataset(train_dir, 0.25, seed=1, out_dir=str(tmp_path / 'c'), log=lines.append)
    assert read(tmp_path / 'b' / 'val.txt') == val != read(tmp_path / 'c' / 'val.txt')

    folder = CustomDataset(train_dir)
    ann = CustomDataset(train_dir, ann_file=str(tmp_path / 'a' / 'train.txt'),
                        classes=str(tmp_path / 'a' / 'classes.txt'))
    assert ann.classes == folder.classes and len(ann) == 60
    assert set(ann.samples) <= set(folder.samples)
    # the printed config lines, merged over the demo config, build both sets
    snippet = lines[1].split('in your config:\n')[1]
    cfg = Config.fromfile(write('split.py', f"_base_ = {DEMO_CONFIG!r}\n{snippet}\n"))
    assert len(build_dataset(cfg.data, 'train')) == 60
    assert len(build_dataset(cfg.data, 'val', ann.classes)) == 20


def test_k_fold_puts_each_image_in_one_val_fold(tiny_demo, tmp_path):
    train_dir = os.path.join(tiny_demo, 'train')
    split_dataset(train_dir, k_fold=3, out_dir=str(tmp_path), log=lambda line: None)
    vals = []
    for i in range(3):
        train = read(tmp_path / f'fold{i}' / 'train.txt')
        val = read(tmp_path / f'fold{i}' / 'val.txt')
        assert sorted(p for p, _ in train + val) == list_images(train_dir)
        assert {l for _, l in train} == {str(c) for c in range(10)}
        vals += [p for p, _ in val]
    assert sorted(vals) == list_images(train_dir)


def test_split_keeps_small_classes_in_train(tiny_demo, tmp_path):
    src = os.path.join(tiny_demo, 'train', '001.circle')
    for name, count in (('a', 1), ('b', 2), ('c', 5)):
        os.makedirs(tmp_path / 'data' / name)
        for img in sorted(os.listdir(src))[:count]:
            shutil.copy(os.path.join(src, img), tmp_path / 'data' / name)
    data = str(tmp_path / 'data')
    split_dataset(data, 0.5, out_dir=str(tmp_path / 's'), log=lambda line: None)
    train, val = read(tmp_path / 's' / 'train.txt'), read(tmp_path / 's' / 'val.txt')
    assert sorted(l for _, l in val) == ['1', '2', '2']            # a: none, b: 1, c: round(2.5)
    split_dataset(data, k_fold=3, out_dir=str(tmp_path / 'k'), log=lambda line: None)
    for i in range(3):
        assert {l for _, l in read(tmp_path / 'k' / f'fold{i}' / 'train.txt')} == {'0', '1', '2'}
        assert '0' not in {l for _, l in read(tmp_path / 'k' / f'fold{i}' / 'val.txt')}


def test_split_refuses_to_overwrite(tiny_demo, tmp_path):
    train_dir = os.path.join(tiny_demo, 'train')
    out = tmp_path / 'split'
    res = script('split_dataset.py', train_dir, '--out-dir', out)
    assert res.returncode == 0, res.stderr
    assert "ann_file=" in res.stdout and 'classes.txt' in res.stdout
    res = script('split_dataset.py', train_dir, '--out-dir', out, '--seed', 3)
    assert res.returncode == 1 and '--force' in res.stderr
    before = read(out / 'val.txt')
    split_dataset(train_dir, seed=3, out_dir=str(out), force=True, log=lambda line: None)
    assert read(out / 'val.txt') != before
    with pytest.raises(ConfigError, match='inside'):
        split_dataset(train_dir, out_dir=os.path.join(train_dir, 'splits'))
    with pytest.raises(ConfigError, match='one sub-folder per class'):
        split_dataset(tiny_demo, out_dir=str(tmp_path / 'x'))


def test_verify_dataset_finds_truncated_jpeg(tiny_demo, tmp_path):
    data = tmp_path / 'data'
    for split in ('train', 'val'):
        shutil.copytree(os.path.join(tiny_demo, split, '001.circle'), data / split / '001.circle')
    assert verify_dataset(str(data), str(tmp_path / 'ok.txt'), log=lambda line: None) == []
    assert (tmp_path / 'ok.txt').read_text() == ''
    bad = data / 'val' / '001.circle' / sorted(os.listdir(data / 'val' / '001.circle'))[0]
    bad.write_bytes(bad.read_bytes()[:len(bad.read_bytes()) // 2])

    res = script('verify_dataset.py', data, '--out-path', tmp_path / 'broken.txt', '--workers', 2)
    assert res.returncode == 1, res.stderr
    assert 'val: 3 images, 1 broken' in res.stdout and 'train: 8 images, 0 broken' in res.stdout
    (path, reason), = [line.split('\t') for line in
                       (tmp_path / 'broken.txt').read_text().splitlines()]
    assert path == str(bad) and 'truncated' in reason


def test_verify_dataset_writes_no_list_unless_asked(tiny_demo, tmp_path):
    """Without --out-path the broken files are printed, and the current folder stays as it was
    (it used to get a broken.txt even when nothing was broken)."""
    data, cwd = tmp_path / 'data', tmp_path / 'cwd'
    shutil.copytree(os.path.join(tiny_demo, 'val', '001.circle'), data / '001.circle')
    cwd.mkdir()
    res = script('verify_dataset.py', data, '--workers', 2, cwd=cwd)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == 'all 3 images decode'
    bad = sorted((data / '001.circle').iterdir())[0]
    bad.write_bytes(bad.read_bytes()[:len(bad.read_bytes()) // 2])
    res = script('verify_dataset.py', data, '--workers', 2, cwd=cwd)
    assert res.returncode == 1, res.stderr
    assert f"  {bad}\tOSError: image file is truncated" in res.stdout
    assert res.stdout.splitlines()[-1] == '1 broken of 3 images'
    assert os.listdir(cwd) == []


def browse_panels(monkeypatch, cfg, mode, out, phase='val', n=4):
    """Run browse_dataset, keeping the panels and captions it hands to save_grid (which still
    writes the PNG); returns (panels, captions, PNG size)."""
    from ms_cls.data import tools
    seen = {}

    def spy(images, captions, out_path):
        seen.update(images=images, captions=captions)
        return save_grid(images, captions, out_path)
    save_grid = tools.save_grid
    monkeypatch.setattr(tools, 'save_grid', spy)
    browse_dataset(cfg, phase, n, mode, str(out), log=lambda line: None)
    with Image.open(out) as img:
        assert img.format == 'PNG'
        size = img.size
    return seen['images'], seen['captions'], size


def sampled(tiny_demo, split, n):
    """The n (path, class) browse_dataset should show: spread evenly over the sorted set."""
    dataset = CustomDataset(os.path.join(tiny_demo, split))
    picks = np.unique(np.linspace(0, len(dataset) - 1, n).round()).astype(int)
    return [(dataset.samples[i][0], dataset.classes[dataset.samples[i][1]]) for i in picks]


def decoded(path):
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


MIRROR_BGR = [dict(type='LoadImageFromFile'), dict(type='RandomFlip', flip_prob=1.0),
              dict(type='Normalize', mean=[10.0, 20.0, 30.0], std=[2.0, 3.0, 5.0], to_rgb=False),
              dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])]


def test_browse_original_tiles_are_the_decoded_images(tiny_demo, tmp_path, monkeypatch):
    """On the train split, whose random pipeline must not touch them."""
    panels, captions, _ = browse_panels(monkeypatch, tiny_cfg(tiny_demo), 'original',
                                        tmp_path / 'o.png', phase='train', n=5)
    expected = sampled(tiny_demo, 'train', 5)
    assert captions == [name for _, name in expected] and len(set(captions)) == 5
    for panel, (path, _) in zip(panels, expected):
        np.testing.assert_array_equal(panel, decoded(path))


def test_browse_transformed_tiles_undo_normalize_and_the_channel_swap(tiny_demo, tmp_path,
                                                                      monkeypatch):
    """A pipeline that mirrors, swaps to BGR and normalises with odd mean/std: undone for
    display, each tile must be exactly the decoded image mirrored."""
    cfg = tiny_cfg(tiny_demo, **{'data.val.pipeline': MIRROR_BGR})
    panels, _, _ = browse_panels(monkeypatch, cfg, 'transformed', tmp_path / 't.png')
    for panel, (path, _) in zip(panels, sampled(tiny_demo, 'val', 4)):
        image = decoded(path)
        assert not np.array_equal(image, image[..., ::-1])      # coloured: a swap would show
        np.testing.assert_array_equal(panel, image[:, ::-1])


def test_browse_transformed_and_concat_with_the_demo_pipeline(tiny_demo, tmp_path, monkeypatch):
    """Resize(32) + Normalize: the tile is the pipeline's output de-normalised; concat puts the
    original (resized to the tile's height) left of it, a 4-px white gap between, and widens the
    grid by the panels' aspect ratio."""
    from ms_cls.data.pipeline import apply_pipeline, build_pipeline
    cfg = tiny_cfg(tiny_demo)
    shown, _, grid = browse_panels(monkeypatch, cfg, 'transformed', tmp_path / 't.png')
    pairs, _, wide = browse_panels(monkeypatch, cfg, 'concat', tmp_path / 'c.png')
    ops = build_pipeline(cfg.data.val.pipeline)
    for tile, pair, (path, _) in zip(shown, pairs, sampled(tiny_demo, 'val', 4)):
        image = decoded(path)
        chw = apply_pipeline(ops, image)
        reference = chw.transpose(1, 2, 0) * 64.0 + 127.5
        assert tile.shape == (32, 32, 3) and image.shape == (40, 40, 3)
        assert np.abs(tile - reference).max() <= 1
        assert pair.shape == (32, 32 + 4 + 32, 3)
        left = np.asarray(Image.fromarray(image).resize((32, 32), Image.BILINEAR))
        np.testing.assert_array_equal(pair[:, :32], left)
        assert (pair[:, 32:36] == 255).all()
        np.testing.assert_array_equal(pair[:, 36:], tile)
    assert wide[1] == grid[1] and wide[0] / grid[0] == pytest.approx(68 / 32, rel=0.01)


def test_browse_dataset_script_on_unlabelled_test_set(tiny_demo, tmp_path):
    out = tmp_path / 'test.png'
    res = script('browse_dataset.py', DEMO_CONFIG, '--phase', 'test', '-n', 3, '--out', out,
                 '--mode', 'concat', '--cfg-options', f'data.test.data_prefix={tiny_demo}/test')
    assert res.returncode == 0, res.stderr
    with Image.open(out) as img:    # 2x2 grid of 40px originals resized to 32 | gap | 32px tiles
        assert img.format == 'PNG'
        assert img.width / img.height == pytest.approx(2.2 * (68 / 32) / 2.4, rel=0.01)


def test_offline_augment_writes_copies_and_ann_file(tiny_demo, tmp_path):
    cfg = tiny_cfg(tiny_demo)
    train_dir = os.path.join(tiny_demo, 'train')
    source = list_images(train_dir)
    out = tmp_path / 'aug'
    ann_file = offline_augment(cfg, 2, str(out), include_originals=True, log=lambda line: None)
    dataset = CustomDataset(str(out), ann_file=ann_file, classes=str(out / 'classes.txt'))
    assert len(dataset) == 3 * len(source) and dataset.classes == CustomDataset(train_dir).classes
    for rel in source:
        stem = os.path.splitext(rel)[0]
        copies = [out / f'{stem}_aug{k}.jpg' for k in range(2)]
        assert all(c.is_file() for c in copies) and (out / rel).is_file()
    with Image.open(copies[0]) as img:
        assert img.size == (32, 32)     # RandomResizedCrop(32) ran; Normalize did not
    assert copies[0].read_bytes() != copies[1].read_bytes()
    assert list_images(train_dir) == source

    again = tmp_path / 'again'
    offline_augment(cfg, 2, str(again), log=lambda line: None)
    assert (again / os.path.relpath(copies[1], out)).read_bytes() == copies[1].read_bytes()
    assert len(read(again / 'train.txt')) == 2 * len(source)

    with pytest.raises(FileExistsError, match='--force'):
        offline_augment(cfg, 1, str(out), log=lambda line: None)
    with pytest.raises(ConfigError, match='overlap'):
        offline_augment(cfg, 1, os.path.join(train_dir, 'aug'), log=lambda line: None)
    assert list_images(train_dir) == source
