"""``cfg.optimizer`` -> a MindSpore optimizer driven by a per-step lr array."""
import mindspore as ms
import mindspore.nn as nn

from ..config import ConfigError, check_keys, subset

OPTIMIZER_KEYS = {
    'SGD': ('lr', 'momentum', 'weight_decay', 'nesterov', 'dampening'),
}


def optimizer_args(opt_cfg):
    """Check ``cfg.optimizer`` and return (type, arguments); run before anything slow."""
    name = opt_cfg.get('type')
    if name not in OPTIMIZER_KEYS:
        raise ConfigError(f"optimizer.type={name!r} is not supported; use one of "
                          f"{sorted(OPTIMIZER_KEYS)}.")
    args = subset(opt_cfg, ('type',))
    check_keys(args, OPTIMIZER_KEYS[name], f"optimizer (type='{name}')")
    if 'lr' not in args:
        raise ConfigError("optimizer.lr is not set.")
    return name, args


def build_optimizer(opt_cfg, params, lr_schedule, loss_scale=1.0):
    """SGD with mmcls semantics: weight decay on every parameter, BN and biases included.

    ``loss_scale``: the fixed loss scale the gradients carry, divided out by the optimizer.

    MindSpore's optimizers skip 'gamma'/'beta' for weight decay unless parameters come in a group
    with its own weight_decay, so they are passed as one such group.
    """
    _, opt_cfg = optimizer_args(opt_cfg)
    params = list(params)
    if not params:
        raise ConfigError("The model has no trainable parameters.")
    lr = ms.Tensor(lr_schedule, ms.float32)
    momentum = float(opt_cfg.get('momentum', 0.0))
    weight_decay = float(opt_cfg.get('weight_decay', 0.0))
    nesterov = bool(opt_cfg.get('nesterov', False))
    dampening = float(opt_cfg.get('dampening', 0.0))
    group = [{'params': params, 'weight_decay': weight_decay}]
    if momentum > 0 and dampening == 0:
        return nn.Momentum(group, learning_rate=lr, momentum=momentum, use_nesterov=nesterov,
                           loss_scale=loss_scale)
    return nn.SGD(group, learning_rate=lr, momentum=momentum, dampening=dampening,
                  nesterov=nesterov, loss_scale=loss_scale)
