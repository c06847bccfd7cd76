"""mmcls pipeline dicts -> ``mindspore.dataset.vision`` ops (run in the dataset's C++ workers).

Each transform is a small function whose keyword arguments are the mmcls arguments, so a misspelt
argument is caught by the config checker with a "did you mean". Images enter as HWC RGB uint8
(decoded by ``CustomDataset``) and leave as CHW float32.
"""
import zlib

import numpy as np
import mindspore as ms
from mindspore.dataset import transforms, vision

from ..errors import ConfigError
from ..validation import Registry
from .auto_augment import AutoAugment, ColorJitter
from .rand_augment import RandAugment, _bgr_to_rgb
from .random_erasing import RandomErasing
from .random_geometry import RandomAreaCrop, RandomCrop, RandomFlip

INTERPOLATIONS = {
    'nearest': vision.Inter.NEAREST, 'bilinear': vision.Inter.BILINEAR,
    'bicubic': vision.Inter.BICUBIC, 'area': vision.Inter.AREA, 'lanczos': vision.Inter.ANTIALIAS,
}
BACKENDS = ('cv2', 'pillow')
#: RandomCrop's pad_if_needed modes (numpy's np.pad names, which mean what mmcv's do)
PADDING_MODES = ('constant', 'edge', 'reflect', 'symmetric')


def _inter(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r}; use one of {sorted(INTERPOLATIONS)}")
    return INTERPOLATIONS[interpolation]


def _hw(size, name):
    """mmcls sizes: int -> (s, s); (h, w) stays."""
    if isinstance(size, int):
        return (size, size)
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return tuple(size)
    raise ValueError(f"{name}={size!r}; use an int or (height, width)")


def _backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; use one of {BACKENDS}")


def handled_by_loader(**_):
    """Loading, tensor conversion and key collection are done by ms_cls itself."""
    return []


def random_resized_crop(size, scale=(0.08, 1.0), ratio=(3. / 4., 4. / 3.), max_attempts=10,
                        interpolation='bilinear', backend='cv2', efficientnet_style=False):
    _backend(backend)
    if efficientnet_style:
        raise ValueError("efficientnet_style=True is not supported")
    return [RandomAreaCrop(scale, ratio, max_attempts, seed=_seed('RandomAreaCrop')),
            vision.Resize(_hw(size, 'size'), interpolation=_inter(interpolation))]


