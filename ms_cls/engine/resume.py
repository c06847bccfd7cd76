"""Resuming a run, and stopping one on SIGINT/SIGTERM without losing it.

A checkpoint written by training holds everything the next step needs: the network, the
optimizer state (momentum buffers or Adam moments and its step count, which also places the lr
schedule), the loss scale, the EMA averages (``raw.*`` / ``ema.*``, see engine/ema.py) and in
its meta the epochs and steps done, the best top-1 so far and the seed. The data order and
augmentation draws of an epoch follow from (seed, epoch) (``ms_cls.data.seeding``), so a resumed
run repeats exactly what an uninterrupted one would have done.
"""
import contextlib
import os
import re
import signal
from dataclasses import dataclass, field

import mindspore as ms

from ..checkpoint import EMA_PREFIX, RAW_PREFIX, copy_checkpoint, read_checkpoint
from ..errors import ConfigError, OutputExists, UnreadableCheckpoint
from .callbacks import numbered_checkpoints

RECOVERY = 'recovery.ckpt'
LATEST = 'latest.ckpt'
BEST = 'best.ckpt'
#: Files that mean a work dir holds a run that a new one would overwrite.
RUN_FILES = ('latest.ckpt', 'best.ckpt', RECOVERY)
#: Train-network entries rebuilt from the config instead of read back (the lr array's length
#: depends on max_epochs, which a resumed run may extend).
REBUILT = ('learning_rate',)


@dataclass
class ResumePoint:
    """Where a resumed run continues: the checkpoint, its entries and meta; ``skipped`` lists
    the unreadable checkpoints ('auto' passed over), as (path, reason)."""
    path: str
    params: dict
    meta: dict
    skipped: list = field(default_factory=list)

    @property
    def step(self):
        return int(self.meta.get('step') or 0)

    @property
    def skipped_line(self):
        """One line naming the checkpoints passed over, why, and the one used; '' if none."""
        if not self.skipped:
            return ''
        return (f"WARNING: --resume auto skipped {_listed(self.skipped)}; left as they are, "
                f"resuming from {self.path} instead.")


def find_resume(resume_from, work_dir):
    """``resume_from`` ('auto', a path or None) -> ResumePoint or None.

    'auto' takes the checkpoint of the work dir with the most steps done (latest.ckpt, a
    recovery checkpoint written at a signal, the newest iter_{n}.ckpt); with none there it
    starts a new run. One of them unreadable (cut short by a full disk, damaged) does not stop
    it: the kept epoch_{n}/iter_{n} checkpoints are tried too, newest first, and the point
    lists what it passed over. Nothing is deleted: the files are the user's.
    """
    if not resume_from:
        return None
    if resume_from != 'auto':
        return ResumePoint(resume_from, *read_checkpoint(resume_from))
    candidates = [os.path.join(work_dir, n) for n in (LATEST, RECOVERY)]
    candidates += numbered_checkpoints(work_dir, 'iter')[-1:]
    points, skipped = _read_points([p for p in candidates if os.path.isfile(p)])
    if skipped:
        older = [p for p in numbered_checkpoints(work_dir, 'epoch')
                 + numbered_checkpoints(work_dir, 'iter') if p not in candidates]
        for path in sorted(older, key=os.path.getmtime, reverse=True):
            found, unreadable = _read_points([path])
            points += found
            skipped += unreadable
            if found:
                break
    points = [p for p in points if p.meta.get('step') is not None]
    if not points and skipped:
        raise ConfigError(
            f"--resume auto: no readable checkpoint in {work_dir}: {_listed(skipped)}; left as "
            "they are. Resume from another copy with --resume-from FILE, or start a new run "
            "with another --work-dir.")
    if not points:
        return None
    point = max(points, key=lambda p: p.step)
    point.skipped = skipped
    return point


def _read_points(paths):
    """-> (ResumePoints of the readable ``paths``, [(path, reason)] of the others)."""
    points, skipped = [], []
    for path in paths:
        try:
            points.append(ResumePoint(path, *read_checkpoint(path)))
        except UnreadableCheckpoint as err:
            skipped.append((path, err.reason))
    return points, skipped


def _listed(skipped):
    return '; '.join(f"{os.path.basename(path)}, which {reason}" for path, reason in skipped)


def check_new_run(work_dir, config_name):
    """A run that does not resume must not overwrite another run's checkpoints or config."""
    taken = [n for n in RUN_FILES + (config_name,) if os.path.isfile(os.path.join(work_dir, n))]
    if taken:
        raise OutputExists(
            f"{work_dir} holds a run ({', '.join(taken)}); continue it with --resume auto, or "
            "give a new --work-dir (a new run would overwrite its checkpoints and config).")


def restore(point, train_network, ema=None):
    """Load ``point`` into the train network (weights, optimizer state, loss scale) and the EMA
    averages into ``ema``; a checkpoint of another model or optimizer is an error."""
    own = {p.name: p for p in train_network.get_parameters()}
    missing = [n for n in own if n not in point.params and n not in REBUILT]
    if missing:
        raise ConfigError(
            f"Cannot resume from {point.path}: it lacks {len(missing)} of this run's "
            f"parameters and optimizer state (e.g. {missing[:3]}). It was written by another "
            "model or optimizer; resume with the config that wrote it, or start from its weights "
            "with load_from.")
    loadable = {n: point.params[n] for n in own if n not in REBUILT}
    for name, value in loadable.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise ConfigError(f"Cannot resume from {point.path}: '{name}' has shape "
                              f"{tuple(value.shape)}, this run's {tuple(own[name].shape)}.")
    ms.load_param_into_net(train_network, loadable)
    if ema is None:
        return
    raw = {k[len(RAW_PREFIX):]: v for k, v in point.params.items() if k.startswith(RAW_PREFIX)}
    if raw:   # an epoch checkpoint: the averages are the main weights
        averages = {n: own[n].asnumpy().copy() for n in raw}
        for name, value in raw.items():
            own[name].set_data(ms.Tensor(value.asnumpy()))
    else:     # a recovery checkpoint: raw weights as the main ones, averages as ema.*
        averages = {k[len(EMA_PREFIX):]: v.asnumpy() for k, v in point.params.items()
                    if k.startswith(EMA_PREFIX)}
    if not averages:
        raise ConfigError(f"Cannot resume from {point.path}: the config has an EMAHook but the "
                          "checkpoint holds no EMA averages (it was written without one).")
    ema.restore(averages)


