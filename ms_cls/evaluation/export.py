"""Export a trained classifier to a MINDIR (or ONNX) file for serving, with a JSON sidecar.

The exported graph has a fixed input shape (batch included) and returns logits unless
``softmax=True`` bakes the softmax in: logits keep what an ensemble or a temperature needs and a
softmax is one line on the serving side. ``<out>.json`` tells a serving user how to turn an
image into the input (the test pipeline's Resize/CenterCrop/Normalize) and what the outputs mean.

Files are exported under a hidden temporary name, checked, then renamed, so a failed export or
check never leaves a file that looks usable (``mindspore.export`` appends the format's extension
to a name without it, so the temporary name carries the extension already).
"""
import json
import os
from dataclasses import dataclass

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from ..apis import _test_pipeline, init_model
from ..config import Config
from ..errors import ConfigError, ExportCheckFailed
from ..fileio import atomic_path, write_text
from ..models.builder import backbone_spec

FORMATS = {'MINDIR': '.mindir', 'ONNX': '.onnx'}
TOLERANCE = 1e-4
PREPROCESS_NOTE = (
    "Decode the image to RGB uint8 HWC, apply the steps in order (Resize 'size' [h, w] is exact, "
    "'short_side' s scales the shorter side to s keeping the aspect ratio; CenterCrop [h, w]; "
    "Normalize: (pixel - mean) / std per channel, on BGR channels if to_rgb is false), then "
    "transpose to CHW float32 and stack into a batch of the input shape.")


@dataclass
class ExportResult:
    path: str
    sidecar: str
    check: str          # the line to print: what was compared and how close, or why not
    max_diff: float     # None when the file could not be run here
    notes: list


class _Softmax(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x):
        return ops.softmax(self.net(x), axis=-1)


def check_format(fmt):
    name = str(fmt).upper()
    if name not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not supported; use one of {sorted(FORMATS)}.")
    return name


