"""Sweeps, k-fold, checkpoint averaging and pseudo-labels (ms_cls.tuning, scripts/sweep.py...)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import DEMO_CONFIG, ROOT
from ms_cls.errors import ConfigError
from ms_cls.tuning.sweep import grid_variants, load_variants, parse_grid, short_keys

TINY = ['runner.max_epochs=2', 'data.samples_per_gpu=32', 'log_config.interval=1',
        'checkpoint_config.interval=1', 'lr_config.step=[1]']


def tiny_options(root):
    return [f'data.train.data_prefix={root}/train', f'data.val.data_prefix={root}/val',
            f'data.test.data_prefix={root}/test'] + TINY


def _train_records(work_dir):
    for name in os.listdir(work_dir) if os.path.isdir(work_dir) else ():
        if name.endswith('.log.json'):
            with open(os.path.join(work_dir, name), encoding='utf-8') as f:
                if any('"mode": "train"' in line for line in f):
                    return True
    return False


def test_grid_names_and_variants_file(tmp_path):
    grid = parse_grid(['optimizer.lr=0.05,0.1', 'lr_config.step=[20,40],[30,60]'])
    assert grid == {'optimizer.lr': [0.05, 0.1], 'lr_config.step': [[20, 40], [30, 60]]}
    names = [v.name for v in grid_variants(grid)]
    assert names == ['lr0.05_step20-40', 'lr0.05_step30-60', 'lr0.1_step20-40', 'lr0.1_step30-60']
    assert short_keys(['model.backbone.depth', 'model.head.depth'])['model.head.depth'] == \
        'head.depth'
    with pytest.raises(ConfigError, match='KEY=V1,V2'):
        parse_grid(['optimizer.lr'])
    seed = load_variants(os.path.join(ROOT, 'configs', 'caltech256',
                                      'seed_experiments_variants.py'))
    assert len(seed) == 12 and len({v.name for v in seed}) == 12
    assert seed[10].options['lr_config']['policy'] == 'CosineAnnealing'


def test_sweep_restart_skips_the_finished_and_resumes_the_interrupted(tiny_demo, tmp_path):
    """Kill during the second variant, start again: the first is skipped, the second resumed;
    the table, JSON summary and plot are written."""
    out = tmp_path / 'sweep'
    cmd = [sys.executable, os.path.join(ROOT, 'scripts', 'sweep.py'), DEMO_CONFIG,
           '--grid', 'optimizer.lr=0.01,0.02', '--out-dir', str(out),
           '--cfg-options', *tiny_options(tiny_demo)]
    env = dict(os.environ, GLOG_v='3')
    second = out / 'lr0.02'
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not _train_records(second) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[0]
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert 'start the same command again' in output
    assert (second / 'recovery.ckpt').is_file()
    first_log = [p for p in (out / 'lr0.01').iterdir() if p.name.endswith('.log.json')]
    stamp = first_log[0].stat().st_mtime
    summary = json.loads((out / 'sweep.json').read_text())
    states = {v['name']: v['state'] for v in summary['variants']}
    assert states == {'lr0.01': 'done', 'lr0.02': 'resume'}

    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'lr0.01: done' in again.stdout and 'skipped' in again.stdout
    assert 'Resuming from' in again.stdout
    assert first_log[0].stat().st_mtime == stamp        # the finished run was not touched
    summary = json.loads((out / 'sweep.json').read_text())
    assert [v['state'] for v in summary['variants']] == ['done', 'done']
    assert all(v['accuracy_top-1'] is not None and v['epochs'] == 2 for v in summary['variants'])
    assert summary['variants'][0]['rank'] == 1 and summary['swept_keys'] == ['optimizer.lr']
    table = (out / 'sweep.md').read_text()
    assert 'lr0.01' in table and 'lr0.02' in table
    assert (out / 'sweep.png').stat().st_size > 1000 and (out / 'sweep.csv').is_file()
