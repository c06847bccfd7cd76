# Seed experiment 12: ResNet-50, frozen_stages=2, batch 32, lr 0.1,
# lr_config dict(policy='step', step=[30, 60, 90]), swin-style RandAugment.
# Reported top-1 with ImageNet weights: 90.05. Convert them once (nothing is downloaded), e.g.
#   python scripts/convert_weights.py resnet50-torchvision.pth checkpoints/resnet50.ckpt --arch resnet50
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/caltech256_bs64_randaug.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
model = dict(
    pretrained='checkpoints/resnet50.ckpt',
    backbone=dict(frozen_stages=2),
    head=dict(num_classes=257))
data = dict(samples_per_gpu=32)
optimizer = dict(lr=0.1)
lr_config = dict(policy='step', step=[30, 60, 90])
