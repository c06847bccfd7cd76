"""Grad-CAM and Grad-CAM++ of a classifier (what mmcls's ``tools/visualizations/vis_cam.py``
shows), computed with MindSpore's autograd.

The target layer is any named cell (``backbone.layer4``, ``backbone.norm``). Its activations
and the gradient of the class score with respect to them come from two forward passes in
PyNative mode: one forward hook keeps the activations, then ``mindspore.grad`` differentiates
the score through a hook that adds a zero "probe" to the layer's output, so the gradient with
respect to the probe is the gradient with respect to the activations. Token maps (Swin's
(N, L, C)) are reshaped to their (h, w) grid from the input's aspect ratio.
"""
import contextlib
import math
import os

import numpy as np
from PIL import Image

from ..errors import ConfigError

METHODS = ('gradcam', 'gradcam++')
ALPHA = 0.5
#: A map coarser than this (cells on its short side) says little about where the model looked.
#: mmcls's defaults (ResNet layer4, Swin's final norm) give 7x7 at 224 px but 1x1 at 32 px;
#: there the default moves to the deepest stage with a map at least this fine. (On the 32 px
#: demo, ResNet-18's 4x4 layer2 peaks on the background half the time, its 8x8 layer1 on
#: the shape: tests/test_cam.py.) In a Swin stage that map is the hidden activation of its
#: last block's MLP (after GELU): Grad-CAM weighs feature maps that are >= 0, as a CNN's are
#: after ReLU, and a block's output is the signed residual stream. Measured on the 32 px demo
#: (Grad-CAM++ peaks inside the shape's box): 0.63 -> 0.77 on the block output -> its mlp.act.
MIN_GRID = 7


def _candidates(model, input_hw):
    """[(layer name, (h, w) of its map)] deepest first, for the backbones ms_cls has."""
    backbone = model.backbone
    kind = type(backbone).__name__
    if hasattr(backbone, 'stage_reductions'):  # the ResNet family
        return [(f'backbone.layer{k}', tuple(s // backbone.stage_reductions[k - 1]
                                             for s in input_hw)) for k in (4, 3, 2, 1)]
    if kind == 'SwinTransformer':
        out = [('backbone.norm', tuple(backbone.out_resolution))]
        for i in range(len(backbone.layers) - 2, -1, -1):
            block = backbone.layers[i].blocks[-1]
            out.append((f'backbone.layers.{i}.blocks.{len(backbone.layers[i].blocks) - 1}'
                        '.mlp.act', (block.height, block.width)))
        return out
    raise ConfigError(f"no default Grad-CAM layer for a {kind} backbone; pass "
                      "--target-layers NAME (a cell name, e.g. backbone.layer4).")


def default_target_layer(model, input_hw):
    """mmcls's default layer (ResNet: backbone.layer4, Swin: backbone.norm), or the deepest
    stage whose map has MIN_GRID cells a side when the input is too small for it (in Swin, its
    last block's MLP activation)."""
    candidates = _candidates(model, input_hw)
    return next((name for name, hw in candidates if min(hw) >= MIN_GRID), candidates[-1][0])


def find_cell(model, name):
    """The cell called ``name``; the error lists the names there are near it."""
    cells = dict(model.cells_and_names())
    if name in cells and name:
        return cells[name]
    parent = name.rsplit('.', 1)[0] if '.' in name else ''
    near = [n for n in cells if n and n.count('.') <= name.count('.')
            and (n.startswith(parent) if parent else '.' not in n)]
    raise ConfigError(f"--target-layers {name!r}: no such layer; layers there: "
                      f"{', '.join(near[:30]) or ', '.join(n for n in cells if n)[:400]}.")


@contextlib.contextmanager
def pynative():
    """Forward hooks and a gradient with respect to a hook's probe need PyNative mode; the
    caller's mode comes back afterwards (tests and training run in graph mode)."""
    import mindspore as ms
    mode = ms.get_context('mode')
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        yield
    finally:
        ms.set_context(mode=mode)


def _as_map(array, input_hw):
    """(N, C, h, w) as is; (N, L, C) tokens -> (N, C, h, w) on the input's aspect ratio."""
    if array.ndim == 4:
        return array
    if array.ndim != 3:
        raise ConfigError(f"the target layer's output has shape {array.shape}; Grad-CAM needs "
                          "a feature map (N, C, H, W) or tokens (N, L, C).")
    n, tokens, channels = array.shape
    height, width = input_hw
    h = max(1, round(math.sqrt(tokens * height / width)))
    w = tokens // h
    if h * w != tokens:
        raise ConfigError(f"cannot lay {tokens} tokens out on a grid of the input's aspect "
                          f"{height}x{width}; pick another target layer.")
    return array.reshape(n, h, w, channels).transpose(0, 3, 1, 2)


