"""log_config's TensorboardLoggerHook (mmcv): loss, lr, momentum and val metrics as TensorBoard
events in <work_dir>/tf_logs, read back with TensorBoard's own reader."""
import importlib.util
import os

import pytest

from ms_cls import progress
from ms_cls.engine import tensorboard
from ms_cls.engine.trainer import train
from ms_cls.errors import ConfigError

from conftest import tiny_cfg
from test_train_e2e import read_logs

HOOKS = [dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]


def scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(log_dir)
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()['scalars']}


@pytest.mark.skipif(importlib.util.find_spec('tensorboard') is None,
                    reason='tensorboard (the event reader) is not installed')
def test_a_run_writes_loss_lr_momentum_and_val_curves(tiny_demo, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.setattr(progress, 'LINE_SECONDS', 0.0)   # every progress report, as lines
    work = str(tmp_path / 'work')
    train(tiny_cfg(tiny_demo, **{'log_config.hooks': HOOKS}), work)
    err = capsys.readouterr().err   # the progress of the decode check and of validation
    assert 'decode check: 80/80 images (100 %)' in err and 'val: 2/2 batches (100 %)' in err
    found = scalars(os.path.join(work, 'tf_logs'))
    _, records = read_logs(work)
    steps = [r for r in records if r['mode'] == 'train']
    vals = [r for r in records if r['mode'] == 'val']
    # 5 steps an epoch, log_config.interval=2: steps 2, 4 and the epoch's last, by global step
    logged = [2, 4, 5, 7, 9, 10]
    assert [s for s, _ in found['train/loss']] == logged
    assert [s for s, _ in found['learning_rate']] == logged
    assert [v for _, v in found['learning_rate']] == pytest.approx([r['lr'] for r in steps])
    assert found['momentum'] == [(s, pytest.approx(0.9)) for s in logged]
    assert [r['momentum'] for r in steps] == pytest.approx([0.9] * len(logged))  # the JSON log's
    assert found['val/accuracy_top-1'] == [(5, pytest.approx(vals[0]['accuracy_top-1'])),
                                           (10, pytest.approx(vals[1]['accuracy_top-1']))]
    assert [s for s, _ in found['val/accuracy_top-5']] == [5, 10]
    # the mean loss since the last point: step 5's is the mean of steps 5 alone
    assert found['train/loss'][2][1] == pytest.approx(steps[2]['loss'], rel=1e-5)


def test_hook_options_and_a_missing_package_are_config_errors(monkeypatch):
    spec = tensorboard.tensorboard_spec(dict(type='TensorboardLoggerHook'), 1, 50)
    assert (spec.log_dir, spec.interval) == (None, 50)
    with pytest.raises(ConfigError, match=r"log_config.hooks\[1\] .*unknown key\(s\) \['logdir'\]"):
        tensorboard.tensorboard_spec(dict(type='TensorboardLoggerHook', logdir='x'), 1, 50)
    with pytest.raises(ConfigError, match=r"interval=0"):
        tensorboard.tensorboard_spec(dict(type='TensorboardLoggerHook', interval=0), 1, 50)
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ConfigError, match=r"needs the tensorboardX package.*pip install "
                                          r"tensorboardX==2\.6\.5"):
        tensorboard.tensorboard_spec(dict(type='TensorboardLoggerHook'), 1, 50)
