"""Per-image result files, the class table, the confusion matrix PNG and the show dir."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ms_cls.errors import ConfigError
from ms_cls.data.datasets import CustomDataset
from ms_cls.evaluation.metrics import per_class_table
from ms_cls.evaluation.results import (OUT_ITEMS, class_table_text, prediction_frame,
                                       read_results, save_confusion_matrix, save_show_dir,
                                       write_results)

CLASSES = ['a', 'b', 'c']
PROBS = np.array([[.7, .2, .1], [.1, .3, .6], [.2, .5, .3], [.3, .3, .4]])


def fake_dataset(root='/data/val'):
    samples = [(f'{root}/a/1.jpg', 0), (f'{root}/b/2.jpg', 1), (f'{root}/b/sub/3.png', 1),
               (f'{root}/x.jpg', -1)]
    return SimpleNamespace(samples=samples, data_prefix=root)


def test_frame_columns_order_and_topk_below_five():
    frame = prediction_frame(fake_dataset(), PROBS, CLASSES)
    assert list(frame.columns) == [
        'filename', 'gt_label', 'gt_class', 'pred_label', 'pred_class', 'pred_score',
        'top1_label', 'top1_class', 'top1_score', 'top2_label', 'top2_class', 'top2_score',
        'top3_label', 'top3_class', 'top3_score']
    assert frame.filename.tolist() == ['a/1.jpg', 'b/2.jpg', 'b/sub/3.png', 'x.jpg']
    assert frame.gt_label.tolist() == [0, 1, 1, -1] and frame.gt_class.tolist()[3] == ''
    assert frame.pred_class.tolist() == ['a', 'c', 'b', 'c']
    assert frame.top2_class.tolist() == ['b', 'b', 'c', 'a']  # ties keep the class order
    assert frame.pred_score.tolist() == pytest.approx([.7, .6, .5, .4])
    assert frame.attrs['classes'] == CLASSES and frame.attrs['data_prefix'] == '/data/val'
    assert 'top2_label' not in prediction_frame(fake_dataset(), PROBS, CLASSES, topk=1)


def test_csv_and_json_round_trip_with_items(tmp_path):
    frame = prediction_frame(fake_dataset(), PROBS, CLASSES)
    path = tmp_path / 'out' / 'r.csv'
    write_results(str(path), frame, PROBS, items=['pred_class', 'topk', 'class_scores'])
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back.columns) == ['filename', 'pred_class'] + [
        f'top{i}_{k}' for i in (1, 2, 3) for k in ('label', 'class', 'score')] + [
        'score_a', 'score_b', 'score_c', 'data_prefix']
    assert set(back['data_prefix']) == {'/data/val'}
    assert back[['score_a', 'score_b', 'score_c']].to_numpy() == pytest.approx(PROBS)
    write_results(str(path), frame)
    default = pd.read_csv(path, keep_default_na=False)
    assert list(default.columns[:7]) == ['filename', 'pred_label', 'pred_class', 'pred_score',
                                        'gt_label', 'gt_class', 'top1_label']
    assert not any(c.startswith('score_') for c in default.columns)

    jpath = tmp_path / 'r.json'
    write_results(str(jpath), frame, PROBS, {'accuracy_top-1': 0.5}, ['pred_label', 'class_scores'])
    doc = json.loads(jpath.read_text())
    assert doc['metrics'] == {'accuracy_top-1': 0.5} and doc['classes'] == CLASSES
    assert doc['data_prefix'] == '/data/val'
    assert doc['results'][1] == {'filename': 'b/2.jpg', 'pred_label': 2,
                                 'class_scores': pytest.approx([.1, .3, .6])}
    write_results(str(jpath), frame)
    first = json.loads(jpath.read_text())['results'][0]
    assert set(first) | {'data_prefix'} == set(default.columns) and 'class_scores' not in first
    assert OUT_ITEMS[-1] == 'class_scores'


DEFAULT_COLUMNS = ['filename', 'pred_label', 'pred_class', 'pred_score', 'gt_label', 'gt_class'] + [
    f'top{i}_{k}' for i in (1, 2, 3) for k in ('label', 'class', 'score')]


@pytest.mark.parametrize('ext', ['json', 'csv'])
@pytest.mark.parametrize('items, columns', [
    (None, DEFAULT_COLUMNS),
    (['pred_label', 'class_scores'], ['filename', 'pred_label']),
    (['gt_label', 'pred_score', 'class_scores'],
     ['filename', 'gt_label', 'gt_class', 'pred_score']),
])
def test_write_then_read_gives_the_same_rows_and_fields(tmp_path, ext, items, columns):
    """Class names that a CSV reader would turn into numbers or NaN ('001', 'NA') and the empty
    gt_class of an unlabelled image come back as written."""
    classes = ['001', 'NA', 'c d']
    frame = prediction_frame(fake_dataset(), PROBS, classes)
    path = str(tmp_path / f'r.{ext}')
    write_results(path, frame, PROBS, {'accuracy_top-1': 0.5}, items)
    back = read_results(path)
    pd.testing.assert_frame_equal(back.rows, frame[columns], check_exact=False, rtol=1e-6)
    assert back.data_prefix == '/data/val'
    with_scores = 'class_scores' in (items or [])
    assert back.classes == (classes if ext == 'json' or with_scores else None)
    assert back.metrics == ({'accuracy_top-1': 0.5} if ext == 'json' else {})
    if with_scores:
        np.testing.assert_allclose(back.scores, PROBS, rtol=1e-6)
    else:
        assert back.scores is None


def test_reading_what_is_not_a_result_file_is_explained(tmp_path):
    (tmp_path / 'sub.csv').write_text('id,label\na.jpg,1\n')
    (tmp_path / 'list.json').write_text('[1, 2]')
    (tmp_path / 'r.txt').write_text('x')
    for name, message in (('sub.csv', "no 'filename' column"), ('list.json', "'results' list"),
                          ('r.txt', "unknown extension '.txt'"), ('none.json', 'not found')):
        with pytest.raises(ConfigError, match=message):
            read_results(str(tmp_path / name))


def test_writes_are_atomic_and_bad_requests_are_explained(tmp_path):
    frame = prediction_frame(fake_dataset(), PROBS, CLASSES)
    path = tmp_path / 'r.csv'
    write_results(str(path), frame)
    before = path.read_text()
    with pytest.raises(ValueError):  # class scores of the wrong shape fail mid-write
        write_results(str(path), frame, PROBS[:2], items=['class_scores'])
    assert path.read_text() == before and os.listdir(tmp_path) == ['r.csv']
    with pytest.raises(ConfigError, match=r"'\.txt'"):
        write_results(str(tmp_path / 'r.txt'), frame)
    with pytest.raises(ConfigError, match='scores'):
        write_results(str(tmp_path / 'r.json'), frame, items=['class_scores'])
    with pytest.raises(ConfigError, match='bogus'):
        write_results(str(tmp_path / 'r.json'), frame, items=['bogus'])
    assert os.listdir(tmp_path) == ['r.csv']


@pytest.mark.parametrize('n', [3, 257])
def test_confusion_matrix_png(tmp_path, n):
    rng = np.random.default_rng(0)
    labels = np.arange(2 * n) % n
    probs = rng.random((2 * n, n))
    probs[np.arange(n), labels[:n]] += 2  # half right
    path = tmp_path / 'plots' / 'cm.png'
    save_confusion_matrix(probs, labels, [f'{i:03d}.class{i}' for i in range(n)], str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with Image.open(path) as img:
        img.verify()
    assert os.listdir(path.parent) == ['cm.png']


def test_class_table_text_worst_recall_first():
    probs = np.eye(3)[[0, 0, 1, 0, 2, 2]]
    labels = np.array([0, 1, 1, 2, 2, 2])  # recall a 1, b 1/2, c 2/3
    text = class_table_text(per_class_table(probs, labels, CLASSES))
    rows = text.splitlines()[2:]
    assert [r.split()[0] for r in rows] == ['b', 'c', 'a']
    assert '0.500' in rows[0] and '0.667' in rows[1]
    short = class_table_text(per_class_table(probs, labels, CLASSES), limit=1)
    assert short.splitlines()[-1] == '... 2 more classes'


def test_show_dir_puts_the_most_confident_mistake_first(tiny_demo, tmp_path):
    dataset = CustomDataset(f'{tiny_demo}/val')
    n, c = len(dataset), len(dataset.classes)
    probs = np.full((n, c), 0.01)
    probs[np.arange(n), dataset.labels] = 0.6
    for i, score in ((4, 0.7), (11, 0.95)):  # two mistakes; image 11 the more confident
        probs[i, (dataset.labels[i] + 1) % c] = score
    frame = prediction_frame(dataset, probs, dataset.classes)
    show = tmp_path / 'show'
    (show / 'correct').mkdir(parents=True)
    (show / 'correct' / '99_stale.jpg').write_bytes(b'old')
    assert save_show_dir(frame, dataset, str(show)) == {'mistakes': 2, 'correct': n - 2}
    stem = lambda i: os.path.splitext(os.path.basename(dataset.samples[i][0]))[0]  # noqa: E731
    assert sorted(os.listdir(show / 'mistakes')) == [f'1_{stem(11)}.jpg', f'2_{stem(4)}.jpg']
    assert '99_stale.jpg' not in os.listdir(show / 'correct')
    with Image.open(show / 'mistakes' / f'1_{stem(11)}.jpg') as img:
        assert img.format == 'JPEG' and min(img.size) >= 128

    limited = tmp_path / 'limited'
    assert save_show_dir(frame, dataset, str(limited), limit=3) == {'mistakes': 2, 'correct': 1}
    unlabelled = CustomDataset(f'{tiny_demo}/test', with_label=False)
    frame = prediction_frame(unlabelled, probs[:len(unlabelled)], dataset.classes)
    assert save_show_dir(frame, unlabelled, str(tmp_path / 'test'), limit=2) == {'predicted': 2}
