# Seed experiment 11: ResNet-50, frozen_stages=2, batch 32, lr 0.1,
# lr_config CosineAnnealing to 0 by iteration, linear warmup 1500 iterations from 0.25x,
# swin-style RandAugment.
# Reported top-1 with ImageNet weights: 90.4.
_base_ = [
    '../_base_/models/resnet50_pretrained_caltech256.py', '../_base_/datasets/caltech256_bs64_randaug.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(frozen_stages=2))
data = dict(samples_per_gpu=32)
optimizer = dict(lr=0.1)
lr_config = dict(_delete_=True, policy='CosineAnnealing', min_lr=0, by_epoch=False,
                 warmup='linear', warmup_iters=1500, warmup_ratio=0.25)
