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
    assert '| interrupted |' in (out / 'sweep.md').read_text()   # compare_runs' status

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
    page = (out / 'sweep.html').read_text()
    assert '2 runs' in page and 'lr0.02' in page      # the comparison page of both variants
    assert not list(out.glob('*/report.html'))         # variants leave their pages to report.py


def test_recompute_bn_is_the_mean_of_the_batch_statistics():
    import numpy as np
    import mindspore as ms
    import mindspore.nn as nn
    from ms_cls.tuning.averaging import recompute_bn
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        net = nn.SequentialCell([nn.BatchNorm2d(3)])
        rng = np.random.default_rng(0)
        batches = [rng.normal(loc, 2.0, (4, 3, 5, 5)).astype(np.float32) for loc in (1.0, 5.0)]
        assert recompute_bn(net, iter(batches)) == (1, 2)
        bn = net[0]
        expected = np.mean([b.mean(axis=(0, 2, 3)) for b in batches], axis=0)
        np.testing.assert_allclose(bn.moving_mean.asnumpy(), expected, rtol=1e-4)
        assert np.all(bn.moving_variance.asnumpy() > 2.0)   # batch variances (~4), not 1
        assert not bn.training
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)


def test_kfold_then_average_and_soup_its_checkpoints(tiny_demo, tmp_path, capsys):
    """2 folds of 2 epochs: CV line, one out-of-fold row per training image, fold-ensemble
    submission; then the epoch checkpoints of fold 0 averaged (plain, with BatchNorm
    recomputed, and as a greedy soup) into ordinary checkpoints that keep the classes."""
    import numpy as np
    import pandas as pd
    from ms_cls.checkpoint import read_checkpoint
    from ms_cls.tuning.averaging import average_checkpoints, model_weights
    from ms_cls.tuning.kfold import run_kfold
    out = tmp_path / 'kf'
    sub = tmp_path / 'sub.csv'
    cv = run_kfold(DEMO_CONFIG, 2, 0, str(out), tiny_options(tiny_demo)
                   + ['checkpoint_config.max_keep_ckpts=-1'], str(sub))
    printed = capsys.readouterr().out
    assert 'CV top-1 (best epoch of each fold)' in printed and ' +- ' in printed
    assert len(cv['folds']) == 2 and cv['std'] == pytest.approx(np.std(cv['folds']))
    oof = pd.read_csv(out / 'oof.csv')
    assert len(oof) == 80 and oof['filename'].is_unique and set(oof['fold']) == {0, 1}
    assert cv['oof_top1'] == pytest.approx(np.mean(oof['pred_label'] == oof['gt_label']))
    assert len(pd.read_csv(sub)) == 20
    summary = json.loads((out / 'kfold.json').read_text())
    assert summary['kind'] == 'kfold' and summary['cv']['mean'] == pytest.approx(cv['mean'])

    fold = out / 'fold0'
    ckpts = [str(fold / 'epoch_1.ckpt'), str(fold / 'epoch_2.ckpt')]
    config = str(out / 'configs' / 'fold0.py')
    plain = str(tmp_path / 'avg.ckpt')
    average_checkpoints(ckpts, plain)
    weights = [model_weights(read_checkpoint(p)[0]) for p in ckpts]
    params, meta = read_checkpoint(plain)
    name = 'conv1.weight'
    np.testing.assert_allclose(params[name].asnumpy(), (weights[0][name] + weights[1][name]) / 2,
                               rtol=1e-6)
    assert meta['classes'] == read_checkpoint(ckpts[0])[1]['classes']
    assert not any(n.startswith('moments.') for n in params)
    swa = str(tmp_path / 'swa.ckpt')
    report = average_checkpoints(ckpts, swa, config, update_bn=True)
    bn = next(n for n in params if n.endswith('moving_mean'))
    assert not np.allclose(read_checkpoint(swa)[0][bn].asnumpy(), params[bn].asnumpy())
    assert read_checkpoint(swa)[1]['metrics']['accuracy_top-1'] == pytest.approx(report['top1'])
    soup = average_checkpoints(ckpts, str(tmp_path / 'soup.ckpt'), config, soup=True)
    assert soup['soup'][0] == max(soup['single'], key=soup['single'].get)
    assert soup['top1'] >= soup['best_single']


