"""RandAugment with mmcls 0.x semantics (the "swin-style" augmentation of the seed's runs).

``mindspore.dataset.vision.RandAugment`` has another op list (no Invert, SolarizeAdd,
ColorTransform) and other magnitude bins, so the mmcls ops are written here on Pillow and run as
one Python op in the dataset workers. Per image: ``num_policies`` policies are drawn (with
replacement); each gets a magnitude ``magnitude_level`` (perturbed by ``magnitude_std``, uniform in
[0, level] for 'inf', clipped to [0, total_level]) mapped linearly onto its ``magnitude_range``,
and is applied with probability 0.5, its sign flipped with probability 0.5 where that applies.
The op table (``OPS``, ``check_op``, ``apply_op``) is shared with ``auto_augment``.

Colours: ``pad_val`` (in ``hparams`` or an op) is given in BGR order, as in mmcls, whose images
are BGR (its configs write ``pad_val=[round(x) for x in img_norm_cfg['mean'][::-1]]``); the images
here are RGB, so it is reversed once when the op is checked, and an mmcls config pads with the
same pixels as mmcls.
"""
import math
import numbers
import random
from typing import Callable, NamedTuple, Optional

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

#: mmcls's ``rand_increasing_policies`` ('timm_increasing'): the seed's policy list.
TIMM_INCREASING = [
    dict(type='AutoContrast'),
    dict(type='Equalize'),
    dict(type='Invert'),
    dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30)),
    dict(type='Posterize', magnitude_key='bits', magnitude_range=(4, 0)),
    dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0)),
    dict(type='SolarizeAdd', magnitude_key='magnitude', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Contrast', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Brightness', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Sharpness', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.45),
         direction='horizontal'),
    dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.45),
         direction='vertical'),
]

RESAMPLE = {'nearest': Image.NEAREST, 'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}


def _enhance(enhancer):
    return lambda img, magnitude: enhancer(img).enhance(1 + magnitude)


def _posterize(img, bits):
    shift = 8 - min(8, max(0, math.ceil(bits)))
    arr = np.asarray(img)
    return Image.fromarray(((arr >> shift) << shift).astype(np.uint8))


def _solarize_add(img, magnitude, thr=128):
    """Pixels below ``thr`` get + magnitude, clamped at 255 (mmcls's formula; with an int
    magnitude >= 129 mmcls's uint8 sum overflows and wraps instead, which is not copied)."""
    arr = np.asarray(img).astype(np.int32)
    out = np.where(arr < thr, np.minimum(arr + int(magnitude), 255), arr)
    return Image.fromarray(out.astype(np.uint8))


def _sharpness(img, magnitude):
    """mmcv's adjust_sharpness with factor 1 + magnitude: the 3x3 smoothing kernel (5 in the
    centre, 1 around, / 13) over the whole image, borders reflected as cv2's filter2D does and
    rounded to uint8, then blended (float32 result) and truncated. (Pillow's
    ImageEnhance.Sharpness leaves the one-pixel border unchanged: up to 44 levels off there.)"""
    arr = np.asarray(img).astype(np.float64)
    padded = np.pad(arr, ((1, 1), (1, 1), (0, 0)), mode='reflect')
    height, width = arr.shape[:2]
    total = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
    smooth = np.rint((total + 4 * arr) / 13)
    factor = 1 + magnitude
    mixed = (arr * factor + smooth * (1 - factor)).astype(np.float32)
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8))


def _color_transform(img, magnitude):
    """mmcv's adjust_color (cv2 backend) with alpha = 1 + magnitude: blend with the cv2 grey
    (its fixed-point BT.601 weights, rounded) and round to the nearest level, as cv2.addWeighted
    does (Pillow's ImageEnhance.Color truncates: 1-2 levels lower)."""
    arr = np.asarray(img).astype(np.int32)
    grey = (arr[..., 0] * 4899 + arr[..., 1] * 9617 + arr[..., 2] * 1868 + 8192) >> 14
    alpha = np.float32(1 + magnitude)
    mixed = arr.astype(np.float32) * alpha + grey[..., None].astype(np.float32) * (1 - alpha)
    return Image.fromarray(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))


def _affine(img, matrix, pad_val, interpolation):
    return img.transform(img.size, Image.AFFINE, matrix, resample=RESAMPLE[interpolation],
                         fillcolor=pad_val)


def _shear(img, magnitude, direction='horizontal', pad_val=(128, 128, 128),
           interpolation='bicubic'):
    """mmcv's imshear: output (x + m*y, y) takes input (x, y), in cv2's pixel coordinates (pixel
    centres at integers). PIL maps output -> input with centres at +0.5, so its offset is m/2:
    without it every sample moved m/2 px against mmcv's."""
    half = 0.5 * magnitude
    matrix = ((1, -magnitude, half, 0, 1, 0) if direction == 'horizontal'
              else (1, 0, 0, -magnitude, 1, half))
    return _affine(img, matrix, pad_val, interpolation)


