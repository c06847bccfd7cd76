"""scripts/test.py and evaluate_checkpoint on the tiny trained run."""
import json
import os
import re
import subprocess
import sys

import pytest

from ms_cls.errors import ConfigError
from ms_cls.evaluation.evaluate import evaluate_checkpoint
from ms_cls.evaluation.metrics import format_metrics

from conftest import ROOT


def run_paths(trained):
    _, work_dir, _ = trained
    return os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'), os.path.join(work_dir, 'best.ckpt')


def logged_best_top1(work_dir):
    with open(os.path.join(work_dir, [f for f in os.listdir(work_dir) if f.endswith('.log.json')][0])) as f:
        vals = [json.loads(l) for l in f if '"val"' in l]
    return max(v['accuracy_top-1'] for v in vals)


def test_eval_reproduces_the_training_log_top1(trained, tiny_demo):
    _, work_dir, summary = trained
    config, ckpt = run_paths(trained)
    result = evaluate_checkpoint(config, ckpt, metrics=['accuracy', 'recall', 'support'])
    assert result.metrics['accuracy_top-1'] == pytest.approx(logged_best_top1(work_dir), abs=1e-6)
    assert result.metrics['accuracy_top-1'] == pytest.approx(summary['best_top1'], abs=1e-6)
    assert result.metrics['support'] == 30
    assert 'accuracy_top-5' in result.metrics
    assert re.search(r'^accuracy_top-1: \d\.\d{4}$', format_metrics(result.metrics), re.M)
    with pytest.raises(ConfigError, match='unlabelled'):
        evaluate_checkpoint(config, ckpt, split='test')


def test_test_script_writes_results_table_and_pictures(trained, tmp_path):
    config, ckpt = run_paths(trained)
    out, cm, show = tmp_path / 'r.csv', tmp_path / 'cm.png', tmp_path / 'show'
    res = subprocess.run([sys.executable, 'scripts/test.py', config, ckpt, '--metrics', 'accuracy',
                          'precision', 'recall', 'f1_score', '--metric-options', 'topk=1,3',
                          '--out', str(out), '--confusion-matrix', str(cm), '--show-dir', str(show),
                          '--show-limit', '12'], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    top1 = float(re.search(r'^accuracy_top-1: (\d\.\d{4})$', res.stdout, re.M).group(1))
    assert top1 == pytest.approx(logged_best_top1(trained[1]), abs=1e-4)
    assert 'accuracy_top-3' in res.stdout and 'worst recall first' in res.stdout
    assert out.read_text().splitlines()[0].startswith('filename')
    assert len(out.read_text().splitlines()) == 31
    assert cm.read_bytes()[:4] == b'\x89PNG'
    assert sum(len(files) for _, _, files in os.walk(show)) == 12
    bad = subprocess.run([sys.executable, 'scripts/test.py', config, ckpt, '--metrics', 'mAP'],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "ERROR: --metrics 'mAP'" in bad.stderr


def test_ensemble_and_tta_evaluation(trained):
    from ms_cls.evaluation.evaluate import evaluate_models
    import numpy as np
    config, ckpt = run_paths(trained)
    single = evaluate_checkpoint(config, ckpt)
    pair = evaluate_models([config], [ckpt, ckpt], weights=[2, 1])
    np.testing.assert_allclose(pair.probs, single.probs, rtol=1e-5, atol=1e-6)
    flip = evaluate_checkpoint(config, ckpt, tta=['flip'])
    assert 0 <= flip.metrics['accuracy_top-1'] <= 1 and not np.allclose(flip.probs, single.probs)
