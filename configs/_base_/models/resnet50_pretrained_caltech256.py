# ResNet-50 for Caltech-256 (257 classes) from converted ImageNet weights: the model of the twelve
# seed experiments (configs/caltech256/exp*.py add the dataset, schedule and runtime bases, and
# their frozen_stages, batch, lr and lr_config). Convert the weights once (nothing is
# downloaded), e.g.
#   python scripts/convert_weights.py resnet50-torchvision.pth checkpoints/resnet50.ckpt --arch resnet50
_base_ = './resnet50.py'
model = dict(pretrained='checkpoints/resnet50.ckpt', head=dict(num_classes=257))
