"""Per-iteration learning-rate arrays with mmcv 1.x ``lr_updater`` semantics.

The optimizer takes the whole array (one value per global step), so the schedule runs inside the
compiled graph; callbacks read the value actually applied from the same array.

Every policy is a function ``f(base_lr, progress, max_progress, **policy_args)``: progress is the
epoch index (``by_epoch=True``, over ``max_epochs``) or the iteration (over all iterations).
Warmup then multiplies the value while the iteration is below ``warmup_iters``.
"""
import inspect
import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..validation import Registry, check_keys, subset

WARMUPS = ('constant', 'linear', 'exp')


class TooFewIterations(ConfigError):
    """A policy argument that needs more iterations than the run has (only known once the
    data gives the steps per epoch, so the config check before the data lets it pass)."""


def annealing_cos(start, end, factor, weight=1.0):
    """Cosine from ``start`` (factor 0) to ``end`` (factor 1), scaled by ``weight``."""
    return end + 0.5 * weight * (start - end) * (math.cos(math.pi * factor) + 1)


def annealing_linear(start, end, factor):
    return start + (end - start) * factor


def _target(base_lr, min_lr, min_lr_ratio):
    if (min_lr is None) == (min_lr_ratio is None):
        raise ConfigError("set exactly one of min_lr and min_lr_ratio "
                          f"(got min_lr={min_lr!r}, min_lr_ratio={min_lr_ratio!r}).")
    return base_lr * min_lr_ratio if min_lr_ratio is not None else min_lr


def fixed_lr(base_lr, progress, max_progress):
    return base_lr


def step_lr(base_lr, progress, max_progress, step, gamma=0.1, min_lr=None):
    """Decay by ``gamma`` at each milestone (int ``step``: every ``step`` epochs/iterations)."""
    if isinstance(step, int):
        exp = progress // step
    else:
        exp = next((i for i, milestone in enumerate(step) if progress < milestone), len(step))
    lr = base_lr * gamma ** exp
    return max(lr, min_lr) if min_lr is not None else lr


def exp_lr(base_lr, progress, max_progress, gamma):
    return base_lr * gamma ** progress


def inv_lr(base_lr, progress, max_progress, gamma, power=1.0):
    """mmcv 1.7 ``Inv``: base_lr * (1 + gamma * progress) ** -power."""
    return base_lr * (1 + gamma * progress) ** (-power)


def poly_lr(base_lr, progress, max_progress, power=1.0, min_lr=0.0):
    return (base_lr - min_lr) * (1 - progress / max_progress) ** power + min_lr


def cosine_annealing_lr(base_lr, progress, max_progress, min_lr=None, min_lr_ratio=None):
    return annealing_cos(base_lr, _target(base_lr, min_lr, min_lr_ratio), progress / max_progress)


def linear_annealing_lr(base_lr, progress, max_progress, min_lr=None, min_lr_ratio=None):
    """mmcv 1.7 ``LinearAnnealing``: a straight line from base_lr to the target."""
    return annealing_linear(base_lr, _target(base_lr, min_lr, min_lr_ratio),
                            progress / max_progress)


def flat_cosine_annealing_lr(base_lr, progress, max_progress, start_percent=0.75, min_lr=None,
                             min_lr_ratio=None):
    """Flat until ``start_percent`` of training, then cosine to the target."""
    if not 0 <= start_percent <= 1:
        raise ConfigError(f"start_percent={start_percent!r} must be in [0, 1].")
    start = round(max_progress * start_percent)
    target = _target(base_lr, min_lr, min_lr_ratio)
    if progress < start:
        return base_lr
    return annealing_cos(base_lr, target, (progress - start) / (max_progress - start))


def cosine_restart_lr(base_lr, progress, max_progress, periods, restart_weights=(1,),
                      min_lr=None, min_lr_ratio=None):
    """Cosine cycles of the given ``periods``; cycle i peaks at ``restart_weights[i]``."""
    if len(periods) != len(restart_weights):
        raise ConfigError("periods and restart_weights need the same length.")
    if sum(periods) < max_progress:
        raise ConfigError(f"periods add up to {sum(periods)}, fewer than the "
                          f"{max_progress} epochs/iterations to schedule.")
    target = _target(base_lr, min_lr, min_lr_ratio)
    ends = np.cumsum(periods)
    idx = int(np.searchsorted(ends, progress, side='right'))
    restart = 0 if idx == 0 else int(ends[idx - 1])
    alpha = min((progress - restart) / periods[idx], 1)
    return annealing_cos(base_lr, target, alpha, restart_weights[idx])


