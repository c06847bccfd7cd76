"""Dataset chores around training: check that every image decodes, split a class-folder tree into
ann files, look at what the pipeline feeds the model, and write augmented copies to disk.

Every file is written atomically (a temporary file renamed into place), so an interrupted run never
leaves a half-written ann file, list or image that a later run would trust. ``log`` receives the
lines a command-line user should see.
"""
import math
import os
import shutil
import zlib
from collections import Counter
from functools import partial

import numpy as np
from PIL import Image

from ..config import Config
from ..errors import ConfigError, OutputExists
from ..fileio import atomic_write, save_figure, write_lines
from .datasets import list_images
from .scan import DecodeCache

SPLITS = ('train', 'val', 'test')
BROWSE_MODES = ('original', 'transformed', 'concat')


def _read_lines(path):
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def _config(source):
    return source if isinstance(source, Config) else Config.fromfile(source)


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# ---------------------------------------------------------------- verify


def image_groups(source):
    """{split: image paths} of a config's (path or Config) train/val/test sets, or of every image
    under a folder, grouped by its train/val/test sub-folders when it has them."""
    if isinstance(source, str) and os.path.isdir(source):
        groups = {}
        for rel in list_images(source):
            top = rel.split(os.sep)[0]
            groups.setdefault(top if top in SPLITS else '.', []).append(
                os.path.join(source, rel))
        return groups
    if isinstance(source, str) and not os.path.exists(source):
        raise ConfigError(f"{source}: no such data folder or config file.")
    from .builder import build_dataset
    cfg = _config(source)
    return {split: build_dataset(cfg.data, split).image_files()
            for split in SPLITS if cfg.data.get(split)}


def verify_dataset(source, out_path=None, workers=8, log=print):
    """Fully decode every image of ``source`` (a data folder, a config path or a Config) in
    ``workers`` threads and return the broken [(path, reason)].

    With ``out_path`` the list (``path<TAB>reason`` per line) is written there, empty when all
    decode so that a stale list never survives, and the first ten are logged; without it every
    broken file is logged in that format and nothing is written (a check should not drop files
    into the current folder)."""
    groups = image_groups(source)
    paths = sorted({p for group in groups.values() for p in group})
    broken = DecodeCache().find_broken(paths, workers)
    reasons = dict(broken)
    lines = [f'{p}\t{reason}' for p, reason in broken]
    if out_path:
        write_lines(out_path, lines)
    for split, group in groups.items():
        log(f"{split}: {len(group)} images, {sum(p in reasons for p in group)} broken")
    for line in lines[:10] if out_path else lines:
        log(f"  {line}")
    where = f"; list in {out_path}" if out_path else ''
    log(f"{len(broken)} broken of {len(paths)} images{where}" if broken
        else f"all {len(paths)} images decode" + (f"; {out_path} is empty" if out_path else ''))
    return broken


# ---------------------------------------------------------------- split


def class_images(data_dir):
    """(sorted class folder names, {class: image paths relative to data_dir with '/'})."""
    if not os.path.isdir(data_dir):
        raise ConfigError(f"{data_dir}: folder not found.")
    classes = sorted(d for d in os.listdir(data_dir)
                     if os.path.isdir(os.path.join(data_dir, d)) and not d.startswith('.'))
    if not classes or len(set(classes) & set(SPLITS)) >= 2:
        raise ConfigError(f"{data_dir} should hold one sub-folder per class (found {classes}); "
                          "point at the class-folder tree, e.g. data/caltech256/train.")
    images = {c: [f'{c}/{rel}'.replace(os.sep, '/')
                  for rel in list_images(os.path.join(data_dir, c))] for c in classes}
    empty = [c for c in classes if not images[c]]
    if empty:
        raise ConfigError(f"{data_dir}: class folders without images: {empty[:10]}.")
    return classes, images


