"""Callbacks for ``Model.fit``: step position, seed-format logging, divergence stop, checkpoints.

Facts these rely on (MindSpore 2.10): in ``fit`` validation runs before ``on_train_epoch_end``
and fills ``cb_params.eval_results``; ``cur_step_num`` is already incremented in
``on_train_step_end``, so the lr applied at that step is ``lr_schedule[cur_step_num - 1]``
(``optimizer.get_lr()`` would give the next one and fails in graph mode at the last step).
The trainer calls ``fit`` once per epoch (each epoch's loader has its own seed), and every call
counts steps from 0, so :class:`StepPosition` sets the run's global step first; the step within
the epoch comes from ``RunState.steps_per_epoch`` (a resumed epoch's loader is shorter).
The callbacks place themselves by that global step, never by MindSpore's epoch count: in
dataset sink mode (engine/sink.py) MindSpore counts one epoch per sink and calls the step
callbacks once per sink, with ``cur_step_num`` grown by the sink's steps.
"""
import math
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
import mindspore as ms
from mindspore.train import Callback

from ..checkpoint import copy_checkpoint, make_meta, save_checkpoint
from ..progress import progress
from .log import DIVERGED, TOP1, TOP5


@dataclass
class RunState:
    """What the callbacks share: the position, the last validation result, the best one, a
    divergence, an interruption (the signal's name) and the step it stopped training after (0
    when it came after an epoch's last step: that epoch is validated and saved as usual)."""
    steps_per_epoch: int = 1
    global_step: int = 0
    epoch: int = 0
    last_loss: float = float('nan')
    val: dict = field(default_factory=dict)
    best_top1: float = -1.0
    best_epoch: int = 0
    diverged: str = ''
    interrupted: str = ''
    stopped_at: int = 0
    arm_signals: object = None    # re-installs the stop-on-signal handlers (engine/resume.py)

    def step_in_epoch(self, global_step):
        """1-based step within its epoch of the 1-based ``global_step``."""
        return (global_step - 1) % self.steps_per_epoch + 1

    def epoch_of(self, global_step):
        """1-based epoch of the 1-based ``global_step``."""
        return (global_step - 1) // self.steps_per_epoch + 1

    def epoch_ends(self, global_step):
        """Whether ``global_step`` (steps done) is the last step of an epoch."""
        return global_step > 0 and global_step % self.steps_per_epoch == 0

    @property
    def best(self):
        return {TOP1: self.best_top1, 'epoch': self.best_epoch} if self.best_epoch else None