def _anneal(strategy):
    if strategy not in ('cos', 'linear'):
        raise ConfigError(f"anneal_strategy={strategy!r}; use 'cos' or 'linear'.")
    return annealing_cos if strategy == 'cos' else annealing_linear


def _target_ratio(target_ratio):
    """mmcv's reading: one number r (or a 1-tuple) means (r, r / 1e5); else exactly 2."""
    if isinstance(target_ratio, (int, float)) and not isinstance(target_ratio, bool):
        return (target_ratio, target_ratio / 1e5)
    if isinstance(target_ratio, (list, tuple)) and len(target_ratio) == 1:
        return (target_ratio[0], target_ratio[0] / 1e5)
    if not isinstance(target_ratio, (list, tuple)) or len(target_ratio) != 2:
        raise ConfigError(f"target_ratio={target_ratio!r}: give a number r (read as "
                          "(r, r / 1e5)) or two numbers (peak ratio, end ratio).")
    return tuple(target_ratio)


def cyclic_phase(progress, max_progress, cyclic_times, step_ratio_up):
    """(iteration in its cycle, cycle index, iterations up, iterations per cycle), as mmcv's
    Cyclic hooks split ``max_iters // cyclic_times``."""
    if isinstance(cyclic_times, bool) or not isinstance(cyclic_times, int) or cyclic_times < 1:
        raise ConfigError(f"cyclic_times={cyclic_times!r} must be an int >= 1.")
    if not 0 <= step_ratio_up < 1:
        raise ConfigError(f"step_ratio_up={step_ratio_up!r} must be in [0, 1).")
    per_cycle = max_progress // cyclic_times
    if per_cycle < 1:
        raise TooFewIterations(f"cyclic_times={cyclic_times} is more cycles than the "
                               f"{max_progress} iterations of the run; lower cyclic_times "
                               "(or train longer).")
    return progress % per_cycle, progress // per_cycle, int(step_ratio_up * per_cycle), per_cycle


def cyclic_lr(base_lr, progress, max_progress, target_ratio=(10, 1e-4), cyclic_times=1,
              step_ratio_up=0.4, anneal_strategy='cos', gamma=1.0):
    """Up to ``base_lr * target_ratio[0]`` then down to ``base_lr * target_ratio[1]``, per cycle;
    each later cycle's excursion is scaled by ``gamma``.

    As mmcv 1.7, the first phase of a cycle (the one starting at its iteration 0) has its end
    scaled, the other its start: with ``step_ratio_up=0`` the up phase is empty, so every cycle
    starts at the full peak ``base_lr * target_ratio[0]`` and only its end is scaled."""
    peak, end_ratio = _target_ratio(target_ratio)
    if not 0 < gamma <= 1:
        raise ConfigError(f"gamma={gamma!r} must be in (0, 1].")
    return _cyclic(base_lr, progress, max_progress, peak, end_ratio, cyclic_times, step_ratio_up,
                   anneal_strategy, gamma)


def _cyclic(base, progress, max_progress, peak, end_ratio, cyclic_times, step_ratio_up,
            anneal_strategy, gamma):
    anneal = _anneal(anneal_strategy)
    it, cycle, up, per_cycle = cyclic_phase(progress, max_progress, cyclic_times, step_ratio_up)
    scale = gamma ** cycle
    if it < up:
        start, end, lo, hi = 1, peak, 0, up
    else:
        start, end, lo, hi = peak, end_ratio, up, per_cycle
    if lo == 0:
        end = 1 - scale + end * scale
    else:
        start = 1 - scale + start * scale
    return anneal(base * start, base * end, (it - lo) / (hi - lo))


