"""RandAugment with mmcls 0.x semantics (the "swin-style" augmentation of the seed's runs).

``mindspore.dataset.vision.RandAugment`` has another op list (no Invert, SolarizeAdd,
ColorTransform) and other magnitude bins, so the mmcls ops are written here on Pillow and run as
one Python op in the dataset workers. Per image: ``num_policies`` policies are drawn (with
replacement); each gets a magnitude ``magnitude_level`` (perturbed by ``magnitude_std``, uniform in
[0, level] for 'inf', clipped to [0, total_level]) mapped linearly onto its ``magnitude_range``,
and is applied with probability 0.5, its sign flipped with probability 0.5 where that applies.
"""
import math
import random

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
    return lambda img, magnitude, **_: enhancer(img).enhance(1 + magnitude)


def _posterize(img, bits, **_):
    shift = 8 - min(8, max(0, math.ceil(bits)))
    arr = np.asarray(img)
    return Image.fromarray(((arr >> shift) << shift).astype(np.uint8))


def _solarize_add(img, magnitude, thr=128, **_):
    arr = np.asarray(img).astype(np.int32)
    out = np.where(arr < thr, np.minimum(arr + int(magnitude), 255), arr)
    return Image.fromarray(out.astype(np.uint8))


def _affine(img, matrix, pad_val, interpolation):
    return img.transform(img.size, Image.AFFINE, matrix, resample=RESAMPLE[interpolation],
                         fillcolor=pad_val)


def _shear(img, magnitude, direction='horizontal', pad_val=(128, 128, 128),
           interpolation='bicubic', **_):
    """mmcv's imshear: output (x + m*y, y) takes input (x, y) (PIL maps output -> input)."""
    matrix = (1, -magnitude, 0, 0, 1, 0) if direction == 'horizontal' else (1, 0, 0, -magnitude, 1, 0)
    return _affine(img, matrix, pad_val, interpolation)


def _translate(img, magnitude, direction='horizontal', pad_val=(128, 128, 128),
               interpolation='nearest', **_):
    """``magnitude`` is a fraction of the width (height); positive moves content right (down),
    as mmcv's imtranslate."""
    width, height = img.size
    matrix = ((1, 0, -magnitude * width, 0, 1, 0) if direction == 'horizontal'
              else (1, 0, 0, 0, 1, -magnitude * height))
    return _affine(img, matrix, pad_val, interpolation)


def _rotate(img, angle, pad_val=(128, 128, 128), interpolation='nearest', **_):
    """Clockwise by ``angle`` degrees about the centre, as mmcv's imrotate."""
    return img.rotate(-angle, resample=RESAMPLE[interpolation], fillcolor=pad_val)


#: op -> (function(img, value, **hparams), whether the sign of the magnitude is random)
OPS = {
    'AutoContrast': (lambda img, **_: ImageOps.autocontrast(img), False),
    'Equalize': (lambda img, **_: ImageOps.equalize(img), False),
    'Invert': (lambda img, **_: ImageOps.invert(img), False),
    'Rotate': (_rotate, True),
    'Posterize': (_posterize, False),
    'Solarize': (lambda img, thr, **_: ImageOps.solarize(img, thr), False),
    'SolarizeAdd': (_solarize_add, False),
    'ColorTransform': (_enhance(ImageEnhance.Color), True),
    'Contrast': (_enhance(ImageEnhance.Contrast), True),
    'Brightness': (_enhance(ImageEnhance.Brightness), True),
    'Sharpness': (_enhance(ImageEnhance.Sharpness), True),
    'Shear': (_shear, True),
    'Translate': (_translate, True),
}
POLICY_KEYS = ('type', 'magnitude_key', 'magnitude_range', 'direction', 'prob', 'thr',
               'random_negative_prob')


def check_policies(policies):
    """'timm_increasing' or a list of policy dicts -> list of plain dicts; ValueError if bad."""
    if policies == 'timm_increasing':
        return [dict(p) for p in TIMM_INCREASING]
    if not isinstance(policies, (list, tuple)) or not policies:
        raise ValueError("policies must be 'timm_increasing' or a non-empty list of dicts")
    checked = []
    for i, policy in enumerate(policies):
        if not isinstance(policy, dict) or policy.get('type') not in OPS:
            raise ValueError(f"policies[{i}]: type {policy.get('type') if isinstance(policy, dict) else policy!r}"
                             f" is not one of {', '.join(OPS)}")
        unknown = [k for k in policy if k not in POLICY_KEYS]
        if unknown:
            raise ValueError(f"policies[{i}] ({policy['type']}): unknown keys {unknown}; "
                             f"valid: {', '.join(POLICY_KEYS)}")
        if ('magnitude_key' in policy) != ('magnitude_range' in policy):
            raise ValueError(f"policies[{i}] ({policy['type']}): give magnitude_key and "
                             "magnitude_range together")
        checked.append(dict(policy))
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
        hparams = dict(hparams or {})
        pad = hparams.pop('pad_val', 128)
        self.hparams = dict(pad_val=tuple(pad) if isinstance(pad, (list, tuple)) else (pad,) * 3)
        if 'interpolation' in hparams:
            self.hparams['interpolation'] = hparams.pop('interpolation')
            if self.hparams['interpolation'] not in RESAMPLE:
                raise ValueError(f"hparams.interpolation must be one of {sorted(RESAMPLE)}")
        if hparams:
            raise ValueError(f"hparams: unknown keys {sorted(hparams)}; valid: pad_val, "
                             "interpolation")
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
        func, signed = OPS[policy['type']]
        kwargs = dict(self.hparams)
        kwargs.update({k: policy[k] for k in ('direction', 'thr') if k in policy})
        if 'magnitude_key' in policy:
            value = self.value(policy, level)
            if signed and self.rng.random() < policy.get('random_negative_prob', 0.5):
                value = -value
            kwargs[policy['magnitude_key']] = value
        return func(img, **kwargs)

    def __call__(self, image):
        img = Image.fromarray(np.asarray(image, dtype=np.uint8))
        for policy in self.rng.choices(self.policies, k=self.num_policies):
            if self.rng.random() < policy.get('prob', 0.5):
                img = self.apply(img, policy, self.magnitude())
        return np.asarray(img, dtype=np.uint8)
