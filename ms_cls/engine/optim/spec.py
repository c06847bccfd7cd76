"""``cfg.optimizer`` and ``optimizer_config.grad_clip``, checked once into an OptimizerSpec.

Types (arguments and defaults as in ``torch.optim``, which mmcls configs are written for):

=========  ========================================================================
type       arguments
=========  ========================================================================
SGD        lr, momentum=0, weight_decay=0, nesterov=False, dampening=0
Adam       lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0 (L2: added to the gradient),
           amsgrad=False
AdamW      lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01 (decoupled:
           ``w -= lr * wd * w``), amsgrad=False
RMSprop    lr, alpha=0.99, eps=1e-8, weight_decay=0 (L2), momentum=0, centered=False
Lamb       lr, bias_correction=True, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01,
           grad_averaging=True, max_grad_norm=1.0 (None: no clipping), trust_clip=False,
           always_adapt=False (mmcls's, i.e. timm's)
=========  ========================================================================

``RMSProp`` is accepted as another spelling of ``RMSprop``. The spec holds plain values only, so
whatever is built from it never needs the config again.
"""
import numbers
from dataclasses import dataclass
from typing import Optional

from ...errors import ConfigError
from ...validation import Registry, check_keys, flag, located, number, subset

# type -> torch's defaults of every argument but lr (the order is the argument order)
OPTIMIZERS = Registry('optimizer', {
    'SGD': dict(momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0),
    'Adam': dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False),
    'AdamW': dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False),
    'RMSprop': dict(alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
    'Lamb': dict(bias_correction=True, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01,
                 grad_averaging=True, max_grad_norm=1.0, trust_clip=False, always_adapt=False),
}, aliases={'RMSProp': 'RMSprop'})
COMMON_KEYS = ('paramwise_cfg', 'constructor')
CONSTRUCTOR = 'DefaultOptimizerConstructor'
PARAMWISE_KEYS = ('custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
                  'dwconv_decay_mult', 'bypass_duplicate')
DECAY_MULTS = ('bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult')
CUSTOM_KEY_KEYS = ('lr_mult', 'decay_mult')
GRAD_CLIP_KEYS = ('max_norm', 'norm_type')


@dataclass(frozen=True)
class CustomKey:
    """One ``paramwise_cfg.custom_keys`` entry: parameters whose path contains ``key``."""
    key: str
    lr_mult: float = 1.0
    decay_mult: float = 1.0


@dataclass(frozen=True)
class ParamwiseSpec:
    """mmcv's ``paramwise_cfg`` with its defaults filled in; ``custom_keys`` longest key first,
    the order in which mmcv tries them."""
    custom_keys: tuple = ()
    bias_lr_mult: float = 1.0
    bias_decay_mult: float = 1.0
    norm_decay_mult: float = 1.0
    dwconv_decay_mult: float = 1.0
    bypass_duplicate: bool = False


@dataclass(frozen=True)
class OptimizerSpec:
    """A checked optimizer: canonical ``type``, ``values`` ((argument, value) pairs with torch's
    defaults filled in, floats/bools/a betas pair), ``paramwise`` (None: one group, every
    parameter decayed) and ``max_norm`` of the gradient clip (None: no clipping)."""
    type: str
    values: tuple
    paramwise: Optional[ParamwiseSpec] = None
    max_norm: Optional[float] = None

    def __getitem__(self, key):
        return dict(self.values)[key]

    def scheduled_momentum(self, policy):
        """The momentum a ``momentum_config`` with ``policy`` scales: SGD's (mmcv's
        MomentumUpdaterHook changes the optimizer's momentum, which only SGD has here).
        OneCycle sets its own range, so it accepts momentum 0."""
        if self.type != 'SGD':
            raise ConfigError(f"momentum_config schedules SGD's momentum; optimizer.type is "
                              f"{self.type!r}. Remove momentum_config or use type='SGD'.")
        momentum = self['momentum']
        if momentum <= 0 and str(policy).lower() != 'onecycle':
            raise ConfigError("momentum_config needs optimizer.momentum > 0 (it scales that "
                              "value).")
        return momentum


