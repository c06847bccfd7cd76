# Swin-T on the built-in shapes set at 32px, frozen_stages=1 (patch_embed and stages 1-2 fixed)
# (bash scripts/run_train.sh configs/swin/swin-tiny_1xb64_demo-32px.py).
_base_ = [
    '../_base_/models/swin_transformer/tiny_224.py', '../_base_/datasets/demo_bs64_32px.py',
    '../_base_/schedules/demo_sgd_step_30e.py', '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(img_size=32, frozen_stages=1, drop_path_rate=0.1),
    head=dict(num_classes=10))
optimizer = dict(lr=0.006)
log_config = dict(interval=5)
checkpoint_config = dict(interval=10, max_keep_ckpts=2)
