# Swin-T fine-tuning on Caltech-256 (257 classes), data/caltech256/{train,val,test}, from MindCV's
# ImageNet-1k weights (downloaded once into $MS_CLS_HOME/checkpoints; mmcls's own Swin-T .pth
# works the same way with prefix='backbone').
_base_ = [
    '../_base_/models/swin_transformer/tiny_224.py', '../_base_/datasets/caltech256_bs32.py',
    '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(frozen_stages=1,
                  init_cfg=dict(type='Pretrained', checkpoint='mindcv://swin_tiny',
                                prefix='backbone')),
    head=dict(num_classes=257))
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[20, 40, 60], warmup='linear', warmup_iters=500,
                 warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=80)