def optimizer_spec(opt_cfg, grad_clip=None):
    """Check ``cfg.optimizer`` and ``optimizer_config.grad_clip``; run before anything slow.

    Plain dicts (from code) are accepted too: errors then name the key by its config path.
    """
    if not isinstance(opt_cfg, dict):
        raise ConfigError(f"optimizer must be a dict, got {opt_cfg!r}.")
    opt_cfg = located(opt_cfg, 'optimizer')
    where = opt_cfg.where('type') if 'type' in opt_cfg else 'optimizer.type (not set)'
    name = OPTIMIZERS.name(opt_cfg.get('type'), where)
    defaults = OPTIMIZERS.items[name]
    args = subset(opt_cfg, ('type',))
    check_keys(args, ('lr',) + tuple(defaults) + COMMON_KEYS, f"optimizer (type='{name}')")
    if 'lr' not in args:
        raise ConfigError(f"optimizer.lr is not set (optimizer type '{name}'"
                          + (f", {opt_cfg.where()})." if opt_cfg._sources else ")."))
    values = dict(lr=None, **defaults)
    values.update(_checked_values(name, args))
    if args.get('constructor', CONSTRUCTOR) != CONSTRUCTOR:
        raise ConfigError(f"{args.where('constructor')} = {args['constructor']!r}: ms_cls has "
                          f"mmcv's '{CONSTRUCTOR}' only (its paramwise_cfg covers custom_keys, "
                          "norm/bias/dwconv decay multipliers and bias_lr_mult).")
    paramwise = None
    if args.get('paramwise_cfg') is not None:
        paramwise = _paramwise(args, 'weight_decay' in args)
    return OptimizerSpec(name, tuple(values.items()), paramwise, grad_clip_norm(grad_clip))


def _checked_values(name, args):
    """The arguments the config sets, each checked, as plain Python values."""
    values = {'lr': number(args, 'lr')}
    for key in ('weight_decay', 'momentum', 'dampening'):
        if key in args:
            values[key] = number(args, key)
    for key in ('nesterov', 'centered', 'amsgrad', 'bias_correction', 'grad_averaging',
                'trust_clip', 'always_adapt'):
        if key in args:
            values[key] = flag(args, key)
    if 'eps' in args:
        values['eps'] = number(args, 'eps', low_open=True)
    if args.get('max_grad_norm') is not None:
        values['max_grad_norm'] = number(args, 'max_grad_norm', low_open=True)
    elif 'max_grad_norm' in args:
        values['max_grad_norm'] = None
    if 'alpha' in args:
        values['alpha'] = number(args, 'alpha', high=1.0, high_open=True)
    if 'betas' in args:
        betas = args['betas']
        own = name in ('AdamW', 'Lamb')
        low = 0.0 if own else 1e-12  # MindSpore's nn.Adam wants 0 < beta
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(
                isinstance(b, numbers.Real) and not isinstance(b, bool) and low <= b < 1
                for b in betas)):
            rng = '[0, 1)' if own else '(0, 1)'
            raise ConfigError(f"{args.where('betas')} = {betas!r}: expected two numbers in {rng}, "
                              "e.g. betas=(0.9, 0.999).")
        values['betas'] = tuple(float(b) for b in betas)
    if values.get('amsgrad'):
        raise ConfigError(f"{args.where('amsgrad')} = True: AMSGrad is not supported by ms_cls; "
                          "set amsgrad=False (the default).")
    if name == 'SGD' and values.get('nesterov') and (
            values.get('momentum', 0.0) <= 0 or values.get('dampening', 0.0) != 0):
        raise ConfigError(f"{args.where('nesterov')}: Nesterov momentum needs momentum > 0 and "
                          "dampening = 0 (as in torch.optim.SGD).")
    return values


