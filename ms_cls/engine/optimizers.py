"""``cfg.optimizer`` -> a MindSpore optimizer driven by a per-step lr array, with mmcv semantics.

Types (arguments and defaults as in ``torch.optim``, which mmcls configs are written for):

=========  ========================================================================  ==============
type       arguments                                                                 MindSpore cell
=========  ========================================================================  ==============
SGD        lr, momentum=0, weight_decay=0, nesterov=False, dampening=0              nn.Momentum /
                                                                                     nn.SGD
Adam       lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0 (L2: added to the       nn.Adam
           gradient), amsgrad=False
AdamW      lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01 (decoupled:           AdamW (here)
           ``w -= lr * wd * w``), amsgrad=False
RMSprop    lr, alpha=0.99, eps=1e-8, weight_decay=0 (L2), momentum=0, centered=False  RMSprop (here)
=========  ========================================================================  ==============

``RMSProp`` is accepted as another spelling of ``RMSprop``. AdamW and RMSprop are implemented
here because MindSpore's own cells compute something else: ``nn.AdamWeightDecay`` has no bias
correction (its first steps are about 3x larger than torch's AdamW at the default betas) and
``nn.RMSProp`` is TensorFlow's (mean square starts at 1, eps inside the square root, lr inside
the momentum buffer). nn.Adam matches torch's Adam except that eps is added to sqrt(v) before
the bias correction (TensorFlow's "epsilon hat"), a difference of order eps.

``paramwise_cfg`` follows mmcv's ``DefaultOptimizerConstructor``: ``custom_keys`` (longest key
first, matched as a substring of '<module path>.<parameter>', e.g. 'backbone.layer1.0.conv1.weight'
or 'head.classifier.bias'; norm parameters also match under torch's names weight/bias/running_*),
then ``norm_decay_mult`` (BatchNorm/LayerNorm/GroupNorm/InstanceNorm gamma and beta),
``dwconv_decay_mult`` (depthwise convolutions), ``bias_decay_mult`` / ``bias_lr_mult`` (biases of
other layers), ``bypass_duplicate``. Parameters that share (lr_mult, weight decay) form one
MindSpore parameter group.
"""
import numbers

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from ..config import ConfigDict
from ..errors import ConfigError, did_you_mean
from ..validation import check_keys, subset

OPTIMIZER_KEYS = {
    'SGD': ('lr', 'momentum', 'weight_decay', 'nesterov', 'dampening'),
    'Adam': ('lr', 'betas', 'eps', 'weight_decay', 'amsgrad'),
    'AdamW': ('lr', 'betas', 'eps', 'weight_decay', 'amsgrad'),
    'RMSprop': ('lr', 'alpha', 'eps', 'weight_decay', 'momentum', 'centered'),
}
ALIASES = {'RMSProp': 'RMSprop'}
DEFAULTS = {
    'SGD': dict(momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0),
    'Adam': dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False),
    'AdamW': dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False),
    'RMSprop': dict(alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
}
COMMON_KEYS = ('paramwise_cfg', 'constructor')
CONSTRUCTOR = 'DefaultOptimizerConstructor'
PARAMWISE_KEYS = ('custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
                  'dwconv_decay_mult', 'bypass_duplicate')
DECAY_MULTS = ('bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult')
CUSTOM_KEY_KEYS = ('lr_mult', 'decay_mult')

_norms = [getattr(nn.layer.normalization, name, None)
          for name in ('_BatchNorm', '_InstanceNorm', 'BatchNorm3d', 'LayerNorm', 'LayerNormExt',
                       'GroupNorm')]
NORM_LAYERS = tuple(n for n in _norms if isinstance(n, type))
# torch's names of norm parameters, so that mmcls custom_keys such as '.bias' or 'norm.weight'
# match MindSpore's gamma/beta as they match torch's weight/bias
TORCH_NORM_NAMES = {'gamma': 'weight', 'beta': 'bias', 'moving_mean': 'running_mean',
                    'moving_variance': 'running_var'}


