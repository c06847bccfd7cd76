"""mmcv's ``TensorboardLoggerHook``: the run's curves as TensorBoard event files.

``log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook'),
dict(type='TensorboardLoggerHook')])`` writes, under mmcv's tags and into mmcv's folder
(``<work_dir>/tf_logs`` unless ``log_dir`` is given): ``train/loss`` (the mean loss since the
last point), ``learning_rate`` and ``momentum`` (SGD/RMSprop momentum, Adam's beta1, as mmcv)
every ``interval`` steps (default ``log_config.interval``) and at an epoch's last, by global
step; ``val/accuracy_top-1`` (and ``-top-5``) after each validation. Events are written with
tensorboardX (no TensorFlow or PyTorch needed), an optional dependency: ``pip install
tensorboardX`` (and ``tensorboard`` to look at them: ``tensorboard --logdir WORK_DIR/tf_logs``).
A resumed run drops what the stopped one logged after its checkpoint (``purge_step``).
"""
import importlib.util
import os
from dataclasses import dataclass

import numpy as np
from mindspore.train import Callback

from ..errors import ConfigError
from .callbacks import momentum_at, step_loss

HOOK = 'TensorboardLoggerHook'
KEYS = ('type', 'log_dir', 'interval', 'by_epoch')
INSTALL = "pip install tensorboardX==2.6.5 (and tensorboard==2.21.0 to view the curves)"


@dataclass
class TensorboardSpec:
    log_dir: str     # None: <work_dir>/tf_logs
    interval: int


def tensorboard_spec(hook, index, log_interval):
    """The checked ``log_config.hooks[index]`` of type TensorboardLoggerHook."""
    where = f"log_config.hooks[{index}]"
    unknown = sorted(set(hook) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where} ({HOOK}): unknown key(s) {unknown}; it takes "
                          f"{', '.join(KEYS[1:])}.")
    if hook.get('by_epoch', True) is not True:
        raise ConfigError(f"{where}.by_epoch={hook['by_epoch']!r}: ms_cls trains by epoch; "
                          "remove the key.")
    interval = hook.get('interval', log_interval)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ConfigError(f"{where}.interval={interval!r}: give an int >= 1 (steps).")
    log_dir = hook.get('log_dir')
    if log_dir is not None and not isinstance(log_dir, str):
        raise ConfigError(f"{where}.log_dir={log_dir!r}: give a folder path.")
    if importlib.util.find_spec('tensorboardX') is None:
        raise ConfigError(f"{where} ({HOOK}) needs the tensorboardX package, which is not "
                          f"installed: {INSTALL}; or remove the hook.")
    return TensorboardSpec(log_dir, interval)


def optimizer_momentum(optimizer):
    """The constant momentum mmcv's hook reports for an OptimizerSpec (None if it has none)."""
    values = dict(optimizer.values)
    if 'betas' in values:
        return float(values['betas'][0])
    return float(values['momentum']) if 'momentum' in values else None


class TensorboardLogger(Callback):
    """Writes the scalars of the module docstring; after TrainMonitor, which fills ``state``."""

    def __init__(self, spec, work_dir, state, lr_schedule, momentum, max_steps):
        super().__init__()
        self.log_dir = spec.log_dir or os.path.join(work_dir, 'tf_logs')
        self.interval = spec.interval
        self.state = state
        self.lr = lr_schedule
        self.momentum = momentum        # a per-step array, a number, or None
        self.max_steps = max_steps
        self.writer = None
        self.losses = []

    def on_train_begin(self, run_context):
        if self.writer is None:
            from tensorboardX import SummaryWriter
            step = run_context.original_args().cur_step_num
            self.writer = SummaryWriter(self.log_dir, purge_step=step + 1 if step else None)

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        step = cb.cur_step_num
        loss = step_loss(cb.net_outputs)
        if not np.isfinite(loss):
            return
        self.losses.append(loss)
        in_epoch = self.state.step_in_epoch(step)
        if in_epoch % self.interval and not self.state.epoch_ends(step):
            return
        self.writer.add_scalar('train/loss', float(np.mean(self.losses)), step)
        self.writer.add_scalar('learning_rate', float(self.lr[step - 1]), step)
        if self.momentum is not None:
            self.writer.add_scalar('momentum', momentum_at(self.momentum, step), step)
        self.losses = []

    def on_train_epoch_end(self, run_context):
        step = run_context.original_args().cur_step_num
        if not self.state.epoch_ends(step):
            return
        for key, value in self.state.val.items():
            self.writer.add_scalar(f'val/{key}', value, step)

    def on_train_end(self, run_context):
        self.writer.flush()
        if self.state.global_step >= self.max_steps or self.state.diverged \
                or self.state.interrupted:
            self.writer.close()
            self.writer = None
