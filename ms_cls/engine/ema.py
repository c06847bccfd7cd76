"""Model EMA as mmcv's ``EMAHook``: ``custom_hooks=[dict(type='EMAHook', momentum=1e-4)]``.

After every ``interval``-th step: ema = (1 - m) * ema + m * weight, with
m = min(momentum ** interval, (1 + t) / (warm_up + t)) at global step t (0-based). At the end of
each training epoch the averaged weights are swapped into the network, so validation and the
checkpoints see them; the raw weights go back in before the next epoch. BatchNorm statistics are
not averaged (torch buffers, as in mmcv). A checkpoint then holds the EMA weights under the usual
names (what was validated, what eval/predict load) and the raw weights under ``raw.<name>``.
"""
from dataclasses import dataclass

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
from mindspore.train import Callback

from ..errors import ConfigError
from ..validation import Registry, check_keys, located
from ..checkpoint import EMA_PREFIX, RAW_PREFIX

HOOK_KEYS = ('type', 'momentum', 'interval', 'warm_up', 'priority', 'resume_from')

_ema_update = ops.MultitypeFuncGraph('ms_cls_ema_update')


@_ema_update.register('Tensor', 'Tensor', 'Tensor')
def _update(momentum, average, weight):
    return ops.assign(average, average * (1.0 - momentum) + ops.cast(weight, average.dtype) * momentum)


class EMAWeights(nn.Cell):
    """The running averages of ``params``; calling it with a momentum updates them in one graph."""

    def __init__(self, params):
        super().__init__(auto_prefix=False)
        self.weights = ms.ParameterTuple(params)
        self.averages = self.weights.clone(prefix='ema', init='same')
        self.hyper_map = ops.HyperMap()

    def construct(self, momentum):
        return self.hyper_map(ops.partial(_ema_update, momentum), self.averages, self.weights)

    def swap(self):
        """Exchange the network's weights and the averages (once per epoch, on the host)."""
        for weight, average in zip(self.weights, self.averages):
            held = weight.asnumpy().copy()
            weight.set_data(ms.Tensor(average.asnumpy()))
            average.set_data(ms.Tensor(held))


@dataclass(frozen=True)
class EMASpec:
    """A checked ``EMAHook`` config; the defaults are mmcv's."""
    momentum: float = 0.0002
    interval: int = 1
    warm_up: float = 100


#: the custom hooks ms_cls knows (PreciseBNHook: engine/precise_bn.py)
HOOKS = Registry('custom hook', {'EMAHook': EMASpec, 'PreciseBNHook': None})
#: mmcv priorities that run before its CheckpointHook (NORMAL), as ms_cls's EMA always does
ABOVE_CHECKPOINTS = ('HIGHEST', 'VERY_HIGH', 'HIGH', 'ABOVE_NORMAL', 0, 10, 20, 30, 40)


def custom_hooks_of(custom_hooks, name):
    """[(index, hook)] of the ``custom_hooks`` entries of type ``name``; every entry must be a
    dict of a known type."""
    if custom_hooks is None:
        return []
    if not isinstance(custom_hooks, (list, tuple)):
        raise ConfigError(f"custom_hooks must be a list of dicts, got {custom_hooks!r}.")
    return [(i, hook) for i, hook in enumerate(custom_hooks) if _hook_type(hook, i) == name]


