# ResNet-50 for Caltech-256 (257 classes) from mmcls's ImageNet-1k weights: the model of the twelve
# seed experiments (configs/caltech256/exp*.py add the dataset, schedule and runtime bases, and
# their frozen_stages, batch, lr and lr_config). The first run downloads the weights once into
# $MS_CLS_HOME/checkpoints (~/.cache/ms_cls) and converts them; later runs read the cache.
# From scratch: --cfg-options model.backbone.init_cfg=None
_base_ = './resnet50.py'
checkpoint = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth'  # noqa
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone')),
    head=dict(num_classes=257))
