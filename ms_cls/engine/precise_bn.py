"""Precise BatchNorm statistics, as mmcls's ``PreciseBNHook``:
``custom_hooks = [dict(type='PreciseBNHook', num_samples=8192, interval=1)]``.

After every ``interval``-th training epoch, before validation, every BatchNorm's moving mean and
variance become the plain average of its batch statistics over ``num_samples // batch`` training
batches (mmcls's count: at least one, at most the epoch's; each process runs that many of its
own share and the averages of all processes are averaged), instead of the exponential average
training keeps (Wu & Johnson, "Rethinking Batch in BatchNorm", sec. 3). The batches are the
first ones of the epoch just trained, drawn again from its seed, so a resumed run recomputes
the same statistics; they are the network's, so checkpoints carry them. BatchNorms that keep
their statistics (``frozen_stages``, ``norm_eval``) are left alone, as mmcls skips modules in
eval mode.

MindSpore's BatchNorm updates ``moving = (1 - m) * moving + m * batch`` inside its primitive
(m = ``cell.momentum``, compiled into the graph, the batch variance unbiased as in torch). The
moving statistics are set to zero before each batch and ``moving / m`` is read back: the same
forward graph serves every batch and no primitive is replaced.
"""
from dataclasses import dataclass

import numpy as np
import mindspore as ms
from mindspore.train import Callback

from ..errors import ConfigError
from ..models.freeze import BATCH_NORMS

HOOK = 'PreciseBNHook'
HOOK_KEYS = ('type', 'num_samples', 'interval', 'priority')


@dataclass(frozen=True)
class PreciseBNSpec:
    """A checked ``PreciseBNHook`` config; the defaults are mmcls's."""
    num_samples: int = 8192
    interval: int = 1

    def batches(self, batch_size, processes, available):
        """Batches each process runs: mmcls's ``num_samples // (batch * processes)``, at least
        one (mmcls would divide by zero), at most ``available``."""
        return max(1, min(self.num_samples // (batch_size * processes), available))


def precise_bn_spec(custom_hooks):
    """``custom_hooks`` -> the PreciseBNHook's :class:`PreciseBNSpec`, or None without one."""
    from .ema import ABOVE_CHECKPOINTS, custom_hooks_of
    from ..validation import check_keys, located, positive_int
    found = None
    for i, hook in custom_hooks_of(custom_hooks, HOOK):
        check_keys(hook, HOOK_KEYS, f'custom_hooks[{i}] ({HOOK})')
        if hook.get('priority', 'ABOVE_NORMAL') not in ABOVE_CHECKPOINTS:
            raise ConfigError(f"custom_hooks[{i}].priority={hook['priority']!r}: ms_cls "
                              "recomputes the statistics before validation and checkpoints "
                              "(mmcls's 'ABOVE_NORMAL'); set that or remove priority.")
        if found:
            raise ConfigError(f"custom_hooks has two {HOOK}s; keep one.")
        hook = located(hook, f'custom_hooks.{i}')
        found = PreciseBNSpec(positive_int(hook, 'num_samples', PreciseBNSpec.num_samples),
                              positive_int(hook, 'interval', PreciseBNSpec.interval))
    return found


def tracked_norms(net):
    """The BatchNorms of ``net`` that update their moving statistics in training mode."""
    return [cell for _, cell in net.cells_and_names()
            if isinstance(cell, BATCH_NORMS) and cell.use_batch_statistics is not False]


def recompute_bn_stats(net, batches, cluster=None):
    """Set the moving mean and variance of every tracked BatchNorm of ``net`` to the mean of
    its batch statistics over ``batches`` (NCHW arrays or Tensors), averaged over the processes
    of ``cluster`` when it is parallel. -> (BatchNorm layers, batches of this process)."""
    norms = tracked_norms(net)
    if not norms:
        return 0, 0
    sums = [np.zeros(c.moving_mean.shape + (2,), np.float64) for c in norms]
    count = 0
    was_training = net.training
    net.set_train(True)
    try:
        for images in batches:
            for cell in norms:
                for stat in (cell.moving_mean, cell.moving_variance):
                    stat.set_data(ms.Tensor(np.zeros(stat.shape, np.float32)))
            net(images if isinstance(images, ms.Tensor) else ms.Tensor(images))
            count += 1
            for cell, total in zip(norms, sums):
                total[:, 0] += cell.moving_mean.asnumpy() / cell.momentum
                total[:, 1] += cell.moving_variance.asnumpy() / cell.momentum
    finally:
        net.set_train(was_training)
    if not count:
        return len(norms), 0
    means = np.concatenate([total.ravel() for total in sums]) / count
    if cluster is not None and cluster.parallel:
        means = cluster.all_sum(means) / cluster.size
    start = 0
    for cell, total in zip(norms, sums):
        stats = means[start:start + total.size].reshape(total.shape)
        start += total.size
        cell.moving_mean.set_data(ms.Tensor(stats[:, 0].astype(np.float32)))
        cell.moving_variance.set_data(ms.Tensor(stats[:, 1].astype(np.float32)))
    return len(norms), count


class PreciseBNHook(Callback):
    """Recomputes the BatchNorm statistics at the last step of every ``spec.interval``-th
    epoch: ``Model.fit`` validates before ``on_train_epoch_end``, so this is the last moment
    before validation (after the EMA swap: the statistics are those of the weights validated
    and saved; after TrainMonitor, which has timed the step and seen a diverged loss).
    ``loader_of(epoch)`` gives the training loader of a 0-based epoch."""

    def __init__(self, net, spec, state, loader_of, batch_size, cluster, log):
        super().__init__()
        self.net = net
        self.spec = spec
        self.state = state
        self.loader_of = loader_of
        self.batch_size = batch_size
        self.cluster = cluster
        self.log = log

    def on_train_step_end(self, run_context):
        step = run_context.original_args().cur_step_num
        epoch = step // self.state.steps_per_epoch
        # after a signal only this process got here: a sum over processes would wait forever
        if not self.state.epoch_ends(step) or epoch % self.spec.interval \
                or self.state.stopped_at or self.state.diverged:
            return
        loader = self.loader_of(epoch - 1)
        count = self.spec.batches(self.batch_size, self.cluster.size, loader.get_dataset_size())
        images = (batch[0] for batch in
                  loader.take(count).create_tuple_iterator(num_epochs=1))
        layers, count = recompute_bn_stats(self.net, images, self.cluster)
        if not layers:
            self.log(f"{HOOK}: the model has no BatchNorm that tracks statistics; nothing "
                     "recomputed")
            return
        processes = f" in each of {self.cluster.size} processes" if self.cluster.parallel else ''
        self.log(f"{HOOK}: {layers} BatchNorm layers recomputed over {count} batches of "
                 f"{self.batch_size}{processes} (num_samples {self.spec.num_samples}) after "
                 f"epoch {epoch}")