class StepPosition(Callback):
    """First of the callbacks: starts ``cur_step_num`` at the run's global step, keeps it in
    ``state``, and stops after the current step once a signal asked for it."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def on_train_begin(self, run_context):
        run_context.original_args().cur_step_num = self.state.global_step
        if self.state.arm_signals is not None:
            self.state.arm_signals()

    def on_train_step_end(self, run_context):
        self.state.global_step = run_context.original_args().cur_step_num
        if self.state.interrupted:
            self.state.stopped_at = self.state.global_step
            run_context.request_stop()


def step_loss(net_outputs):
    """The loss of a train step; with a loss-scale manager outputs are (loss, overflow, scale)."""
    loss = net_outputs[0] if isinstance(net_outputs, (tuple, list)) else net_outputs
    return float(np.asarray(loss.asnumpy()).mean())


def momentum_at(momentum, step):
    """The momentum of global step ``step`` (1-based) from a per-step array or a constant;
    None when the optimizer has none."""
    if momentum is None:
        return None
    return float(momentum if np.isscalar(momentum) else momentum[step - 1])


class TrainMonitor(Callback):
    """Prints and records step, epoch and validation lines; stops on a NaN/Inf loss. Says
    when the first step compiles the graph (``compile_note``, printed before it, then its
    time) and shows validation's progress (``ms_cls.progress``, on stderr: not in the log)."""

    def __init__(self, log, state, lr_schedule, max_epochs, log_interval=100, compile_note=None,
                 momentum=None):
        super().__init__()
        self.momentum = momentum        # a per-step array, a number, or None (no momentum)
        self.compile_note = compile_note
        self.val_bar = None
        self.log = log
        self.state = state
        self.lr_schedule = lr_schedule
        self.max_epochs = max_epochs
        self.log_interval = max(1, int(log_interval))
        self.losses = []
        self.epoch_open = False    # within an epoch: its losses and time are being added up

    def on_train_begin(self, run_context):
        self.last_step = run_context.original_args().cur_step_num
        self.epoch_open = False    # a resumed epoch's figures start at the resume

    def on_train_epoch_begin(self, run_context):
        if self.epoch_open:        # a sink within an epoch (engine/sink.py)
            return
        self.epoch_open = True
        self.losses = []
        self.steps_run = 0
        self.epoch_start = time.perf_counter()
        self.train_seconds = 0.0

    def on_train_step_begin(self, run_context):
        if self.compile_note:
            self.log.info(self.compile_note)
        self.step_start = time.perf_counter()

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        if self.compile_note:
            self.compile_note = None
            self.log.info(f"graph compiled, first step done in "
                          f"{time.perf_counter() - self.step_start:.1f} s")
        ran = cb.cur_step_num - self.last_step     # 1, or a sink's steps
        self.last_step = cb.cur_step_num
        self.steps_run += ran
        step_seconds = (time.perf_counter() - self.step_start) / max(1, ran)
        self.train_seconds = time.perf_counter() - self.epoch_start
        loss = step_loss(cb.net_outputs)
        epoch = self.state.epoch_of(cb.cur_step_num) - 1
        steps = self.state.steps_per_epoch
        step = self.state.step_in_epoch(cb.cur_step_num)
        lr = float(self.lr_schedule[cb.cur_step_num - 1])
        if not math.isfinite(loss):
            self.state.diverged = (
                f"Training stopped: loss is {loss} at epoch {epoch}, step {step} (lr {lr:g}). "
                "The checkpoints written before this point are kept. Lower optimizer.lr, add "
                "warmup to lr_config, or check the data and labels.")
            self.log.error(DIVERGED, self.state.diverged, console=False, epoch=epoch + 1,
                           iter=step)
            run_context.request_stop()
            return
        self.losses.append(loss)
        self.state.last_loss = loss
        if step // self.log_interval > (step - ran) // self.log_interval or step == steps:
            self.log.step(epoch + 1, self.max_epochs, step, steps, loss,
                          float(np.mean(self.losses)), step_seconds, lr,
                          momentum_at(self.momentum, cb.cur_step_num))

    def on_eval_begin(self, run_context):
        self.val_bar = progress(total=run_context.original_args().batch_num, desc='val',
                                unit='batches')

    def on_eval_step_end(self, run_context):
        self.val_bar.update(1)

    def on_eval_end(self, run_context):
        self.val_bar.close()

    def on_train_epoch_end(self, run_context):
        cb = run_context.original_args()
        if self.state.diverged or self.state.stopped_at \
                or not self.state.epoch_ends(cb.cur_step_num):
            return
        self.epoch_open = False
        epoch = self.state.epoch_of(cb.cur_step_num)
        self.state.epoch = epoch
        self.log.epoch(epoch, self.train_seconds, self.steps_run, float(np.mean(self.losses)))
        self.state.val = {}
        results = cb.get('eval_results') or {}   # absent on epochs without validation
        if 'top_1' not in results:
            return
        top1 = float(results['top_1'])
        top5 = float(results['top_5']) if 'top_5' in results else None
        self.state.val = {TOP1: top1, **({TOP5: top5} if top5 is not None else {})}
        self.log.val(epoch, self.max_epochs, self.state.steps_per_epoch, self.state.last_loss,
                     self.state.val)
        if top1 > self.state.best_top1:
            self.state.best_top1, self.state.best_epoch = top1, epoch


