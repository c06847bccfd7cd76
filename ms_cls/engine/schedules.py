"""Per-iteration learning-rate arrays with mmcv 1.x ``lr_updater`` semantics.

The optimizer takes the whole array (one value per global step), so the schedule runs inside the
compiled graph; callbacks read the value actually applied from the same array.
"""
import numpy as np

from ..config import ConfigError, check_keys, subset

WARMUP_KEYS = ('warmup', 'warmup_iters', 'warmup_ratio', 'warmup_by_epoch')
POLICY_KEYS = {
    'step': ('step', 'gamma', 'min_lr'),
    'fixed': (),
}


def step_lr(progress, base_lr, step, gamma=0.1, min_lr=None):
    """StepLrUpdater: decay by ``gamma`` at each milestone (int: every ``step``)."""
    if isinstance(step, int):
        exp = progress // step
    else:
        exp = len(step)
        for i, milestone in enumerate(step):
            if progress < milestone:
                exp = i
                break
    lr = base_lr * gamma ** exp
    return max(lr, min_lr) if min_lr is not None else lr


def warmup_factor(warmup, cur_iter, warmup_iters, warmup_ratio):
    """Multiplier applied to the regular lr while cur_iter < warmup_iters."""
    if warmup == 'constant':
        return warmup_ratio
    if warmup == 'linear':
        return 1 - (1 - cur_iter / warmup_iters) * (1 - warmup_ratio)
    if warmup == 'exp':
        return warmup_ratio ** (1 - cur_iter / warmup_iters)
    raise ConfigError(f"lr_config.warmup={warmup!r}; use 'constant', 'linear', 'exp' or None.")


def build_lr_schedule(lr_config, base_lr, max_epochs, steps_per_epoch):
    """lr_config dict -> float32 array of length max_epochs * steps_per_epoch."""
    lr_config = subset(lr_config or dict(policy='fixed'))
    policy = lr_config.pop('policy', None)
    if policy not in POLICY_KEYS:
        raise ConfigError(f"lr_config.policy={policy!r} is not supported; use one of "
                          f"{sorted(POLICY_KEYS)}.")
    by_epoch = lr_config.pop('by_epoch', True)
    warmup = lr_config.pop('warmup', None)
    warmup_iters = lr_config.pop('warmup_iters', 0)
    warmup_ratio = lr_config.pop('warmup_ratio', 0.1)
    warmup_by_epoch = lr_config.pop('warmup_by_epoch', False)
    check_keys(lr_config, POLICY_KEYS[policy], f"lr_config (policy='{policy}')")
    if policy == 'step' and 'step' not in lr_config:
        raise ConfigError("lr_config.step is required for policy='step' (e.g. step=[30, 60, 90]).")
    if warmup is not None and not 0 < warmup_ratio <= 1:
        raise ConfigError(f"lr_config.warmup_ratio={warmup_ratio} must be in (0, 1].")
    if warmup_by_epoch:
        warmup_iters = warmup_iters * steps_per_epoch
    total = max_epochs * steps_per_epoch
    lrs = np.empty(total, dtype=np.float32)
    for it in range(total):
        progress = it // steps_per_epoch if by_epoch else it
        lr = base_lr if policy == 'fixed' else step_lr(progress, base_lr, **lr_config)
        if warmup is not None and it < warmup_iters:
            lr *= warmup_factor(warmup, it, warmup_iters, warmup_ratio)
        lrs[it] = lr
    return lrs