def _as_config(cfg, path):
    """A plain dict (from a test or a script) gets a ConfigDict view so errors name the key."""
    if isinstance(cfg, ConfigDict):
        return cfg
    return ConfigDict({k: _as_config(v, f'{path}.{k}') if isinstance(v, dict) else v
                       for k, v in cfg.items()}, path=path)


def _where(cfg, key):
    return cfg.where(key) if isinstance(cfg, ConfigDict) else str(key)


def _number(cfg, key, low=0.0, high=None, low_open=False, high_open=False):
    """cfg[key] as a float in [low, high] (open ends where asked), else a ConfigError."""
    value = cfg[key]
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if not bad:
        value = float(value)
        bad = (value < low or (low_open and value == low)
               or (high is not None and (value > high or (high_open and value == high))))
    if bad:
        rng = (('(' if low_open else '[') + f'{low:g}, ' + ('inf)' if high is None else
                                                            f'{high:g}' + (')' if high_open else ']')))
        raise ConfigError(f"{_where(cfg, key)} = {cfg[key]!r}: expected a number in {rng}.")
    return value


def _flag(cfg, key):
    if not isinstance(cfg[key], bool):
        raise ConfigError(f"{_where(cfg, key)} = {cfg[key]!r}: expected True or False.")
    return cfg[key]


def optimizer_args(opt_cfg):
    """Check ``cfg.optimizer`` and return (type, arguments); run before anything slow.

    The arguments are the config's own (no defaults filled in), ``paramwise_cfg`` included.
    """
    if not isinstance(opt_cfg, dict):
        raise ConfigError(f"optimizer must be a dict, got {opt_cfg!r}.")
    opt_cfg = _as_config(opt_cfg, 'optimizer')
    name = opt_cfg.get('type')
    name = ALIASES.get(name, name)
    if name not in OPTIMIZER_KEYS:
        where = opt_cfg.where('type') if 'type' in opt_cfg else 'optimizer.type (not set)'
        given = opt_cfg.get('type')
        same_letters = [t for t in OPTIMIZER_KEYS if t.lower() == str(given).lower()]
        hint = f" Did you mean '{same_letters[0]}'?" if same_letters else \
            did_you_mean(given, list(OPTIMIZER_KEYS) + list(ALIASES))
        raise ConfigError(f"Unknown optimizer type {given!r} in {where}.{hint}"
                          f" Known types: {', '.join(sorted(OPTIMIZER_KEYS))}.")
    args = subset(opt_cfg, ('type',))
    check_keys(args, OPTIMIZER_KEYS[name] + COMMON_KEYS, f"optimizer (type='{name}')")
    if 'lr' not in args:
        raise ConfigError(f"optimizer.lr is not set (optimizer type '{name}'"
                          + (f", {opt_cfg.where()})." if opt_cfg._sources else ")."))
    _check_values(name, args)
    if args.get('constructor', CONSTRUCTOR) != CONSTRUCTOR:
        raise ConfigError(f"{args.where('constructor')} = {args['constructor']!r}: ms_cls has "
                          f"mmcv's '{CONSTRUCTOR}' only (its paramwise_cfg covers custom_keys, "
                          "norm/bias/dwconv decay multipliers and bias_lr_mult).")
    if args.get('paramwise_cfg') is not None:
        _check_paramwise(args, 'weight_decay' in args)
    return name, args


def _check_values(name, args):
    _number(args, 'lr')
    for key in ('weight_decay', 'momentum', 'dampening'):
        if key in args:
            _number(args, key)
    for key in ('nesterov', 'centered', 'amsgrad'):
        if key in args:
            _flag(args, key)
    if 'eps' in args:
        _number(args, 'eps', low_open=True)
    if 'alpha' in args:
        _number(args, 'alpha', high=1.0, high_open=True)
    if 'betas' in args:
        betas = args['betas']
        low = 0.0 if name == 'AdamW' else 1e-12  # MindSpore's nn.Adam wants 0 < beta
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(
                isinstance(b, numbers.Real) and not isinstance(b, bool) and low <= b < 1
                for b in betas)):
            rng = '[0, 1)' if name == 'AdamW' else '(0, 1)'
            raise ConfigError(f"{args.where('betas')} = {betas!r}: expected two numbers in {rng}, "
                              "e.g. betas=(0.9, 0.999).")
    if args.get('amsgrad'):
        raise ConfigError(f"{args.where('amsgrad')} = True: AMSGrad is not supported by ms_cls; "
                          "set amsgrad=False (the default).")
    if name == 'SGD' and args.get('nesterov') and (
            float(args.get('momentum', 0)) <= 0 or float(args.get('dampening', 0)) != 0):
        raise ConfigError(f"{args.where('nesterov')}: Nesterov momentum needs momentum > 0 and "
                          "dampening = 0 (as in torch.optim.SGD).")


