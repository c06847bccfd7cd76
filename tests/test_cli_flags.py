"""mmcls 0.25's tools/train.py and tools/test.py flags on scripts/train.py and scripts/test.py."""
import argparse
import glob
import json
import os
import pickle
import runpy
import sys

import numpy as np
import pytest

from ms_cls.cli import add_mmcls_flags, check_auto_scale_lr, config_from_args, mmcls_options
from ms_cls.errors import ConfigError

from conftest import DEMO_CONFIG, ROOT

TINY = ['data.samples_per_gpu=16', 'runner.max_epochs=1', 'log_config.interval=2',
        'lr_config.step=[1]', 'lr_config.warmup_iters=3', 'lr_config.warmup_by_epoch=False']


def parse(script, *argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', default=[])
    add_mmcls_flags(parser, script)
    return parser.parse_args(list(argv))


def options(script, *argv):
    notes = []
    return mmcls_options(parse(script, *argv), script, notes.append), notes


def test_train_flags_become_config_options():
    assert options('train') == ([], [])
    assert options('train', '--deterministic', '--auto-scale-lr', '--device', 'cuda:0') == (
        ['device_target=GPU', 'deterministic=True', 'auto_scale_lr.enable=True'], [])
    assert options('train', '--cfg-options', 'seed=1', '--gpu-id', '0')[0] == ['seed=1']
    opts, notes = options('train', '--options', 'seed=2', '--gpus', '1', '--local_rank', '0',
                          '--diff-seed', '--launcher', 'none')
    assert opts == ['seed=2'] and len(notes) == 4
    assert notes[0].startswith('--options is deprecated in favour of --cfg-options')
    cfg = config_from_args(DEMO_CONFIG, options('train', '--deterministic', '--auto-scale-lr')[0])
    assert cfg.deterministic is True and cfg.auto_scale_lr.enable is True


@pytest.mark.parametrize('argv, match', [
    (['--options', 'a=1', '--cfg-options', 'b=2'], '--options and --cfg-options cannot both'),
    (['--launcher', 'pytorch'], 'use --msrun N'),
    (['--gpus', '2'], 'use --msrun 2'),
    (['--gpu-id', '1'], 'CUDA_VISIBLE_DEVICES=1'),
    (['--gpu-ids', '3', '4'], 'CUDA_VISIBLE_DEVICES=3'),
    (['--device', 'mlu'], '--device mlu: unknown'),
    (['--ipu-replicas', '2'], 'no IPU'),
])
def test_train_flags_that_cannot_be_honoured_say_what_to_use(argv, match):
    with pytest.raises(ConfigError, match=match):
        options('train', *argv)


def test_auto_scale_lr_needs_the_base_batch(write):
    path = write('c.py', f"_base_ = '{DEMO_CONFIG}'\nauto_scale_lr = None\n")
    with pytest.raises(ConfigError, match=r'--auto-scale-lr: .*c\.py has no auto_scale_lr'):
        check_auto_scale_lr(config_from_args(path))


def test_test_flags_that_mean_nothing_here_say_so():
    opts, notes = options('test', '--show', '--show-options', 'font=3', '--gpu-collect',
                          '--tmpdir', 't', '--launcher', 'pytorch', '--device', 'cpu')
    assert opts == ['device_target=CPU'] and len(notes) == 5
    assert any(note.startswith('--show opens a window') for note in notes)


def run_script(name, argv, capsys):
    """scripts/<name> in this process (its compiled graphs are reused): (exit code, out, err)."""
    old = sys.argv
    sys.argv = [name] + argv
    try:
        with pytest.raises(SystemExit) as stop:
            runpy.run_path(os.path.join(ROOT, 'scripts', name), run_name='__main__')
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_no_validate_run_then_mmcls_test_flags_and_pkl(tiny_demo, tmp_path, capsys):
    work = str(tmp_path / 'w')
    data = [f'data.{s}.data_prefix={tiny_demo}/{s}' for s in ('train', 'val', 'test')]
    code, out, err = run_script('train.py', [DEMO_CONFIG, '--work-dir', work, '--no-report',
                                             '--no-validate', '--options', *TINY, *data], capsys)
    assert code == 0, err
    assert 'WARNING: --options is deprecated in favour of --cfg-options' in err
    assert 'validation is off (--no-validate)' in out
    assert not os.path.exists(os.path.join(work, 'best.ckpt'))
    records = [json.loads(line) for line in open(glob.glob(os.path.join(work, '*.log.json'))[0])]
    assert not [r for r in records if r['mode'] == 'val']
    config = os.path.join(work, 'resnet18_1xb64_demo-32px.py')
    out_pkl = str(tmp_path / 'results.pkl')
    code, out, err = run_script('test.py', [config, os.path.join(work, 'latest.ckpt'), '--out',
                                            out_pkl, '--show', '--gpu-collect', '--device',
                                            'cpu'], capsys)
    assert code == 0, err
    assert err.count('WARNING: ') == 2 and 'WARNING: --gpu-collect is ignored' in err
    with open(out_pkl, 'rb') as f:
        results = pickle.load(f)
    assert set(results) == {'accuracy_top-1', 'accuracy_top-5', 'class_scores', 'pred_score',
                            'pred_label', 'pred_class'}
    assert results['class_scores'].shape == (30, 10)
    np.testing.assert_array_equal(results['pred_label'], results['class_scores'].argmax(1))
    np.testing.assert_allclose(results['pred_score'], results['class_scores'].max(1), rtol=1e-6)
    code, _, err = run_script('test.py', [config, os.path.join(work, 'latest.ckpt'), '--out',
                                          str(tmp_path / 'r.json'), '--out-items', 'none',
                                          '--launcher', 'pytorch'], capsys)
    assert code == 0, err
    doc = json.load(open(tmp_path / 'r.json'))
    assert set(doc['results'][0]) == {'filename'} and 'accuracy_top-1' in doc['metrics']
