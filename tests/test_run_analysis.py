"""scripts/compare_runs.py, analyze_logs.py and analyze_results.py on real tiny work dirs."""
import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ms_cls.analysis.runs import analyze_results
from ms_cls.data.datasets import CustomDataset
from ms_cls.data.demo import CLASS_NAMES
from ms_cls.engine.log import DIVERGED, IMAGE_LOAD, RunLog
from ms_cls.errors import ConfigError
from ms_cls.evaluation.results import prediction_frame, write_results

from conftest import ROOT, tiny_cfg


def run_script(name, *args):
    return subprocess.run([sys.executable, os.path.join('scripts', name), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def records(work_dir):
    (path,) = [p for p in glob.glob(os.path.join(work_dir, '*.log.json')) if os.path.getsize(p)]
    with open(path) as f:
        return path, [json.loads(line) for line in f]


def copy_run(src, dst, keep, error=None):
    """A copy of the run in ``src`` (config and JSON log, not the text log) whose JSON log keeps
    the records ``keep`` accepts, then gets the error record RunLog writes for ``error`` =
    (kind, message, fields)."""
    os.makedirs(dst)
    path, recs = records(src)
    for name in os.listdir(src):
        if name.endswith('.py'):
            shutil.copy(os.path.join(src, name), dst)
    with open(os.path.join(dst, os.path.basename(path)), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in recs if keep(r))
    if error:
        log = RunLog(dst, os.path.basename(path).split('.')[0], stream=io.StringIO())
        log.error(error[0], error[1], **error[2])
        log.close()
    return os.path.join(dst, os.path.basename(path))


@pytest.fixture(scope='module')
def runs(trained, tiny_demo, tmp_path_factory):
    """Two real 1-epoch runs (lr 0.1 and 1e-4), the session's 2-epoch run, and copies of its
    first epoch: diverged (a NaN in epoch 2, then re-run and stopped by a config error: an empty
    newer log), failed (an unreadable image), stopped (epoch 2 never logged) and old-format (a
    log from before epoch records and error kinds, diverged). Analysis reads the JSON logs only,
    so no run keeps its text log."""
    from ms_cls.engine.trainer import train
    root = tmp_path_factory.mktemp('runs')
    dirs = {}
    for name, lr in (('lr0.1', 0.1), ('lr1e-4', 1e-4)):
        dirs[name] = str(root / name)
        train(tiny_cfg(tiny_demo, **{'optimizer.lr': lr, 'runner.max_epochs': 1}), dirs[name])
    dirs['trained'] = str(root / 'trained')
    shutil.copytree(trained[1], dirs['trained'], ignore=shutil.ignore_patterns('*.ckpt'))
    first = lambda r: r.get('epoch', 1) == 1   # noqa: E731
    for name, error in (('diverged', (DIVERGED, 'loss is nan', dict(epoch=2, iter=3))),
                        ('failed', (IMAGE_LOAD, 'Cannot decode image x.jpg', {})),
                        ('stopped', None)):
        dirs[name] = str(root / name)
        copy_run(trained[1], dirs[name], first, error)
    open(os.path.join(dirs['diverged'], '29991231_000000.log.json'), 'w').close()
    dirs['old-format'] = str(root / 'old-format')
    log = copy_run(trained[1], dirs['old-format'], lambda r: first(r) and r['mode'] != 'epoch')
    with open(log, 'a') as f:
        f.write(json.dumps(dict(mode='error', epoch=2, iter=3, message='loss is nan')) + '\n')
    for path in glob.glob(str(root / '*' / '*.log')):
        os.remove(path)
    return dirs


def best_top1(work_dir):
    vals = [r['accuracy_top-1'] for r in records(work_dir)[1] if r['mode'] == 'val']
    return max(vals)


def test_compare_runs_ranks_real_runs_by_best_top1(runs, trained, tmp_path):
    empty = tmp_path / 'no_log'
    empty.mkdir()
    md, csv = tmp_path / 'runs.md', tmp_path / 'runs.csv'
    proc = run_script('compare_runs.py', *runs.values(), empty, '--out', md, '--csv', csv)
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    assert f"{empty}: no .log.json, skipped" in proc.stdout
    assert re.search(r'diverged: 2 logs \(re-runs\), using the newest with records, '
                     r'\d+_\d+\.log\.json \(1 empty\)', proc.stdout)
    table = pd.read_csv(csv)
    assert sorted(table['run']) == sorted(runs)
    assert list(table['accuracy_top-1']) == sorted(table['accuracy_top-1'], reverse=True)
    for _, row in table.iterrows():
        assert row['accuracy_top-1'] == pytest.approx(best_top1(runs[row['run']]), abs=1e-6)
    by_run = table.set_index('run')
    assert by_run.loc['trained', 'accuracy_top-1'] == pytest.approx(trained[2]['best_top1'],
                                                                    abs=1e-6)   # 6 decimals
    assert by_run.loc['lr0.1', 'lr'] == 0.1 and by_run.loc['lr1e-4', 'lr'] == 1e-4
    assert dict(by_run['status']) == {'lr0.1': 'done', 'lr1e-4': 'done', 'trained': 'done',
                                      'diverged': 'diverged', 'failed': 'failed',
                                      'stopped': 'running-or-stopped', 'old-format': 'diverged'}
    assert list(by_run.loc['trained', ['model', 'frozen_stages', 'batch', 'lr_schedule',
                                       'augmentation', 'epochs', 'max_epochs']]) == \
        ['ResNet-18', -1, 16, 'step [1] warmup linear 3 r0.1', 'none', 2, 2]
    assert by_run.loc['stopped', 'epochs'] == 1 and by_run.loc['old-format', 'epochs'] == 1
    assert by_run['train_min'].gt(0).all()
    epoch_seconds = [r['time'] for r in records(runs['trained'])[1] if r['mode'] == 'epoch']
    assert len(epoch_seconds) == 2
    assert by_run.loc['trained', 'train_min'] == pytest.approx(sum(epoch_seconds) / 60, rel=1e-4)
    text = md.read_text()
    assert text.startswith('| run | model | frozen_stages | batch | lr | lr schedule |')
    assert '| trained | ResNet-18 | -1 | 16 | 0.02 |' in text and '| 2/2 |' in text
    assert [line.split(' | ')[0][2:] for line in text.splitlines()[2:9]] == list(table['run'])


def test_compare_runs_without_any_run_is_an_error(tmp_path):
    proc = run_script('compare_runs.py', tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith('ERROR: no runs to compare')


def test_plot_curve_draws_several_logs_and_keys(runs, tmp_path):
    logs = [records(runs[name])[0] for name in ('lr0.1', 'trained', 'diverged')]
    out = tmp_path / 'curves.png'
    proc = run_script('analyze_logs.py', 'plot_curve', *logs, '--keys', 'loss',
                      'accuracy_top-1', 'lr', '--legend', 'a', 'b', 'c', '--title', 'T',
                      '--out', out)
    assert proc.returncode == 0, proc.stderr
    assert 'diverged at epoch 2 step 3' in proc.stdout
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.height > img.width   # three stacked subplots


def test_plot_curve_unknown_key_lists_the_keys(runs, tmp_path):
    proc = run_script('analyze_logs.py', 'plot_curve', records(runs['lr0.1'])[0], '--keys',
                      'loss', 'top1', '--out', tmp_path / 'x.png')
    assert proc.returncode == 1 and proc.stderr.startswith('ERROR: key(s) top1 not in the logs')
    assert 'train: loss, loss_avg, lr, momentum, time; val: accuracy_top-1, accuracy_top-5' in proc.stderr
    assert not (tmp_path / 'x.png').exists()


def test_cal_train_time_prints_the_numbers(runs):
    path, recs = records(runs['trained'])
    proc = run_script('analyze_logs.py', 'cal_train_time', path, records(runs['diverged'])[0])
    assert proc.returncode == 0, proc.stderr
    times = [r['time'] for r in recs if r['mode'] == 'train']
    mean = float(re.search(r'average iter time: ([\d.]+) s/iter', proc.stdout).group(1))
    assert mean == pytest.approx(sum(times) / len(times), abs=1e-4)
    assert re.search(r'slowest epoch [12], average time is [\d.]+ s/iter', proc.stdout)
    assert re.search(r'estimated total training time: 2 epochs x 5 iters', proc.stdout)
    epochs = [r for r in recs if r['mode'] == 'epoch']
    measured = re.search(r'measured: 2 epoch\(s\) trained in [\d.]+ (s|min), ([\d.]+) s/iter '
                         'with data loading', proc.stdout)
    assert measured, proc.stdout
    assert float(measured.group(2)) == pytest.approx(
        sum(r['step_time'] for r in epochs) / 2, abs=1e-4)
    assert 'NOTE: this run diverged at epoch 2 step 3' in proc.stdout


def synthetic_results(val_dir, path):
    """A result file of the tiny val set, written by write_results: per class two right
    predictions and one confident mistake, except class 0, whose three images are all wrong."""
    dataset = CustomDataset(val_dir)
    probs = np.full((len(dataset), len(CLASS_NAMES)), 0.01)
    seen = {}
    for row, (_, label) in enumerate(dataset.samples):
        i = seen[label] = seen.get(label, -1) + 1
        pred = (label + 1) % 10 if i == 2 or label == 0 else label
        probs[row, pred] = 0.5 + 0.1 * i
    write_results(str(path), prediction_frame(dataset, probs, CLASS_NAMES),
                  metrics={'accuracy_top-1': 0.6})
    return path


def test_analyze_results_writes_class_sheets_and_index(tiny_demo, tmp_path):
    result = synthetic_results(os.path.join(tiny_demo, 'val'), tmp_path / 'results.json')
    doc = json.loads(result.read_text())
    assert doc['data_prefix'] == os.path.abspath(os.path.join(tiny_demo, 'val'))
    del doc['data_prefix']                       # as in a file that does not say where
    result.write_text(json.dumps(doc))
    proc = run_script('analyze_results.py', result, '--out-dir', tmp_path / 'out')
    assert proc.returncode == 1 and proc.stderr.startswith('ERROR:') and \
        '--data-prefix' in proc.stderr
    proc = run_script('analyze_results.py', result, '--out-dir', tmp_path / 'out', '--topk', 2,
                      '--data-prefix', os.path.join(tiny_demo, 'val'))
    assert proc.returncode == 0, proc.stderr
    sheets = sorted(os.listdir(tmp_path / 'out' / 'classes'))
    assert len(sheets) == 10 and sheets[0] == '001.circle.png'
    with Image.open(tmp_path / 'out' / 'classes' / sheets[1]) as img:
        assert img.format == 'PNG' and img.width > 2 * 160
    index = (tmp_path / 'out' / 'index.md').read_text()
    rows = [line for line in index.splitlines() if line.startswith('| 0')]
    assert rows[0].startswith('| 001.circle | 3 | 0 | 3 | 0.000 | 002.square (3) |')
    assert all(f'(classes/{s})' in index for s in sheets)
    assert 'Stored metrics: accuracy_top-1 0.6' in index


@pytest.mark.parametrize('ext', ['json', 'csv'])
def test_analyze_results_finds_the_images_from_the_file_alone(tiny_demo, tmp_path, ext,
                                                              monkeypatch):
    """Evaluated with a relative data_prefix, analysed from another folder: the file holds the
    absolute folder. --data-prefix overrides it."""
    monkeypatch.chdir(tiny_demo)
    result = synthetic_results('val', tmp_path / f'results.{ext}')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'analyze_results.py'),
                           str(result), '--out-dir', 'out', '--topk', '1'], cwd=elsewhere,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 10 class sheets' in proc.stdout and (elsewhere / 'out' / 'index.md').is_file()
    with pytest.raises(ConfigError, match='30 of 30 images not found under /nowhere'):
        analyze_results(str(result), str(tmp_path / 'out'), topk=1, data_prefix='/nowhere')