def _check_paramwise(args, has_weight_decay):
    paramwise = args['paramwise_cfg']
    if not isinstance(paramwise, dict):
        raise ConfigError(f"{args.where('paramwise_cfg')} must be a dict, got {paramwise!r}.")
    paramwise = _as_config(paramwise, 'optimizer.paramwise_cfg')
    check_keys(paramwise, PARAMWISE_KEYS, 'optimizer.paramwise_cfg')
    for key in ('bias_lr_mult',) + DECAY_MULTS:
        if key in paramwise:
            _number(paramwise, key)
    if 'bypass_duplicate' in paramwise:
        _flag(paramwise, 'bypass_duplicate')
    for key in DECAY_MULTS:
        if key in paramwise and not has_weight_decay:
            raise ConfigError(f"{paramwise.where(key)} needs optimizer.weight_decay to be set "
                              "(as in mmcv: the multiplier scales it).")
    custom = paramwise.get('custom_keys') or {}
    if not isinstance(custom, dict):
        raise ConfigError(f"{paramwise.where('custom_keys')} must be a dict "
                          "{'substring': dict(lr_mult=..., decay_mult=...)}, got {custom!r}.")
    custom = _as_config(custom, 'optimizer.paramwise_cfg.custom_keys')
    for key, mults in custom.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{custom.where(key)}: custom_keys keys must be non-empty strings "
                              "(a part of a parameter path such as 'backbone.layer1' or 'head').")
        if not isinstance(mults, dict):
            raise ConfigError(f"{custom.where(key)} = {mults!r}: expected "
                              "dict(lr_mult=..., decay_mult=...).")
        mults = _as_config(mults, f'optimizer.paramwise_cfg.custom_keys.{key}')
        check_keys(mults, CUSTOM_KEY_KEYS, f"optimizer.paramwise_cfg.custom_keys['{key}']")
        for mult in mults:
            _number(mults, mult)
        if 'decay_mult' in mults and not has_weight_decay:
            raise ConfigError(f"{mults.where('decay_mult')} needs optimizer.weight_decay to be "
                              "set (as in mmcv: the multiplier scales it).")


def _resolved(name, args):
    """The arguments with torch's defaults filled in, as plain Python values."""
    values = dict(DEFAULTS[name])
    values.update({k: v for k, v in args.items() if k in OPTIMIZER_KEYS[name]})
    values['lr'] = float(values['lr'])
    return values


def parameter_paths(net):
    """{id(parameter): (path, leaf name, cell)} by module path, as mmcv names parameters.

    ``net.cells_and_names()`` gives each cell's attribute path ('backbone.layer1.0.conv1',
    'head.classifier'), whatever the parameters' own (MindCV) names are. A parameter reached
    from two cells is listed under the first; the second paths go to the returned duplicates.
    """
    paths, duplicates = {}, []
    for cell_path, cell in net.cells_and_names():
        for leaf, param in cell.parameters_and_names(expand=False):
            path = f'{cell_path}.{leaf}'  # mmcv's f'{prefix}.{name}': '.weight' at the top
            if id(param) in paths:
                duplicates.append((param, path))
                continue
            paths[id(param)] = (path, leaf, cell)
    return paths, duplicates


