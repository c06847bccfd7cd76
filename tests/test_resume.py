"""Never lose a run: resume after SIGKILL or SIGINT ends where an uninterrupted run ends."""
import os
import runpy
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ms_cls.checkpoint import read_checkpoint
from ms_cls.config import Config
from ms_cls.engine.log import load_json_log
from ms_cls.engine.trainer import train
from ms_cls.errors import ConfigError, OutputExists

from conftest import DEMO_CONFIG, ROOT, tiny_cfg

#: the options of conftest.tiny_cfg, as train.py --cfg-options
TINY = ['data.samples_per_gpu=16', 'runner.max_epochs=2', 'log_config.interval=2',
        'checkpoint_config.interval=1', 'checkpoint_config.max_keep_ckpts=1', 'lr_config.step=[1]',
        'lr_config.warmup_iters=3', 'lr_config.warmup_by_epoch=False']


def tiny_args(data_root, work_dir, *extra):
    return [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), DEMO_CONFIG,
            '--work-dir', work_dir, '--cfg-options', *TINY,
            f'data.train.data_prefix={data_root}/train', f'data.val.data_prefix={data_root}/val',
            f'data.test.data_prefix={data_root}/test', '--no-report', *extra]


def weights(path):
    params, meta = read_checkpoint(path)
    return {k: v.asnumpy() for k, v in params.items()}, meta


def assert_same_weights(a, b):
    """Network, optimizer state and step count all equal (float32 round-off allowed)."""
    (wa, _), (wb, _) = weights(a), weights(b)
    names = sorted(k for k in wa if k != 'learning_rate')
    assert names == sorted(k for k in wb if k != 'learning_rate')
    for name in names:
        np.testing.assert_allclose(wa[name], wb[name], rtol=1e-5, atol=1e-6, err_msg=name)


def run_until(args, log_path, marker, sig, timeout=300):
    """Start a training process, send ``sig`` once ``marker`` is in its output; -> (code, out)."""
    with open(log_path, 'w') as out:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED='1'))
        try:
            deadline = time.time() + timeout
            while marker not in open(log_path).read():
                assert proc.poll() is None, open(log_path).read()[-3000:]
                assert time.time() < deadline, 'marker never printed'
                time.sleep(0.1)
            proc.send_signal(sig)
            code = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return code, open(log_path).read()


