import csv
import hashlib
import os

import numpy as np
import pytest

from ms_cls.data.datasets import CustomDataset
from ms_cls.data.demo import CLASS_NAMES, draw_image, make_demo_data, make_image, read_boxes
from ms_cls.errors import ConfigError

#: sha1 over the files of make_demo_data(size=32, 2/2/2 per class, seed 0) in path order,
#: measured with the generator of before boxes.csv (commit 21e7f9d)
IMAGES_SHA1 = '11189dedc9b9b1417524ef6240ecff9b6ef1fcb4'


def digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            h.update(os.path.relpath(os.path.join(dirpath, f), root).encode())
            with open(os.path.join(dirpath, f), 'rb') as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_layout_answer_key_and_determinism(tmp_path):
    counts = make_demo_data(str(tmp_path / 'a'), size=32, per_class={'train': 3, 'val': 2, 'test': 1})
    assert counts == {'train': 30, 'val': 20, 'test': 10}
    train = CustomDataset(str(tmp_path / 'a' / 'train'))
    assert train.classes == list(CLASS_NAMES) and CLASS_NAMES[0] == '001.circle'
    test = CustomDataset(str(tmp_path / 'a' / 'test'), with_label=False)
    with open(tmp_path / 'a' / 'test_answers.csv') as f:
        answers = list(csv.DictReader(f))
    assert sorted(a['id'] for a in answers) == sorted(os.path.basename(p) for p, _ in test.samples)
    assert sorted(int(a['label']) for a in answers) == list(range(10))
    make_demo_data(str(tmp_path / 'b'), size=32, per_class={'train': 3, 'val': 2, 'test': 1})
    assert digest(tmp_path / 'a') == digest(tmp_path / 'b')


def test_existing_folder_is_never_overwritten_silently(tmp_path):
    root = tmp_path / 'demo'
    root.mkdir()
    (root / 'mine.txt').write_text('user data')
    with pytest.raises(FileExistsError, match='overwrite'):
        make_demo_data(str(root), per_class={'train': 1, 'val': 1, 'test': 1})
    assert (root / 'mine.txt').read_text() == 'user data'


def test_boxes_enclose_each_drawn_shape_and_images_are_unchanged(tmp_path):
    """boxes.csv has one box per image, tight around the pixels that differ from the background
    (measured on a noise-free redraw); keeping boxes changed no image: the sha1 of every file
    of the default 32px set below is the one from before boxes existed."""
    root = tmp_path / 'demo'
    make_demo_data(str(root), size=32, per_class={'train': 2, 'val': 2, 'test': 2}, seed=0)
    boxes = read_boxes(str(root))
    assert len(boxes) == 60
    assert boxes[('val', '004.star/0001.jpg')][0] == 3
    test_ids = {name for split, name in boxes if split == 'test'}
    assert test_ids == set(os.listdir(root / 'test'))
    for (split, name), (label, (x0, y0, x1, y1)) in boxes.items():
        assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32, (split, name)
        assert x1 - x0 >= 6 and y1 - y0 >= 6   # r >= 0.2 * size
    rng = np.random.default_rng(5)
    img, box = draw_image('triangle', rng, 64)
    rng = np.random.default_rng(5)
    assert np.array_equal(np.asarray(make_image('triangle', rng, 64)), np.asarray(img))
    files = sorted(p for p in root.rglob('*') if p.is_file() and p.name != 'boxes.csv')
    sha = hashlib.sha1()
    for p in files:
        sha.update(p.read_bytes())
    assert sha.hexdigest() == IMAGES_SHA1, sha.hexdigest()


def test_read_boxes_names_the_missing_file(tmp_path):
    with pytest.raises(ConfigError, match='boxes.csv not found.*--overwrite'):
        read_boxes(str(tmp_path))