class CheckpointSaver(Callback):
    """``epoch_{n}.ckpt`` every ``interval`` epochs and at the last unless ``save_last`` is False
    (``by_epoch=False``: ``iter_{n}.ckpt`` every ``interval`` global steps instead, for long
    epochs; both keep the newest ``max_keep_ckpts``), ``latest.ckpt`` every epoch,
    ``best.ckpt`` when validation top-1 improves. Every one of them can be resumed from. With
    ``ema`` (an EMAHook) the network holds the averaged weights at an epoch's end and the raw
    ones are added as ``raw.*``; mid-epoch it holds the raw ones and the averages go in as
    ``ema.*``.

    Runs after TrainMonitor (which fills ``state``). Nothing is written once training diverged,
    so the last good checkpoints stay as they were.
    """

    def __init__(self, work_dir, state, classes, max_epochs, interval=1, max_keep_ckpts=-1,
                 log=None, ema=None, save_last=True, seed=None, by_epoch=True):
        super().__init__()
        self.by_epoch = by_epoch
        self.save_last = save_last
        self.ema = ema
        self.work_dir = work_dir
        self.state = state
        self.classes = list(classes)
        self.max_epochs = max_epochs
        self.interval = max(1, int(interval))
        self.max_keep = int(max_keep_ckpts)
        self.log = log
        self.seed = seed

    def meta(self, epoch, step):
        return make_meta(classes=self.classes, epoch=epoch, ema=self.ema is not None,
                         metrics=self.state.val, step=step, best=self.state.best,
                         seed=self.seed)

    def ema_entries(self):
        if self.ema is None:
            return None
        return self.ema.raw_weights() if self.ema.swapped else self.ema.averages()

    def prune(self):
        """Keep the newest ``max_keep`` numbered checkpoints in the work dir. Counted on disk, so
        a re-written file is counted once and a resumed run keeps counting its own (the later
        ones of a timeline it abandoned were set aside, engine/resume.py)."""
        if self.max_keep > 0:
            kind = 'epoch' if self.by_epoch else 'iter'
            for path in numbered_checkpoints(self.work_dir, kind)[:-self.max_keep]:
                os.remove(path)

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        step = cb.cur_step_num
        if self.by_epoch or step % self.interval or self.state.diverged:
            return
        path = os.path.join(self.work_dir, f'iter_{step}.ckpt')
        save_checkpoint(cb.train_network, path,
                        self.meta(step // self.state.steps_per_epoch, step), self.ema_entries())
        self.prune()

    def on_train_epoch_end(self, run_context):
        cb = run_context.original_args()
        if self.state.diverged or self.state.stopped_at \
                or not self.state.epoch_ends(cb.cur_step_num):
            return
        epoch = self.state.epoch_of(cb.cur_step_num)
        meta = self.meta(epoch, cb.cur_step_num)
        latest = os.path.join(self.work_dir, 'latest.ckpt')
        save_checkpoint(cb.train_network, latest, meta, self.ema_entries())
        if self.by_epoch and (epoch % self.interval == 0
                              or (self.save_last and epoch == self.max_epochs)):
            path = os.path.join(self.work_dir, f'epoch_{epoch}.ckpt')
            copy_checkpoint(latest, path)
            self.prune()
        if self.state.val and self.state.best_epoch == epoch:
            copy_checkpoint(latest, os.path.join(self.work_dir, 'best.ckpt'))
            if self.log:
                self.log(f"Saved best.ckpt: accuracy_top-1 {self.state.best_top1:.3f} at "
                              f"epoch {epoch}")


def numbered_checkpoints(work_dir, kind):
    """The ``{kind}_{n}.ckpt`` files in ``work_dir`` (kind 'epoch' or 'iter'), oldest first."""
    found = []
    for name in os.listdir(work_dir) if os.path.isdir(work_dir) else ():
        match = re.fullmatch(kind + r'_(\d+)\.ckpt', name)
        if match:
            found.append((int(match.group(1)), os.path.join(work_dir, name)))
    return [path for _, path in sorted(found)]


class MomentumSchedule(Callback):
    """Sets the optimizer's momentum before every step from a per-step array (mmcv's
    ``momentum_config``). ``nn.Momentum``/``nn.SGD`` keep momentum in a Parameter, so
    ``set_data`` reaches the compiled graph."""

    def __init__(self, optimizer, schedule):
        super().__init__()
        self.momentum = optimizer.momentum
        self.schedule = np.asarray(schedule, np.float32)

    def on_train_step_begin(self, run_context):
        step = run_context.original_args().cur_step_num - 1   # already counted by Model
        self.momentum.set_data(ms.Tensor(self.schedule[step], ms.float32))
