"""Config dict -> network cells. Plain name -> class tables; no registry framework."""
from dataclasses import dataclass

from ..errors import ConfigError
from ..validation import Registry, check_keys, located, subset, where
from .classifier import (GlobalAveragePooling, ImageClassifier, LinearClsHead,
                         MultiLabelLinearClsHead)
from .init import apply_initialisers, split_init_cfg
from .losses import CrossEntropyLoss, LabelSmoothLoss
from .resnet import ResNet, ResNet_CIFAR, ResNetV1c, ResNetV1d
from .swin import SwinTransformer

BACKBONES = Registry('backbone', {'ResNet': ResNet, 'ResNetV1c': ResNetV1c, 'ResNetV1d': ResNetV1d,
                                  'ResNet_CIFAR': ResNet_CIFAR,
                                  'SwinTransformer': SwinTransformer})
NECKS = Registry('neck', {'GlobalAveragePooling': GlobalAveragePooling})
HEADS = Registry('head', {'LinearClsHead': LinearClsHead,
                         'MultiLabelLinearClsHead': MultiLabelLinearClsHead})
LOSSES = Registry('loss', {'CrossEntropyLoss': CrossEntropyLoss, 'LabelSmoothLoss': LabelSmoothLoss})
CLASSIFIER_KEYS = ('type', 'backbone', 'neck', 'head', 'pretrained', 'train_cfg', 'init_cfg')
PARTS = ('backbone', 'neck', 'head')
INIT_CFG = 'init_cfg'


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
            f"model.pretrained={pretrained!r}: give a checkpoint as a path, an https:// URL, "
            "torchvision://NAME or mindcv://NAME (or use model.backbone.init_cfg=dict("
            "type='Pretrained', checkpoint=..., prefix='backbone')).")
    for part in ('backbone', 'head'):
        if part not in model_cfg:
            raise ConfigError(f"model.{part} is missing from the config.")
    inits = init_cfgs(model_cfg)
    backbone = _build(_without_init(model_cfg['backbone']), BACKBONES, 'backbone')
    check_head_width(model_cfg['head'], backbone)
    neck = _build(_without_init(model_cfg.get('neck') or dict(type='GlobalAveragePooling')),
                  NECKS, 'neck')
    head = _build(_without_init(model_cfg['head']), HEADS, 'head')
    net = ImageClassifier(backbone, neck, head)
    # mmcv's order: the model's initialisers, then each part's (a part's own init_cfg wins)
    apply_initialisers(net, inits['model'][0])
    for part in PARTS:
        cell = getattr(net, part)
        aliases = getattr(cell, 'mmcls_names', None)
        if part == 'head':
            head.initialisers = inits['head'][0]
        apply_initialisers(cell, inits[part][0], aliases)
    if classes is not None:
        attach_classes(net, classes, where(model_cfg['head'], 'num_classes'))
    return net


def _without_init(part_cfg):
    return subset(part_cfg, (INIT_CFG,)) if isinstance(part_cfg, dict) else part_cfg


def init_cfgs(model_cfg):
    """{'model' | 'backbone' | 'neck' | 'head': (initialisers, pretrained dict or None)}: the
    checked ``init_cfg`` of each part. A head without the key starts as mmcls's head does
    (its class's ``default_init_cfg``)."""
    found = {'model': split_init_cfg(model_cfg.get(INIT_CFG), 'model.init_cfg')}
    for part in PARTS:
        part_cfg = model_cfg.get(part) or {}
        init_cfg = part_cfg.get(INIT_CFG) if isinstance(part_cfg, dict) else None
        if part == 'head' and isinstance(part_cfg, dict) and INIT_CFG not in part_cfg \
                and part_cfg.get('type') in HEADS:
            init_cfg = HEADS.get(part_cfg['type']).default_init_cfg
        found[part] = split_init_cfg(init_cfg, f'model.{part}.init_cfg')
    return found


@dataclass(frozen=True)
class PretrainedSpec:
    """Weights to load before training: ``checkpoint`` (a path, URL or model name) into ``part``
    ('model', 'backbone' or 'head'), keeping only the keys under ``prefix`` (mmcv's meaning:
    ``prefix='backbone'`` takes ``backbone.*`` without the prefix). ``source`` is the config key
    or option that named it, for messages."""
    source: str
    checkpoint: str
    part: str = 'model'
    prefix: str = None


def pretrained_weights(model_cfg):
    """[PretrainedSpec]: the pretrained weights a model config names, in the order they load:
    ``model.pretrained`` (mmcls: the whole model), then each Pretrained init_cfg."""
    found = []
    if model_cfg.get('pretrained'):
        found.append(PretrainedSpec('model.pretrained', model_cfg['pretrained']))
    for part, (_, pretrained) in init_cfgs(model_cfg).items():
        if pretrained is not None:
            found.append(PretrainedSpec(f'model.{part}.init_cfg' if part != 'model'
                                        else 'model.init_cfg', pretrained['checkpoint'], part,
                                        pretrained.get('prefix')))
    return found


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
    loss_cfg = head.get('loss') or HEADS.get(HEADS.check_type(head, 'model.head')).default_loss
    if loss_cfg.get('type') == 'LabelSmoothLoss' and loss_cfg.get('num_classes') is None:
        loss_cfg = subset(loss_cfg)
        loss_cfg['num_classes'] = head.get('num_classes')
    return _build(loss_cfg, LOSSES, 'loss')