def ema_spec(custom_hooks):
    """``custom_hooks`` -> the EMAHook's :class:`EMASpec`, or None without one."""
    found = None
    for i, hook in custom_hooks_of(custom_hooks, 'EMAHook'):
        check_keys(hook, HOOK_KEYS, f'custom_hooks[{i}] (EMAHook)')
        if hook.get('resume_from'):
            raise ConfigError(f"custom_hooks[{i}].resume_from: a resumed run restores the EMA "
                              "averages itself (--resume auto); remove the key.")
        if hook.get('priority', 'ABOVE_NORMAL') not in ABOVE_CHECKPOINTS:
            raise ConfigError(f"custom_hooks[{i}].priority={hook['priority']!r}: ms_cls runs the "
                              "EMA before validation and checkpoints (mmcv's 'ABOVE_NORMAL', "
                              "what mmcls configs use); set that or remove priority.")
        momentum = hook.get('momentum', EMASpec.momentum)
        interval = hook.get('interval', EMASpec.interval)
        warm_up = hook.get('warm_up', EMASpec.warm_up)
        if not (isinstance(momentum, (int, float)) and 0 < momentum < 1):
            raise ConfigError(f"custom_hooks[{i}].momentum={momentum!r} must be in (0, 1), "
                              "e.g. 1e-4 (the weight of the newest weights).")
        if not (isinstance(interval, int) and interval > 0):
            raise ConfigError(f"custom_hooks[{i}].interval={interval!r} must be a positive int.")
        if not (isinstance(warm_up, (int, float)) and warm_up >= 0):
            raise ConfigError(f"custom_hooks[{i}].warm_up={warm_up!r} must be >= 0.")
        if found:
            raise ConfigError("custom_hooks has two EMAHooks; keep one.")
        found = EMASpec(float(momentum), interval, warm_up)
    return found


def _hook_type(hook, i):
    """The hook's type name; the message says where in the list the hook stands."""
    if not isinstance(hook, dict):
        raise ConfigError(f"custom_hooks[{i}] = {hook!r}: expected a dict such as "
                          "dict(type='EMAHook', momentum=1e-4).")
    try:
        return HOOKS.name(hook.get('type'), located(hook, f'custom_hooks.{i}').where('type'))
    except ConfigError as err:
        raise ConfigError(f"custom_hooks[{i}] = {hook.get('type')!r}: {err} ms_cls's callbacks "
                          "cover logging, checkpoints and lr/momentum.") from None


def ema_momentum(momentum, interval, warm_up, step):
    """mmcv's momentum at global step ``step`` (0-based), or None on steps it skips."""
    if step % interval:
        return None
    warm = (1 + step) / (warm_up + step) if warm_up + step > 0 else 1.0   # warm_up=0 at t=0
    return min(momentum ** interval, warm)


class EMAHook(Callback):
    """Updates the averages after each step; swaps them in for validation and checkpoints.

    Put it before the logging and checkpoint callbacks: the swap must happen at the last step of
    the epoch, because ``Model.fit`` validates before ``on_train_epoch_end``.
    """

    def __init__(self, params, spec, steps_per_epoch):
        super().__init__()
        self.ema = EMAWeights([p for p in params if p.requires_grad])
        self.spec = spec
        self.steps_per_epoch = steps_per_epoch
        self.swapped = False

    def on_train_epoch_begin(self, run_context):
        if self.swapped:
            self.ema.swap()
            self.swapped = False

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        spec = self.spec
        momentum = ema_momentum(spec.momentum, spec.interval, spec.warm_up, cb.cur_step_num - 1)
        if momentum is not None:
            self.ema(ms.Tensor(momentum, ms.float32))
        if cb.cur_step_num % self.steps_per_epoch == 0:
            self.ema.swap()
            self.swapped = True

    def restore(self, averages):
        """Resume: the network holds the raw weights; ``averages`` (name -> array) are put back
        as the running averages."""
        for weight, average in zip(self.ema.weights, self.ema.averages):
            average.set_data(ms.Tensor(averages[weight.name]))
        self.swapped = False

    def averages(self):
        """{'ema.<name>': the running averages} (a mid-epoch checkpoint: the network holds the
        raw weights then, as in MindCV's EMA checkpoints)."""
        return {EMA_PREFIX + w.name: ms.Tensor(a.asnumpy())
                for w, a in zip(self.ema.weights, self.ema.averages)}

    def raw_weights(self):
        """{'raw.<name>': the weights before averaging} while the averages are swapped in."""
        source = self.ema.averages if self.swapped else self.ema.weights
        return {RAW_PREFIX + w.name: ms.Tensor(a.asnumpy())
                for w, a in zip(self.ema.weights, source)}