def test_pseudo_labels_train_next_to_the_training_set(trained, tiny_demo, tmp_path):
    from ms_cls.data.builder import build_dataset
    from ms_cls.engine.trainer import train
    from ms_cls.evaluation.submission import predict_submission
    from conftest import tiny_cfg
    cfg, work_dir, _ = trained
    config = [os.path.join(work_dir, n) for n in os.listdir(work_dir) if n.endswith('.py')][0]
    import numpy as np
    from ms_cls.data.datasets import list_images
    from ms_cls.evaluation.submission import write_pseudo_labels
    pl, probs_path = tmp_path / 'pl.txt', str(tmp_path / 'p.npy')
    predict_submission([config], [os.path.join(work_dir, 'best.ckpt')], str(tmp_path / 's.csv'),
                       f'{tiny_demo}/test', probs_out=probs_path, pseudo_labels=str(pl),
                       threshold=0.15, log=print)
    probs = np.load(probs_path)
    assert len(pl.read_text().splitlines()) == int((probs.max(axis=1) >= 0.15).sum())
    with pytest.raises(ConfigError, match='threshold'):
        write_pseudo_labels(str(pl), [], f'{tiny_demo}/test', probs[:0], threshold=1.5)
    paths = [os.path.join(tiny_demo, 'test', p) for p in list_images(f'{tiny_demo}/test')]
    write_pseudo_labels(str(pl), paths, f'{tiny_demo}/test', probs, threshold=0.01)
    lines = pl.read_text().splitlines()
    assert len(lines) == 20 and lines[0].split()[1] == str(int(probs[0].argmax()))
    pseudo = dict(type='CustomDataset', data_prefix=f'{tiny_demo}/test', ann_file=str(pl))
    both = tiny_cfg(tiny_demo, **{'runner.max_epochs': 1, 'data.samples_per_gpu': 32})
    both.data.train = [both.data.train, pseudo]
    dataset = build_dataset(both.data, 'train')
    assert len(dataset) == 80 + len(lines) and dataset.classes == cfg_classes(work_dir)
    assert dataset.samples[-1][1] == int(lines[-1].split()[1])
    summary = train(both, str(tmp_path / 'run'))
    assert summary['epochs'] == 1
    log = open(next(str(p) for p in (tmp_path / 'run').iterdir() if p.name.endswith('.log')),
               encoding='utf-8').read()
    assert f'train: {80 + len(lines)} images' in log
    bad = tiny_cfg(tiny_demo)
    bad.data.train = [bad.data.train, dict(pseudo, pipeline=[dict(type='Normalize', mean=[0] * 3,
                                                                   std=[1] * 3)])]
    with pytest.raises(ConfigError, match='pipeline differs'):
        build_dataset(bad.data, 'train')


def cfg_classes(work_dir):
    with open(os.path.join(work_dir, 'classes.txt'), encoding='utf-8') as f:
        return f.read().split()


def test_search_space_and_pruning_reports(trained):
    """--search specs; the per-epoch val top-1 of a run's log reaches the trial once per epoch
    and the pruner's answer stops the run (the real runs are measured in the README)."""
    from ms_cls.tuning.search import _report, parse_search, suggest
    space = parse_search(['optimizer.lr=float:0.001:0.1:log', 'data.samples_per_gpu=choice:16,32',
                          'model.backbone.frozen_stages=int:-1:2'])
    assert space['optimizer.lr'] == ('float', (0.001, 0.1), True)
    assert space['data.samples_per_gpu'] == ('choice', [16, 32], False)
    for bad in ('optimizer.lr=float:0.1:0.01', 'optimizer.lr=uniform:0:1', 'x=float:0:1:log'):
        with pytest.raises(ConfigError, match='--search'):
            parse_search([bad])

    class Trial:
        def __init__(self, prune):
            self.reports, self.prune = [], prune

        def suggest_float(self, name, low, high, log=False):
            return low

        def suggest_int(self, name, low, high, log=False):
            return high

        def suggest_categorical(self, name, choices):
            return choices[-1]

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return self.prune
    assert suggest(Trial(False), space) == {'optimizer.lr': 0.001, 'data.samples_per_gpu': 32,
                                            'model.backbone.frozen_stages': 2}
    _, work_dir, summary = trained
    trial, seen = Trial(False), set()
    assert _report(trial, work_dir, seen) is False
    assert [step for step, _ in trial.reports] == [1, 2]
    assert max(v for _, v in trial.reports) == pytest.approx(summary['best_top1'])
    assert _report(Trial(True), work_dir, set()) is True
    _report(trial, work_dir, seen)
    assert len(trial.reports) == 2      # each epoch once


