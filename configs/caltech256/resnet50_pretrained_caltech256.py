# What the twelve seed experiments share: ResNet-50 from converted ImageNet weights, 257 classes,
# SGD (momentum 0.9, weight decay 1e-4) for 100 epochs. Each experiment adds its dataset base
# (with or without RandAugment) and its frozen_stages, batch, lr and lr_config.
# Convert the weights once (nothing is downloaded), e.g.
#   python scripts/convert_weights.py resnet50-torchvision.pth checkpoints/resnet50.ckpt --arch resnet50
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/schedules/sgd_step_100e.py',
    '../_base_/default_runtime.py'
]
model = dict(pretrained='checkpoints/resnet50.ckpt', head=dict(num_classes=257))
