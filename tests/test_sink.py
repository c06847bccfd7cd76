"""Dataset sink mode: when it is chosen, how many steps a sink holds, and the callbacks'
bookkeeping when MindSpore calls them once per sink (simulated: on CPU MindSpore never sinks)."""
import os

import numpy as np
import pytest
import mindspore as ms
from mindspore import nn
from mindspore.train import RunContext
from mindspore.train.callback._callback import InternalCallbackParam

from ms_cls.checkpoint import read_checkpoint
from ms_cls.engine.callbacks import CheckpointSaver, RunState, StepPosition, TrainMonitor
from ms_cls.engine.sink import SinkSpec, fit_calls, sink_spec, sink_steps
from ms_cls.errors import ConfigError


def test_sink_mode_is_chosen_for_ascend_and_gpu_never_for_cpu():
    assert not sink_spec('auto', 'auto', 'CPU').enabled
    assert sink_spec('auto', 'auto', 'GPU').enabled
    assert sink_spec('auto', 'auto', 'Ascend').enabled
    assert not sink_spec(False, 'auto', 'GPU').enabled
    with pytest.raises(ConfigError, match=r"dataset_sink_mode=True on CPU"):
        sink_spec(True, 'auto', 'CPU')
    with pytest.raises(ConfigError, match=r"dataset_sink_mode=1"):
        sink_spec(1, 'auto', 'GPU')
    with pytest.raises(ConfigError, match=r"sink_size=0"):
        sink_spec('auto', 0, 'GPU')


ON = SinkSpec(True, 'auto', '')


def test_auto_sink_size_divides_the_epoch_within_the_log_interval():
    assert sink_steps(ON, 750, log_interval=100) == 75
    assert sink_steps(ON, 251, log_interval=100) == 1       # a prime epoch cannot be split
    assert sink_steps(ON, 750, log_interval=1000) == 750
    assert sink_steps(ON, 750, done=30, log_interval=100) == 30   # the rest of a resumed epoch
    assert sink_steps(ON, 750, log_interval=100,
                      every=[('checkpoint_config.interval', 40)]) == 10
    assert sink_steps(ON, 750, per_step=True) == 1           # momentum schedule or EMA
    assert sink_steps(SinkSpec(False, 'auto', ''), 750) == 1


def test_explicit_sink_size_must_divide_the_epoch():
    assert sink_steps(SinkSpec(True, 25, ''), 750) == 25
    with pytest.raises(ConfigError, match=r"sink_size=7 does not divide the 750 steps .*"
                                          r"use one of \[1, 2, 3, 5, 6, 10"):
        sink_steps(SinkSpec(True, 7, ''), 750)
    assert fit_calls(750, 0, 75) == 10 and fit_calls(750, 600, 75) == 2
    assert fit_calls(12, 0, 1) == 12


class Recorder:
    """The RunLog calls TrainMonitor makes."""

    def __init__(self):
        self.steps, self.epochs, self.vals = [], [], []

    def step(self, epoch, max_epochs, step, steps, loss, loss_avg, seconds, lr, momentum=None):
        self.steps.append((epoch, step, lr))

    def epoch(self, epoch, seconds, steps, loss_avg):
        self.epochs.append((epoch, steps))

    def val(self, epoch, max_epochs, steps, train_loss, results):
        self.vals.append(epoch)

    def info(self, line):
        pass


def simulate(callbacks, net, steps, sink, epochs, start=0):
    """What ``Model.fit`` does with the trainer's calls in sink mode (MindSpore 2.10's
    ``_train_dataset_sink_process``): one fit per epoch of ``steps // sink`` "epochs", the step
    callbacks once per sink with ``cur_step_num`` grown by ``sink``, validation results at the
    last sink."""
    cb = InternalCallbackParam()
    cb.train_network = net
    cb.batch_num = sink      # what MindSpore reports in sink mode
    run = RunContext(cb)
    for epoch in range(start, epochs):
        calls = fit_calls(steps, 0, sink)
        cb.cur_step_num = 0     # every fit starts counting at 0; StepPosition fixes it
        for c in callbacks:
            c.on_train_begin(run)
        for k in range(calls):
            cb.cur_epoch_num = k + 1
            for c in callbacks:
                c.on_train_epoch_begin(run)
                c.on_train_step_begin(run)
            cb.cur_step_num += sink
            cb.net_outputs = ms.Tensor(np.float32(1.0 + cb.cur_step_num / 100))
            for c in callbacks:
                c.on_train_step_end(run)
            if k == calls - 1:
                cb.eval_results = {'top_1': 0.5 + epoch / 10}
            for c in callbacks:
                c.on_train_epoch_end(run)
            cb.pop('eval_results', None)
        for c in callbacks:
            c.on_train_end(run)


def test_callbacks_place_themselves_by_the_global_step_in_sinks(tmp_path):
    steps, sink, epochs = 12, 3, 2
    state = RunState(steps_per_epoch=steps)
    log = Recorder()
    lr = np.arange(steps * epochs, dtype=np.float32) / 100
    net = nn.Dense(2, 2)
    saver = CheckpointSaver(str(tmp_path), state, ['a', 'b'], epochs, interval=1)
    iters = CheckpointSaver(str(tmp_path), state, ['a', 'b'], epochs, interval=6,
                            by_epoch=False, save_last=False)
    callbacks = [StepPosition(state), TrainMonitor(log, state, lr, epochs, log_interval=5),
                 saver, iters]
    simulate(callbacks, net, steps, sink, epochs)
    # a step line at the first sink end past each multiple of 5, and at the epoch's end,
    # naming the real step and the lr of that step
    assert log.steps == [(1, 6, lr[5]), (1, 12, lr[11]), (2, 6, lr[17]), (2, 12, lr[23])]
    assert log.epochs == [(1, 12), (2, 12)]        # once per real epoch, all its steps
    assert log.vals == [1, 2]
    assert state.global_step == 24 and state.epoch == 2
    assert state.best_epoch == 2
    names = sorted(os.listdir(tmp_path))
    assert names == ['best.ckpt', 'epoch_1.ckpt', 'epoch_2.ckpt', 'iter_12.ckpt', 'iter_18.ckpt',
                     'iter_24.ckpt', 'iter_6.ckpt', 'latest.ckpt']
    _, meta = read_checkpoint(str(tmp_path / 'epoch_1.ckpt'))
    assert (meta['epoch'], meta['step']) == (1, 12)
    _, meta = read_checkpoint(str(tmp_path / 'latest.ckpt'))
    assert (meta['epoch'], meta['step']) == (2, 24)


def test_a_resumed_run_in_sinks_continues_its_count(tmp_path):
    state = RunState(steps_per_epoch=12, global_step=12, epoch=1)
    log = Recorder()
    lr = np.arange(24, dtype=np.float32)
    simulate([StepPosition(state), TrainMonitor(log, state, lr, 2, log_interval=12)],
             nn.Dense(2, 2), 12, 4, 2, start=1)
    assert log.steps == [(2, 12, lr[23])]
    assert log.epochs == [(2, 12)] and log.vals == [2]
    assert state.global_step == 24