def _padding(padding):
    """mmcv's padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom)
    -> the 4-tuple."""
    values = (padding,) if isinstance(padding, int) else padding
    if (not isinstance(values, (list, tuple)) or len(values) not in (1, 2, 4)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                       for v in values)):
        raise ValueError(f"padding={padding!r}; use an int >= 0, (left/right, top/bottom) or "
                         "(left, top, right, bottom)")
    return tuple(values) * (4 // len(values))


def random_crop(size, padding=None, pad_if_needed=False, pad_val=0, padding_mode='constant'):
    """mmcls RandomCrop: ``padding`` first, always with the constant ``pad_val`` (mmcls ignores
    padding_mode there), then ``pad_if_needed`` pads each too-short side on both ends by the
    shortfall in ``padding_mode``, then a crop whose offsets are uniform over every position
    (0 to size difference, both included). pad_val in BGR order, as mmcls."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r}; use one of {list(PADDING_MODES)}")
    fill = _bgr_to_rgb(pad_val, 'pad_val')
    pad = [] if padding is None else [vision.Pad(_padding(padding), fill, vision.Border.CONSTANT)]
    return pad + [RandomCrop(_hw(size, 'size'), bool(pad_if_needed), fill, padding_mode,
                             seed=_seed('RandomCrop'))]


def random_flip(flip_prob=0.5, direction='horizontal'):
    return [RandomFlip(flip_prob, direction, seed=_seed('RandomFlip'))]


def resize(size, interpolation='bilinear', backend='cv2', adaptive_side='short'):
    """mmcls Resize: int -> (s, s); (s, -1) -> shorter side s, aspect ratio kept."""
    _backend(backend)
    if isinstance(size, (list, tuple)) and len(size) == 2 and size[1] == -1:
        if adaptive_side != 'short':
            raise ValueError("only adaptive_side='short' is supported with size=(s, -1)")
        return [vision.Resize(int(size[0]), interpolation=_inter(interpolation))]
    return [vision.Resize(_hw(size, 'size'), interpolation=_inter(interpolation))]


def center_crop(crop_size, efficientnet_style=False, interpolation='bilinear', backend='cv2'):
    _backend(backend)
    if efficientnet_style:
        raise ValueError("efficientnet_style=True is not supported")
    return [vision.CenterCrop(_hw(crop_size, 'crop_size'))]


def normalize(mean, std, to_rgb=True):
    """Pixel-scale mean/std as in mmcls. Images are RGB here; to_rgb=False means the model was
    trained on BGR (mmcv's cv2 loading), so the channels are swapped first."""
    if len(mean) != 3 or len(std) != 3:
        raise ValueError("mean and std need 3 values each")
    ops = [] if to_rgb else [vision.ConvertColor(vision.ConvertMode.COLOR_RGB2BGR)]
    return ops + [vision.Normalize(mean=list(mean), std=list(std))]


def rand_augment(policies, num_policies, magnitude_level, magnitude_std=0.0, total_level=30,
                 hparams=None):
    """mmcls RandAugment (see ``ms_cls.data.rand_augment``), a Python op on HWC uint8 images;
    pad_val in BGR order, as mmcls."""
    seed = ms.dataset.config.get_seed()
    return [RandAugment(policies, num_policies, magnitude_level, magnitude_std, total_level,
                        hparams, seed=seed)]


def _seed(name):
    """The dataset seed, salted per transform type so that the Python ops' draws are not the
    same stream (RandAugment keeps the plain seed)."""
    return zlib.crc32(f'{ms.dataset.config.get_seed()}/{name}'.encode())


def random_erasing(erase_prob=0.5, min_area_ratio=0.02, max_area_ratio=0.4,
                   aspect_range=(3 / 10, 10 / 3), mode='const', fill_color=(128, 128, 128),
                   fill_std=None):
    """mmcls RandomErasing (see ``ms_cls.data.random_erasing``): before Normalize, on uint8;
    fill_color/fill_std in BGR order, as mmcls."""
    return [RandomErasing(erase_prob, min_area_ratio, max_area_ratio, aspect_range, mode,
                          fill_color, fill_std, seed=_seed('RandomErasing'))]


def color_jitter(brightness=0., contrast=0., saturation=0.):
    """mmcls 0.x ColorJitter (see ``ms_cls.data.auto_augment``), a Python op on uint8."""
    return [ColorJitter(brightness, contrast, saturation, seed=_seed('ColorJitter'))]


def auto_augment(policies, hparams=None):
    """mmcls AutoAugment (see ``ms_cls.data.auto_augment``); policies='imagenet' is mmcls's
    ImageNet policy."""
    return [AutoAugment(policies, hparams, seed=_seed('AutoAugment'))]


TRANSFORMS = Registry('transform', {
    'LoadImageFromFile': handled_by_loader,
    'ImageToTensor': handled_by_loader,
    'ToTensor': handled_by_loader,
    'Collect': handled_by_loader,
    'RandomResizedCrop': random_resized_crop,
    'RandomCrop': random_crop,
    'RandomFlip': random_flip,
    'Resize': resize,
    'CenterCrop': center_crop,
    'Normalize': normalize,
    'RandAugment': rand_augment,
    'AutoAugment': auto_augment,
    'ColorJitter': color_jitter,
    'RandomErasing': random_erasing,
})

#: Python ops on HWC uint8 images: after Normalize they would cast its floats back to uint8.
UINT8_ONLY = ('RandAugment', 'AutoAugment', 'ColorJitter', 'RandomErasing')


def build_pipeline(pipeline_cfg, where='pipeline'):
    """A list of transform dicts -> a list of ops ending in CHW float32."""
    if not isinstance(pipeline_cfg, (list, tuple)):
        raise ConfigError(f"{where} must be a list of transform dicts, got {pipeline_cfg!r}.")
    ops = []
    for i, step in enumerate(pipeline_cfg):
        name = step.get('type') if isinstance(step, dict) else step
        if name in UINT8_ONLY and any(isinstance(op, vision.Normalize) for op in ops):
            raise ConfigError(f"{where}[{i}] {name} works on the uint8 image: put it before "
                              "Normalize (as mmcls configs do).")
        try:
            ops += TRANSFORMS.build(step)
        except (ValueError, TypeError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"{where}[{i}] {name}: {err}.") from None
    if not any(isinstance(op, vision.Normalize) for op in ops):
        ops.append(transforms.TypeCast(ms.float32))
    ops.append(vision.HWC2CHW())
    return ops


def apply_pipeline(ops, image):
    """Run the ops eagerly on one HWC uint8 array (inference on a single image)."""
    return np.asarray(transforms.Compose(ops)(image), dtype=np.float32)
