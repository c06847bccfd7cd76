"""Per-op pixel differences: ms_cls's RandAugment ops (RGB, Pillow/numpy) against mmcls 0.25's
ops as mmcv 1.7.2 computes them with cv2 (BGR), written here from mmcv's formulas (warpAffine
matrices, adjust_color, adjust_sharpness, SolarizeAdd). A measurement tool, not part of
run_all.py: cv2 is no dependency of ms_cls, so run it in a separate venv:

    python -m venv /tmp/cv && /tmp/cv/bin/pip install numpy==1.26.4 opencv-python-headless pillow
    /tmp/cv/bin/python benchmarks/augment_parity.py . PHOTO.jpg

The photo is resized to 224 px wide; pad values are the BGR mean (104, 116, 124).
"""
import sys
import numpy as np
import cv2
from PIL import Image
sys.path.insert(0, sys.argv[1])
from ms_cls.data.rand_augment import OPS

photo = Image.open(sys.argv[2]).convert('RGB')
photo = photo.resize((224, int(224 * photo.height / photo.width)), Image.BILINEAR)
rgb = np.asarray(photo)
bgr = np.ascontiguousarray(rgb[..., ::-1])
INTER = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}
PAD_BGR = (104, 116, 124)


def warp(img, m, inter):
    h, w = img.shape[:2]
    return cv2.warpAffine(img, np.float32(m), (w, h), borderValue=PAD_BGR, flags=INTER[inter])


def mm_shear(img, mag, direction, inter):
    return warp(img, [[1, mag, 0], [0, 1, 0]] if direction == 'horizontal' else [[1, 0, 0], [mag, 1, 0]], inter)


def mm_translate(img, frac, direction, inter):
    h, w = img.shape[:2]
    return warp(img, [[1, 0, frac * w], [0, 1, 0]] if direction == 'horizontal' else [[1, 0, 0], [0, 1, frac * h]], inter)


def mm_rotate(img, angle, inter):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) * 0.5, (h - 1) * 0.5), -angle, 1.0)
    return warp(img, m, inter)


def mm_color(img, mag):
    alpha = 1 + mag
    grey = np.tile(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None], [1, 1, 3])
    return cv2.addWeighted(img, alpha, grey, 1 - alpha, 0)


def mm_sharpness(img, mag):
    f = 1 + mag
    k = np.array([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]]) / 13
    deg = cv2.filter2D(img, -1, k)
    out = cv2.addWeighted(img.astype(np.float32), f, deg.astype(np.float32), 1 - f, 0)
    return np.clip(out, 0, 255).astype(np.uint8)


def mm_solarize_add(img, mag, thr=128):
    return np.where(img < thr, np.minimum(img + mag, 255), img).astype(img.dtype)


def ours(name, **args):
    args = dict(args)
    if 'pad_val' in OPS[name].options:
        args['pad_val'] = PAD_BGR[::-1]
    return np.asarray(OPS[name].func(Image.fromarray(rgb), **args))[..., ::-1]


def report(label, mine, ref):
    d = np.abs(mine.astype(int) - ref.astype(int))
    print(f"{label:42s} max {d.max():3d}  mean {d.mean():6.3f}  pixels off {np.mean(d.any(-1)) * 100:5.1f}%"
          f"  off by >2: {np.mean((d > 2).any(-1)) * 100:5.1f}%")


for mag in (0.1, 0.3):
    for direction in ('horizontal', 'vertical'):
        for inter in ('nearest', 'bicubic'):
            report(f"Shear {mag} {direction} {inter}",
                   ours('Shear', magnitude=mag, direction=direction, interpolation=inter),
                   mm_shear(bgr, mag, direction, inter))
for inter in ('nearest', 'bicubic'):
    report(f"Translate 0.3 horizontal {inter}",
           ours('Translate', magnitude=0.3, direction='horizontal', interpolation=inter),
           mm_translate(bgr, 0.3, 'horizontal', inter))
    report(f"Rotate 27 {inter}", ours('Rotate', angle=27.0, interpolation=inter),
           mm_rotate(bgr, 27.0, inter))
for mag in (0.5, -0.5, 0.9):
    report(f"ColorTransform {mag}", ours('ColorTransform', magnitude=mag), mm_color(bgr, mag))
    report(f"Sharpness {mag}", ours('Sharpness', magnitude=mag), mm_sharpness(bgr, mag))
for mag in (55.0, 110, 150):
    report(f"SolarizeAdd {mag!r}", ours('SolarizeAdd', magnitude=mag), mm_solarize_add(bgr, mag))
