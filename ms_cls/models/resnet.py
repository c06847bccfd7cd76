"""mmcls's ResNet family: ``ResNet`` (torchvision style, V1b), ``ResNetV1c`` (deep stem),
``ResNetV1d`` (deep stem and average-pool downsampling) and ``ResNet_CIFAR`` (3x3 stride-1 stem,
no max-pool), with mmcls 0.25's arguments and their meaning.

Attribute names follow MindCV's ``resnet.py`` so that the parameter names of the plain ResNet
(``conv1.weight``, ``layer1.0.bn1.gamma``, ``layer2.0.down_sample.0.weight``...) equal those of
MindCV's published checkpoints and those checkpoints load without renaming. The deep stem is
``stem.{0,1,2}.conv`` / ``stem.{0,1,2}.bn`` and the average-pool downsampling
``down_sample.{0: pool, 1: conv, 2: bn}``: mmcls's (and timm's) indices, so their weights
convert by renaming BatchNorm leaves only.
"""
import mindspore as ms
import mindspore.nn as nn
from mindspore.common.initializer import HeNormal, initializer

from ..errors import ConfigError
from .contract import BackboneSpec
from .freeze import freeze, norm_eval as set_norm_eval
from .layers import DropPath

NORM_TYPES = ('BN', 'BN2d', 'SyncBN')
NORM_KEYS = ('type', 'requires_grad', 'eps', 'momentum')
CONV_TYPES = ('Conv', 'Conv2d')
MIN_DROP_PATH = 1e-5  # mmcls: a rate at or below this builds no DropPath


def conv2d(in_channels, out_channels, kernel_size, stride=1, dilation=1):
    """Bias-free conv, 'same'-style padding, mmcls's Kaiming init (fan_out, relu)."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     pad_mode='pad' if padding else 'same', padding=padding, dilation=dilation,
                     weight_init=HeNormal(mode='fan_out', nonlinearity='relu'))


def sync_batch_norm_here():
    """Whether a SyncBN config gets ``nn.SyncBatchNorm``: in MindSpore 2.10 it runs on Ascend
    only (its docs: "Supported Platforms: Ascend"), and it syncs only in a data-parallel run
    (``distributed.join_cluster`` sets that mode under msrun). Elsewhere -- one process, CPU,
    GPU -- BatchNorm2d normalises over the process's batch, as SyncBN does with one process."""
    return (ms.get_context('device_target') == 'Ascend' and
            ms.get_auto_parallel_context('parallel_mode') == ms.ParallelMode.DATA_PARALLEL)


class NormLayer:
    """mmcv's ``norm_cfg`` -> a factory of BatchNorm cells (``norm(channels)``).

    ``momentum`` is torch's (0.1: the new batch's weight), MindSpore's is its complement;
    ``requires_grad=False`` freezes gamma and beta (the statistics still update). SyncBN and BN
    cells have the same parameter names, so checkpoints move between the two.
    """

    def __init__(self, norm_cfg, owner):
        if not isinstance(norm_cfg, dict) or norm_cfg.get('type') not in NORM_TYPES:
            raise ConfigError(f"{owner} norm_cfg={norm_cfg!r}: ms_cls builds BatchNorm only; use "
                              f"dict(type=...) with one of {', '.join(NORM_TYPES)}.")
        unknown = sorted(set(norm_cfg) - set(NORM_KEYS))
        if unknown:
            raise ConfigError(f"{owner} norm_cfg key {unknown[0]!r} is not supported; keys: "
                              f"{', '.join(NORM_KEYS)}.")
        self.requires_grad = norm_cfg.get('requires_grad', True)
        self.eps = norm_cfg.get('eps', 1e-5)
        momentum = norm_cfg.get('momentum', 0.1)
        if not isinstance(self.requires_grad, bool):
            raise ConfigError(f"{owner} norm_cfg.requires_grad must be True or False, got "
                              f"{self.requires_grad!r}.")
        if not (isinstance(self.eps, (int, float)) and self.eps > 0):
            raise ConfigError(f"{owner} norm_cfg.eps must be a positive number, got {self.eps!r}.")
        if not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ConfigError(f"{owner} norm_cfg.momentum must be in [0, 1] (torch's meaning: "
                              f"the new batch's weight, 0.1 by default), got {momentum!r}.")
        self.momentum = 1.0 - momentum
        self.cell = nn.SyncBatchNorm if norm_cfg['type'] == 'SyncBN' and sync_batch_norm_here() \
            else nn.BatchNorm2d

    def __call__(self, channels):
        norm = self.cell(channels, eps=self.eps, momentum=self.momentum)
        for param in norm.trainable_params():
            param.requires_grad = self.requires_grad
        return norm


