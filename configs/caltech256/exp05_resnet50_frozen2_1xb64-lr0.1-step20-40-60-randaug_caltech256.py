# Seed experiment 5: ResNet-50, frozen_stages=2, batch 64, lr 0.1,
# lr_config dict(policy='step', step=[20, 40, 60]), swin-style RandAugment.
# Reported top-1 with ImageNet weights: 89.9.
_base_ = [
    '../_base_/models/resnet50_pretrained_caltech256.py', '../_base_/datasets/caltech256_bs64_randaug.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(frozen_stages=2))
data = dict(samples_per_gpu=64)
optimizer = dict(lr=0.1)
lr_config = dict(policy='step', step=[20, 40, 60])
