"""PyTorch (torchvision / timm / mmcls) and MindCV weights -> an ms_cls checkpoint.

No PyTorch needed: .pth/.pt files are read by ms_cls.weights.pth (numpy alone, nothing in the
file is run), .safetensors by safetensors.numpy.
"""
import os

import numpy as np
import mindspore as ms

from ..checkpoint import HEAD_PREFIX, ema_weights, make_meta, read_checkpoint, save_checkpoint
from ..errors import ConfigError
from ..weights.download import download, is_remote
from ..weights.pth import read_state_dict
from .builder import BACKBONES, backbone_spec, build_model

RESNETS = {'resnet18': 18, 'resnet34': 34, 'resnet50': 50, 'resnet101': 101, 'resnet152': 152}
SWINS = {'swin-tiny': 'tiny', 'swin-small': 'small', 'swin-base': 'base', 'swin-large': 'large'}
ARCHS = tuple(RESNETS) + tuple(SWINS)


def model_cfg(arch, num_classes):
    """The ImageClassifier config of ``arch`` (used to check converted weights)."""
    if arch in RESNETS:
        backbone = dict(type='ResNet', depth=RESNETS[arch])
    elif arch in SWINS:
        backbone = dict(type='SwinTransformer', arch=SWINS[arch], img_size=224)
    else:
        raise ConfigError(f"--arch {arch!r}; use one of {', '.join(ARCHS)}.")
    return dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=num_classes,
                          in_channels=backbone_spec(backbone).out_channels))


def read_torch_state_dict(path):
    """A .pth/.pt or .safetensors file -> {key: numpy array}."""
    if path.endswith('.safetensors'):
        from safetensors.numpy import load_file
        return load_file(path)
    return read_state_dict(path)


def convert_state_dict(state, backbone_cfg, source='weights'):
    """A PyTorch state dict (numpy arrays, torchvision / timm / mmcls names, ``backbone.``
    prefixes allowed) -> ({our name: array}, [unused keys]), by the backbone's ``from_torch``."""
    name = BACKBONES.check_type(backbone_cfg, 'model.backbone')
    args = {k: v for k, v in backbone_cfg.items() if k not in ('type', 'init_cfg')}
    try:
        return BACKBONES.get(name).from_torch(state, **args)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: cannot convert it for {name}: {err}") from None


def convert(src, arch, num_classes=None, use_ema=False):
    """-> ({name: numpy array}, meta, report lines). Checked against a freshly built model.
    ``src`` may also be an https:// URL, torchvision://NAME or mindcv://NAME (downloaded into
    the cache first)."""
    if is_remote(src):
        src = download(src)
    if not os.path.isfile(src):
        raise ConfigError(f"Source weights not found: {src}")
    report = []
    if src.endswith('.ckpt'):
        params, meta = read_checkpoint(src)
        if use_ema:
            params = ema_weights(params, src, '--use-ema')
        converted = {k: v.asnumpy() for k, v in params.items()}
        unused = []
    elif src.endswith(('.pth', '.pt', '.safetensors')):
        state = read_torch_state_dict(src)
        meta = make_meta()
        converted, unused = convert_state_dict(
            state, model_cfg(arch, num_classes or 1000)['backbone'], src)
    else:
        raise ConfigError(f"{src}: use a .pth, .pt, .safetensors or .ckpt file.")
    head = converted.get(HEAD_PREFIX + 'weight')
    src_classes = head.shape[0] if head is not None else None
    if num_classes and src_classes and num_classes != src_classes:
        converted = {k: v for k, v in converted.items() if not k.startswith(HEAD_PREFIX)}
        report.append(f"head dropped: {src_classes} classes in {src}, {num_classes} asked")
        meta = dict(meta, classes=None)
    net = build_model(model_cfg(arch, num_classes or src_classes or 1000))
    own = {p.name: tuple(p.shape) for p in net.get_parameters()}
    wrong = [f"{k}: {tuple(v.shape)} vs {own[k]}" for k, v in converted.items()
             if k in own and tuple(v.shape) != own[k]]
    if wrong:
        raise ConfigError(f"{src} does not fit --arch {arch}: " + '; '.join(wrong[:5]))
    unused += [k for k in converted if k not in own]
    converted = {k: v for k, v in converted.items() if k in own}
    missing = [k for k in own if k not in converted and not k.startswith(HEAD_PREFIX)]
    report.append(f"{len(converted)}/{len(own)} parameters converted"
                  + (f"; missing {len(missing)}: {', '.join(missing[:5])}" if missing else '')
                  + (f"; unused {len(unused)}: {', '.join(unused[:5])}" if unused else ''))
    return converted, meta, report


def save_converted(params, dst, meta):
    save_checkpoint([{'name': k, 'data': ms.Tensor(np.ascontiguousarray(v))}
                     for k, v in params.items()], dst, meta)