def cam_weights(activations, grads, method):
    """Per-channel weights (N, C): the mean gradient (Grad-CAM), or Grad-CAM++'s positive
    gradients weighted by alpha = g^2 / (2 g^2 + sum(A) g^3) (Chattopadhyay et al. 2018, in
    the exp-score form pytorch-grad-cam uses)."""
    if method == 'gradcam':
        return grads.mean(axis=(2, 3))
    g2 = grads ** 2
    g3 = g2 * grads
    total = activations.sum(axis=(2, 3), keepdims=True)
    denominator = 2 * g2 + total * g3
    alpha = np.where(grads != 0, g2 / np.where(denominator != 0, denominator, 1e-7), 0)
    return (np.maximum(grads, 0) * alpha).sum(axis=(2, 3))


def _upsample(cam, hw):
    return np.asarray(Image.fromarray(cam.astype(np.float32), mode='F').resize(
        (hw[1], hw[0]), Image.Resampling.BILINEAR))


def grad_cam(model, images, target_layer=None, method='gradcam', categories=None):
    """-> (cams (N, H, W) in [0, 1] at the input's size, probs (N, C), categories (N,)).

    ``images``: a float32 batch as the test pipeline makes it. ``categories``: the class to
    explain per image (one int for all); default the predicted class.
    """
    import mindspore as ms
    import mindspore.ops as ops
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: use one of {', '.join(METHODS)}.")
    images = ms.Tensor(np.asarray(images, np.float32))
    name = target_layer or default_target_layer(model, tuple(images.shape[2:]))
    cell = find_cell(model, name)
    model.set_train(False)
    kept = {}
    with pynative():
        handle = cell.register_forward_hook(lambda _cell, _inputs, output: kept.update(a=output))
        try:
            logits = model(images)
        finally:
            handle.remove()
        if 'a' not in kept or not isinstance(kept['a'], ms.Tensor):
            raise ConfigError(f"--target-layers {name!r} gives no single tensor to explain; "
                              "pick a layer whose output is one feature map.")
        probs = ops.softmax(logits, axis=-1).asnumpy()
        num_classes = probs.shape[1]
        if categories is None:
            categories = probs.argmax(axis=1)
        categories = np.broadcast_to(np.asarray(categories, np.int64), (len(probs),)).copy()
        if categories.min() < 0 or categories.max() >= num_classes:
            raise ConfigError(f"--target-category {categories.max()}: the model has "
                              f"{num_classes} classes (0..{num_classes - 1}).")
        pick = ms.Tensor(np.eye(num_classes, dtype=np.float32)[categories])

        def score(probe):
            hook = cell.register_forward_hook(lambda _c, _i, output: output + probe)
            try:
                return (model(images) * pick).sum()
            finally:
                hook.remove()

        grads = ms.grad(score)(ops.zeros_like(kept['a'])).asnumpy()
    input_hw = tuple(images.shape[2:])
    activations = _as_map(kept['a'].asnumpy(), input_hw)
    grads = _as_map(grads, input_hw)
    weights = cam_weights(activations, grads, method)
    maps = np.maximum((weights[:, :, None, None] * activations).sum(axis=1), 0)
    cams = []
    for cam in maps:
        cam = _upsample(cam, input_hw)
        cam = cam - cam.min()
        cams.append(cam / cam.max() if cam.max() > 0 else cam)
    return np.stack(cams), probs, categories, name


def has_crop(model):
    """Whether the test pipeline crops (then the network sees part of the image)."""
    return any('Crop' in type(op).__name__ for op in model.test_ops)


def network_view(model, rgb):
    """The uint8 image the network is given (the test pipeline before Normalize)."""
    import mindspore.dataset.transforms as transforms
    import mindspore.dataset.vision as vision
    steps = []
    for op in model.test_ops:
        if isinstance(op, (vision.Normalize, vision.HWC2CHW, transforms.TypeCast)):
            break
        steps.append(op)
    return np.asarray(transforms.Compose(steps)(rgb) if steps else rgb, dtype=np.uint8)


