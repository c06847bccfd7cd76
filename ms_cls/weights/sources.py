"""Pretrained weights named in a config -> parameters of the model, whatever their source.

A checkpoint is a local path, an ``https://`` URL, ``torchvision://NAME`` or ``mindcv://NAME``
(``download`` fetches and caches the remote ones), in MindSpore's ``.ckpt`` format (MindCV's or
ms_cls's names: loaded as they are) or PyTorch's ``.pth``/``.pt``/``.safetensors`` (torchvision,
timm or mmcls names: converted by the backbone's ``from_torch``). mmcv's ``prefix`` keeps the keys
under it, without the prefix. A downloaded PyTorch file is converted once: the MindSpore
checkpoint is cached beside it.
"""
import hashlib
import json
import os

import numpy as np
import mindspore as ms

from ..checkpoint import (HEAD_PREFIX, check_checkpoint_file, make_meta, read_checkpoint,
                          save_checkpoint)
from ..errors import ConfigError
from . import download

TORCH_SUFFIXES = ('.pth', '.pt', '.bin', '.safetensors')
CKPT_SUFFIX = '.ckpt'


def check_reference(ref, source):
    """At plan time, without reading or fetching anything: a local file must exist, a remote
    reference must be one this project can fetch."""
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"{source} = {ref!r}: give a checkpoint path, an https:// URL, "
                          "torchvision://NAME or mindcv://NAME.")
    if download.is_remote(ref):
        download.resolve_url(ref)   # an unknown model name or scheme fails here
    else:
        check_checkpoint_file(ref, f"{source}: checkpoint")
    if not _suffix(ref):
        raise ConfigError(f"{source} {ref}: use a MindSpore .ckpt or a PyTorch .pth, .pt or "
                          ".safetensors file.")


def _suffix(ref):
    name = download.resolve_url(ref) if download.is_remote(ref) else ref
    name = name.split('?', 1)[0].lower()
    return next((s for s in TORCH_SUFFIXES + (CKPT_SUFFIX,) if name.endswith(s)), None)


def pretrained_params(spec, backbone_cfg, log=print):
    """The parameters ``spec`` (a ``models.builder.PretrainedSpec``) names, under this project's
    names and restricted to its part, ready for ``checkpoint.load_weights(params=...)``;
    -> (params, the local file they came from, its meta: an ms_cls checkpoint's classes...)."""
    remote = download.is_remote(spec.checkpoint)
    path = download.download(spec.checkpoint, log=log) if remote else spec.checkpoint
    meta = make_meta()
    if _suffix(spec.checkpoint) == CKPT_SUFFIX:
        params, meta = read_checkpoint(path)
        params = _under_prefix(params, spec, path, flat=True)
    else:
        cached = _converted_path(path, spec, backbone_cfg) if remote else None
        params = _read_converted(cached, log)
        if params is None:
            params = _convert(path, spec, backbone_cfg, log)
            if cached is not None:
                save_checkpoint([{'name': k, 'data': v} for k, v in params.items()], cached)
                log(f"converted {os.path.basename(path)} to {cached}; later runs load it")
    return _for_part(params, spec.part), path, meta


def _convert(path, spec, backbone_cfg, log):
    """A PyTorch file -> {our name: Parameter}, through the backbone's ``from_torch``."""
    from ..models.convert import convert_state_dict, read_torch_state_dict
    state = _under_prefix(read_torch_state_dict(path), spec, path, flat=False)
    params, unused = convert_state_dict(state, backbone_cfg, source=f"{spec.source} {path}")
    if unused:
        log(f"{os.path.basename(path)}: {len(unused)} entries have no place in the model and are "
            f"left out: {', '.join(unused[:5])}" + (' ...' if len(unused) > 5 else ''))
    return {k: ms.Parameter(np.ascontiguousarray(v), name=k) for k, v in params.items()}


def _under_prefix(params, spec, path, flat):
    """mmcv's prefix: keep ``prefix.*`` without the prefix. MindSpore checkpoints (``flat``) use
    this project's names, which have no part prefix: there ``backbone`` means all but the head and
    ``head`` the head."""
    prefix = spec.prefix
    if not prefix:
        return params
    dotted = prefix.rstrip('.') + '.'
    kept = {k[len(dotted):]: v for k, v in params.items() if k.startswith(dotted)}
    if kept:
        return kept
    if flat and prefix in ('backbone', 'head'):
        return params
    first = ', '.join(list(params)[:3])
    raise ConfigError(f"{spec.source}: no key of {path} starts with '{dotted}' (prefix="
                      f"{prefix!r}); its keys look like {first}. Remove prefix or set it to the "
                      "part the checkpoint's keys start with.")


def _for_part(params, part):
    if part == 'backbone':
        return {k: v for k, v in params.items() if not k.startswith(HEAD_PREFIX)}
    if part == 'head':
        return {k: v for k, v in params.items() if k.startswith(HEAD_PREFIX)}
    return params


def _converted_path(path, spec, backbone_cfg):
    """Beside the download, named by what the conversion depends on: the backbone config and
    the prefix."""
    key = json.dumps({'backbone': _plain(backbone_cfg), 'prefix': spec.prefix}, sort_keys=True,
                     default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    stem = os.path.splitext(path)[0]
    return f"{stem}.{backbone_cfg.get('type', 'model')}-{digest}{CKPT_SUFFIX}"


def _plain(cfg):
    skip = ('init_cfg', 'frozen_stages', 'norm_eval', 'drop_path_rate', 'drop_rate',
            'attn_drop_rate', 'with_cp')
    return {k: v for k, v in dict(cfg).items() if k not in skip}


def _read_converted(cached, log):
    """The cached conversion, or None (absent, or unreadable: then it is made again)."""
    if cached is None or not os.path.isfile(cached):
        return None
    try:
        params, _ = read_checkpoint(cached)
    except ConfigError as err:
        log(f"{cached} is unreadable ({err}); converting again")
        os.remove(cached)
        return None
    return params

