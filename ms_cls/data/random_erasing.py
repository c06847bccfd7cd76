"""RandomErasing with mmcls 0.x semantics, on the HWC uint8 image before Normalize.

``mindspore.dataset.vision.RandomErasing`` wants CHW float input and fills as torchvision does
(on HWC uint8 it erases nothing), so the mmcls op is written here in numpy and run as a Python op
in the dataset workers, like ``RandAugment``. As mmcls, one draw per image, no retry: aspect
(height / width) log-uniform in ``aspect_range``, area uniform in [min, max] area ratios, height
and width rounded and cut to the image; the offset is drawn from [0, size - h) (so the last one is
never drawn, as in mmcls), or 0 where the rectangle spans the image.
"""
import math
import numbers

import numpy as np


def _ratio(value, name):
    if not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name}={value!r} must be a number in [0, 1]")
    return float(value)


def _triple(value, name, high=None):
    """An mmcls colour argument: one number for all channels, or three."""
    values = (value,) * 3 if isinstance(value, numbers.Real) else value
    if (not isinstance(values, (list, tuple)) or len(values) != 3
            or not all(isinstance(v, numbers.Real) and 0 <= v <= (high or math.inf)
                       for v in values)):
        limits = f"[0, {high}]" if high else ">= 0"
        raise ValueError(f"{name}={value!r} must be a number or 3 numbers, {limits}")
    return tuple(float(v) for v in values)


class RandomErasing:
    """A picklable Python op for ``dataset.map``: HWC RGB uint8 array in, same out.

    ``fill_color``/``fill_std`` are given in BGR order, as in mmcls (whose images are BGR: its
    configs write ``fill_color=img_norm_cfg['mean'][::-1]``); they are reversed here, once, for
    the RGB images, so an mmcls config erases with mmcls's pixels.
    """

    def __init__(self, erase_prob=0.5, min_area_ratio=0.02, max_area_ratio=0.4,
                 aspect_range=(3 / 10, 10 / 3), mode='const', fill_color=(128, 128, 128),
                 fill_std=None, seed=None):
        self.erase_prob = _ratio(erase_prob, 'erase_prob')
        self.area = (_ratio(min_area_ratio, 'min_area_ratio'),
                     _ratio(max_area_ratio, 'max_area_ratio'))
        if self.area[0] > self.area[1]:
            raise ValueError(f"min_area_ratio={min_area_ratio!r} must not exceed "
                             f"max_area_ratio={max_area_ratio!r}")
        if isinstance(aspect_range, numbers.Real) and aspect_range > 0:
            aspect_range = sorted((aspect_range, 1 / aspect_range))
        if (not isinstance(aspect_range, (list, tuple)) or len(aspect_range) != 2
                or not all(isinstance(a, numbers.Real) and a > 0 for a in aspect_range)
                or aspect_range[0] > aspect_range[1]):
            raise ValueError(f"aspect_range={aspect_range!r} must be a number > 0 or "
                             "(min, max) with 0 < min <= max")
        self.log_aspect = (math.log(aspect_range[0]), math.log(aspect_range[1]))
        if mode not in ('const', 'rand'):
            raise ValueError(f"mode={mode!r}; use 'const' or 'rand'")
        self.mode = mode
        self.fill_color = _triple(fill_color, 'fill_color', 255)[::-1]
        self.fill_std = None if fill_std is None else _triple(fill_std, 'fill_std')[::-1]
        self.rng = np.random.default_rng(seed)

    def region(self, height, width):
        """(top, left, h, w) to erase in this image, or None (drawn with ``erase_prob``)."""
        if self.rng.random() >= self.erase_prob:
            return None
        aspect = math.exp(self.rng.uniform(*self.log_aspect))
        area = height * width * self.rng.uniform(*self.area)
        h = min(int(round(math.sqrt(area * aspect))), height)
        w = min(int(round(math.sqrt(area / aspect))), width)
        top = int(self.rng.integers(0, height - h)) if height > h else 0
        left = int(self.rng.integers(0, width - w)) if width > w else 0
        return top, left, h, w

    def fill(self, h, w):
        """'const': fill_color (cut to uint8); 'rand': normal(fill_color, fill_std) cut to int
        and clipped to [0, 255], or uniform over 0..255 without fill_std."""
        if self.mode == 'const':
            return np.broadcast_to(np.array(self.fill_color).astype(np.uint8), (h, w, 3))
        if self.fill_std is None:
            return self.rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        patch = self.rng.normal(self.fill_color, self.fill_std, (h, w, 3)).astype(np.int32)
        return np.clip(patch, 0, 255).astype(np.uint8)

    def __call__(self, image):
        img = np.array(image, dtype=np.uint8)
        box = self.region(*img.shape[:2])
        if box is not None:
            top, left, h, w = box
            img[top:top + h, left:left + w] = self.fill(h, w)
        return img