def one_cycle_lr(base_lr, progress, max_progress, max_lr, total_steps=None, pct_start=0.3,
                 anneal_strategy='cos', div_factor=25.0, final_div_factor=1e4, three_phase=False):
    """1cycle: from max_lr/div_factor up to max_lr, then down to initial/final_div_factor
    (``base_lr`` is not used, as in mmcv)."""
    total = total_steps or max_progress
    if total < max_progress:
        raise ConfigError(f"total_steps={total} is fewer than the {max_progress} "
                          "iterations to schedule.")
    initial = max_lr / div_factor
    final = initial / final_div_factor
    if three_phase:
        phases = [(pct_start * total - 1, initial, max_lr),
                  (2 * pct_start * total - 2, max_lr, initial), (total - 1, initial, final)]
    else:
        phases = [(pct_start * total - 1, initial, max_lr), (total - 1, max_lr, final)]
    anneal, start = _anneal(anneal_strategy), 0
    for i, (end, lr_from, lr_to) in enumerate(phases):
        if progress <= end or i == len(phases) - 1:
            return anneal(lr_from, lr_to, (progress - start) / (end - start))
        start = end
    raise AssertionError('unreachable')


POLICIES = {
    'Fixed': fixed_lr, 'Step': step_lr, 'Exp': exp_lr, 'Poly': poly_lr,
    'Inv': inv_lr, 'CosineAnnealing': cosine_annealing_lr,
    'LinearAnnealing': linear_annealing_lr, 'FlatCosineAnnealing': flat_cosine_annealing_lr,
    'CosineRestart': cosine_restart_lr, 'Cyclic': cyclic_lr, 'OneCycle': one_cycle_lr,
}
ITER_ONLY = ('Cyclic', 'OneCycle')  # mmcv runs these by iteration only


def policy_name(policy):
    """mmcv's spelling rule: an all-lowercase name is title-cased ('step' -> 'Step')."""
    return policy.title() if isinstance(policy, str) and policy == policy.lower() else policy


def warmup_factor(warmup, cur_iter, warmup_iters, warmup_ratio):
    """Multiplier applied to the regular lr while cur_iter < warmup_iters."""
    if warmup == 'constant':
        return warmup_ratio
    if warmup == 'linear':
        return 1 - (1 - cur_iter / warmup_iters) * (1 - warmup_ratio)
    if warmup == 'exp':
        return warmup_ratio ** (1 - cur_iter / warmup_iters)
    raise ConfigError(f"lr_config.warmup={warmup!r}; use one of {WARMUPS} or None.")


def step_momentum(base, progress, max_progress, step, gamma=0.5, min_momentum=None):
    return step_lr(base, progress, max_progress, step, gamma, min_momentum)


def _momentum_target(base, min_momentum, min_momentum_ratio):
    if (min_momentum is None) == (min_momentum_ratio is None):
        raise ConfigError("set exactly one of min_momentum and min_momentum_ratio.")
    return base * min_momentum_ratio if min_momentum_ratio is not None else min_momentum


def cosine_annealing_momentum(base, progress, max_progress, min_momentum=None,
                              min_momentum_ratio=None):
    target = _momentum_target(base, min_momentum, min_momentum_ratio)
    return annealing_cos(base, target, progress / max_progress)


def linear_annealing_momentum(base, progress, max_progress, min_momentum=None,
                              min_momentum_ratio=None):
    """mmcv 1.7 ``LinearAnnealing`` momentum: a straight line to the target."""
    target = _momentum_target(base, min_momentum, min_momentum_ratio)
    return annealing_linear(base, target, progress / max_progress)


def cyclic_momentum(base, progress, max_progress, target_ratio=(0.85 / 0.95, 1), cyclic_times=1,
                    step_ratio_up=0.4, anneal_strategy='cos', gamma=1.0):
    """Down to ``base * target_ratio[0]`` while the cyclic lr goes up, then to
    ``base * target_ratio[1]`` (the same phases as the cyclic lr; mmcv does not bound gamma
    here)."""
    peak, end_ratio = _target_ratio(target_ratio)
    return _cyclic(base, progress, max_progress, peak, end_ratio, cyclic_times, step_ratio_up,
                   anneal_strategy, gamma)