def _paramwise(args, has_weight_decay):
    """``optimizer.paramwise_cfg`` -> ParamwiseSpec, or None when it is empty."""
    paramwise = args['paramwise_cfg']
    if not isinstance(paramwise, dict):
        raise ConfigError(f"{args.where('paramwise_cfg')} must be a dict, got {paramwise!r}.")
    if not paramwise:
        return None
    paramwise = located(paramwise, 'optimizer.paramwise_cfg')
    check_keys(paramwise, PARAMWISE_KEYS, 'optimizer.paramwise_cfg')
    mults = {key: number(paramwise, key) for key in ('bias_lr_mult',) + DECAY_MULTS
             if key in paramwise}
    if 'bypass_duplicate' in paramwise:
        mults['bypass_duplicate'] = flag(paramwise, 'bypass_duplicate')
    for key in DECAY_MULTS:
        if key in paramwise and not has_weight_decay:
            raise ConfigError(f"{paramwise.where(key)} needs optimizer.weight_decay to be set "
                              "(as in mmcv: the multiplier scales it).")
    custom = paramwise.get('custom_keys') or {}
    if not isinstance(custom, dict):
        raise ConfigError(f"{paramwise.where('custom_keys')} must be a dict "
                          "{'substring': dict(lr_mult=..., decay_mult=...)}, got {custom!r}.")
    custom = located(custom, 'optimizer.paramwise_cfg.custom_keys')
    entries = [_custom_key(custom, key, has_weight_decay) for key in custom]
    entries.sort(key=lambda entry: (-len(entry.key), entry.key))  # mmcv: longest key first
    return ParamwiseSpec(custom_keys=tuple(entries), **mults)


def _custom_key(custom, key, has_weight_decay):
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{custom.where(key)}: custom_keys keys must be non-empty strings "
                          "(a part of a parameter path such as 'backbone.layer1' or 'head').")
    mults = custom[key]
    if not isinstance(mults, dict):
        raise ConfigError(f"{custom.where(key)} = {mults!r}: expected "
                          "dict(lr_mult=..., decay_mult=...).")
    mults = located(mults, f'optimizer.paramwise_cfg.custom_keys.{key}')
    check_keys(mults, CUSTOM_KEY_KEYS, f"optimizer.paramwise_cfg.custom_keys['{key}']")
    values = {mult: number(mults, mult) for mult in mults}
    if 'decay_mult' in mults and not has_weight_decay:
        raise ConfigError(f"{mults.where('decay_mult')} needs optimizer.weight_decay to be "
                          "set (as in mmcv: the multiplier scales it).")
    return CustomKey(key, **values)


def grad_clip_norm(grad_clip):
    """``optimizer_config.grad_clip`` -> max_norm or None (mmcv: ``dict(max_norm=35,
    norm_type=2)``; only the L2 norm, over all trained parameters together)."""
    if not grad_clip:
        return None
    if not isinstance(grad_clip, dict):
        raise ConfigError(f"optimizer_config.grad_clip={grad_clip!r}: expected "
                          "dict(max_norm=..., norm_type=2) or None.")
    grad_clip = located(grad_clip, 'optimizer_config.grad_clip')
    check_keys(grad_clip, GRAD_CLIP_KEYS, 'optimizer_config.grad_clip')
    if 'max_norm' not in grad_clip:
        raise ConfigError("optimizer_config.grad_clip needs max_norm, e.g. "
                          "dict(max_norm=35, norm_type=2).")
    if grad_clip.get('norm_type', 2) not in (2, 2.0):
        raise ConfigError(f"{grad_clip.where('norm_type')} = {grad_clip['norm_type']!r}: "
                          "ms_cls clips the L2 norm only; use norm_type=2.")
    return number(grad_clip, 'max_norm', low_open=True)