class ConvBNReLU(nn.Cell):
    """One layer of the deep stem (mmcv's ConvModule: ``conv``, ``bn``, ReLU)."""

    def __init__(self, in_channels, out_channels, stride, norm):
        super().__init__()
        self.conv = conv2d(in_channels, out_channels, 3, stride)
        self.bn = norm(out_channels)
        self.relu = nn.ReLU()

    def construct(self, x):
        return self.relu(self.bn(self.conv(x)))


def _drop_path(rate):
    return DropPath(rate) if rate > MIN_DROP_PATH else nn.Identity()


class BasicBlock(nn.Cell):
    """Two 3x3 convs; ``expansion`` is always 1 (mmcls asserts it)."""
    expansion = 1

    def __init__(self, in_channels, out_channels, expansion=1, stride=1, dilation=1,
                 down_sample=None, style='pytorch', norm=nn.BatchNorm2d, drop_path_rate=0.0):
        super().__init__()
        self.conv1 = conv2d(in_channels, out_channels, 3, stride, dilation)
        self.bn1 = norm(out_channels)
        self.conv2 = conv2d(out_channels, out_channels, 3)
        self.bn2 = norm(out_channels)
        self.relu = nn.ReLU()
        self.down_sample = down_sample
        self.drop_path = _drop_path(drop_path_rate)

    def last_norm(self):
        return self.bn2

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.down_sample is not None:
            identity = self.down_sample(x)
        return self.relu(self.drop_path(out) + identity)


class Bottleneck(nn.Cell):
    """1x1 -> 3x3 -> 1x1; the stride sits on the 3x3 (``style='pytorch'``) or the first 1x1
    (``'caffe'``)."""
    expansion = 4

    def __init__(self, in_channels, out_channels, expansion=4, stride=1, dilation=1,
                 down_sample=None, style='pytorch', norm=nn.BatchNorm2d, drop_path_rate=0.0):
        super().__init__()
        mid_channels = out_channels // expansion
        stride1, stride2 = (1, stride) if style == 'pytorch' else (stride, 1)
        self.conv1 = conv2d(in_channels, mid_channels, 1, stride1)
        self.bn1 = norm(mid_channels)
        self.conv2 = conv2d(mid_channels, mid_channels, 3, stride2, dilation)
        self.bn2 = norm(mid_channels)
        self.conv3 = conv2d(mid_channels, out_channels, 1)
        self.bn3 = norm(out_channels)
        self.relu = nn.ReLU()
        self.down_sample = down_sample
        self.drop_path = _drop_path(drop_path_rate)

    def last_norm(self):
        return self.bn3

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.down_sample is not None:
            identity = self.down_sample(x)
        return self.relu(self.drop_path(out) + identity)