def paramwise_settings(net, params, paramwise):
    """[(parameter, lr_mult, decay_mult)] for ``params`` under mmcv's DefaultOptimizerConstructor
    rules. ``paramwise`` has been checked by ``optimizer_args``."""
    paths, duplicates = parameter_paths(net)
    wanted = {id(p) for p in params}
    if not paramwise.get('bypass_duplicate', False):
        for param, path in duplicates:
            if id(param) in wanted:
                raise ConfigError(
                    f"Parameter {param.name} is shared by {paths[id(param)][0]} and {path}; set "
                    "optimizer.paramwise_cfg.bypass_duplicate=True to give it once (as in mmcv).")
    custom = paramwise.get('custom_keys') or {}
    keys = sorted(sorted(custom), key=len, reverse=True)  # mmcv: longest key first
    bias_lr = float(paramwise.get('bias_lr_mult', 1.0))
    mults = {k: float(paramwise.get(k, 1.0)) for k in DECAY_MULTS}
    settings = []
    for param in params:
        if id(param) not in paths:
            raise ValueError(f"Parameter {param.name} is not part of the network given to "
                             "build_optimizer(net=...).")
        path, leaf, cell = paths[id(param)]
        is_norm = isinstance(cell, NORM_LAYERS)
        names = {path}
        if is_norm and leaf in TORCH_NORM_NAMES:
            names.add(path[:-len(leaf)] + TORCH_NORM_NAMES[leaf])
        key = next((k for k in keys if any(k in n for n in names)), None)
        lr_mult, decay_mult = 1.0, 1.0
        if key is not None:
            lr_mult = float(custom[key].get('lr_mult', 1.0))
            decay_mult = float(custom[key].get('decay_mult', 1.0))
        else:
            if leaf == 'bias' and not is_norm:
                lr_mult = bias_lr
            if is_norm:
                decay_mult = mults['norm_decay_mult']
            elif isinstance(cell, nn.Conv2d) and cell.in_channels == cell.group:
                decay_mult = mults['dwconv_decay_mult']
            elif leaf == 'bias':
                decay_mult = mults['bias_decay_mult']
        settings.append((param, lr_mult, decay_mult))
    return settings


def build_param_groups(args, values, params, lr_schedule, net=None):
    """MindSpore parameter groups for ``params`` (frozen ones dropped).

    Without ``paramwise_cfg``: one group whose weight decay applies to every parameter, BatchNorm
    and biases included (mmcls; MindSpore's own default skips names with 'gamma'/'beta').
    With it: one group per (lr multiplier, weight decay), each carrying its own
    ``weight_decay`` and, where the multiplier is not 1, its own per-step ``lr`` array.
    ``args``/``values``: the checked optimizer arguments and their resolved values.
    """
    if params is None:
        if net is None:
            raise ValueError("build_optimizer needs params or net.")
        params = net.trainable_params()
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ConfigError("The model has no trainable parameters.")
    weight_decay = float(values['weight_decay'])
    paramwise = args.get('paramwise_cfg')
    if not paramwise:
        return [{'params': params, 'weight_decay': weight_decay}]
    if net is None:
        raise ValueError("optimizer.paramwise_cfg needs the network: "
                         "build_optimizer(..., net=net).")
    schedule = np.asarray(lr_schedule, np.float32)
    groups = {}
    for param, lr_mult, decay_mult in paramwise_settings(net, params, paramwise):
        groups.setdefault((lr_mult, weight_decay * decay_mult), []).append(param)
    result = []
    for (lr_mult, decay), members in groups.items():
        group = {'params': members, 'weight_decay': decay}
        if lr_mult != 1.0:
            group['lr'] = ms.Tensor(schedule * np.float32(lr_mult), ms.float32)
        result.append(group)
    if len(result) > 1:
        result.append({'order_params': params})  # keep the network's order for the update
    return result


