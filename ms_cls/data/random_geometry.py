"""The random choices of mmcls's RandomResizedCrop, RandomFlip and RandomCrop, drawn in Python.

MindSpore's own random vision ops draw from one generator per worker thread, so which crop or
flip a sample gets depended on which worker took it. These ops draw from ``self.rng`` instead,
which the loader seeds per row from (epoch seed, row position) (``builder._PerRowDraws``); the
pixel work is a numpy slice here, and the resize stays MindSpore's ``vision.Resize``. The rules
are mmcls 0.25's: the crop box of RandomResizedCrop (up to ``max_attempts`` draws of area and
log-uniform aspect, then the centre crop), the flip with ``flip_prob``, RandomCrop's offsets
uniform over every position.
"""
import math
import numbers
import random

import numpy as np


def _range(value, name, low):
    """A (min, max) argument whose min passes ``low`` and is at most max."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
            or not low(value[0]) or value[0] > value[1]):
        raise ValueError(f"{name}={value!r}; use (min, max) with min <= max")
    return float(value[0]), float(value[1])


class RandomAreaCrop:
    """The crop of mmcls RandomResizedCrop (the resize to ``size`` follows as ``vision.Resize``):
    HWC array in, the drawn box of it out."""

    def __init__(self, scale=(0.08, 1.0), ratio=(3. / 4., 4. / 3.), max_attempts=10, seed=None):
        self.scale = _range(scale, 'scale', lambda v: v >= 0)
        self.ratio = _range(ratio, 'ratio', lambda v: v > 0)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts={max_attempts!r}; use an int >= 1")
        self.max_attempts = max_attempts
        self.rng = random.Random(seed)

    def box(self, height, width):
        """(top, left, box height, box width), drawn as mmcls's ``get_params``."""
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            area = self.rng.uniform(*self.scale) * height * width
            aspect = math.exp(self.rng.uniform(*log_ratio))
            w, h = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return self.rng.randint(0, height - h), self.rng.randint(0, width - w), h, w
        aspect = width / height
        h, w = height, width
        if aspect < self.ratio[0]:
            h = int(round(width / self.ratio[0]))
        elif aspect > self.ratio[1]:
            w = int(round(height * self.ratio[1]))
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, image):
        top, left, h, w = self.box(*image.shape[:2])
        return np.ascontiguousarray(image[top:top + h, left:left + w])


class RandomFlip:
    """mmcls RandomFlip: flipped with probability ``flip_prob`` along ``direction``."""

    def __init__(self, flip_prob=0.5, direction='horizontal', seed=None):
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"direction={direction!r}; use 'horizontal' or 'vertical'")
        if (not isinstance(flip_prob, numbers.Real) or isinstance(flip_prob, bool)
                or not 0 <= flip_prob <= 1):
            raise ValueError(f"flip_prob={flip_prob!r}; use a number in [0, 1]")
        self.flip_prob = float(flip_prob)
        self.axis = 1 if direction == 'horizontal' else 0
        self.rng = random.Random(seed)

    def __call__(self, image):
        if self.rng.random() < self.flip_prob:
            return np.ascontiguousarray(np.flip(image, self.axis))
        return image


class RandomCrop:
    """mmcls RandomCrop after its ``padding`` (done before, by ``vision.Pad``): with
    ``pad_if_needed`` each too-short side is padded on both ends by the shortfall in
    ``padding_mode`` (constant: ``fill``, RGB), then a (height, width) window at offsets uniform
    over 0..size difference, both ends included."""

    def __init__(self, size, pad_if_needed=False, fill=(0, 0, 0), padding_mode='constant',
                 seed=None):
        self.size = size
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self.rng = random.Random(seed)

    def _pad(self, image, rows, cols):
        widths = ((rows, rows), (cols, cols))
        if self.padding_mode != 'constant':
            return np.pad(image, widths + ((0, 0),), mode=self.padding_mode)
        return np.stack([np.pad(image[..., c], widths, constant_values=self.fill[c])
                         for c in range(image.shape[2])], -1)

    def __call__(self, image):
        height, width = self.size
        if self.pad_if_needed:
            rows, cols = max(0, height - image.shape[0]), max(0, width - image.shape[1])
            if rows or cols:
                image = self._pad(image, rows, cols)
        if image.shape[0] < height or image.shape[1] < width:
            raise ValueError(f"RandomCrop size={self.size} is larger than the image "
                             f"{image.shape[:2]}; set pad_if_needed=True or padding")
        top = self.rng.randint(0, image.shape[0] - height)
        left = self.rng.randint(0, image.shape[1] - width)
        return np.ascontiguousarray(image[top:top + height, left:left + width])