def _fake_run(work_dir, tops, max_epochs, extra_meta=None):
    """A work dir whose JSON log holds a meta record and one val record per epoch."""
    os.makedirs(work_dir, exist_ok=True)
    records = [dict(mode='meta', max_epochs=max_epochs, steps_per_epoch=2, samples_per_gpu=32)]
    for epoch, top in enumerate(tops, 1):
        records += [dict(mode='epoch', epoch=epoch, time=1.0, step_time=0.5, loss_avg=1.0),
                    dict(mode='val', epoch=epoch, iter=2, **{'accuracy_top-1': top})]
    if extra_meta:
        records.append(dict(mode='meta', steps_per_epoch=2, samples_per_gpu=32, **extra_meta))
    with open(os.path.join(work_dir, '20260101_000000.log.json'), 'w') as f:
        f.write('\n'.join(json.dumps(r) for r in records) + '\n')


def test_screening_picks_the_best_of_the_first_epochs_and_dry_run_estimates(tiny_demo, tmp_path):
    from ms_cls.tuning.sweep import build_sweep, dry_run_table, variant_state
    out = tmp_path / 'sw'
    args = (DEMO_CONFIG, ['optimizer.lr=0.01,0.02,0.04'], None, str(out), tiny_options(tiny_demo))
    sweep = build_sweep(*args, epochs=1, top=2)
    assert [v.max_epochs for v in sweep.variants] == [1, 1, 1]
    _fake_run(out / 'lr0.01', [0.2], 1)
    _fake_run(out / 'lr0.02', [0.5, 0.9], 2, extra_meta=dict(max_epochs=2))   # continued
    _fake_run(out / 'lr0.04', [0.4], 1)
    assert variant_state(str(out / 'lr0.02'), 2) == 'done'
    finalists = sweep.finalists()
    assert [v.name for v in finalists] == ['lr0.02', 'lr0.04']     # by epoch 1: 0.5, 0.4
    assert finalists[0].work_dir == str(out / 'lr0.02') and finalists[0].max_epochs == 2
    summary = sweep.summary()
    assert summary['variants'][0]['name'] == 'lr0.02' and summary['variants'][0]['epochs'] == 2
    assert summary['variants'][0]['max_epochs'] == 2 and summary['screen_epochs'] == 1
    rerun = build_sweep(*args, epochs=1, top=1, rerun=True).finalists()
    assert rerun[0].work_dir == str(out / 'full' / 'lr0.02')
    rows, rate, source = sweep.dry_run()
    assert rate == pytest.approx(32 * 2 / 1.0) and [r['iterations'] for r in rows] == [3, 3, 3]
    assert 'estimate' in dry_run_table(rows, rate, source)
    with pytest.raises(ConfigError, match='--epochs N'):
        build_sweep(*args, top=2)
    with pytest.raises(ConfigError, match='one of --grid'):
        build_sweep(DEMO_CONFIG, ['optimizer.lr=0.1'], 'x.py', str(out))


def test_a_run_killed_before_its_first_checkpoint_is_set_aside_and_started_again(
        tiny_demo, tmp_path, monkeypatch):
    """(kill -9 in the first epoch: a log and a config, no checkpoint; train.py would refuse a
    new run there.) The training subprocess is replaced: this checks the sweep's bookkeeping."""
    from ms_cls.tuning import sweep as sweep_module
    out = tmp_path / 'sw'
    sweep = sweep_module.build_sweep(DEMO_CONFIG, ['optimizer.lr=0.01'], None, str(out),
                                     tiny_options(tiny_demo))
    work_dir = out / 'lr0.01'
    _fake_run(work_dir, [], 2)
    (work_dir / 'lr0.01.py').write_text('x = 1\n')
    calls = []

    def fake_training(config, wd, python=None, extra_args=(), poll=None):
        calls.append((os.path.isdir(wd), os.path.isfile(config)))
        return 0, [], False
    monkeypatch.setattr(sweep_module, 'run_training', fake_training)
    sweep.run()
    assert calls == [(False, True)]          # started in an empty work dir
    aside = [p for p in out.iterdir() if p.name.startswith('lr0.01.no-checkpoint-')]
    assert len(aside) == 1 and (aside[0] / 'lr0.01.py').is_file()