def image_cams(model, paths, target_layer=None, method='gradcam', categories=None,
               batch_size=16):
    """Grad-CAM of image files, each drawn on its image: -> list of dict(path, image (the
    original RGB, or the network's view when the test pipeline crops), cam (at that image's
    size), pred_label, pred_class, pred_score, category)."""
    from ..data.datasets import load_rgb
    from ..data.pipeline import apply_pipeline
    out = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        rgbs = [load_rgb(p) for p in chunk]
        batch = np.stack([apply_pipeline(model.test_ops, rgb) for rgb in rgbs])
        cams, probs, cats, layer = grad_cam(model, batch, target_layer, method,
                                     categories if categories is None or np.isscalar(categories)
                                     else categories[start:start + batch_size])
        for path, rgb, cam, prob, cat in zip(chunk, rgbs, cams, probs, cats):
            image = network_view(model, rgb) if has_crop(model) else rgb
            label = int(prob.argmax())
            out.append(dict(path=path, image=image, cam=_upsample(cam, image.shape[:2]),
                            pred_label=label, pred_class=model.classes[label],
                            pred_score=float(prob[label]), category=int(cat),
                            category_class=model.classes[int(cat)], layer=layer))
    return out


def overlay(item, gt_class=None):
    """The image with its CAM in the jet colours blended on top, captioned with the predicted
    class and score (and the explained class when it is another, the true one when given)."""
    from matplotlib import colormaps
    from ..evaluation.results import annotate
    heat = colormaps['jet'](item['cam'])[..., :3] * 255
    blended = (1 - ALPHA) * item['image'].astype(np.float32) + ALPHA * heat
    lines = [f"pred: {item['pred_class']} {item['pred_score']:.2f}"]
    if item['category'] != item['pred_label']:
        lines.append(f"cam of: {item['category_class']}")
    if gt_class is not None:
        lines.append(f"gt: {gt_class}")
    colour = (255, 255, 255) if gt_class is None else (
        (80, 255, 80) if gt_class == item['pred_class'] else (255, 80, 80))
    return annotate(Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)), lines, colour)


def peak(cam):
    """(x, y) of the CAM's maximum."""
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(x), int(y)


def vis_cam(config, checkpoint, save_path, img=None, img_dir=None, target_layer=None,
            method='gradcam', category=None, cfg_options=None, log=print):
    """scripts/vis_cam.py: the overlay of ``img`` written to ``save_path``, or of every image
    under ``img_dir`` into the folder ``save_path``."""
    from ..data.datasets import list_images
    if img and not os.path.isfile(img):
        raise ConfigError(f"--img {img}: no such file.")
    if img_dir and not os.path.isdir(img_dir):
        raise ConfigError(f"--img-dir {img_dir}: no such folder.")
    images = [img] if img else [os.path.join(img_dir, p) for p in list_images(img_dir)]
    if img_dir:
        os.makedirs(save_path, exist_ok=True)
    return save_cams(config, checkpoint, images, save_path, target_layer, method, category,
                     cfg_options, root=img_dir, log=log)


def save_cams(config, checkpoint, images, save_path, target_layer=None, method='gradcam',
              category=None, cfg_options=None, root=None, log=print):
    """scripts/vis_cam.py: the overlay of each image in ``images`` written to ``save_path`` (a
    file for one image, a folder for several: <path under root, '/' as '_'>_cam.jpg each, so
    0000.jpg of two class folders stay two files). -> the paths written."""
    from functools import partial
    from ..apis import init_model
    from ..fileio import atomic_write
    if not images:
        raise ConfigError("no images: give --img PATH or an --img-dir with images in it.")
    model = init_model(config, checkpoint, cfg_options)
    many = len(images) > 1 or os.path.isdir(save_path)
    written = []
    for item in image_cams(model, images, target_layer, method, category):
        rel = os.path.relpath(item['path'], root) if root else os.path.basename(item['path'])
        stem = os.path.splitext(rel)[0].replace(os.sep, '_')
        out = os.path.join(save_path, f'{stem}_cam.jpg') if many else save_path
        fmt = 'PNG' if out.lower().endswith('.png') else 'JPEG'
        atomic_write(out, partial(overlay(item).save, format=fmt))
        log(f"{item['path']}: pred {item['pred_class']} {item['pred_score']:.3f}, "
            f"{method} of {item['category_class']} at {item['layer']} -> {out}")
        written.append(out)
    return written
