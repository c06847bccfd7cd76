import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ms_cls.analysis import eda
from ms_cls.data.datasets import load_rgb
from ms_cls.data.demo import make_demo_data, make_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def cli(*args):
    return subprocess.run([sys.executable, 'scripts/eda.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
    """Tiny demo set with one of each problem planted; EDA run once on it through the CLI."""
    base = tmp_path_factory.mktemp('eda')
    root = str(base / 'data')
    make_demo_data(root, size=32, per_class={'train': 4, 'val': 2, 'test': 2}, seed=3)
    train, val = os.path.join(root, 'train'), os.path.join(root, 'val')
    with open(os.path.join(train, '002.square', '0000.jpg'), 'rb') as f:
        data = f.read()
    with open(os.path.join(train, '002.square', 'truncated.jpg'), 'wb') as f:
        f.write(data[:len(data) * 6 // 10])
    Image.open(os.path.join(train, '003.triangle', '0000.jpg')).convert('CMYK').save(
        os.path.join(train, '003.triangle', 'cmyk.jpg'))
    shutil.copy(os.path.join(train, '004.star', '0001.jpg'),
                os.path.join(val, '004.star', 'leak.jpg'))
    shutil.copy(os.path.join(train, '007.diamond', '0000.jpg'),
                os.path.join(train, '008.crescent', 'dup.jpg'))
    os.makedirs(os.path.join(train, '011.tiny'))
    rng = np.random.default_rng(9)
    for k in range(2):
        make_image('circle', rng, 32).save(os.path.join(train, '011.tiny', f'{k}.jpg'))
    make_image('cross', rng, 32).convert('P').save(os.path.join(val, '005.cross', 'palette.png'))
    Image.fromarray(rng.integers(0, 65535, (32, 32)).astype(np.uint16)).save(
        os.path.join(train, '006.ring', 'deep.png'))
    out = base / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    res = cli(root, '--out-dir', str(out), '--min-images', '3', '--workers', '2')
    assert res.returncode == 0, res.stderr
    with open(out / 'summary.json') as f:
        summary = json.load(f)
    return root, out, summary, res


def test_planted_problems_found(planted):
    root, out, s, _ = planted
    train, val, test = (s['splits'][k] for k in ('train', 'val', 'test'))
    assert s['images'] == (40 + 6) + (20 + 2) + 20
    [bad] = s['unreadable']
    assert bad['kind'] == 'truncated' and bad['path'].endswith('truncated.jpg')
    assert train['modes']['CMYK'] == 1 and train['modes']['I;16'] == 1 and val['modes']['P'] == 1
    assert train['formats'] == {'JPEG': 45, 'PNG': 1}
    assert s['duplicates'] == dict(groups=2, extra_copies={'train': 1}, leaks={'train/val': 1},
                                   conflicting_labels=1)
    assert train['class_counts']['011.tiny'] == 2 and train['small_classes'] == ['011.tiny']
    assert train['imbalance_ratio'] == 2.5 and val['missing_classes'] == ['011.tiny']
    assert not test['labelled'] and test['images'] == 20 and s['classes'] == 11
    assert len(s['class_weight']) == 11 and s['class_weight'][-1] == max(s['class_weight'])


def test_mean_std_match_a_direct_computation(planted):
    root, _, s, _ = planted
    px = s['pixel_stats']
    readable = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(root, 'train'))
                for f in files if f != 'truncated.jpg']
    pixels = np.concatenate([load_rgb(p).reshape(-1, 3) for p in readable]).astype(np.float64)
    assert px['images'] == px['of'] - 1 == len(readable) and px['reduced_decodes'] == 0
    np.testing.assert_allclose(px['mean'], pixels.mean(0), atol=1e-3)
    np.testing.assert_allclose(px['std'], pixels.std(0), atol=1e-3)


def test_report_and_side_files(planted):
    root, out, s, res = planted
    report = (out / 'report.md').read_text()
    for text in ('1 files unreadable (1 truncated): list in unreadable.txt',
                 '1 images appear in both train and val: remove the leak',
                 '1 classes have < 3 images (011.tiny (2))', '1 extra copies of identical',
                 '1 identical images carry different labels', 'CMYK (1)', 'I;16 (1)', 'P (1)',
                 'class_weight', "data.sampler=dict(type='ClassBalanced')",
                 'Normalize mean/std for this data', '![images per class]'
                 '(class_counts.png)', '](sizes.png)', '](samples.png)'):
        assert text in report, text
    assert 'remove the leak' in res.stdout and 'eda: 88 images' in res.stderr
    assert (out / 'notes.txt').read_text() == 'mine'
    assert (out / 'unreadable.txt').read_text().startswith(os.path.join(root, 'train'))
    with open(out / 'duplicates.csv') as f:
        dups = list(csv.DictReader(f))
    assert sorted(d['kind'] for d in dups) == ['conflicting-labels'] * 2 + ['cross-split'] * 2
    with open(out / 'class_counts.csv') as f:
        counts = {row['class']: row for row in csv.DictReader(f)}
    assert counts['011.tiny'] == {'class': '011.tiny', 'train': '2', 'val': '0', 'total': '2'}
    assert sorted(s['figures']) == ['class_counts.png', 'samples.png', 'sizes.png']
    for name in s['figures']:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        Image.open(out / name).verify()
    assert not [p for p in os.listdir(out) if '.tmp' in p]


def test_cli_with_config_lists_what_training_sees(planted, tmp_path):
    root, _, s, _ = planted
    res = cli(os.path.join('configs', 'resnet', 'resnet18_1xb64_demo-32px.py'),
              '--out-dir', str(tmp_path), '--min-images', '3', '--sample-per-class', '0',
              '--cfg-options', f'data.train.data_prefix={root}/train',
              f'data.val.data_prefix={root}/val', f'data.test.data_prefix={root}/test')
    assert res.returncode == 0, res.stderr
    with open(tmp_path / 'summary.json') as f:
        from_cfg = json.load(f)
    for key in ('images', 'classes', 'duplicates', 'pixel_stats', 'class_weight'):
        assert from_cfg[key] == s[key], key
    assert from_cfg['splits']['train']['class_counts'] == s['splits']['train']['class_counts']
    assert 'samples.png' not in from_cfg['figures']


def test_missing_dir_is_a_user_error(tmp_path):
    res = cli(str(tmp_path / 'nowhere'), '--out-dir', str(tmp_path / 'out'))
    assert res.returncode == 1 and res.stderr.startswith('ERROR:') and 'nowhere' in res.stderr
    assert not (tmp_path / 'out').exists()


def test_one_split_folder_subsampled_stats_and_out_dir_inside(tmp_path, monkeypatch):
    root = str(tmp_path / 'demo')
    make_demo_data(root, size=24, per_class={'train': 3, 'val': 0, 'test': 0}, seed=4)
    monkeypatch.setattr(eda, 'STATS_CAP', 10)
    out = os.path.join(root, 'train', 'eda')
    s = eda.analyse(os.path.join(root, 'train'), out, workers=2, log=None)
    s2 = eda.analyse(os.path.join(root, 'train'), out, workers=2, log=None)
    assert list(s['splits']) == ['train'] and s['images'] == s2['images'] == 30
    assert s['pixel_stats']['every'] == 3 and s['pixel_stats']['images'] == 10
    assert 'subsample (1 in 3 images): 10 of 30' in open(os.path.join(out, 'report.md')).read()