def split_dataset(data_dir, val_ratio=0.2, seed=0, out_dir=None, k_fold=None, force=False,
                  log=print):
    """Stratified split of a class-folder tree into ann files, no image copied.

    Writes ``classes.txt`` and either ``train.txt``/``val.txt`` or, with ``k_fold``,
    ``fold{i}/train.txt``/``fold{i}/val.txt`` (each image in exactly one val fold) into
    ``out_dir`` (default ``<data_dir>_split``: outside the tree, whose folder mode would take a
    ``fold0`` folder for a class). Lines are ``class_dir/file.jpg <label>``, relative to
    ``data_dir``. Each class is shuffled with its own generator from ``seed`` and its name, so
    adding a class leaves the others' splits alone. A class of n >= 2 images keeps at least one in
    train and one in val; a one-image class stays in train (in every fold). Existing ann files
    (or a different classes.txt) are kept unless ``force``. Returns {ann file: number of lines}.
    """
    classes, images = class_images(data_dir)
    out_dir = out_dir or data_dir.rstrip('/' + os.sep) + '_split'
    if _inside(out_dir, data_dir):
        raise ConfigError(f"--out-dir {out_dir} is inside {data_dir}; its files would be read "
                          "as a class folder. Choose a folder outside it.")
    if k_fold is not None and (not isinstance(k_fold, int) or k_fold < 2):
        raise ConfigError(f"k_fold must be an int >= 2, got {k_fold!r}.")
    if k_fold is None and not 0 < val_ratio < 1:
        raise ConfigError(f"val_ratio must be between 0 and 1, got {val_ratio!r}.")
    folds = {'.' if k_fold is None else f'fold{i}': {'train': [], 'val': []}
             for i in range(k_fold or 1)}
    offset = 0
    for label, name in enumerate(classes):
        rng = np.random.default_rng([seed % 2 ** 32, zlib.crc32(name.encode())])
        paths = [images[name][i] for i in rng.permutation(len(images[name]))]
        n = len(paths)
        for i, lists in enumerate(folds.values()):
            for j, path in enumerate(paths):
                if k_fold is None:
                    val = j < min(n - 1, max(1, round(n * val_ratio)))
                else:   # the running offset spreads small classes' images over the folds
                    val = n > 1 and (j + offset) % k_fold == i
                lists['val' if val else 'train'].append(f'{path} {label}')
        offset += n
    files = {os.path.normpath(os.path.join(out_dir, fold, f'{split}.txt')): lines
             for fold, lists in folds.items() for split, lines in lists.items()}
    classes_file = os.path.normpath(os.path.join(out_dir, 'classes.txt'))
    existing = [p for p in files if os.path.exists(p)]
    if os.path.exists(classes_file) and _read_lines(classes_file) != classes:
        existing.append(classes_file)   # the same class list may be shared by splits
    if existing and not force:
        raise OutputExists(f"split files exist: {existing[:3]}; pass --force to replace "
                              "them (or choose another --out-dir).")
    write_lines(classes_file, classes)
    for path, lines in files.items():
        write_lines(path, lines)
    for fold, lists in folds.items():
        log(f"{fold if k_fold else 'split'}: train {len(lists['train'])}, val "
            f"{len(lists['val'])} images, {len(classes)} classes")
    first = next(iter(folds))
    log(f"wrote {classes_file} and {len(files)} ann files; in your config"
        + (f" ({first}; fold{{i}} for the others)" if k_fold else '') + ":\n"
        + "data = dict(\n" + ',\n'.join(
            f"    {split}=dict(type='CustomDataset', data_prefix={data_dir!r}, "
            f"ann_file={os.path.normpath(os.path.join(out_dir, first, split + '.txt'))!r}, "
            f"classes={classes_file!r})" for split in ('train', 'val')) + ")")
    return {path: len(lines) for path, lines in files.items()}


# ---------------------------------------------------------------- browse / augment


def _run_pipeline(dataset, pipeline_cfg, indices, where):
    """Yield the outputs (CHW float32) of the really built ops on ``dataset[indices]``.

    They run inside a one-worker MindSpore dataset as in training: an eagerly called random op
    repeats one draw on every call once a seed is set. (An IterSampler, not a plain list, which
    MindSpore turns into a SubsetSampler that cannot read more rows than the dataset has.)
    """
    import mindspore.dataset as ds
    from .builder import build_dataloader
    from .pipeline import build_pipeline
    ops = build_pipeline(pipeline_cfg, f'{where}.pipeline')
    loader = build_dataloader(dataset, 1, 1, ops=ops, where=where,
                              sampler=ds.IterSampler([int(i) for i in indices]))
    for image, _ in loader.create_tuple_iterator(num_epochs=1, output_numpy=True):
        yield image[0]


def _to_display(chw, pipeline_cfg):
    """Undo Normalize (its mean/std, and its RGB->BGR swap when to_rgb=False) for display."""
    norm = next((s for s in pipeline_cfg if isinstance(s, dict) and s.get('type') == 'Normalize'),
                {})
    hwc = chw.transpose(1, 2, 0) * np.asarray(norm.get('std', 1.0)) + np.asarray(
        norm.get('mean', 0.0))
    if not norm.get('to_rgb', True):
        hwc = hwc[..., ::-1]
    return np.clip(hwc + 0.5, 0, 255).astype(np.uint8)


def _side_by_side(left, right, gap=4):
    height = right.shape[0]
    width = max(1, round(left.shape[1] * height / left.shape[0]))
    left = np.asarray(Image.fromarray(left).resize((width, height), Image.BILINEAR))
    return np.concatenate([left, np.full((height, gap, 3), 255, np.uint8), right], axis=1)


