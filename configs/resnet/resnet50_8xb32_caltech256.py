# ResNet-50 fine-tuned on Caltech-256 (257 classes) laid out as data/caltech256/{train,val,test},
# from mmcls's ImageNet-1k weights (downloaded once into $MS_CLS_HOME/checkpoints).
_base_ = [
    '../_base_/models/resnet50.py', '../_base_/datasets/caltech256_bs32.py',
    '../_base_/schedules/sgd_step_100e.py', '../_base_/default_runtime.py'
]
checkpoint = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth'  # noqa
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone')),
    head=dict(num_classes=257))
