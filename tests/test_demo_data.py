import csv
import hashlib
import os

import pytest

from ms_cls.data.datasets import CustomDataset
from ms_cls.data.demo import CLASS_NAMES, make_demo_data


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