def save_grid(images, captions, out_path):
    """A PNG grid of HWC uint8 images with one caption each."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    aspect = max(img.shape[1] / img.shape[0] for img in images)
    fig = Figure(figsize=(2.2 * cols * aspect, 2.4 * rows))
    FigureCanvasAgg(fig)
    for i, (img, caption) in enumerate(zip(images, captions)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(img)
        ax.set_title(caption, fontsize=8)
        ax.axis('off')
    fig.tight_layout()
    save_figure(out_path, fig, format='png', dpi=100)


def browse_dataset(cfg, phase='train', n=16, mode='transformed', out_path='browse.png',
                   log=print):
    """A grid PNG of what ``data.<phase>``'s pipeline really feeds the model, on ``n`` images
    spread evenly over the set (so several classes show). 'original': the decoded images;
    'transformed': the pipeline's output with Normalize undone; 'concat': both side by side.
    Batch augments (Mixup/CutMix) act later, on whole batches, and are not shown."""
    from .builder import build_dataset
    if mode not in BROWSE_MODES:
        raise ConfigError(f"mode={mode!r}; use one of {BROWSE_MODES}.")
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive int, got {n!r}.")
    cfg = _config(cfg)
    dataset = build_dataset(cfg.data, phase)
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(n, len(dataset))).round()).astype(int)
    panels, captions = [], []
    outputs = _run_pipeline(dataset, dataset.pipeline, indices, f'data.{phase}')
    for index, chw in zip(indices, outputs):
        path, label = dataset.samples[index]
        shown = _to_display(chw, dataset.pipeline)
        original = dataset.load_image(index)
        panels.append(original if mode == 'original' else shown if mode == 'transformed'
                      else _side_by_side(original, shown))
        captions.append(dataset.classes[label] if label >= 0 and dataset.classes
                        else os.path.basename(path))
    save_grid(panels, captions, out_path)
    log(f"wrote {out_path}: {len(panels)} {phase} images, {mode}")
    return out_path


def offline_augment(cfg, copies, out_dir, phase='train', seed=0, include_originals=False,
                    force=False, log=print):
    """Write ``copies`` augmented JPEGs per image of ``data.<phase>`` as
    ``out_dir/<class>/<stem>_aug{k}.jpg``, made by that pipeline's transforms up to Normalize
    (those act on uint8 images; the rest would cast normalised floats back to uint8).

    ``out_dir`` becomes a self-contained class-folder tree: ``<phase>.txt`` (paths relative to
    ``out_dir``) and ``classes.txt`` are written last, so an interrupted run leaves no ann file;
    ``include_originals`` copies the source files in too (``<class>/<file name>``) and lists them.
    The ops run with the dataset seed set to ``seed`` (restored afterwards), so a run repeats.
    ``out_dir`` must not be inside the source folder nor contain it, and must be empty unless
    ``force``. Returns the ann file's path.
    """
    import mindspore.dataset as ds
    from .builder import build_dataset
    if not isinstance(copies, int) or copies < 1:
        raise ConfigError(f"copies must be a positive int, got {copies!r}.")
    cfg = _config(cfg)
    dataset = build_dataset(cfg.data, phase)
    source = dataset.data_prefix
    if _inside(out_dir, source) or _inside(source, out_dir):
        raise ConfigError(f"--out-dir {out_dir} and the source folder {source} overlap; write the "
                          "copies to a folder outside the source data.")
    if not dataset.with_label:
        raise ConfigError(f"data.{phase} is unlabelled (with_label=False); nothing to augment for.")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not force:
        raise OutputExists(f"{out_dir} is not empty; pass --force to write into it anyway.")
    names = [(dataset.classes[label], os.path.splitext(os.path.basename(path))[0])
             for path, label in dataset.samples]
    clash = next((name for name, count in Counter(names).items() if count > 1), None)
    if clash:
        raise ConfigError(f"two images of class {clash[0]} are both named {clash[1]}.*; their "
                          "copies would overwrite each other. Rename one.")
    steps = []
    for step in dataset.pipeline:
        if isinstance(step, dict) and step.get('type') == 'Normalize':
            break
        steps.append(step)
    lines = []
    previous = ds.config.get_seed()
    ds.config.set_seed(seed)
    try:
        order = [i for i in range(len(dataset)) for _ in range(copies)]
        outputs = _run_pipeline(dataset, steps, order, f'data.{phase}')
        for count, chw in enumerate(outputs):
            index, k = divmod(count, copies)
            (name, stem), label = names[index], dataset.samples[index][1]
            rel = f'{name}/{stem}_aug{k}.jpg'
            image = Image.fromarray(np.clip(chw.transpose(1, 2, 0).round(), 0, 255)
                                    .astype(np.uint8))
            atomic_write(os.path.join(out_dir, rel),
                         partial(image.save, format='JPEG', quality=95))
            lines.append(f'{rel} {label}')
    finally:
        ds.config.set_seed(previous)
    if include_originals:
        for (name, _), (path, label) in zip(names, dataset.samples):
            rel = f'{name}/{os.path.basename(path)}'
            atomic_write(os.path.join(out_dir, rel), partial(shutil.copyfile, path))
            lines.append(f'{rel} {label}')
    write_lines(os.path.join(out_dir, 'classes.txt'), dataset.classes)
    ann_file = os.path.join(out_dir, f'{phase}.txt')
    write_lines(ann_file, lines)
    log(f"wrote {len(dataset) * copies} augmented images ({copies} per image of {len(dataset)})"
        + (f" and {len(dataset)} originals" if include_originals else '') + f" into {out_dir}; "
        f"in your config:\ndata = dict({phase}=dict(type='CustomDataset', data_prefix={out_dir!r}, "
        f"ann_file={ann_file!r}, classes={os.path.join(out_dir, 'classes.txt')!r}))")
    return ann_file
