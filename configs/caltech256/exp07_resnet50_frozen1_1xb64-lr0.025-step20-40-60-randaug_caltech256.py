# Seed experiment 7: ResNet-50, frozen_stages=1, batch 64, lr 0.1 / 4,
# lr_config dict(policy='step', step=[20, 40, 60]), swin-style RandAugment.
# Reported top-1 with ImageNet weights: 88. Convert them once (nothing is downloaded), e.g.
#   python scripts/convert_weights.py resnet50-torchvision.pth checkpoints/resnet50.ckpt --arch resnet50
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/caltech256_bs64_randaug.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
model = dict(
    pretrained='checkpoints/resnet50.ckpt',
    backbone=dict(frozen_stages=1),
    head=dict(num_classes=257))
data = dict(samples_per_gpu=64)
optimizer = dict(lr=0.1 / 4)
lr_config = dict(policy='step', step=[20, 40, 60])
