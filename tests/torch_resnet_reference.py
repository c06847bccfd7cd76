"""ResNets in PyTorch for the parity tests (reference forward only): ResNet-50 in torchvision's
layout, and the mmcls family (V1b/V1c/V1d/CIFAR stems, avg-down shortcuts) in mmcls's layout."""
import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = 64
        self.layer1 = self._layer(64, 3, 1)
        self.layer2 = self._layer(128, 4, 2)
        self.layer3 = self._layer(256, 6, 2)
        self.layer4 = self._layer(512, 3, 2)
        self.fc = nn.Linear(2048, num_classes)

    def _layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(x.mean((2, 3)), 1))


def randomize(net):
    """Random BN affine parameters and statistics (the convs keep torch's random init), in eval
    mode (so BN uses the statistics)."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def randomized_resnet50(seed=0, num_classes=1000):
    torch.manual_seed(seed)
    return randomize(ResNet50(num_classes))


# ---------------------------------------------------------------------------------------------
# mmcls's layout: backbone.stem.K.conv/bn (deep stem), backbone.conv1/bn1, downsample.K with an
# AvgPool2d at 0 where avg_down pools, head.fc


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()


class MMBasic(nn.Module):
    def __init__(self, cin, cout, expansion, stride, downsample, style):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class MMBottleneck(nn.Module):
    def __init__(self, cin, cout, expansion, stride, downsample, style):
        super().__init__()
        mid = cout // expansion
        s1, s2 = (1, stride) if style == 'pytorch' else (stride, 1)
        self.conv1 = nn.Conv2d(cin, mid, 1, s1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, s2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class MMResNetBackbone(nn.Module):
    """stem: 'plain' (7x7/2 + max-pool), 'deep' (three 3x3 + max-pool), 'cifar' (3x3/1)."""

    def __init__(self, depth, stem='plain', avg_down=False, stem_channels=64, base_channels=64,
                 expansion=None, style='pytorch'):
        super().__init__()
        block = MMBasic if depth < 50 else MMBottleneck
        expansion = expansion or (1 if depth < 50 else 4)
        blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
        self.stem_kind = stem
        if stem == 'deep':
            half = stem_channels // 2
            self.stem = nn.Sequential(ConvBN(3, half, 2), ConvBN(half, half, 1),
                                      ConvBN(half, stem_channels, 1))
        else:
            kernel, stride = (3, 1) if stem == 'cifar' else (7, 2)
            self.conv1 = nn.Conv2d(3, stem_channels, kernel, stride, kernel // 2, bias=False)
            self.bn1 = nn.BatchNorm2d(stem_channels)
        cin, cout = stem_channels, base_channels * expansion
        for i, n in enumerate(blocks):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or cin != cout:
                pool = [nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)] \
                    if avg_down and stride != 1 else []
                down = nn.Sequential(*pool, nn.Conv2d(cin, cout, 1, 1 if pool else stride,
                                                      bias=False), nn.BatchNorm2d(cout))
            layer = [block(cin, cout, expansion, stride, down, style)]
            layer += [block(cout, cout, expansion, 1, None, style) for _ in range(1, n)]
            setattr(self, f'layer{i + 1}', nn.Sequential(*layer))
            cin, cout = cout, cout * 2
        self.out_channels = cin

    def forward(self, x):
        if self.stem_kind == 'deep':
            x = nn.functional.max_pool2d(self.stem(x), 3, 2, 1)
        else:
            x = torch.relu(self.bn1(self.conv1(x)))
            if self.stem_kind == 'plain':
                x = nn.functional.max_pool2d(x, 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
        return x


class MMHead(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)


class MMResNet(nn.Module):
    """An mmcls ImageClassifier: ``backbone.*`` and ``head.fc.*`` keys."""

    def __init__(self, depth, num_classes=10, **backbone):
        super().__init__()
        self.backbone = MMResNetBackbone(depth, **backbone)
        self.head = MMHead(self.backbone.out_channels, num_classes)

    def forward(self, x):
        return self.head.fc(self.backbone(x).mean((2, 3)))


def randomized_mmcls_resnet(depth, seed=0, num_classes=10, **backbone):
    torch.manual_seed(seed)
    return randomize(MMResNet(depth, num_classes, **backbone))
