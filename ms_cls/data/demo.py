"""A procedurally drawn 10-class image set in Caltech-256's layout, for demos and tests.

Each image is one shape of random colour, size, position and rotation on a noisy background, so
the label is the shape alone. Output (seeded, deterministic)::

    root/train/001.circle/0000.jpg ...   root/val/...   root/test/000000.jpg ...
    root/test_answers.csv               (id,label,class_name: the test key, kept out of test/)
    root/boxes.csv                      (split,filename,label,x0,y0,x1,y1: where each shape is)

The boxes let a test check where a model looks (Grad-CAM, ms_cls/analysis/cam.py); this module
writes them and ``read_boxes`` reads them.
"""
import csv
import math
import os
import shutil

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ConfigError, OutputExists

SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring', 'diamond', 'crescent',
          'stripes', 'frame')
CLASS_NAMES = tuple(f'{i + 1:03d}.{name}' for i, name in enumerate(SHAPES))
SPLITS = {'train': 100, 'val': 30, 'test': 30}
BOXES_FILE = 'boxes.csv'


def _polygon(cx, cy, radius, n, angle, inner=None):
    """Vertices of a regular n-gon (or a star when ``inner`` radius is given)."""
    points = []
    steps = n * 2 if inner else n
    for k in range(steps):
        r = inner if inner and k % 2 else radius
        a = angle + 2 * math.pi * k / steps
        points.append((cx + r * math.sin(a), cy - r * math.cos(a)))
    return points


def _rotated_rect(cx, cy, w, h, angle):
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c)
            for x, y in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))]


def draw_shape(draw, shape, cx, cy, r, angle, colour, background):
    """Draw one ``shape`` of radius ``r`` centred at (cx, cy)."""
    if shape == 'circle':
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == 'square':
        draw.polygon(_polygon(cx, cy, r * 1.2, 4, angle + math.pi / 4), fill=colour)
    elif shape == 'triangle':
        draw.polygon(_polygon(cx, cy, r * 1.2, 3, angle), fill=colour)
    elif shape == 'star':
        draw.polygon(_polygon(cx, cy, r * 1.2, 5, angle, inner=r * 0.5), fill=colour)
    elif shape == 'cross':
        for a in (angle, angle + math.pi / 2):
            draw.polygon(_rotated_rect(cx, cy, r * 2.2, r * 0.7, a), fill=colour)
    elif shape == 'ring':
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        draw.ellipse((cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55), fill=background)
    elif shape == 'diamond':
        draw.polygon([(cx, cy - r * 1.3), (cx + r * 0.75, cy), (cx, cy + r * 1.3),
                      (cx - r * 0.75, cy)], fill=colour)
    elif shape == 'crescent':
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        dx, dy = r * 0.6 * math.cos(angle), r * 0.6 * math.sin(angle)
        draw.ellipse((cx - r + dx, cy - r + dy, cx + r + dx, cy + r + dy), fill=background)
    elif shape == 'stripes':
        for offset in (-0.8, 0.0, 0.8):
            ox, oy = offset * r * math.cos(angle), offset * r * math.sin(angle)
            draw.polygon(_rotated_rect(cx + ox, cy + oy, r * 0.4, r * 2.2, angle), fill=colour)
    elif shape == 'frame':
        draw.polygon(_polygon(cx, cy, r * 1.25, 4, angle + math.pi / 4), fill=colour)
        draw.polygon(_polygon(cx, cy, r * 0.7, 4, angle + math.pi / 4), fill=background)
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _contrasting_colours(rng):
    """A background and a shape colour far enough apart in brightness to stay visible."""
    while True:
        bg, fg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if abs(int(bg.mean()) - int(fg.mean())) > 60:
            return tuple(int(v) for v in bg), tuple(int(v) for v in fg)


def draw_image(shape, rng, size=64):
    """-> (image, box): the noisy picture and the (x0, y0, x1, y1) pixel box of the shape, the
    bounding box of the same drawing on a blank mask (x1, y1 exclusive). The mask draws no
    random numbers, so the images are those the generator drew before it kept boxes."""
    background, colour = _contrasting_colours(rng)
    img = Image.new('RGB', (size, size), background)
    mask = Image.new('L', (size, size), 0)
    r = size * rng.uniform(0.2, 0.3)
    cx, cy = (size / 2 + rng.uniform(-0.12, 0.12) * size for _ in range(2))
    angle = rng.uniform(-math.pi / 9, math.pi / 9)
    draw_shape(ImageDraw.Draw(img), shape, cx, cy, r, angle, colour, background)
    draw_shape(ImageDraw.Draw(mask), shape, cx, cy, r, angle, 255, 0)
    noise = rng.normal(0, 12, (size, size, 3))
    img = Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))
    return img, mask.getbbox()


def make_image(shape, rng, size=64):
    return draw_image(shape, rng, size)[0]


def read_boxes(root):
    """{(split, filename): (label, (x0, y0, x1, y1))} from ``root/boxes.csv``; filenames are
    relative to the split folder, as result files name them ('004.star/0003.jpg')."""
    path = os.path.join(root, BOXES_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"{path} not found: draw the demo set again with this version "
                          "(scripts/make_demo_data.py --overwrite) to get the shape boxes.")
    with open(path, newline='', encoding='utf-8') as f:
        return {(row['split'], row['filename']): (int(row['label']), tuple(
                    int(row[k]) for k in ('x0', 'y0', 'x1', 'y1')))
                for row in csv.DictReader(f)}


def make_demo_data(root, size=64, per_class=None, seed=0, overwrite=False):
    """Write the demo set under ``root``; returns a dict split -> number of images.

    Written into a temporary sibling folder first and renamed at the end, so an interrupted run
    never leaves a half-made data set that looks complete.
    """
    per_class = dict(SPLITS, **(per_class or {}))
    if os.path.exists(root):
        if not overwrite:
            raise OutputExists(f"{root} already exists; pass overwrite=True (--overwrite) to "
                                  "replace it.")
        shutil.rmtree(root)
    tmp = f'{root.rstrip(os.sep)}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    counts, boxes = {}, []
    for split, n in per_class.items():
        items = [(label, k) for label in range(len(SHAPES)) for k in range(n)]
        if split == 'test':
            rng.shuffle(items)
            answers = []
        for index, (label, k) in enumerate(items):
            img, box = draw_image(SHAPES[label], rng, size)
            if split == 'test':
                name = f'{index:06d}.jpg'
                answers.append((name, label, CLASS_NAMES[label]))
            else:
                name = f'{CLASS_NAMES[label]}/{k:04d}.jpg'
            path = os.path.join(tmp, split, *name.split('/'))
            boxes.append((split, name, label, *box))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            img.save(path, quality=92)
        if split == 'test':
            with open(os.path.join(tmp, 'test_answers.csv'), 'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(['id', 'label', 'class_name'])
                writer.writerows(answers)
        counts[split] = len(items)
    with open(os.path.join(tmp, BOXES_FILE), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['split', 'filename', 'label', 'x0', 'y0', 'x1', 'y1'])
        writer.writerows(boxes)
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    os.replace(tmp, root)
    return counts