def one_cycle_momentum(base, progress, max_progress, base_momentum=0.85, max_momentum=0.95,
                       pct_start=0.3, anneal_strategy='cos', three_phase=False):
    """max_momentum -> base_momentum while the 1cycle lr rises, then back (the optimizer's own
    momentum is not used, as in mmcv)."""
    total = max_progress
    if three_phase:
        phases = [(pct_start * total - 1, max_momentum, base_momentum),
                  (2 * pct_start * total - 2, base_momentum, max_momentum),
                  (total - 1, max_momentum, max_momentum)]
    else:
        phases = [(pct_start * total - 1, max_momentum, base_momentum),
                  (total - 1, base_momentum, max_momentum)]
    anneal, start = _anneal(anneal_strategy), 0
    for i, (end, frm, to) in enumerate(phases):
        if progress <= end or i == len(phases) - 1:
            return anneal(frm, to, (progress - start) / (end - start))
        start = end
    raise AssertionError('unreachable')


MOMENTUM_POLICIES = {
    'Step': step_momentum, 'CosineAnnealing': cosine_annealing_momentum,
    'LinearAnnealing': linear_annealing_momentum, 'Cyclic': cyclic_momentum, 'OneCycle': one_cycle_momentum,
}
LR_REGISTRY = Registry('lr_config', POLICIES, normalise=policy_name, kind='policy')
MOMENTUM_REGISTRY = Registry('momentum_config', MOMENTUM_POLICIES, normalise=policy_name,
                             kind='policy')


def _warm_lr(value, factor):
    return value * factor


def _warm_momentum(value, factor):
    return value / factor


@dataclass(frozen=True)
class ScheduleSpec:
    """A checked ``lr_config`` or ``momentum_config``: the policy and its arguments.

    The per-step array needs the steps per epoch, which only the data gives, so the config is
    checked once into this spec (the run plan) and :meth:`values` computes the array once.
    """
    section: str
    name: str
    args: tuple            # (key, value) pairs of the policy's own arguments
    by_epoch: bool
    warmup: str = None
    warmup_iters: int = 0
    warmup_by_epoch: bool = False
    warmup_ratio: float = 0.1
    momentum: bool = False  # warmup divides momentum, multiplies lr (mmcv)

    def values(self, base, max_epochs, steps_per_epoch):
        """float32 array: the value at every iteration of ``max_epochs * steps_per_epoch``."""
        policy = self.policies()[self.name]
        args = dict(self.args)
        warmup_iters = self.warmup_iters * (steps_per_epoch if self.warmup_by_epoch else 1)
        apply_warmup = _warm_momentum if self.momentum else _warm_lr
        total = max_epochs * steps_per_epoch
        max_progress = max_epochs if self.by_epoch else total
        try:
            values = np.empty(total, dtype=np.float32)
            for it in range(total):
                progress = it // steps_per_epoch if self.by_epoch else it
                value = policy(base, progress, max_progress, **args)
                if self.warmup is not None and it < warmup_iters:
                    value = apply_warmup(value, warmup_factor(self.warmup, it, warmup_iters,
                                                              self.warmup_ratio))
                values[it] = value
        except (TypeError, ConfigError) as err:
            raise ConfigError(f"{self.section} (policy='{self.name}'): {err}") from None
        return values

    def policies(self):
        return MOMENTUM_POLICIES if self.momentum else POLICIES

    def check(self, base, max_epochs):
        """Evaluate the policy at the first and last progress it will see (by iteration: at
        least one step per epoch), so a bad argument fails before any data is read. An argument
        that only the real iteration count can refute (cyclic_times) is checked by
        :meth:`values`."""
        policy = self.policies()[self.name]
        try:
            for progress in {0, max_epochs - 1}:
                policy(base, progress, max_epochs, **dict(self.args))
        except TooFewIterations:
            pass   # by iteration (Cyclic): one step per epoch is only the fewest possible
        except (TypeError, ConfigError) as err:
            raise ConfigError(f"{self.section} (policy='{self.name}'): {err}") from None
        return self


