# Demo: ResNet-18 from scratch on the built-in shapes set at 32px (bash scripts/run_train.sh).
_base_ = [
    '../_base_/models/resnet18.py', '../_base_/datasets/demo_bs64_32px.py',
    '../_base_/schedules/demo_sgd_step_30e.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=10))
log_config = dict(interval=5)
checkpoint_config = dict(interval=10, max_keep_ckpts=2)