def build_optimizer(opt_cfg, params, lr_schedule, loss_scale=1.0, net=None, grad_clip=None):
    """The optimizer ``cfg.optimizer`` names, with mmcls semantics.

    ``params``: the parameters to train (``net.trainable_params()``; frozen ones are dropped, and
    None means the trainable parameters of ``net``). ``lr_schedule``: the lr of every global step.
    ``loss_scale``: the fixed loss scale the gradients carry, divided out by the optimizer.
    ``net``: needed only for ``paramwise_cfg``, which matches parameters by module path.
    ``grad_clip``: ``optimizer_config.grad_clip`` (``dict(max_norm=..)``), see :func:`clipped`.
    """
    name, args = optimizer_args(opt_cfg)
    max_norm = grad_clip_norm(grad_clip)
    values = _resolved(name, args)
    groups = build_param_groups(args, values, params, lr_schedule, net=net)
    lr = ms.Tensor(np.asarray(lr_schedule, np.float32), ms.float32)
    loss_scale = float(loss_scale)
    wd = float(values['weight_decay'])
    common = dict(learning_rate=lr, weight_decay=wd, loss_scale=loss_scale)
    if name == 'SGD':
        momentum = float(values['momentum'])
        nesterov = bool(values['nesterov'])
        dampening = float(values['dampening'])
        if momentum > 0 and dampening == 0:
            cls, kwargs = nn.Momentum, dict(momentum=momentum, use_nesterov=nesterov)
        else:
            cls, kwargs = nn.SGD, dict(momentum=momentum, dampening=dampening, nesterov=nesterov)
    elif name in ('Adam', 'AdamW'):
        beta1, beta2 = (float(b) for b in values.get('betas', (0.9, 0.999)))
        cls = nn.Adam if name == 'Adam' else AdamW
        kwargs = dict(beta1=beta1, beta2=beta2, eps=float(values['eps']))
    else:
        cls = RMSprop
        kwargs = dict(alpha=float(values['alpha']), eps=float(values['eps']),
                      momentum=float(values['momentum']), centered=bool(values['centered']))
    if max_norm is None:
        return cls(groups, **common, **kwargs)
    # the gradients still carry a fixed loss scale here: clip at the same scale
    if issubclass(cls, _TorchSemantics):
        optimizer = cls(groups, **common, **kwargs)
        optimizer.clip_norm = max_norm * loss_scale
        return optimizer
    return clipped(cls, max_norm * loss_scale)(groups, **common, **kwargs)


def grad_clip_norm(grad_clip):
    """``optimizer_config.grad_clip`` -> max_norm or None (mmcv: ``dict(max_norm=35,
    norm_type=2)``; only the L2 norm, over all trained parameters together)."""
    if not grad_clip:
        return None
    if not isinstance(grad_clip, dict):
        raise ConfigError(f"optimizer_config.grad_clip={grad_clip!r}: expected "
                          "dict(max_norm=..., norm_type=2) or None.")
    grad_clip = _as_config(grad_clip, 'optimizer_config.grad_clip')
    check_keys(grad_clip, ('max_norm', 'norm_type'), 'optimizer_config.grad_clip')
    if 'max_norm' not in grad_clip:
        raise ConfigError("optimizer_config.grad_clip needs max_norm, e.g. "
                          "dict(max_norm=35, norm_type=2).")
    if grad_clip.get('norm_type', 2) not in (2, 2.0):
        raise ConfigError(f"{_where(grad_clip, 'norm_type')} = {grad_clip['norm_type']!r}: "
                          "ms_cls clips the L2 norm only; use norm_type=2.")
    return _number(grad_clip, 'max_norm', low_open=True)


def clipped(optimizer_class, clip_norm):
    """A subclass of MindSpore's ``optimizer_class`` (Momentum, SGD, Adam) that first rescales
    the gradients so that their global L2 norm is at most ``clip_norm`` (torch's
    ``clip_grad_norm_``), before weight decay.

    A subclass, not a wrapper cell: ``mindspore.train.Model`` accepts only ``nn.Optimizer``s.
    The clip goes into ``decay_weight``, the first thing their constructs do with the
    gradients: overriding the ``@jit`` construct itself does not compile reliably (``super()``
    recurses; calling the base construct by name lost ``self`` once the process had compiled
    other graphs). ms_cls's own AdamW/RMSprop clip inside their construct.
    """
    clip_norm = float(clip_norm)
    base_decay = optimizer_class.decay_weight

    def decay_weight(self, gradients):
        return base_decay(self, ops.clip_by_global_norm(gradients, clip_norm))

    return type(f'Clipped{optimizer_class.__name__}', (optimizer_class,),
                {'decay_weight': decay_weight, 'clip_norm': clip_norm})