def test_kill_9_mid_epoch_then_resume_auto_ends_with_the_uninterrupted_weights(
        trained, tiny_demo, tmp_path):
    _, reference, _ = trained
    work = str(tmp_path / 'wd')
    code, _ = run_until(tiny_args(tiny_demo, work), tmp_path / 'killed.txt',
                        'Epoch:[  1/  2], step:[    2/    5]', signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert weights(os.path.join(work, 'latest.ckpt'))[1]['epoch'] == 1
    cfg = Config.fromfile(os.path.join(work, 'resnet18_1xb64_demo-32px.py'),
                          {'resume_from': 'auto'})
    summary = train(cfg, work)
    assert summary['epochs'] == 2
    assert_same_weights(os.path.join(work, 'latest.ckpt'),
                        os.path.join(reference, 'latest.ckpt'))
    log = load_json_log(os.path.join(work, next(f for f in os.listdir(work)
                                                if f.endswith('.log.json'))))
    assert list(log.epochs['epoch']) == [1, 2] and list(log.val['epoch']) == [1, 2]
    assert list(log.train['step']) == [2, 4, 5, 7, 9, 10]     # epoch 2's steps once


def test_sigint_writes_a_recovery_checkpoint_and_the_printed_command_resumes(
        trained, tiny_demo, tmp_path, monkeypatch, capsys):
    _, reference, _ = trained
    work = str(tmp_path / 'wd')
    code, out = run_until(tiny_args(tiny_demo, work), tmp_path / 'int.txt',
                          'Epoch:[  0/  2], step:[    2/    5]', signal.SIGINT)
    # MindSpore turns a SIGINT that lands inside a step into SIGTERM
    assert code in (128 + signal.SIGINT, 128 + signal.SIGTERM), out[-2000:]
    assert 'Interrupted by SIG' in out
    assert 'Traceback' not in out
    command = out.split('Resume with: ')[-1].split()
    assert command[:2] == ['python', 'scripts/train.py'] and command[-2:] == ['--resume', 'auto']
    _, meta = weights(os.path.join(work, 'recovery.ckpt'))
    assert meta['epoch'] == 0 and 2 <= meta['step'] < 5
    # the printed command, run as written from the repository root (in this process: the
    # resumed half must be computed where the reference run was)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, 'argv', command[1:])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(command[1], run_name='__main__')
    assert done.value.code == 0
    assert f"Resuming from {work}/recovery.ckpt" in capsys.readouterr().out
    assert_same_weights(os.path.join(work, 'latest.ckpt'),
                        os.path.join(reference, 'latest.ckpt'))


def test_resuming_a_finished_run_says_so(trained, tiny_demo, capsys):
    cfg, work, _ = trained
    before = os.path.getmtime(os.path.join(work, 'latest.ckpt'))
    summary = train(tiny_cfg(tiny_demo, resume_from='auto'), work)
    assert 'finished all 2 epochs; nothing to resume' in capsys.readouterr().out
    assert summary['epochs'] == 2
    assert os.path.getmtime(os.path.join(work, 'latest.ckpt')) == before


def test_a_new_run_never_overwrites_another_runs_checkpoints(trained, tiny_demo):
    _, work, _ = trained
    before = os.path.getmtime(os.path.join(work, 'best.ckpt'))
    with pytest.raises(OutputExists, match='--resume auto, or give a new --work-dir'):
        train(tiny_cfg(tiny_demo), work)
    assert os.path.getmtime(os.path.join(work, 'best.ckpt')) == before


def test_iteration_checkpoints_for_long_epochs_resume_mid_epoch(trained, tiny_demo, tmp_path):
    """checkpoint_config.by_epoch=False: iter_{n}.ckpt every n steps; resuming from one (here
    step 9 of 10, mid-epoch 2) ends with the uninterrupted weights."""
    _, reference, _ = trained
    work = tmp_path / 'wd'
    train(tiny_cfg(tiny_demo, **{'checkpoint_config.by_epoch': False,
                                 'checkpoint_config.interval': 3}), str(work))
    ckpts = sorted(f for f in os.listdir(work) if f.endswith('.ckpt'))
    assert ckpts == ['best.ckpt', 'iter_9.ckpt', 'latest.ckpt']      # max_keep_ckpts=1
    assert weights(str(work / 'iter_9.ckpt'))[1]['step'] == 9
    os.remove(work / 'latest.ckpt')
    train(tiny_cfg(tiny_demo, resume_from=str(work / 'iter_9.ckpt')), str(work))
    assert_same_weights(str(work / 'latest.ckpt'), os.path.join(reference, 'latest.ckpt'))


def test_a_second_signal_stops_at_once():
    from ms_cls.engine.callbacks import RunState
    from ms_cls.engine.resume import stop_on_signals
    state = RunState()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signals(state):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            assert state.interrupted == 'SIGTERM'      # the first one only asks to stop
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    assert signal.getsignal(signal.SIGTERM) == before


def test_resuming_with_another_optimizer_is_refused_before_anything_is_written(
        trained, tiny_demo, tmp_path):
    _, reference, _ = trained
    cfg = tiny_cfg(tiny_demo, resume_from=os.path.join(reference, 'latest.ckpt'))
    cfg.optimizer = dict(type='AdamW', lr=0.001)
    with pytest.raises(ConfigError, match=r"Cannot resume from .*latest.ckpt: it lacks .*moment"):
        train(cfg, str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_a_batch_larger_than_the_training_set_with_drop_last_fails_before_writing(
        tiny_demo, tmp_path):
    with pytest.raises(ConfigError, match='fewer than one batch'):
        train(tiny_cfg(tiny_demo, **{'data.samples_per_gpu': 400,
                                     'data.train_dataloader': dict(drop_last=True)}),
              str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()
