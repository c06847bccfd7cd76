"""ResNet-18/34/50/101/152 (torchvision style: stride on the 3x3 conv of a bottleneck).

Attribute names follow MindCV's ``resnet.py`` so that the parameter names of this backbone
(``conv1.weight``, ``layer1.0.bn1.gamma``, ``layer2.0.down_sample.0.weight``...) equal those of
MindCV's published checkpoints and those checkpoints load without renaming.
"""
import mindspore.nn as nn
from mindspore.common.initializer import HeNormal, initializer

from ..errors import ConfigError
from .contract import BackboneSpec
from .freeze import freeze, norm_eval as set_norm_eval


def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, pad_mode='pad', padding=1,
                     weight_init=HeNormal(mode='fan_out', nonlinearity='relu'))


def conv1x1(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride,
                     weight_init=HeNormal(mode='fan_out', nonlinearity='relu'))


class BasicBlock(nn.Cell):
    expansion = 1

    def __init__(self, in_channels, channels, stride=1, down_sample=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.down_sample = down_sample

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.down_sample is not None:
            identity = self.down_sample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Cell):
    expansion = 4

    def __init__(self, in_channels, channels, stride=1, down_sample=None):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = conv1x1(channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.down_sample = down_sample

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.down_sample is not None:
            identity = self.down_sample(x)
        return self.relu(out + identity)


class ResNet(nn.Cell):
    """ResNet backbone: returns the last stage's feature map (N, C, H/32, W/32).

    Config arguments use mmcls names. Only the settings that this implementation really has are
    accepted: ``num_stages=4``, ``out_indices=(3,)`` (or ``-1``), ``style='pytorch'``; anything else
    is a config error rather than a silently different network.

    ``frozen_stages``: -1 trains everything, 0 freezes the stem (conv1, bn1), k freezes the stem and
    layer1..layerk. ``norm_eval=True`` keeps every BatchNorm on its moving statistics.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth, in_channels=3, num_stages=4, out_indices=(3,), style='pytorch',
                 frozen_stages=-1, norm_eval=False, zero_init_residual=False):
        super().__init__()
        self.spec(depth).apply(self)
        if num_stages != 4 or tuple(out_indices) not in ((3,), (-1,)) or style != 'pytorch':
            raise ConfigError(
                "ResNet supports num_stages=4, out_indices=(3,), style='pytorch' only (got "
                f"num_stages={num_stages!r}, out_indices={out_indices!r}, style={style!r}).")
        if frozen_stages not in range(-1, 5):
            raise ConfigError(f"ResNet frozen_stages={frozen_stages!r}; use -1 (none), 0 (stem) "
                              "or 1..4 (stem and that many stages).")
        block, layers = self.arch_settings[depth]
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, pad_mode='pad', padding=3,
                               weight_init=HeNormal(mode='fan_out', nonlinearity='relu'))
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.max_pool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode='pad', padding=1)
        self._in_channels = 64
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        if zero_init_residual:
            last_bn = 'bn3' if block is Bottleneck else 'bn2'
            for name, cell in self.cells_and_names():
                if name.endswith(last_bn):
                    cell.gamma.set_data(initializer('zeros', cell.gamma.shape, cell.gamma.dtype))
        if frozen_stages >= 0:
            for cell in [self.conv1, self.bn1] + [getattr(self, f'layer{i}')
                                                  for i in range(1, frozen_stages + 1)]:
                freeze(cell)
        if norm_eval:
            set_norm_eval(self)

    @classmethod
    def spec(cls, depth, **_):
        """512 channels per block expansion (512 / 2048); any input size (the last map is
        H/32 x W/32 rounded up, at least 1 x 1)."""
        if depth not in cls.arch_settings:
            raise ConfigError(f"ResNet depth={depth!r} is not supported; use one of "
                              f"{sorted(cls.arch_settings)}.")
        return BackboneSpec(f'ResNet-{depth}', 512 * cls.arch_settings[depth][0].expansion)

    def _make_layer(self, block, channels, num_blocks, stride):
        down_sample = None
        out_channels = channels * block.expansion
        if stride != 1 or self._in_channels != out_channels:
            down_sample = nn.SequentialCell([conv1x1(self._in_channels, out_channels, stride),
                                             nn.BatchNorm2d(out_channels)])
        blocks = [block(self._in_channels, channels, stride, down_sample)]
        self._in_channels = out_channels
        blocks += [block(out_channels, channels) for _ in range(1, num_blocks)]
        return nn.SequentialCell(blocks)

    def construct(self, x):
        x = self.max_pool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)



_BN_NAMES = {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean',
             'running_var': 'moving_variance'}


def _is_batch_norm(module):
    last = module.rsplit('.', 1)[-1]
    return (last.startswith('bn') and last[2:].isdigit()) or module.endswith('down_sample.1')


def resnet_from_torch(state_dict):
    """torchvision / timm / mmcls ResNet state dict -> ({our name: array}, [unused keys]).

    BatchNorm weight/bias/running_mean/running_var become gamma/beta/moving_mean/moving_variance,
    ``downsample`` becomes ``down_sample`` and the ``fc`` (mmcls: ``head.fc``) head ``classifier``.
    """
    converted, unused = {}, []
    for key, value in state_dict.items():
        name = key[len('backbone.'):] if key.startswith('backbone.') else key
        if name.endswith('num_batches_tracked'):
            continue
        for head in ('head.fc.', 'fc.'):
            if name.startswith(head):
                name = 'classifier.' + name[len(head):]
        name = name.replace('.downsample.', '.down_sample.')
        module, _, leaf = name.rpartition('.')
        if _is_batch_norm(module):
            if leaf not in _BN_NAMES:
                unused.append(key)
                continue
            leaf = _BN_NAMES[leaf]
        if not (module.startswith(('conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4'))
                or module == 'classifier'):
            unused.append(key)
            continue
        converted[f'{module}.{leaf}'] = value
    return converted, unused