def _weight_decay_per_param(params, weight_decay):
    """{id(parameter): weight decay} from a parameter list or MindSpore group dicts. Unlike
    MindSpore's default, an ungrouped list decays every parameter (as torch does)."""
    if params and isinstance(params[0], dict):
        table = {}
        for group in params:
            for param in group.get('params', ()):
                table[id(param)] = float(group.get('weight_decay', weight_decay))
        return table
    return {id(p): float(weight_decay) for p in params}


class _TorchSemantics(nn.Optimizer):
    """Shared set-up of the optimizers below: per-parameter weight decay as plain numbers
    (the base class's are multiplied by the loss scale), step counting and lr lookup, and the
    gradient clipping of ``optimizer_config.grad_clip`` (``clip_norm`` > 0)."""

    clip_norm = 0.0

    def __init__(self, params, learning_rate, weight_decay, loss_scale):
        params = list(params)
        decay = _weight_decay_per_param(params, weight_decay)
        super().__init__(learning_rate, params, 0.0, loss_scale)
        self.decay = tuple(ms.Tensor(decay[id(p)], ms.float32) for p in self._parameters)
        self.decay_on = tuple(decay[id(p)] > 0 for p in self._parameters)

    def begin_step(self, gradients):
        """Clip (if asked), divide out the loss scale, count the step; -> (gradients, lr)."""
        if self.clip_norm > 0:
            gradients = ops.clip_by_global_norm(gradients, self.clip_norm)
        gradients = self.scale_grad(gradients)
        lr = self.get_lr()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        return gradients, lr


_adamw = ops.MultitypeFuncGraph('ms_cls_adamw')
_rmsprop = ops.MultitypeFuncGraph('ms_cls_rmsprop')


@_adamw.register('Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Bool',
                 'Tensor', 'Tensor', 'Tensor', 'Tensor')
def _adamw_step(beta1, beta2, eps, bias1, bias2_sqrt, lr, decay, decay_on, param, m, v, grad):
    grad = ops.cast(grad, ms.float32)
    weight = ops.cast(param, ms.float32)
    next_m = beta1 * m + (1.0 - beta1) * grad
    next_v = beta2 * v + (1.0 - beta2) * ops.square(grad)
    if decay_on:
        weight = weight * (1.0 - lr * decay)
    weight = weight - (lr / bias1) * next_m / (ops.sqrt(next_v) / bias2_sqrt + eps)
    done = ops.assign(m, next_m)
    done = ops.depend(done, ops.assign(v, next_v))
    return ops.depend(done, ops.assign(param, ops.cast(weight, param.dtype)))


