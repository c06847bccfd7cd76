"""scripts/eval_metric.py: saved results and submissions scored against the demo's answer key."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ms_cls.errors import ConfigError
from ms_cls.data.datasets import CustomDataset
from ms_cls.data.demo import CLASS_NAMES
from ms_cls.evaluation.rescore import match_ids, rescore
from ms_cls.evaluation.results import prediction_frame, write_results

from conftest import ROOT

WRONG = {0: 1, 3: 2, 7: 3}  # answer-key row -> 0-based rank of the truth in its prediction


@pytest.fixture(scope='module')
def case(tiny_demo):
    """(answers, test dataset, probs): 20 test images, 3 wrong at top-1 -> top-1 0.85,
    top-2 0.90 (row 0 has the truth second), top-3 0.95 (row 3 third), top-5 1.0."""
    answers = pd.read_csv(os.path.join(tiny_demo, 'test_answers.csv'))
    dataset = CustomDataset(os.path.join(tiny_demo, 'test'), with_label=False)
    row_of = {name: i for i, name in enumerate(answers['id'])}
    probs = np.zeros((len(dataset), len(CLASS_NAMES)))
    for pos, (path, _) in enumerate(dataset.samples):
        row = row_of[os.path.basename(path)]
        truth = answers['label'][row]
        ranking = [(truth + j) % 10 for j in range(1, 10)]
        ranking.insert(WRONG.get(row, 0), truth)
        probs[pos, ranking] = np.linspace(0.5, 0.01, 10)
    return answers, dataset, probs


def ann(tiny_demo):
    return os.path.join(tiny_demo, 'test_answers.csv')


def quiet(*args, **kwargs):
    return rescore(*args, echo=lambda line: None, **kwargs)


def test_result_files_score_top1_and_the_topk_they_hold(case, tiny_demo, tmp_path):
    _, dataset, probs = case
    frame = prediction_frame(dataset, probs, CLASS_NAMES, topk=3)
    write_results(str(tmp_path / 'r.json'), frame)
    lines = []
    scores = rescore(str(tmp_path / 'r.json'), ann(tiny_demo), ['accuracy', 'support'],
                     ['topk=1,2,3,5'], echo=lines.append)
    assert scores == {'accuracy_top-1': pytest.approx(0.85), 'accuracy_top-2': pytest.approx(0.9),
                      'accuracy_top-3': pytest.approx(0.95), 'support': 20}
    assert 'ids matched by exact id: 20 images' in lines
    assert any(line.startswith('note: top-5 skipped') for line in lines)
    assert 'accuracy_top-1: 0.8500' in '\n'.join(lines)

    write_results(str(tmp_path / 'r.csv'), frame, probs, items=['pred_class', 'class_scores'])
    exact = quiet(str(tmp_path / 'r.csv'), ann(tiny_demo), metric_options={'topk': (1, 5)})
    assert exact == {'accuracy_top-1': pytest.approx(0.85), 'accuracy_top-5': pytest.approx(1.0)}
    write_results(str(tmp_path / 'p.csv'), frame, items=['pred_label'])
    assert quiet(str(tmp_path / 'p.csv'), ann(tiny_demo), ['accuracy', 'recall'],
                 ['topk=1', 'average_mode=none'])['accuracy_top-1'] == pytest.approx(0.85)


@pytest.mark.parametrize('form', ['index', 'name', 'prefix'])
def test_submission_label_formats(case, tiny_demo, tmp_path, form):
    answers, dataset, probs = case
    assert [os.path.basename(p) for p, _ in dataset.samples] == answers['id'].tolist()
    ranked = np.argsort(-probs, axis=1)[:, :3]
    write = {'index': lambda r: r, 'name': lambda r: [CLASS_NAMES[k] for k in r],
             'prefix': lambda r: r + 1}[form]
    sub = pd.DataFrame({'Id': answers['id'], 'Category': write(ranked[:, 0])})
    path = tmp_path / 'sub.csv'
    sub.to_csv(path, index=False)
    lines = []
    assert rescore(str(path), ann(tiny_demo), echo=lines.append) == {
        'accuracy_top-1': pytest.approx(0.85)}
    reading = {'index': 'class indices', 'name': 'class names', 'prefix': 'Caltech prefixes'}[form]
    # prefix 10 never occurs here (both '010.frame' images are mistakes), so 1..9 would also fit
    # as indices: the reading that agrees with the key wins
    assert any(line.startswith(f'note: submission labels read as {reading}') for line in lines)
    assert not any('top-5' in line for line in lines)  # the default topk is trimmed silently

    for k in range(3):  # scripts/predict.py --topk 3 adds Category_1..Category_3, best first
        sub[f'Category_{k + 1}'] = write(ranked[:, k])
    sub.to_csv(path, index=False)
    lines = []
    assert rescore(str(path), ann(tiny_demo), metric_options=['topk=1,3,5'],
                   echo=lines.append) == {'accuracy_top-1': pytest.approx(0.85),
                                          'accuracy_top-3': pytest.approx(0.95)}
    assert 'note: top-5 skipped: the file holds 3 ranked prediction(s) per image' in lines


def test_ids_match_by_file_name_then_stem(case, tiny_demo, tmp_path):
    answers, _, _ = case
    path = tmp_path / 'sub.csv'
    stems = [name[:-len('.jpg')] for name in answers['id']]
    pd.DataFrame({'id': stems[::-1], 'label': answers['label'][::-1]}).to_csv(path, index=False)
    lines = []
    assert rescore(str(path), ann(tiny_demo), echo=lines.append)['accuracy_top-1'] == 1.0
    assert lines[0] == 'ids matched by file stem: 20 images'
    order, rule = match_ids(['a/1.jpg', '2.jpg'], ['x/2.jpg', 'y/1.jpg'])
    assert rule == 'file name' and order.tolist() == [1, 0]


def test_missing_extra_and_duplicate_ids_are_reported(case, tiny_demo, tmp_path):
    answers, _, _ = case
    path = tmp_path / 'sub.csv'
    sub = answers[['id', 'label']]
    sub.iloc[2:].to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"2 ids missing from the predictions, e\.g\. \['000000"):
        quiet(str(path), ann(tiny_demo))
    pd.concat([sub, sub.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"1 duplicate ids in the predictions, e\.g\. \['000000"):
        quiet(str(path), ann(tiny_demo))
    pd.concat([sub, pd.DataFrame({'id': ['zzz.jpg'], 'label': [0]})]).to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"1 extra ids not in the answer key, e\.g\. \['zzz"):
        quiet(str(path), ann(tiny_demo))


def test_script_prints_metric_lines_and_reports_errors(case, tiny_demo, tmp_path):
    _, dataset, probs = case
    write_results(str(tmp_path / 'r.json'), prediction_frame(dataset, probs, CLASS_NAMES))
    res = subprocess.run([sys.executable, 'scripts/eval_metric.py', str(tmp_path / 'r.json'),
                          '--ann', ann(tiny_demo), '--metrics', 'accuracy', 'precision',
                          '--metric-options', 'topk=1,5'], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert 'accuracy_top-1: 0.8500\naccuracy_top-5: 1.0000\nprecision: 0.' in res.stdout
    bad = subprocess.run([sys.executable, 'scripts/eval_metric.py', str(tmp_path / 'r.txt'),
                          '--ann', ann(tiny_demo)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1 and 'ERROR: ' in bad.stderr and "'.txt'" in bad.stderr