def schedule_spec(section, config, momentum=False):
    """Check ``lr_config`` (``momentum=False``) or ``momentum_config`` into a ScheduleSpec."""
    if not isinstance(config, dict):
        raise ConfigError(f"{section} must be a dict such as dict(policy='step', step=[30, 60]), "
                          f"got {config!r}.")
    registry = MOMENTUM_REGISTRY if momentum else LR_REGISTRY
    policies = registry.items
    args = subset(config)
    name = registry.name(args.pop('policy', None), f'{section}.policy')
    by_epoch = args.pop('by_epoch', name not in ITER_ONLY)
    if by_epoch and name in ITER_ONLY:
        raise ConfigError(f"{section}.policy='{name}' works by iteration: remove by_epoch=True.")
    warmup = args.pop('warmup', None)
    warmup_iters = args.pop('warmup_iters', 0)
    warmup_ratio = args.pop('warmup_ratio', 0.9 if momentum else 0.1)
    warmup_by_epoch = args.pop('warmup_by_epoch', False)
    known = [p for p in inspect.signature(policies[name]).parameters][3:]
    check_keys(args, known, f"{section} (policy='{name}')")
    if warmup is not None:
        if warmup not in WARMUPS:
            raise ConfigError(f"{section}.warmup={warmup!r}; use one of {WARMUPS} or None.")
        if not 0 < warmup_ratio <= 1:
            raise ConfigError(f"{section}.warmup_ratio={warmup_ratio} must be in (0, 1].")
        if isinstance(warmup_iters, bool) or not isinstance(warmup_iters, int) \
                or warmup_iters < 1:
            raise ConfigError(f"{section}.warmup_iters={warmup_iters!r}: warmup='{warmup}' needs "
                              "an int >= 1 (as mmcv); for no warmup set warmup=None.")
    return ScheduleSpec(section, name, tuple(_frozen(args).items()), bool(by_epoch), warmup,
                        warmup_iters, bool(warmup_by_epoch), float(warmup_ratio), momentum)


def _frozen(args):
    """Plain values (lists as tuples) so that a spec is hashable and cannot be changed."""
    def freeze(value):
        if isinstance(value, (list, tuple)):
            return tuple(freeze(v) for v in value)
        return value
    return {k: freeze(v) for k, v in args.items()}


def lr_schedule_spec(lr_config):
    """``lr_config`` (None: a fixed lr) -> ScheduleSpec."""
    return schedule_spec('lr_config', lr_config or dict(policy='fixed'))


def build_lr_schedule(lr_config, base_lr, max_epochs, steps_per_epoch):
    """lr_config dict -> float32 array of length max_epochs * steps_per_epoch."""
    return lr_schedule_spec(lr_config).values(base_lr, max_epochs, steps_per_epoch)


def build_momentum_schedule(momentum_config, base_momentum, max_epochs, steps_per_epoch):
    """momentum_config dict -> float32 array of the optimizer momentum at every iteration, or
    None without a config (mmcv ``MomentumUpdaterHook``). Warmup divides the scheduled value by
    the lr warmup factor (mmcv's rule; warmup_ratio defaults to 0.9 here)."""
    if momentum_config is None:
        return None
    return schedule_spec('momentum_config', momentum_config, momentum=True).values(
        base_momentum, max_epochs, steps_per_epoch)


def scaled_lr(lr, auto_scale_lr, total_batch):
    """``optimizer.lr``, times ``total_batch`` / ``auto_scale_lr.base_batch_size`` when enabled.

    Returns (lr, a log line or None).
    """
    auto = auto_scale_lr or {}
    check_keys(auto, ('base_batch_size', 'enable'), 'auto_scale_lr')
    if not auto.get('enable', False):
        return lr, None
    if not auto.get('base_batch_size'):
        raise ConfigError("auto_scale_lr.base_batch_size is required when enable=True.")
    scaled = lr * total_batch / auto['base_batch_size']
    return scaled, (f"auto_scale_lr: lr {lr:g} x {total_batch} / {auto['base_batch_size']} = "
                    f"{scaled:g}")


def base_momentum(momentum_config, optimizer):
    """The momentum ``momentum_config`` schedules (None without one); ``optimizer`` is the
    :class:`~ms_cls.engine.optim.OptimizerSpec`, which says whether it has such a momentum."""
    if momentum_config is None:
        return None
    if not isinstance(momentum_config, dict):
        raise ConfigError(f"momentum_config must be a dict such as dict(policy='cyclic'), got "
                          f"{momentum_config!r}.")
    return optimizer.scheduled_momentum(momentum_config.get('policy'))