def check_shape(shape, model_cfg):
    """``shape`` -> (N, C, H, W) ints; C must be the backbone's input channels, H and W
    multiples of its ``size_divisor`` (1 for ResNet, patch_size x 8 for Swin)."""
    backbone = model_cfg.get('backbone') or {}
    channels = backbone.get('in_channels', 3)
    if len(shape) != 4 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                  for s in shape):
        raise ConfigError(f"--shape {list(shape)}: give 4 positive ints N C H W, e.g. "
                          f"--shape 1 {channels} 224 224.")
    if shape[1] != channels:
        raise ConfigError(f"--shape {list(shape)}: the second number is the channel count, "
                          f"{channels} for this model (e.g. --shape 1 {channels} {shape[2]} "
                          f"{shape[3]}).")
    spec = backbone_spec(backbone)
    step = spec.size_divisor
    if shape[2] % step or shape[3] % step:
        h, w = (-(-s // step) * step for s in shape[2:])
        raise ConfigError(f"--shape {list(shape)}: {spec.arch_name} needs H and W multiples of "
                          f"{step} (e.g. --shape {shape[0]} {channels} {h} {w}).")
    return tuple(shape)


def output_path(checkpoint, fmt, out=None):
    """``out`` (default: the checkpoint's path) ending in the format's extension."""
    ext = FORMATS[fmt]
    path = out or os.path.splitext(checkpoint)[0] + ext
    return path if path.endswith(ext) else path + ext


def _hw(size):
    return [size, size] if isinstance(size, int) else list(size)


def preprocess_steps(pipeline):
    """The test pipeline's Resize/CenterCrop/Normalize with explicit sizes (JSON-ready): what a
    serving user must reproduce; loading and tensor conversion are implied."""
    steps = []
    for step in pipeline:
        kind = step.get('type')
        if kind == 'Resize':
            size = step['size']
            short = isinstance(size, (list, tuple)) and len(size) == 2 and size[1] == -1
            steps.append({'type': 'Resize',
                          **({'short_side': size[0]} if short else {'size': _hw(size)}),
                          'interpolation': step.get('interpolation', 'bilinear')})
        elif kind == 'CenterCrop':
            steps.append({'type': 'CenterCrop', 'size': _hw(step['crop_size'])})
        elif kind == 'Normalize':
            steps.append({'type': 'Normalize', 'mean': [float(v) for v in step['mean']],
                          'std': [float(v) for v in step['std']],
                          'to_rgb': bool(step.get('to_rgb', True))})
    return steps


def _pipeline_size(steps):
    """(h, w) the pipeline produces, or None when it keeps the image's own size or aspect."""
    size = None
    for step in steps:
        if step['type'] in ('Resize', 'CenterCrop'):
            size = tuple(step['size']) if 'size' in step else None
    return size


def sidecar_info(model, shape, fmt, path, softmax, checkpoint):
    steps = preprocess_steps(_test_pipeline(model.cfg))
    norm = [s for s in steps if s['type'] == 'Normalize']
    return {
        'model_file': os.path.basename(path), 'format': fmt,
        'input': {'shape': list(shape), 'dtype': 'float32', 'layout': 'NCHW',
                  'channel_order': 'BGR' if norm and not norm[-1]['to_rgb'] else 'RGB'},
        'output': {'shape': [shape[0], len(model.classes)],
                   'kind': 'probabilities' if softmax else 'logits'},
        'classes': list(model.classes),
        'preprocess': steps, 'preprocess_note': PREPROCESS_NOTE,
        'source': {'config': model.cfg.filename, 'checkpoint': checkpoint},
    }


def _export(net, x, tmp, fmt):
    try:
        ms.export(net, x, file_name=tmp, file_format=fmt)
    except RuntimeError as err:
        if fmt != 'ONNX':
            raise
        reason = str(err).strip().splitlines()[0]
        raise ConfigError(f"MindSpore {ms.__version__} cannot export this model to ONNX: "
                          f"{reason} Export --format MINDIR instead (served by MindSpore / "
                          "MindSpore Lite).") from None


def _run_exported(tmp, fmt, x):
    """Outputs of the exported file on ``x``, or None with the reason when it cannot run here."""
    if fmt == 'MINDIR':
        return nn.GraphCell(ms.load(tmp))(ms.Tensor(x)).asnumpy(), None
    try:
        import onnxruntime
    except ImportError:
        return None, "onnxruntime is not installed"
    session = onnxruntime.InferenceSession(tmp, providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: x})[0], None


def export_model(config, checkpoint, fmt='MINDIR', shape=(1, 3, 224, 224), out=None,
                 softmax=False, cfg_options=None):
    """Export ``checkpoint`` of ``config`` (path or Config) at ``shape``; returns ExportResult.

    A backbone built for one input size (Swin: its masks are constants) is built for the
    export's H x W, through its ``img_size``.
    """
    fmt = check_format(fmt)
    checkpoint, out = (os.fspath(p) if p else p for p in (checkpoint, out))
    if not checkpoint or not os.path.isfile(checkpoint):
        raise ConfigError(f"Checkpoint {checkpoint!r} not found: give the .ckpt a training run "
                          "wrote, e.g. work_dirs/<config name>/best.ckpt.")
    cfg = config if isinstance(config, Config) else Config.fromfile(config, cfg_options)
    if isinstance(config, Config) and cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise ConfigError(f"{cfg.filename}: no 'model' in the config.")
    shape = check_shape(list(shape), cfg.model)
    spec = backbone_spec(cfg.model.backbone)
    resized = spec.img_size is not None and spec.img_size != shape[2:]
    if resized:
        cfg.merge_from_dict({'model.backbone.img_size': (shape[2], shape[3])})
    try:
        model = init_model(cfg, checkpoint)
    except ConfigError as err:
        if not resized:
            raise
        raise ConfigError(f"{err} {spec.arch_name}'s network follows the input size: export "
                          f"at the config's img_size, --shape {shape[0]} {shape[1]} "
                          f"{spec.img_size[0]} {spec.img_size[1]}.") from None
    net = _Softmax(model) if softmax else model
    net.set_train(False)
    path = output_path(checkpoint, fmt, out)
    info = sidecar_info(model, shape, fmt, path, softmax, checkpoint)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    sidecar = path + '.json'
    with atomic_path(path) as tmp:   # the sidecar is written only once the check passed
        _export(net, ms.Tensor(x), tmp, fmt)
        got, why_not = _run_exported(tmp, fmt, x)
        diff = None if got is None else float(np.abs(got - net(ms.Tensor(x)).asnumpy()).max())
        if diff is not None and not diff <= TOLERANCE:
            raise ExportCheckFailed(f"{fmt} check failed: the exported file's outputs differ from "
                                    f"the network's by {diff:.3g} (> {TOLERANCE}) on a {shape} "
                                    "input; nothing was written.")
        write_text(sidecar, json.dumps(info, indent=2))
    check = (f"{fmt} check: max |diff| {float(f'{diff:.3g}')} on a {shape} input"
             if diff is not None else
             f"{fmt} check: not run ({why_not}); {path} was written but its outputs were not "
             "compared with the network's")
    notes = []
    made = _pipeline_size(info['preprocess'])
    if made and made != shape[2:]:
        notes.append(f"the test pipeline makes {made[0]}x{made[1]} images but the export's input "
                     f"is {shape[2]}x{shape[3]}: resize to the input size when serving")
    return ExportResult(path, sidecar, check, diff, notes)
