"""Dataset sink mode: the device runs ``sink_size`` steps per host call, its data queued on it.

On Ascend and GPU, MindSpore's sink mode saves a host round trip per step; on CPU MindSpore
2.10 accepts it but runs per step over the whole dataset while ``cb_params.batch_num`` reports
``sink_size`` (measured), so ms_cls never sinks on CPU. Config keys (top level):

* ``dataset_sink_mode``: 'auto' (default: on for Ascend/GPU, off on CPU), True or False;
* ``sink_size``: 'auto' (default) or the steps per sink.

In sink mode MindSpore calls the step callbacks once per sink (``cur_step_num`` grows by
``sink_size``) and counts one "epoch" per sink, so the trainer asks ``Model.fit`` for
``steps_per_epoch / sink_size`` of them and the callbacks place themselves by the global step,
not by MindSpore's epoch count. The sink size therefore divides the steps of an epoch (and of
the rest of a resumed one) and an iteration checkpoint's interval. What must run after every
step from the host needs a sink of 1: a momentum schedule, and the EMA (mmcv updates it at
0-based steps 0, interval, 2*interval, ..., which sink ends at multiples of the sink size miss).
The lr schedule lives in the optimizer's graph and is indexed by the global step either way.
"""
import math
from dataclasses import dataclass

from ..errors import ConfigError

MODES = ('auto', True, False)
SINK_DEVICES = ('Ascend', 'GPU')


@dataclass(frozen=True)
class SinkSpec:
    """A checked ``dataset_sink_mode`` / ``sink_size``: whether to sink and how much."""
    enabled: bool
    size: object        # 'auto' or an int
    line: str           # what the log says about it (when on)


def sink_spec(mode, size, device):
    """``dataset_sink_mode`` and ``sink_size`` for ``device`` -> SinkSpec."""
    if mode not in MODES or isinstance(mode, int) and not isinstance(mode, bool):
        raise ConfigError(f"dataset_sink_mode={mode!r}: use 'auto' (on for Ascend/GPU), True or "
                          "False.")
    if size != 'auto' and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"sink_size={size!r}: use 'auto' or a number of steps >= 1.")
    if mode is True and device not in SINK_DEVICES:
        raise ConfigError(f"dataset_sink_mode=True on {device}: MindSpore runs every step there "
                          "anyway while reporting sink-sized epochs, which would misplace the "
                          "schedules and checkpoints; use 'auto' or False on CPU.")
    enabled = mode is True or (mode == 'auto' and device in SINK_DEVICES)
    line = ("dataset sink mode: on (steps run on the device in sinks; step lines show the "
            "sink's last loss and its time per step)" if enabled else '')
    return SinkSpec(enabled, size, line)


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def sink_steps(spec, steps_per_epoch, done=0, log_interval=100, every=(), per_step=False):
    """The steps per sink: 1 when sink mode is off. ``done``: steps of the epoch already run
    (a resumed run); ``every``: [(name, interval)] that must fall on sink ends; ``per_step``:
    a callback must run at every step (a momentum schedule, the EMA).

    'auto' takes the largest size that divides the epoch, the rest of a resumed epoch and
    every interval, at most ``log_interval`` steps, so step lines still come at least as
    often as the config asks."""
    if not spec.enabled or per_step:
        return 1
    common = math.gcd(steps_per_epoch, steps_per_epoch - done)
    for _, interval in every:
        common = math.gcd(common, interval)
    if spec.size == 'auto':
        return max(d for d in divisors(common) if d <= max(1, log_interval))
    if common % spec.size:
        raise ConfigError(
            f"sink_size={spec.size} does not divide {_what(steps_per_epoch, done, every)}; "
            f"use one of {divisors(common)} or 'auto'.")
    return spec.size


def _what(steps, done, every):
    parts = [f"the {steps} steps of an epoch"]
    if done:
        parts.append(f"the {steps - done} steps left of the resumed epoch")
    parts += [f"{name}={interval}" for name, interval in every]
    return ', '.join(parts)


def fit_calls(steps_per_epoch, done, sink):
    """How many MindSpore "epochs" ``Model.fit`` runs for the rest of one epoch: one without
    sinking, one per sink with it."""
    left = steps_per_epoch - done
    if left % sink:
        raise ValueError(f"sink of {sink} steps does not divide the {left} steps left")
    return left // sink