def _translate(img, magnitude, direction='horizontal', pad_val=(128, 128, 128),
               interpolation='nearest'):
    """``magnitude`` is a fraction of the width (height); positive moves content right (down),
    as mmcv's imtranslate."""
    width, height = img.size
    matrix = ((1, 0, -magnitude * width, 0, 1, 0) if direction == 'horizontal'
              else (1, 0, 0, 0, 1, -magnitude * height))
    return _affine(img, matrix, pad_val, interpolation)


def _rotate(img, angle, pad_val=(128, 128, 128), interpolation='nearest'):
    """Clockwise by ``angle`` degrees about the centre, as mmcv's imrotate."""
    return img.rotate(-angle, resample=RESAMPLE[interpolation], fillcolor=pad_val)


class Op(NamedTuple):
    """One mmcls op: ``func(img, **args)``, the name of its magnitude argument (mmcls's own,
    e.g. Rotate's ``angle``), its other arguments, and whether its magnitude's sign is random."""
    func: Callable
    magnitude: Optional[str] = None
    options: tuple = ()
    signed: bool = False


GEOMETRY = ('direction', 'pad_val', 'interpolation')
#: The ops shared by RandAugment, AutoAugment and ColorJitter, named and argued as in mmcls.
OPS = {
    'AutoContrast': Op(ImageOps.autocontrast),
    'Equalize': Op(ImageOps.equalize),
    'Invert': Op(ImageOps.invert),
    'Rotate': Op(_rotate, 'angle', ('pad_val', 'interpolation'), True),
    'Posterize': Op(_posterize, 'bits'),
    'Solarize': Op(lambda img, thr: ImageOps.solarize(img, thr), 'thr'),
    'SolarizeAdd': Op(_solarize_add, 'magnitude', ('thr',)),
    'ColorTransform': Op(_color_transform, 'magnitude', signed=True),
    'Contrast': Op(_enhance(ImageEnhance.Contrast), 'magnitude', signed=True),
    'Brightness': Op(_enhance(ImageEnhance.Brightness), 'magnitude', signed=True),
    'Sharpness': Op(_sharpness, 'magnitude', signed=True),
    'Shear': Op(_shear, 'magnitude', GEOMETRY, True),
    'Translate': Op(_translate, 'magnitude', GEOMETRY, True),
}


def _bgr_to_rgb(value, name):
    """An mmcls pad value (an int for all three channels, or three ints in BGR order) -> RGB."""
    if isinstance(value, numbers.Integral):
        value = (value,) * 3
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, numbers.Integral) and 0 <= v <= 255 for v in value)):
        raise ValueError(f"{name}={value!r} must be an int or 3 ints (B, G, R) in [0, 255]")
    return tuple(int(v) for v in value[::-1])


def _check_option(op, key, where):
    """Value checks, so that a bad value fails at build time rather than in a dataset worker."""
    value = op[key]
    if key in ('prob', 'random_negative_prob'):
        if not isinstance(value, numbers.Real) or not 0 <= value <= 1:
            raise ValueError(f"{where}: {key}={value!r} must be in [0, 1]")
    elif key == 'pad_val':
        op[key] = _bgr_to_rgb(value, f"{where}: pad_val")
    elif key == 'interpolation' and value not in RESAMPLE:
        raise ValueError(f"{where}: interpolation={value!r}; use one of {sorted(RESAMPLE)}")
    elif key == 'direction' and value not in ('horizontal', 'vertical'):
        raise ValueError(f"{where}: direction={value!r}; use 'horizontal' or 'vertical'")


def check_op(op, where, extra=()):
    """One op dict -> a checked copy; ValueError naming a bad type, key or value, and listing the
    valid ones. ``extra``: keys the caller reads itself (RandAugment's magnitude_key/range)."""
    name = op.get('type') if isinstance(op, dict) else op
    if name not in OPS:
        raise ValueError(f"{where}: type {name!r} is not one of {', '.join(OPS)}")
    spec = OPS[name]
    args = ((spec.magnitude,) if spec.magnitude else ()) + spec.options
    valid = ('type', 'prob') + ('random_negative_prob',) * spec.signed + args + extra
    unknown = [k for k in op if k not in valid]
    if unknown:
        raise ValueError(f"{where} ({name}): unknown keys {unknown}; valid: {', '.join(valid)}")
    if 'magnitude_key' in op and op['magnitude_key'] not in args:
        raise ValueError(f"{where} ({name}): magnitude_key={op['magnitude_key']!r} is not one of "
                         f"its arguments {args}")
    if spec.magnitude and spec.magnitude not in op and op.get('magnitude_key') != spec.magnitude:
        raise ValueError(f"{where} ({name}): needs {spec.magnitude}")
    op = dict(op)
    for key in op:
        _check_option(op, key, f"{where} ({name})")
    return op


