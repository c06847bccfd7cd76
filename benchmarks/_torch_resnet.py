"""torchvision's ResNet-18/50 layout in plain PyTorch, for the PyTorch peer when timm cannot be
imported (timm needs torchvision, whose PyPI wheel does not load with the CPU build of torch).
Same layers, widths and parameter count (25.6 M for ResNet-50 at 1000 classes) as torchvision."""
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return (self.body(x) + (x if self.down is None else self.down(x))).relu_()


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width))
        self.down = None if stride == 1 and cin == width else nn.Sequential(
            nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))

    def forward(self, x):
        return (self.body(x) + (x if self.down is None else self.down(x))).relu_()


DEPTHS = {'resnet18': (Basic, (2, 2, 2, 2)), 'resnet50': (Bottleneck, (3, 4, 6, 3))}


def resnet(arch, num_classes):
    block, depths = DEPTHS[arch]
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, depth in enumerate(depths):
        width = 64 * 2 ** i
        for j in range(depth):
            layers.append(block(cin, width, 2 if i and not j else 1))
            cin = width * block.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
