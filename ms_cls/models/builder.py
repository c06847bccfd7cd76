"""Config dict -> network cells. Plain name -> class tables; no registry framework."""
from ..errors import ConfigError
from ..validation import Registry, check_keys, located, subset, where
from .classifier import GlobalAveragePooling, ImageClassifier, LinearClsHead
from .losses import CrossEntropyLoss, LabelSmoothLoss
from .resnet import ResNet, ResNet_CIFAR, ResNetV1c, ResNetV1d
from .swin import SwinTransformer

BACKBONES = Registry('backbone', {'ResNet': ResNet, 'ResNetV1c': ResNetV1c, 'ResNetV1d': ResNetV1d,
                                  'ResNet_CIFAR': ResNet_CIFAR,
                                  'SwinTransformer': SwinTransformer})
NECKS = Registry('neck', {'GlobalAveragePooling': GlobalAveragePooling})
HEADS = Registry('head', {'LinearClsHead': LinearClsHead})
LOSSES = Registry('loss', {'CrossEntropyLoss': CrossEntropyLoss, 'LabelSmoothLoss': LabelSmoothLoss})
CLASSIFIER_KEYS = ('type', 'backbone', 'neck', 'head', 'pretrained', 'train_cfg')


def _build(cfg, table, what):
    try:
        return table.build(cfg, what)
    except (ValueError, TypeError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{what} ({cfg.where() if hasattr(cfg, 'where') else what}): {err}") \
            from None


def build_model(model_cfg, classes=None):
    """Build an ImageClassifier from ``cfg.model``; ``classes`` names the outputs."""
    if not isinstance(model_cfg, dict):
        raise ConfigError(f"'model' must be a dict, got {model_cfg!r}.")
    check_keys(model_cfg, CLASSIFIER_KEYS, 'model')
    if model_cfg.get('type', 'ImageClassifier') != 'ImageClassifier':
        raise ConfigError(f"Unknown model type {model_cfg.get('type')!r}: "
                          "ms_cls builds 'ImageClassifier'.")
    pretrained = model_cfg.get('pretrained')
    if pretrained is not None and not isinstance(pretrained, str):
        raise ConfigError(
            f"model.pretrained={pretrained!r}: ms_cls never downloads weights. Put a checkpoint on "
            "disk (MindCV's .ckpt as is; torchvision/timm/mmcls .pth or .safetensors through "
            "scripts/convert_weights.py), e.g. checkpoints/resnet50.ckpt, and set "
            "model.pretrained='checkpoints/resnet50.ckpt' (or load_from).")
    for part in ('backbone', 'head'):
        if part not in model_cfg:
            raise ConfigError(f"model.{part} is missing from the config.")
    backbone = _build(model_cfg['backbone'], BACKBONES, 'backbone')
    check_head_width(model_cfg['head'], backbone)
    neck = _build(model_cfg.get('neck') or dict(type='GlobalAveragePooling'), NECKS, 'neck')
    head = _build(model_cfg['head'], HEADS, 'head')
    net = ImageClassifier(backbone, neck, head)
    if classes is not None:
        attach_classes(net, classes, where(model_cfg['head'], 'num_classes'))
    return net


def backbone_spec(backbone_cfg):
    """The ``BackboneSpec`` (width, input size rule) of a backbone config, without building it."""
    name = BACKBONES.check_type(backbone_cfg, 'model.backbone')
    try:
        return BACKBONES.get(name).spec(**subset(backbone_cfg, ('type',)))
    except TypeError as err:
        raise ConfigError(f"{where(located(backbone_cfg, 'model.backbone'))}: {err}") from None


def check_head_width(head_cfg, backbone):
    """``model.head.in_channels`` must be the backbone's width; caught here, a mismatch is one
    line naming the fix instead of a MatMul shape error at the first forward. (A head that is
    not a dict is left to the head builder's error.)"""
    have = head_cfg.get('in_channels') if isinstance(head_cfg, dict) else backbone.out_channels
    if have != backbone.out_channels:
        head = located(head_cfg, 'model.head')
        found = (f"{head.path or 'model.head'}.in_channels is missing" if have is None else
                 f"{where(head, 'in_channels')} is {have!r}")
        raise ConfigError(f"{found}: {backbone.arch_name} outputs {backbone.out_channels} "
                          f"channels; set model.head.in_channels={backbone.out_channels}.")


def attach_classes(net, classes, set_at='model.head.num_classes'):
    """Name the outputs; their number must be the head's ``num_classes`` (``set_at``: where the
    config set it, for the message)."""
    if len(classes) != net.head.num_classes:
        raise ConfigError(f"{set_at} is {net.head.num_classes} but the dataset has "
                          f"{len(classes)} classes; set model.head.num_classes={len(classes)}.")
    net.classes = list(classes)


def build_loss(model_cfg):
    """The training loss named by ``model.head.loss`` (default: CrossEntropyLoss)."""
    head = model_cfg['head']
    loss_cfg = head.get('loss') or dict(type='CrossEntropyLoss')
    if loss_cfg.get('type') == 'LabelSmoothLoss' and loss_cfg.get('num_classes') is None:
        loss_cfg = subset(loss_cfg)
        loss_cfg['num_classes'] = head.get('num_classes')
    return _build(loss_cfg, LOSSES, 'loss')
