"""mmcv's ``init_cfg``: initialisers applied to a built network, and where pretrained weights come
from.

``init_cfg`` is a dict or a list of dicts on the model, the backbone, the neck or the head. An
initialiser (``Normal``, ``TruncNormal``, ``Constant``, ``Uniform``, ``Kaiming``, ``Xavier``)
sets the weights of every layer under that part whose PyTorch class name (or a base's: ``Linear``,
``Conv2d``, ``_BatchNorm``, ``LayerNorm``...) is in ``layer``, and its biases to ``bias``;
``override=dict(name='fc', ...)`` initialises one named child whole. As in mmcv, the model's
init_cfg runs before its parts', so a part's own init_cfg wins, and pretrained weights
(``type='Pretrained'``) are loaded after every initialiser.
"""
import math

import mindspore.nn as nn
from mindspore.common.initializer import (Constant, HeNormal, HeUniform, Normal, TruncatedNormal,
                                          Uniform, XavierNormal, XavierUniform, initializer)

from ..errors import ConfigError
from ..validation import check_keys, located, where

PRETRAINED = 'Pretrained'
PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'map_location')
COMMON_KEYS = ('type', 'layer', 'override', 'bias', 'bias_prob', 'name')
INIT_KEYS = {
    'Normal': ('mean', 'std'),
    'TruncNormal': ('mean', 'std', 'a', 'b'),
    'Constant': ('val',),
    'Uniform': ('a', 'b'),
    'Kaiming': ('a', 'mode', 'nonlinearity', 'distribution'),
    'Xavier': ('gain', 'distribution'),
}