class AdamW(_TorchSemantics):
    """torch.optim.AdamW (amsgrad=False): bias-corrected moments and decoupled weight decay,

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        w = w (1 - lr wd) - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``params`` and ``learning_rate`` as any MindSpore optimizer (groups with their own 'lr' and
    'weight_decay'); an ungrouped list decays every parameter. ``loss_scale`` divides the
    gradients (a fixed loss scale); the decay is not scaled.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.01, loss_scale=1.0):
        super().__init__(params, learning_rate, weight_decay, loss_scale)
        self.beta1 = ms.Tensor(beta1, ms.float32)
        self.beta2 = ms.Tensor(beta2, ms.float32)
        self.eps = ms.Tensor(eps, ms.float32)
        self.beta1_power = ms.Parameter(ms.Tensor(1.0, ms.float32), name='beta1_power')
        self.beta2_power = ms.Parameter(ms.Tensor(1.0, ms.float32), name='beta2_power')
        # named as nn.Adam's moments, so checkpoint loading knows them as optimizer state
        self.moment1 = self._parameters.clone(prefix='moment1', init='zeros')
        self.moment2 = self._parameters.clone(prefix='moment2', init='zeros')

    @ms.jit
    def construct(self, gradients):
        gradients, lr = self.begin_step(gradients)
        beta1_power = self.beta1_power * self.beta1
        self.beta1_power = beta1_power
        beta2_power = self.beta2_power * self.beta2
        self.beta2_power = beta2_power
        bias1 = 1.0 - beta1_power
        bias2_sqrt = ops.sqrt(1.0 - beta2_power)
        if self.is_group_lr:
            return self.hyper_map(ops.partial(_adamw, self.beta1, self.beta2, self.eps, bias1,
                                              bias2_sqrt),
                                  lr, self.decay, self.decay_on, self._parameters, self.moment1,
                                  self.moment2, gradients)
        return self.hyper_map(ops.partial(_adamw, self.beta1, self.beta2, self.eps, bias1,
                                          bias2_sqrt, lr),
                              self.decay, self.decay_on, self._parameters, self.moment1,
                              self.moment2, gradients)


@_rmsprop.register('Number', 'Tensor', 'Bool', 'Bool', 'Tensor', 'Tensor', 'Tensor', 'Bool',
                   'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor')
def _rmsprop_step(alpha, eps, centered, use_momentum, momentum, lr, decay, decay_on, param,
                  square_avg, grad_avg, buf, grad):
    grad = ops.cast(grad, ms.float32)
    weight = ops.cast(param, ms.float32)
    if decay_on:
        grad = grad + decay * weight
    next_sq = alpha * square_avg + (1.0 - alpha) * ops.square(grad)
    done = ops.assign(square_avg, next_sq)
    if centered:
        next_avg = alpha * grad_avg + (1.0 - alpha) * grad
        done = ops.depend(done, ops.assign(grad_avg, next_avg))
        # clamped: rounding must not make the variance negative (torch would give NaN)
        denom = ops.sqrt(ops.maximum(next_sq - ops.square(next_avg), 0.0)) + eps
    else:
        denom = ops.sqrt(next_sq) + eps
    if use_momentum:
        next_buf = momentum * buf + grad / denom
        done = ops.depend(done, ops.assign(buf, next_buf))
        weight = weight - lr * next_buf
    else:
        weight = weight - lr * grad / denom
    return ops.depend(done, ops.assign(param, ops.cast(weight, param.dtype)))


class RMSprop(_TorchSemantics):
    """torch.optim.RMSprop: g += wd w (L2); s = a s + (1 - a) g^2 (s starts at 0);
    centered: d = sqrt(s - avg(g)^2) + eps, else d = sqrt(s) + eps; with momentum
    b = momentum b + g / d, w -= lr b; without, w -= lr g / d.

    ``params``, ``learning_rate``, ``loss_scale`` as in :class:`AdamW`.
    """

    def __init__(self, params, learning_rate=1e-2, alpha=0.99, eps=1e-8, momentum=0.0,
                 centered=False, weight_decay=0.0, loss_scale=1.0):
        super().__init__(params, learning_rate, weight_decay, loss_scale)
        self.alpha = float(alpha)
        self.eps = ms.Tensor(eps, ms.float32)
        self.momentum = ms.Tensor(momentum, ms.float32)
        self.centered = bool(centered)
        self.use_momentum = momentum > 0
        # torch's square_avg / grad_avg / momentum_buffer, under prefixes that checkpoint
        # loading knows as optimizer state
        self.square_avg = self._parameters.clone(prefix='moment2', init='zeros')
        unused = tuple(ms.Tensor(0.0, ms.float32) for _ in self._parameters)
        self.grad_avg = self._parameters.clone(prefix='moment1', init='zeros') \
            if self.centered else unused
        self.buf = self._parameters.clone(prefix='momentum_buffer', init='zeros') \
            if self.use_momentum else unused

    @ms.jit
    def construct(self, gradients):
        gradients, lr = self.begin_step(gradients)
        if self.is_group_lr:
            return self.hyper_map(ops.partial(_rmsprop, self.alpha, self.eps, self.centered,
                                              self.use_momentum, self.momentum),
                                  lr, self.decay, self.decay_on, self._parameters,
                                  self.square_avg, self.grad_avg, self.buf, gradients)
        return self.hyper_map(ops.partial(_rmsprop, self.alpha, self.eps, self.centered,
                                          self.use_momentum, self.momentum, lr),
                              self.decay, self.decay_on, self._parameters, self.square_avg,
                              self.grad_avg, self.buf, gradients)