def check_hparams(hparams):
    """mmcls ``hparams`` (pad_val, interpolation): defaults for the ops that take them."""
    hparams = dict(hparams or {})
    unknown = sorted(set(hparams) - {'pad_val', 'interpolation'})
    if unknown:
        raise ValueError(f"hparams: unknown keys {unknown}; valid: pad_val, interpolation")
    hparams.setdefault('pad_val', 128)
    for key in hparams:
        _check_option(hparams, key, 'hparams')
    return hparams


def apply_op(img, op, rng, hparams, **values):
    """One checked op, ungated. As mmcls's merge_hparams, ``hparams`` fill only the arguments
    the op takes and leaves unset; ``values`` (a RandAugment magnitude) override; a signed
    magnitude is negated with probability ``random_negative_prob`` (default 0.5)."""
    spec = OPS[op['type']]
    args = {k: v for k, v in hparams.items() if k in spec.options}
    args.update((k, v) for k, v in op.items() if k in spec.options or k == spec.magnitude)
    args.update(values)
    if spec.signed and rng.random() < op.get('random_negative_prob', 0.5):
        args[spec.magnitude] = -args[spec.magnitude]
    return spec.func(img, **args)


def check_policies(policies):
    """'timm_increasing' or a list of policy dicts -> list of plain dicts; ValueError if bad."""
    if policies == 'timm_increasing':
        return [dict(p) for p in TIMM_INCREASING]
    if not isinstance(policies, (list, tuple)) or not policies:
        raise ValueError("policies must be 'timm_increasing' or a non-empty list of dicts")
    checked = []
    for i, policy in enumerate(policies):
        policy = check_op(policy, f"policies[{i}]", ('magnitude_key', 'magnitude_range'))
        where = f"policies[{i}] ({policy['type']})"
        if ('magnitude_key' in policy) != ('magnitude_range' in policy):
            raise ValueError(f"{where}: give magnitude_key and magnitude_range together")
        magnitude_range = policy.get('magnitude_range', (0, 0))
        if (not isinstance(magnitude_range, (list, tuple)) or len(magnitude_range) != 2
                or not all(isinstance(v, numbers.Real) for v in magnitude_range)):
            raise ValueError(f"{where}: magnitude_range={magnitude_range!r} must be 2 numbers")
        checked.append(policy)
    return checked


class RandAugment:
    """A picklable Python op for ``dataset.map``: HWC RGB uint8 array in, same out."""

    def __init__(self, policies, num_policies, magnitude_level, magnitude_std=0.0,
                 total_level=30, hparams=None, seed=None):
        self.policies = check_policies(policies)
        if not isinstance(num_policies, int) or num_policies < 0:
            raise ValueError(f"num_policies={num_policies!r} must be an int >= 0")
        if not 0 <= magnitude_level <= total_level:
            raise ValueError(f"magnitude_level={magnitude_level!r} must be in [0, total_level]")
        if magnitude_std != 'inf' and (not isinstance(magnitude_std, (int, float))
                                       or magnitude_std < 0):
            raise ValueError(f"magnitude_std={magnitude_std!r} must be >= 0 or 'inf'")
        self.num_policies = num_policies
        self.magnitude_level = magnitude_level
        self.magnitude_std = magnitude_std
        self.total_level = total_level
        self.hparams = check_hparams(hparams)
        self.rng = random.Random(seed)

    def magnitude(self):
        """This image's magnitude level (mmcls: gauss(level, std) or uniform for 'inf')."""
        level = self.magnitude_level
        if self.magnitude_std == 'inf':
            level = self.rng.uniform(0, level)
        elif self.magnitude_std > 0:
            level = self.rng.gauss(level, self.magnitude_std)
        return min(self.total_level, max(0.0, level))

    def value(self, policy, level):
        """Map a level onto the policy's magnitude_range."""
        low, high = policy['magnitude_range']
        return level / self.total_level * (high - low) + low

    def apply(self, img, policy, level):
        """One policy at a given level, without the random gates (for tests and previews)."""
        values = {}
        if 'magnitude_key' in policy:
            values[policy['magnitude_key']] = self.value(policy, level)
        return apply_op(img, policy, self.rng, self.hparams, **values)

    def __call__(self, image):
        img = Image.fromarray(np.asarray(image, dtype=np.uint8))
        for policy in self.rng.choices(self.policies, k=self.num_policies):
            if self.rng.random() < policy.get('prob', 0.5):
                img = self.apply(img, policy, self.magnitude())
        return np.asarray(img, dtype=np.uint8)