def checkpoint_step(path, steps_per_epoch):
    """The global step a work dir's checkpoint was written at: from its name (epoch_{n}.ckpt,
    iter_{n}.ckpt) or its meta; None when unreadable (it is left where it is)."""
    match = re.fullmatch(r'(epoch|iter)_(\d+)\.ckpt', os.path.basename(path))
    if match:
        return int(match.group(2)) * (steps_per_epoch if match.group(1) == 'epoch' else 1)
    try:
        return int(read_checkpoint(path)[1].get('step') or 0)
    except ConfigError:
        return None


def set_aside_abandoned(work_dir, point, steps_per_epoch, log):
    """A run resumed from an older checkpoint (``--resume-from W/epoch_1.ckpt``) abandons what
    was trained after it: the work dir's checkpoints of later steps (epoch_{n}, iter_{n},
    latest, best, recovery) are moved, never deleted, to ``abandoned_after_step_{S}/``, so the
    work dir holds the run as it stands: max_keep_ckpts counts its own files, ``--resume
    auto`` cannot pick the abandoned latest.ckpt, and best.ckpt is never a later epoch's that
    the resumed run re-trained. -> the names moved."""
    names = [n for n in sorted(os.listdir(work_dir))
             if n.endswith('.ckpt') and os.path.isfile(os.path.join(work_dir, n))]
    later = [n for n in names
             if (checkpoint_step(os.path.join(work_dir, n), steps_per_epoch) or 0) > point.step]
    if not later:
        return []
    base = folder = os.path.join(work_dir, f'abandoned_after_step_{point.step}')
    number = 1
    while os.path.exists(folder):
        number += 1
        folder = f'{base}_{number}'
    os.makedirs(folder)
    for name in later:
        os.replace(os.path.join(work_dir, name), os.path.join(folder, name))
    log(f"Resuming from step {point.step}: the checkpoints of the later steps it re-trains "
        f"({', '.join(later)}) were moved to {folder}")
    return later


def restore_best(work_dir, point, state, log):
    """best.ckpt must hold the best epoch of the resumed run (``state``'s, from the resume
    point's meta). When it is missing (set aside as a later epoch's), it is copied again from
    that epoch's checkpoint; when no file holds that epoch any more (pruned by max_keep_ckpts),
    the best starts again from the resumed epochs, with a warning, rather than name a best
    that best.ckpt does not hold."""
    best = os.path.join(work_dir, BEST)
    if not state.best_epoch or os.path.isfile(best):
        return
    end = state.best_epoch * state.steps_per_epoch
    for path in (os.path.join(work_dir, f'epoch_{state.best_epoch}.ckpt'), point.path):
        is_epoch_end = re.fullmatch(r'(epoch_\d+|latest|best)\.ckpt', os.path.basename(path))
        if is_epoch_end and os.path.isfile(path) and checkpoint_step(path, state.steps_per_epoch) == end:
            copy_checkpoint(path, best)
            log(f"best.ckpt: epoch {state.best_epoch}'s (accuracy_top-1 {state.best_top1:.3f}), "
                f"copied from {path}")
            return
    log(f"WARNING: no checkpoint of epoch {state.best_epoch} (the best so far, accuracy_top-1 "
        f"{state.best_top1:.3f}) is left in {work_dir}; best.ckpt will hold the best of the "
        f"epochs from step {point.step} on.")
    state.best_top1, state.best_epoch = -1.0, 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(state, decides=True):
    """SIGINT/SIGTERM set ``state.interrupted`` (training stops after the current step); a
    second one stops at once. The previous handlers come back afterwards.

    ``decides=False`` (ranks > 0 of a data-parallel run): the first signal is let pass. Rank 0
    stops after its step and writes the recovery checkpoint; a rank that stopped on its own at
    another step would leave rank 0 waiting at a gradient sum, or exit first and have msrun
    kill rank 0 before it saved. msrun ends the other ranks once rank 0 has exited.

    MindSpore guards its own steps with a SIGINT handler that raises SIGTERM instead, so a
    Ctrl-C during a step arrives here as SIGTERM; ``state.arm_signals`` is called again at the
    start of every fit in case a library replaced the handlers."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    received = []

    def handler(signum, _frame):
        if state.interrupted or (received and not decides):
            for sig, old in previous.items():
                signal.signal(sig, old)
            raise KeyboardInterrupt
        received.append(signum)
        if decides:
            state.interrupted = signal.Signals(signum).name

    def arm():
        for sig in STOP_SIGNALS:
            signal.signal(sig, handler)

    state.arm_signals = arm
    arm()
    try:
        yield
    finally:
        state.arm_signals = None
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_code(signal_name):
    """The shell's convention: 128 + the signal number."""
    return 128 + int(getattr(signal, signal_name))
