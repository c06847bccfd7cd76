# Seed experiment 1: ResNet-50, frozen_stages=4, batch 256, lr 0.1,
# lr_config dict(policy='step', step=[30, 60, 90]).
# Reported top-1 with ImageNet weights: 85. Convert them once (nothing is downloaded), e.g.
#   python scripts/convert_weights.py resnet50-torchvision.pth checkpoints/resnet50.ckpt --arch resnet50
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/caltech256_bs32.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
model = dict(
    pretrained='checkpoints/resnet50.ckpt',
    backbone=dict(frozen_stages=4),
    head=dict(num_classes=257))
data = dict(samples_per_gpu=256)
optimizer = dict(lr=0.1)
lr_config = dict(policy='step', step=[30, 60, 90])
