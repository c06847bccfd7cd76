# Demo: ResNet-18 from scratch on the built-in shapes set at 32px (bash scripts/run_train.sh).
_base_ = [
    '../_base_/models/resnet18.py', '../_base_/datasets/demo_bs64_32px.py',
    '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=10))
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[20, 26], warmup='linear', warmup_iters=1,
                 warmup_by_epoch=True, warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=30)
log_config = dict(interval=5)
checkpoint_config = dict(interval=10, max_keep_ckpts=2)