#: PyTorch layer names -> the MindSpore cells they are here, and the parameter names of their
#: weight and bias.
LAYERS = {
    'Linear': (nn.Dense,), 'Conv2d': (nn.Conv2d,), 'Conv1d': (nn.Conv1d,),
    '_ConvNd': (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    'BatchNorm2d': (nn.BatchNorm2d,), 'BatchNorm1d': (nn.BatchNorm1d,),
    'SyncBatchNorm': (nn.SyncBatchNorm,),
    '_BatchNorm': (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm),
    '_NormBase': (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm),
    'LayerNorm': (nn.LayerNorm,), 'GroupNorm': (nn.GroupNorm,),
}
WEIGHT_NAMES = ('weight', 'gamma', 'embedding_table')
BIAS_NAMES = ('bias', 'beta')


def as_list(init_cfg):
    if init_cfg is None:
        return []
    return list(init_cfg) if isinstance(init_cfg, (list, tuple)) else [init_cfg]


def split_init_cfg(init_cfg, what):
    """-> (initialisers, pretrained): the checked dicts of an init_cfg, pretrained being the one
    ``type='Pretrained'`` dict or None. ``what`` is 'model.backbone.init_cfg' for messages."""
    initialisers, pretrained = [], None
    for i, cfg in enumerate(as_list(init_cfg)):
        at = what if not isinstance(init_cfg, (list, tuple)) else f'{what}.{i}'
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ConfigError(f"{at} must be a dict with a 'type' such as dict(type='Pretrained', "
                              f"checkpoint=...) or dict(type='Normal', layer='Linear', std=0.01), "
                              f"got {cfg!r}.")
        cfg = located(cfg, at)
        kind = cfg['type']
        if kind == PRETRAINED:
            check_keys(cfg, PRETRAINED_KEYS, at)
            if not isinstance(cfg.get('checkpoint'), str) or not cfg['checkpoint']:
                raise ConfigError(f"{where(cfg, 'checkpoint')}: give the checkpoint as a path, an "
                                  "https:// URL, torchvision://NAME or mindcv://NAME.")
            if cfg.get('prefix') is not None and not isinstance(cfg['prefix'], str):
                raise ConfigError(f"{where(cfg, 'prefix')} = {cfg['prefix']!r}: give a key prefix "
                                  "such as 'backbone'.")
            if pretrained is not None:
                raise ConfigError(f"{at}: a second Pretrained entry; one checkpoint per part.")
            pretrained = cfg
        elif kind in INIT_KEYS:
            check_keys(cfg, COMMON_KEYS + INIT_KEYS[kind], f"{at} '{kind}'")
            _initializer(cfg, at)   # checks the values now, before anything is built
            for j, child in enumerate(as_list(cfg.get('override'))):
                if not isinstance(child, dict) or not isinstance(child.get('name'), str):
                    raise ConfigError(f"{at}.override must name the child it initialises, such "
                                      f"as dict(name='fc', std=0.01), got {child!r}.")
                merged = located({**{k: v for k, v in cfg.items() if k != 'override'}, **child},
                                 f'{at}.override')
                check_keys(merged, COMMON_KEYS + INIT_KEYS[merged['type']]
                           if merged['type'] in INIT_KEYS else (), f"{at}.override")
            initialisers.append(cfg)
        else:
            raise ConfigError(f"{where(cfg, 'type')} = {kind!r}: use one of "
                              f"{', '.join([PRETRAINED] + sorted(INIT_KEYS))}.")
    return initialisers, pretrained


def _initializer(cfg, at):
    """The MindSpore initializer of an mmcv init dict (the weight's), or a ConfigError."""
    kind = cfg['type']
    try:
        if kind == 'Normal':
            return Normal(sigma=float(cfg.get('std', 1)), mean=float(cfg.get('mean', 0)))
        if kind == 'TruncNormal':
            return TruncatedNormal(sigma=float(cfg.get('std', 1)), mean=float(cfg.get('mean', 0)),
                                   a=float(cfg.get('a', -2)), b=float(cfg.get('b', 2)))
        if kind == 'Constant':
            if 'val' not in cfg:
                raise ConfigError(f"{at} 'Constant' needs val (e.g. val=1).")
            return Constant(float(cfg['val']))
        if kind == 'Uniform':
            low, high = float(cfg.get('a', 0)), float(cfg.get('b', 1))
            if high < low:
                raise ConfigError(f"{at} 'Uniform': a={low} is above b={high}.")
            return _ShiftedUniform(low, high)
        distribution = cfg.get('distribution', 'normal')
        if distribution not in ('normal', 'uniform'):
            raise ConfigError(f"{where(cfg, 'distribution')} = {distribution!r}: use 'normal' or "
                              "'uniform'.")
        if kind == 'Kaiming':
            mode = cfg.get('mode', 'fan_out')
            if mode not in ('fan_in', 'fan_out'):
                raise ConfigError(f"{where(cfg, 'mode')} = {mode!r}: use 'fan_in' or 'fan_out'.")
            he = HeNormal if distribution == 'normal' else HeUniform
            return he(negative_slope=float(cfg.get('a', 0)), mode=mode,
                      nonlinearity=cfg.get('nonlinearity', 'relu'))
        xavier = XavierNormal if distribution == 'normal' else XavierUniform
        return xavier(gain=float(cfg.get('gain', 1)))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{at} '{kind}': {err}") from None


class _ShiftedUniform(Uniform):
    """U(a, b) (MindSpore's Uniform is symmetric around 0)."""

    def __init__(self, low, high):
        super().__init__(scale=(high - low) / 2)
        self.shift = (high + low) / 2

    def _initialize(self, arr):
        super()._initialize(arr)
        arr += self.shift


def _bias_value(cfg):
    """mmcv's bias, or its ``bias_prob`` prior (focal-loss style: -log((1 - p) / p))."""
    if cfg.get('bias_prob') is not None:
        p = float(cfg['bias_prob'])
        return float(-math.log((1 - p) / p))
    return float(cfg.get('bias', 0))


def _matches(cell, layers):
    wanted = tuple(kind for name in layers for kind in LAYERS.get(name, ()))
    return bool(wanted) and isinstance(cell, wanted)


def _init_cell(cell, cfg):
    """Set ``cell``'s own weight and bias (not its children's) as ``cfg`` says."""
    for name, param in cell.parameters_and_names(expand=False):
        leaf = name.rsplit('.', 1)[-1]
        if leaf in WEIGHT_NAMES:
            init = _initializer(cfg, cfg.get('type'))
        elif leaf in BIAS_NAMES:
            init = Constant(_bias_value(cfg))
        else:
            continue
        param.set_data(initializer(init, param.shape, param.dtype))


def apply_initialisers(part, initialisers, aliases=None):
    """Run the checked initialisers of one part (``split_init_cfg``) on the built cell ``part``.
    ``aliases`` maps mmcls child names to this project's (a head's ``fc`` is ``classifier``)."""
    aliases = aliases or {}
    for cfg in initialisers:
        layers = cfg.get('layer') or []
        layers = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in layers if name not in LAYERS]
        if unknown:
            raise ConfigError(f"{where(cfg, 'layer')} names {unknown[0]!r}; layers that can be "
                              f"initialised: {', '.join(sorted(LAYERS))}.")
        for _, cell in part.cells_and_names():
            if _matches(cell, layers):
                _init_cell(cell, cfg)
        for child in as_list(cfg.get('override')):
            merged = {**{k: v for k, v in cfg.items() if k != 'override'}, **child}
            name = aliases.get(child['name'], child['name'])
            target = dict(part.cells_and_names()).get(name)
            if target is None:
                raise ConfigError(f"{where(cfg, 'override')}: {part.cls_name} has no child "
                                  f"named {child['name']!r}.")
            for _, cell in target.cells_and_names():
                _init_cell(cell, merged)