def _positive_ints(value, name, owner, length=4):
    if not (isinstance(value, (list, tuple)) and len(value) == length and
            all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise ConfigError(f"{owner} {name}={value!r}: give {length} positive ints, one per stage.")
    return tuple(value)


class ResNet(nn.Cell):
    """ResNet backbone: returns the last stage's feature map (N, C, H/32, W/32 by default).

    Config arguments and defaults are mmcls 0.25's. What this implementation does not have is a
    config error rather than a silently different network: ``num_stages`` is 4 and
    ``out_indices`` (3,) (or -1: the last stage's map is the output); ``conv_cfg`` is None or
    a plain conv; ``norm_cfg`` a BN/SyncBN. ``with_cp`` (torch's activation checkpointing)
    saves memory only and is accepted as a no-op.

    ``frozen_stages``: -1 trains everything, 0 freezes the stem (conv1 and bn1, or the deep
    stem), k also layer1..layerk. ``norm_eval=True`` keeps every BatchNorm on its moving
    statistics. ``zero_init_residual`` (mmcls's default True) starts each block's last BN at
    gamma 0, so every block begins as the identity; it matters only for training from scratch.
    ``drop_path_rate``: every block drops its residual branch with this probability (mmcls
    gives all blocks the same rate, it does not grow with depth).
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }
    #: what a subclass sets itself (mmcls's ResNetV1c/V1d pass these to ResNet)
    fixed_args = {}

    def __init__(self, depth, in_channels=3, stem_channels=64, base_channels=64, expansion=None,
                 num_stages=4, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1), out_indices=(3,),
                 style='pytorch', deep_stem=False, avg_down=False, frozen_stages=-1,
                 conv_cfg=None, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                 with_cp=False, zero_init_residual=True, drop_path_rate=0.0):
        super().__init__()
        self.spec(depth, base_channels=base_channels, expansion=expansion).apply(self)
        owner = type(self).__name__
        self._check_args(owner, num_stages, out_indices, style, frozen_stages, conv_cfg,
                         drop_path_rate, stem_channels)
        strides = _positive_ints(strides, 'strides', owner)
        dilations = _positive_ints(dilations, 'dilations', owner)
        block, stage_blocks = self.arch_settings[depth]
        expansion = expansion or block.expansion
        norm = NormLayer(norm_cfg, owner)
        self.depth = depth
        self.deep_stem = deep_stem
        self._make_stem(in_channels, stem_channels, norm)
        reductions, reduction = [], self.stem_reduction
        in_ch, out_ch = stem_channels, base_channels * expansion
        for i, num_blocks in enumerate(stage_blocks):
            layer = self._make_layer(block, num_blocks, in_ch, out_ch, expansion, strides[i],
                                     dilations[i], style, avg_down, norm, drop_path_rate)
            setattr(self, f'layer{i + 1}', layer)
            reduction *= strides[i]
            reductions.append(reduction)
            in_ch, out_ch = out_ch, out_ch * 2
        self.stage_reductions = tuple(reductions)  # input size / each stage's map size
        if zero_init_residual:
            for _, cell in self.cells_and_names():
                if isinstance(cell, (BasicBlock, Bottleneck)):
                    gamma = cell.last_norm().gamma
                    gamma.set_data(initializer('zeros', gamma.shape, gamma.dtype))
        if frozen_stages >= 0:
            stem = [self.stem] if deep_stem else [self.conv1, self.bn1]
            for cell in stem + [getattr(self, f'layer{i}') for i in range(1, frozen_stages + 1)]:
                freeze(cell)
        if norm_eval:
            set_norm_eval(self)

    @classmethod
    def spec(cls, depth, base_channels=64, expansion=None, **_):
        """base_channels x expansion x 8 channels (512 / 2048 by default); any input size (the
        last map is H/32 x W/32 rounded up, at least 1 x 1, with the default strides)."""
        if depth not in cls.arch_settings:
            raise ConfigError(f"{cls.__name__} depth={depth!r} is not supported; use one of "
                              f"{sorted(cls.arch_settings)}.")
        block = cls.arch_settings[depth][0]
        if expansion is not None and (
                not isinstance(expansion, int) or isinstance(expansion, bool) or expansion < 1
                or (block is BasicBlock and expansion != 1)):
            raise ConfigError(f"{cls.__name__} expansion={expansion!r}: use None (the block's: "
                              f"{block.expansion}) or a positive int (1 for depth {depth}).")
        if not (isinstance(base_channels, int) and base_channels >= 1):
            raise ConfigError(f"{cls.__name__} base_channels={base_channels!r}: use a positive "
                              "int.")
        return BackboneSpec(f'{cls.__name__}-{depth}',
                            base_channels * (expansion or block.expansion) * 8)

    @staticmethod
    def _check_args(owner, num_stages, out_indices, style, frozen_stages, conv_cfg,
                    drop_path_rate, stem_channels):
        indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        if num_stages != 4 or indices not in ((3,), (-1,)):
            raise ConfigError(f"{owner} supports num_stages=4, out_indices=(3,) only (got "
                              f"num_stages={num_stages!r}, out_indices={out_indices!r}): the "
                              "backbone returns the last stage's map.")
        if style not in ('pytorch', 'caffe'):
            raise ConfigError(f"{owner} style={style!r}; use 'pytorch' or 'caffe'.")
        if frozen_stages not in range(-1, 5):
            raise ConfigError(f"{owner} frozen_stages={frozen_stages!r}; use -1 (none), 0 (stem) "
                              "or 1..4 (stem and that many stages).")
        if conv_cfg is not None and not (isinstance(conv_cfg, dict) and set(conv_cfg) == {'type'}
                                         and conv_cfg['type'] in CONV_TYPES):
            raise ConfigError(f"{owner} conv_cfg={conv_cfg!r}: ms_cls builds plain convolutions "
                              "only; use None (or dict(type='Conv2d')).")
        if not (isinstance(drop_path_rate, (int, float)) and 0 <= drop_path_rate < 1):
            raise ConfigError(f"{owner} drop_path_rate must be in [0, 1), got "
                              f"{drop_path_rate!r}.")
        if not (isinstance(stem_channels, int) and stem_channels >= 2):
            raise ConfigError(f"{owner} stem_channels={stem_channels!r}: use an int >= 2.")

    def _make_stem(self, in_channels, stem_channels, norm):
        """7x7/2 conv (or the deep stem: three 3x3, the first /2), then a 3x3/2 max-pool."""
        if self.deep_stem:
            self.stem = nn.SequentialCell([
                ConvBNReLU(in_channels, stem_channels // 2, 2, norm),
                ConvBNReLU(stem_channels // 2, stem_channels // 2, 1, norm),
                ConvBNReLU(stem_channels // 2, stem_channels, 1, norm)])
        else:
            self.conv1 = conv2d(in_channels, stem_channels, 7, 2)
            self.bn1 = norm(stem_channels)
            self.relu = nn.ReLU()
        self.max_pool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode='pad', padding=1)
        self.stem_reduction = 4

    @staticmethod
    def _make_layer(block, num_blocks, in_channels, out_channels, expansion, stride, dilation,
                    style, avg_down, norm, drop_path_rate):
        """mmcls's ResLayer: the first block changes width/stride, its shortcut a 1x1 conv + BN
        (with ``avg_down`` and a stride: an average pool, then the conv at stride 1)."""
        down_sample = None
        if stride != 1 or in_channels != out_channels:
            if avg_down and stride != 1:
                down_sample = [nn.AvgPool2d(stride, stride, pad_mode='pad', ceil_mode=True,
                                            count_include_pad=False),
                               conv2d(in_channels, out_channels, 1)]
            else:
                down_sample = [conv2d(in_channels, out_channels, 1, stride)]
            down_sample = nn.SequentialCell(down_sample + [norm(out_channels)])
        args = dict(expansion=expansion, dilation=dilation, style=style, norm=norm,
                    drop_path_rate=drop_path_rate)
        blocks = [block(in_channels, out_channels, stride=stride, down_sample=down_sample, **args)]
        blocks += [block(out_channels, out_channels, **args) for _ in range(1, num_blocks)]
        return nn.SequentialCell(blocks)

    def construct(self, x):
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.bn1(self.conv1(x)))
        x = self.max_pool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    @classmethod
    def from_torch(cls, state_dict, **backbone_args):
        """A PyTorch state dict of numpy arrays (mmcls, torchvision or timm layout) -> (params
        by our name, unused source keys), for this class built with ``backbone_args``."""
        args = dict(cls.fixed_args, **backbone_args)
        strides = args.get('strides', (1, 2, 2, 2))
        pooled = {i + 1 for i, s in enumerate(strides) if s != 1} if args.get('avg_down') \
            else set()
        return resnet_from_torch(state_dict, deep_stem=args.get('deep_stem', False),
                                 pooled_layers=pooled)


class ResNetV1c(ResNet):
    """ResNet with the deep stem: three 3x3 conv-BN-ReLU (stem_channels/2, /2, stem_channels;
    the first at stride 2) instead of the 7x7 conv (Bag of Tricks, He et al. 2019)."""
    fixed_args = dict(deep_stem=True, avg_down=False)

    def __init__(self, depth, **args):
        for key, value in self.fixed_args.items():
            if args.setdefault(key, value) != value:
                raise ConfigError(
                    f"{type(self).__name__} sets {key}={value} itself, got {key}={args[key]!r}; "
                    "drop the key, or use type='ResNet' with deep_stem and avg_down.")
        super().__init__(depth, **args)


class ResNetV1d(ResNetV1c):
    """ResNetV1c whose strided shortcuts average-pool first (kernel = stride, ceil mode,
    padding not counted) and then apply the 1x1 conv at stride 1."""
    fixed_args = dict(deep_stem=True, avg_down=True)


class ResNet_CIFAR(ResNet):  # noqa: N801 (mmcls's type name)
    """ResNet for small images: a 3x3 stride-1 stem conv and no max-pool (the last map is
    H/8 x W/8). mmcls has no deep stem for it."""

    def __init__(self, depth, deep_stem=False, **args):
        if deep_stem:
            raise ConfigError("ResNet_CIFAR has no deep stem (mmcls asserts deep_stem=False); "
                              "drop deep_stem or use type='ResNetV1c'.")
        super().__init__(depth, **args)

    def _make_stem(self, in_channels, stem_channels, norm):
        self.conv1 = conv2d(in_channels, stem_channels, 3)
        self.bn1 = norm(stem_channels)
        self.relu = nn.ReLU()
        self.max_pool = nn.Identity()
        self.stem_reduction = 1


_BN_NAMES = {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean',
             'running_var': 'moving_variance'}
_TIMM_DEEP_STEM = {'conv1.0': 'stem.0.conv', 'conv1.1': 'stem.0.bn', 'conv1.3': 'stem.1.conv',
                   'conv1.4': 'stem.1.bn', 'conv1.6': 'stem.2.conv', 'bn1': 'stem.2.bn'}
_OURS = ('conv1', 'bn1', 'stem.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')


def _rename_module(module, leaf, value, deep_stem, pooled_layers):
    """A source module path -> ours, and whether it is a BatchNorm."""
    if deep_stem:
        module = _TIMM_DEEP_STEM.get(module, module)
    parts = module.split('.')
    if len(parts) == 4 and parts[2] == 'downsample':  # layerN.0.downsample.K
        is_conv = leaf == 'weight' and getattr(value, 'ndim', 1) == 4
        first = 1 if parts[0] in {f'layer{i}' for i in pooled_layers} else 0
        return f'{parts[0]}.{parts[1]}.down_sample.{first + (0 if is_conv else 1)}', not is_conv
    last = parts[-1]
    return module, last == 'bn' or (last.startswith('bn') and last[2:].isdigit())


def resnet_from_torch(state_dict, deep_stem=False, pooled_layers=()):
    """torchvision / timm / mmcls ResNet state dict -> ({our name: array}, [unused keys]).

    BatchNorm weight/bias/running_mean/running_var become gamma/beta/moving_mean/moving_variance,
    ``downsample`` becomes ``down_sample`` and the ``fc`` (mmcls: ``head.fc``) head ``classifier``.
    ``deep_stem``: mmcls's ``stem.K.conv/bn`` keep their names, timm's ``conv1.{0,1,3,4,6}`` +
    ``bn1`` become them. ``pooled_layers``: the stages (1..4) whose shortcut starts with an
    average pool, so its conv and BN are ``down_sample.1/2`` (timm numbers them so even where
    there is no pool; mmcls only where there is).
    """
    converted, unused = {}, []
    for key, value in state_dict.items():
        name = key[len('backbone.'):] if key.startswith('backbone.') else key
        if name.endswith('num_batches_tracked'):
            continue
        for head in ('head.fc.', 'fc.'):
            if name.startswith(head):
                name = 'classifier.' + name[len(head):]
        module, _, leaf = name.rpartition('.')
        module, is_norm = _rename_module(module, leaf, value, deep_stem, pooled_layers)
        if is_norm:
            if leaf not in _BN_NAMES:
                unused.append(key)
                continue
            leaf = _BN_NAMES[leaf]
        if not (f'{module}.'.startswith(_OURS) or module == 'classifier'):
            unused.append(key)
            continue
        converted[f'{module}.{leaf}'] = value
    return converted, unused
