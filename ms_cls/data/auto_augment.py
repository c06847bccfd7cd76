"""AutoAugment and ColorJitter with mmcls 0.x semantics, on RandAugment's Pillow ops.

Both compose the ops of ``rand_augment.OPS`` (same names, arguments and pixel code as there) and
run, like ``RandAugment``, as one Python op on HWC RGB uint8 arrays in the dataset workers.
"""
import numbers
import random

import numpy as np
from PIL import Image

from .rand_augment import apply_op, check_hparams, check_op

#: mmcls's ImageNet policy (``configs/_base_/datasets/pipelines/auto_aug.py``: policy_imagenet).
IMAGENET_POLICIES = [
    [dict(type='Posterize', bits=4, prob=0.4), dict(type='Rotate', angle=30., prob=0.6)],
    [dict(type='Solarize', thr=256 / 9 * 4, prob=0.6), dict(type='AutoContrast', prob=0.6)],
    [dict(type='Equalize', prob=0.8), dict(type='Equalize', prob=0.6)],
    [dict(type='Posterize', bits=5, prob=0.6), dict(type='Posterize', bits=5, prob=0.6)],
    [dict(type='Equalize', prob=0.4), dict(type='Solarize', thr=256 / 9 * 5, prob=0.2)],
    [dict(type='Equalize', prob=0.4), dict(type='Rotate', angle=30 / 9 * 8, prob=0.8)],
    [dict(type='Solarize', thr=256 / 9 * 6, prob=0.6), dict(type='Equalize', prob=0.6)],
    [dict(type='Posterize', bits=6, prob=0.8), dict(type='Equalize', prob=1.)],
    [dict(type='Rotate', angle=10., prob=0.2), dict(type='Solarize', thr=256 / 9, prob=0.6)],
    [dict(type='Equalize', prob=0.6), dict(type='Posterize', bits=5, prob=0.4)],
    [dict(type='Rotate', angle=30 / 9 * 8, prob=0.8),
     dict(type='ColorTransform', magnitude=0., prob=0.4)],
    [dict(type='Rotate', angle=30., prob=0.4), dict(type='Equalize', prob=0.6)],
    [dict(type='Equalize', prob=0.0), dict(type='Equalize', prob=0.8)],
    [dict(type='Invert', prob=0.6), dict(type='Equalize', prob=1.)],
    [dict(type='ColorTransform', magnitude=0.4, prob=0.6),
     dict(type='Contrast', magnitude=0.8, prob=1.)],
    [dict(type='Rotate', angle=30 / 9 * 8, prob=0.8),
     dict(type='ColorTransform', magnitude=0.2, prob=1.)],
    [dict(type='ColorTransform', magnitude=0.8, prob=0.8),
     dict(type='Solarize', thr=256 / 9 * 2, prob=0.8)],
    [dict(type='Sharpness', magnitude=0.7, prob=0.4), dict(type='Invert', prob=0.6)],
    [dict(type='Shear', magnitude=0.3 / 9 * 5, prob=0.6, direction='horizontal'),
     dict(type='Equalize', prob=1.)],
    [dict(type='ColorTransform', magnitude=0., prob=0.4), dict(type='Equalize', prob=0.6)],
    [dict(type='Equalize', prob=0.4), dict(type='Solarize', thr=256 / 9 * 5, prob=0.2)],
    [dict(type='Solarize', thr=256 / 9 * 4, prob=0.6), dict(type='AutoContrast', prob=0.6)],
    [dict(type='Invert', prob=0.6), dict(type='Equalize', prob=1.)],
    [dict(type='ColorTransform', magnitude=0.4, prob=0.6),
     dict(type='Contrast', magnitude=0.8, prob=1.)],
    [dict(type='Equalize', prob=0.8), dict(type='Equalize', prob=0.6)],
]

NAMED_POLICIES = {'imagenet': IMAGENET_POLICIES}


def check_sub_policies(policies):
    """A policy name or a list of sub-policies (lists of op dicts) -> checked lists."""
    if isinstance(policies, str):
        if policies not in NAMED_POLICIES:
            raise ValueError(f"policies={policies!r}; use one of {sorted(NAMED_POLICIES)} or a "
                             "list of sub-policies")
        policies = NAMED_POLICIES[policies]
    if not isinstance(policies, (list, tuple)) or not policies:
        raise ValueError("policies must be 'imagenet' or a non-empty list of sub-policies "
                         "(lists of op dicts)")
    checked = []
    for i, sub in enumerate(policies):
        if not isinstance(sub, (list, tuple)) or not sub:
            raise ValueError(f"policies[{i}] must be a non-empty list of op dicts, got {sub!r}")
        checked.append([check_op(op, f"policies[{i}][{j}]") for j, op in enumerate(sub)])
    return checked


class AutoAugment:
    """mmcls AutoAugment: per image one sub-policy is drawn uniformly and its ops applied in
    order, each with its own ``prob`` (default 0.5) and direct magnitude, a signed one negated
    with ``random_negative_prob`` (default 0.5); ``hparams`` (default pad_val=128) fill pad_val /
    interpolation where an op takes them and leaves them unset."""

    def __init__(self, policies, hparams=None, seed=None):
        self.policies = check_sub_policies(policies)
        self.hparams = check_hparams(hparams)
        self.rng = random.Random(seed)

    def __call__(self, image):
        img = Image.fromarray(np.asarray(image, dtype=np.uint8))
        for op in self.rng.choice(self.policies):
            if self.rng.random() < op.get('prob', 0.5):
                img = apply_op(img, op, self.rng, self.hparams)
        return np.asarray(img, dtype=np.uint8)


class ColorJitter:
    """mmcls 0.x ColorJitter: Brightness, Contrast and ColorTransform (saturation) in a random
    order, each with factor 1 + m, m uniform in [0, x] and negated with probability 0.5, i.e.
    uniform in [1 - x, 1 + x].

    Not ``vision.RandomColorAdjust``: it too shuffles the ops (seen, not documented) and its
    pixels agree with Pillow's within 1, but it clamps factors at 0 where mmcls's 1 - x goes below
    0 for x > 1; RandAugment's Pillow ops keep one implementation of mmcls's ops.
    """
    TYPES = {'brightness': 'Brightness', 'contrast': 'Contrast', 'saturation': 'ColorTransform'}

    def __init__(self, brightness=0., contrast=0., saturation=0., seed=None):
        self.jitter = {}
        for name, value in zip(self.TYPES, (brightness, contrast, saturation)):
            if not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name}={value!r} must be a number >= 0")
            if value:
                self.jitter[self.TYPES[name]] = value
        self.rng = random.Random(seed)

    def __call__(self, image):
        ops = [dict(type=t, magnitude=self.rng.uniform(0, x)) for t, x in self.jitter.items()]
        self.rng.shuffle(ops)
        img = Image.fromarray(np.asarray(image, dtype=np.uint8))
        for op in ops:
            img = apply_op(img, op, self.rng, {})
        return np.asarray(img, dtype=np.uint8)
