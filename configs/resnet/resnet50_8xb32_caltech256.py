# ResNet-50 on Caltech-256 (257 classes) laid out as data/caltech256/{train,val,test}.
# Start from ImageNet weights by setting load_from to a local MindCV resnet50 .ckpt.
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/caltech256_bs32.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=257))
