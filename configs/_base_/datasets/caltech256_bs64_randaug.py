# Caltech-256 with the seed's "swin-style" augmentation: RandAugment over the
# rand_increasing_policies (2 per image, level 9 of 10, std 0.5) after the random crop and flip.
_base_ = ['./caltech256_bs32.py', './pipelines/rand_aug.py']
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies={{_base_.rand_increasing_policies}}, num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in img_norm_cfg['mean'][::-1]],   # BGR, as mmcls
                      interpolation='bicubic')),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
data = dict(samples_per_gpu=64, train=dict(pipeline=train_pipeline))
