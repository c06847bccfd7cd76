"""Exploratory data analysis of an image-classification set, before any training.

One pass reads each file once: its bytes are hashed (exact duplicates, train/val/test leaks), its
header gives format, colour mode and size, and it is decoded fully exactly once, because only a
full decode finds truncated files. The same decode feeds the RGB histograms behind the Normalize
mean/std and the sample-grid thumbnails. JPEGs are decoded through ``Image.draft`` (DCT scaling to
at least DRAFT_SIZE px a side): several times faster on large photos and still a full read of the
stream, so truncation is still caught. Work runs in a thread pool: Pillow and hashlib release the
GIL while decoding and hashing.
"""
import csv
import hashlib
import io
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

import numpy as np
from PIL import Image, ImageDraw

from ..config import Config, parse_options
from ..errors import ConfigError
from ..data.datasets import IMG_EXTENSIONS, CustomDataset, list_images, to_rgb_array
from ..fileio import atomic_write, save_figure, write_text
from ..progress import progress

SPLITS = ('train', 'val', 'test')
DRAFT_SIZE = 256      # JPEG decodes are reduced to >= this side (about what a 224-px crop sees)
STATS_CAP = 20000     # at most this many images enter mean/std; an evenly strided subsample
GRID_CLASSES = 40     # rows of the sample grid; more classes are sampled evenly
THUMB = 80
IMAGENET = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def gather_splits(source, cfg_options=()):
    """{split: {'root', 'labelled', 'classes', 'items': [(path, class name or None)]}}, skipped.

    ``source`` is a config (its data.train/val/test, listed by CustomDataset exactly as training
    lists them) or a folder: with train/val/test sub-folders, or itself one split of class
    folders. Folder splits are listed leniently (an empty class folder is a finding, not an error).
    """
    if os.path.isfile(source):
        return _from_config(source, cfg_options)
    if not os.path.isdir(source):
        raise ConfigError(f"{source}: no such config file or data folder.")
    names = [s for s in SPLITS if os.path.isdir(os.path.join(source, s))]
    dirs = ({s: os.path.join(source, s) for s in names} if names
            else {os.path.basename(os.path.abspath(source)): source})
    splits = {}
    for name, root in dirs.items():
        classes = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)) and not d.startswith('.'))
        items = ([(os.path.join(root, c, f), c) for c in classes
                  for f in list_images(os.path.join(root, c))] if classes
                 else [(os.path.join(root, f), None) for f in list_images(root)])
        splits[name] = dict(root=root, labelled=bool(classes), classes=classes, items=items)
    return splits, {}


def _from_config(path, cfg_options):
    data = Config.fromfile(path, parse_options(cfg_options)).get('data') or {}
    splits, skipped = {}, {}
    for name in SPLITS:
        cfg = data.get(name)
        if not cfg:
            continue
        try:
            ds = CustomDataset(cfg.get('data_prefix'), classes=cfg.get('classes'),
                               ann_file=cfg.get('ann_file'), with_label=cfg.get('with_label', True),
                               where=f'data.{name}')
        except ConfigError as err:
            skipped[name] = str(err)
            continue
        labelled = ds.with_label
        splits[name] = dict(root=ds.data_prefix, labelled=labelled,
                            classes=list(ds.classes) if labelled else [],
                            items=[(p, ds.classes[label] if labelled else None)
                                   for p, label in ds.samples])
    if not splits:
        raise ConfigError(f"{path}: no usable data split:\n" + '\n'.join(skipped.values()))
    return splits, skipped


def inspect_image(path, stats=False, thumb=False):
    """Everything EDA needs from one file, from one read and one decode."""
    rec = dict(path=path)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        return dict(rec, error='unreadable', message=str(err))
    rec.update(bytes=len(data), sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest())
    try:
        img = Image.open(io.BytesIO(data))
        rec.update(format=img.format, mode=img.mode)
        width, height = img.size
    except DECODE_ERRORS as err:
        return dict(rec, error='unreadable', message=str(err))
    try:
        if img.format == 'JPEG':
            img.draft(None, (DRAFT_SIZE, DRAFT_SIZE))
        img.load()
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF-rotated: training sees h x w
            width, height = height, width
        rec.update(width=width, height=height, reduced=img.size != (width, height)
                   and img.size != (height, width))
        if stats or thumb:   # the RGB that training sees (to_rgb_array), histogrammed in C
            rgb = img if img.mode == 'RGB' else Image.fromarray(to_rgb_array(img))
            if stats:
                rec['hist'] = np.array(rgb.histogram(), dtype=np.int64).reshape(3, 256)
            if thumb:
                rec['thumb'] = rgb.copy()
                rec['thumb'].thumbnail((THUMB, THUMB))
    except DECODE_ERRORS as err:
        rec.update(width=width, height=height)
        return dict(rec, error='truncated' if 'truncated' in str(err) else 'undecodable',
                    message=str(err))
    return rec


def scan(jobs, workers, log=None):
    """inspect_image over (path, stats, thumb) jobs in a thread pool; progress on ``log``
    (``ms_cls.progress``: a bar on a terminal, a line every 10 s in a file; None: silent).

    Returns (records, summed RGB histograms): each image's histogram is folded in as it arrives
    rather than kept (20k x 6 KB would be 120 MB).
    """
    chunks = [jobs[i:i + 16] for i in range(0, len(jobs), 16)]  # fewer futures, less locking
    out, hist = [], np.zeros((3, 256), np.int64)
    with ThreadPoolExecutor(max(1, workers)) as pool, \
            progress(total=len(jobs), desc='eda', file=log, enabled=log is not None) as bar:
        for recs in pool.map(lambda chunk: [inspect_image(*job) for job in chunk], chunks):
            for rec in recs:
                if 'hist' in rec:
                    hist += rec.pop('hist')
                    rec['in_stats'] = True
            out += recs
            bar.update(len(recs))
    return out, hist


def _spread(values):
    if not len(values):
        return None
    q = np.percentile(np.asarray(values, dtype=np.float64), [0, 5, 50, 95, 100])
    return dict(zip(('min', 'p5', 'median', 'p95', 'max'), (round(float(v), 3) for v in q)))


def _evenly(n, k):
    """k indices spread evenly over range(n) (all of them when n <= k)."""
    return list(range(n)) if n <= k else sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def analyse(source, out_dir, min_images=20, workers=None, sample_per_class=4, cfg_options=(),
            log=sys.stderr):
    """Scan ``source`` (config or data folder), write the report files into ``out_dir``.

    Returns the summary dict that is also written as summary.json.
    """
    t0 = time.time()
    workers = workers or min(8, os.cpu_count() or 1)
    splits, skipped = gather_splits(source, cfg_options)
    out_abs = os.path.abspath(out_dir) + os.sep
    for s in splits.values():   # an out-dir inside the data must not feed back into a rerun
        s['items'] = [it for it in s['items'] if not os.path.abspath(it[0]).startswith(out_abs)]
    if not any(s['items'] for s in splits.values()):
        roots = ', '.join(s['root'] for s in splits.values())
        raise ConfigError(f"{source}: no images ({', '.join(IMG_EXTENSIONS)}) found in {roots}.")
    labelled = [n for n, s in splits.items() if s['labelled']]
    stats_split = 'train' if 'train' in splits else next(iter(splits))
    stats_items = splits[stats_split]['items']
    stride = max(1, math.ceil(len(stats_items) / STATS_CAP))
    grid_split = stats_split if splits[stats_split]['labelled'] else (labelled or [None])[0]
    grid = _grid_choice(splits[grid_split], sample_per_class) if grid_split else []
    thumbs = {path for _, paths in grid for path in paths}
    jobs, owner = [], []
    for name, s in splits.items():
        for i, (path, cls) in enumerate(s['items']):
            jobs.append((path, name == stats_split and i % stride == 0, path in thumbs))
            owner.append((name, cls))
    if log:
        print(f"eda: {len(jobs)} images in {', '.join(splits)}; {workers} threads", file=log)
    recs, hist = scan(jobs, workers, log)
    for rec, (name, cls) in zip(recs, owner):
        rec.update(split=name, cls=cls)

    summary = dict(source=os.path.abspath(source), min_images=min_images, workers=workers,
                   skipped_splits=skipped, images=len(recs))
    all_classes = _union_classes(splits)
    summary['splits'] = {n: _split_summary(s, [r for r in recs if r['split'] == n], all_classes,
                                           min_images) for n, s in splits.items()}
    summary['classes'] = len(all_classes)
    bad = [r for r in recs if 'error' in r]
    summary['unreadable'] = [dict(path=r['path'], split=r['split'], kind=r['error'],
                                  message=r['message']) for r in bad]
    dup_rows, summary['duplicates'] = _duplicates(recs)
    summary['pixel_stats'] = _pixel_stats(hist, recs, stats_split, len(stats_items), stride)
    summary['class_weight'] = _class_weight(summary['splits'][stats_split],
                                            splits[stats_split]['classes'])

    os.makedirs(out_dir, exist_ok=True)
    figures = {}
    if labelled:
        figures['class_counts.png'] = _plot_counts(summary['splits'], labelled, min_images,
                                                   os.path.join(out_dir, 'class_counts.png'))
    if any('width' in r for r in recs):
        figures['sizes.png'] = _plot_sizes(recs, splits, os.path.join(out_dir, 'sizes.png'))
    if grid:
        by_path = {r['path']: r for r in recs if r['path'] in thumbs}
        figures['samples.png'] = _sample_grid(grid, by_path, grid_split,
                                              len(splits[grid_split]['classes']),
                                              os.path.join(out_dir, 'samples.png'))
    summary['figures'] = figures
    summary['suggestions'] = suggestions(summary)
    summary['seconds'] = round(time.time() - t0, 2)

    _write_csv(os.path.join(out_dir, 'class_counts.csv'), ['class'] + labelled + ['total'],
               [[c] + [summary['splits'][n]['class_counts'].get(c, 0) for n in labelled]
                + [sum(summary['splits'][n]['class_counts'].get(c, 0) for n in labelled)]
                for c in all_classes])
    _write_csv(os.path.join(out_dir, 'duplicates.csv'),
               ['sha1', 'copies', 'splits', 'kind', 'split', 'class', 'path'], dup_rows)
    write_text(os.path.join(out_dir, 'unreadable.txt'),
                 ''.join(f"{u['path']}\t{u['kind']}\t{u['message']}\n"
                         for u in summary['unreadable']))
    write_text(os.path.join(out_dir, SUMMARY_FILE), json.dumps(summary, indent=1) + '\n')
    write_text(os.path.join(out_dir, 'report.md'), render_report(summary))
    return summary


def _union_classes(splits):
    """Training classes first (label order), then any class only another split has."""
    names = []
    for s in sorted(splits.values(), key=lambda s: s is not splits.get('train')):
        names += [c for c in s['classes'] if c not in names]
    return names


SUMMARY_FILE = 'summary.json'


def read_summary(out_dir):
    """The summary.json that ``analyse`` wrote into ``out_dir`` (its one reader)."""
    path = os.path.join(out_dir, SUMMARY_FILE)
    try:
        with open(path, encoding='utf-8') as f:
            summary = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--eda {out_dir}: no {SUMMARY_FILE}; give the --out-dir of "
                          "scripts/eda.py.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err}).") from None
    if not isinstance(summary, dict) or 'splits' not in summary:
        raise ConfigError(f"{path}: not an EDA summary (no 'splits'); give the --out-dir of "
                          "scripts/eda.py.")
    return summary


def _split_summary(split, recs, all_classes, min_images):
    ok = [r for r in recs if 'width' in r]
    out = dict(root=split['root'], images=len(recs), labelled=split['labelled'],
               formats=dict(Counter(r.get('format') or '?' for r in recs).most_common()),
               modes=dict(Counter(r.get('mode') or '?' for r in recs).most_common()),
               width=_spread([r['width'] for r in ok]), height=_spread([r['height'] for r in ok]),
               aspect=_spread([r['width'] / r['height'] for r in ok if r['height']]),
               file_kb=_spread([r['bytes'] / 1024 for r in recs if 'bytes' in r]),
               short_side_under_224=sum(min(r['width'], r['height']) < 224 for r in ok),
               unreadable=sum('error' in r for r in recs))
    if split['labelled']:
        counts = Counter(r['cls'] for r in recs)
        present = [counts[c] for c in all_classes if counts[c]]
        out.update(classes=len(present), class_counts={c: counts[c] for c in all_classes},
                   min_per_class=min(present, default=0), max_per_class=max(present, default=0),
                   median_per_class=float(np.median(present)) if present else 0.0,
                   imbalance_ratio=round(max(present) / min(present), 3) if present else None,
                   small_classes=sorted((c for c in all_classes if 0 < counts[c] < min_images),
                                        key=lambda c: (counts[c], c)),
                   missing_classes=[c for c in all_classes if not counts[c]])
    return out


def _duplicates(recs):
    """Identical files (same SHA-1): copies inside a split, leaks across splits, label clashes."""
    groups = defaultdict(list)
    for r in recs:
        if 'sha1' in r:
            groups[r['sha1']].append(r)
    within, leaks, clashes, rows = Counter(), Counter(), 0, []
    for sha, group in groups.items():
        if len(group) < 2:
            continue
        per_split = Counter(r['split'] for r in group)
        within.update({name: n - 1 for name, n in per_split.items() if n > 1})
        for a, b in combinations(sorted(per_split, key=lambda s: (s not in SPLITS, s)), 2):
            leaks[f'{a}/{b}'] += 1
        labels = {r['cls'] for r in group if r['cls'] is not None}
        clashes += len(labels) > 1
        kind = ('conflicting-labels' if len(labels) > 1 else
                'cross-split' if len(per_split) > 1 else 'within-split')
        rows += [[sha, len(group), '+'.join(per_split), kind, r['split'], r['cls'] or '', r['path']]
                 for r in group]
    return rows, dict(groups=sum(len(g) > 1 for g in groups.values()),
                      extra_copies=dict(within), leaks=dict(leaks), conflicting_labels=clashes)


def _pixel_stats(hist, recs, split, total, stride):
    """Per-channel mean/std from summed 256-bin histograms: exact, and no pixel kept around."""
    used = [r for r in recs if r.get('in_stats')]
    if not used:
        return None
    hist = hist.astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    n = hist.sum(axis=1)
    mean = (hist * levels).sum(axis=1) / n
    std = np.sqrt(np.maximum((hist * levels ** 2).sum(axis=1) / n - mean ** 2, 0))
    return dict(split=split, mean=[round(float(v), 3) for v in mean],
                std=[round(float(v), 3) for v in std], images=len(used), of=total,
                every=stride, reduced_decodes=sum(bool(r.get('reduced')) for r in used),
                draft_size=DRAFT_SIZE)


def _class_weight(split, classes):
    """Inverse-frequency weights (mean 1) in label order, for CrossEntropyLoss(class_weight=...)."""
    if not split['labelled'] or not classes:
        return None
    counts = np.array([max(split['class_counts'][c], 1) for c in classes], dtype=np.float64)
    weights = counts.mean() / counts
    return [round(float(w), 4) for w in weights / weights.mean()]


def _grid_choice(split, per_class):
    """[(class, [paths])] for the sample grid: up to GRID_CLASSES classes, evenly spread."""
    by_class = defaultdict(list)
    for path, cls in split['items']:
        by_class[cls].append(path)
    classes = [c for c in split['classes'] if by_class[c]]
    return [(classes[i], [by_class[classes[i]][j] for j in _evenly(len(by_class[classes[i]]),
                                                                  per_class)])
            for i in _evenly(len(classes), GRID_CLASSES)] if per_class > 0 else []


def _write_csv(path, header, rows):
    def write(tmp):
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            csv.writer(f).writerows([header] + rows)
    atomic_write(path, write)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    save_figure(path, fig, dpi=100, format='png')
    _pyplot().close(fig)
    return os.path.basename(path)


def _plot_counts(split_summaries, names, min_images, path):
    """Sorted bars per labelled split; class names only where they stay legible (<= 60)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 3.2 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        counts = sorted(split_summaries[name]['class_counts'].items(), key=lambda kv: -kv[1])
        ax.bar(range(len(counts)), [n for _, n in counts], width=0.9 if len(counts) <= 60 else 1.0,
               color='tab:blue', linewidth=0)
        ax.axhline(min_images, color='tab:red', ls='--', lw=1, label=f'{min_images} images')
        if len(counts) <= 60:
            ax.set_xticks(range(len(counts)), [c for c, _ in counts], rotation=90,
                          fontsize=8 if len(counts) <= 20 else 6)
        else:
            ax.set_xlabel(f'{len(counts)} classes, sorted by count')
        ax.set_xlim(-1, len(counts))
        ax.set_ylabel('images')
        ax.set_title(f'{name}: images per class', fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _plot_sizes(recs, splits, path):
    plt = _pyplot()
    ok = [r for r in recs if 'width' in r]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5))
    panels = [('width (px)', lambda r: r['width'], False),
              ('height (px)', lambda r: r['height'], False),
              ('aspect ratio (width / height)', lambda r: r['width'] / max(r['height'], 1), True),
              ('file size (KB)', lambda r: max(r['bytes'], 1) / 1024, True)]
    for ax, (label, get, log) in zip(axes.ravel(), panels):
        values = np.array([get(r) for r in ok], dtype=np.float64)
        lo, hi = values.min(), values.max()
        log = log and lo > 0 and hi / lo > 10      # a log axis only pays off over a wide range
        if hi - lo < 1e-6 * max(1.0, hi):          # all equal: one visible bar, not a sliver
            lo, hi = lo * 0.9 - 0.5, hi * 1.1 + 0.5
        bins = np.geomspace(lo, hi, 41) if log else np.linspace(lo, hi, 41)
        for name in splits:
            ax.hist([get(r) for r in ok if r['split'] == name], bins=bins, histtype='step',
                    lw=1.5, label=name)
        if log:
            ax.set_xscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel('images')
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _sample_grid(grid, recs, split, n_classes, path):
    """Thumbnails per class row (drawn with Pillow: 40 x 4 matplotlib axes would be slow)."""
    label_w, cell = 170, THUMB + 4
    cols = max(len(paths) for _, paths in grid)
    canvas = Image.new('RGB', (label_w + cols * cell, 24 + len(grid) * cell), 'white')
    draw = ImageDraw.Draw(canvas)
    shown = '' if len(grid) == n_classes else f' ({len(grid)} of {n_classes}, evenly spaced)'
    draw.text((4, 6), f'{split}: classes{shown}, {cols} images each', fill='black')
    for row, (cls, paths) in enumerate(grid):
        y = 24 + row * cell
        draw.text((4, y + cell // 2 - 6), cls[:26], fill='black')
        for col, p in enumerate(paths):
            x = label_w + col * cell
            thumb = recs.get(p, {}).get('thumb')
            if thumb is None:
                draw.rectangle((x, y, x + THUMB, y + THUMB), fill=(220, 80, 80))
                draw.text((x + 4, y + THUMB // 2 - 6), 'unreadable', fill='white')
            else:
                canvas.paste(thumb, (x + (THUMB - thumb.width) // 2,
                                     y + (THUMB - thumb.height) // 2))
    atomic_write(path, lambda tmp: canvas.save(tmp, format='PNG'))
    return os.path.basename(path)


def _names(classes, counts=None, k=5):
    shown = [f'{c} ({counts[c]})' if counts else c for c in classes[:k]]
    return ', '.join(shown) + (', ...' if len(classes) > k else '')


def suggestions(summary):
    """What a practitioner would do about each finding, most urgent first."""
    tips, splits = [], summary['splits']
    bad = summary['unreadable']
    if bad:
        kinds = ', '.join(f'{n} {k}' for k, n in Counter(u['kind'] for u in bad).items())
        tips.append(f"{len(bad)} files unreadable ({kinds}): list in unreadable.txt — remove "
                    "or replace them (training stops with ImageLoadError when it meets one).")
    dup = summary['duplicates']
    for pair, n in dup['leaks'].items():
        a, b = pair.split('/')
        what = ('remove the leak (delete them from one side)' if 'test' not in pair else
                'their predictions are memorised, so the score on them is optimistic')
        tips.append(f"{n} images appear in both {a} and {b}: {what}; see duplicates.csv.")
    if dup['conflicting_labels']:
        tips.append(f"{dup['conflicting_labels']} identical images carry different labels: fix "
                    "them (duplicates.csv, kind conflicting-labels).")
    for name, n in dup['extra_copies'].items():
        tips.append(f"{n} extra copies of identical files inside {name}: drop them "
                    "(they weigh double).")
    train = splits.get('train') or next(iter(splits.values()))
    if train.get('labelled'):
        small, ratio = train['small_classes'], train['imbalance_ratio']
        counts = train['class_counts']
        if small or (ratio or 0) >= 5:
            head = (f"{len(small)} classes have < {summary['min_images']} images "
                    f"({_names(small, counts)})" if small else
                    f"class sizes vary {ratio}x")
            tips.append(f"{head}, imbalance ratio {ratio} (max/min images per class): consider "
                        "class-balanced sampling, data.sampler=dict(type='ClassBalanced') (or "
                        "dict(type='RepeatFactor', repeat_thr=0.1)), or a class-weighted loss, "
                        "model.head.loss.class_weight=<class_weight from summary.json>.")
    for name, s in splits.items():
        if s.get('labelled') and s['missing_classes']:
            tips.append(f"{len(s['missing_classes'])} classes have no {name} images "
                        f"({_names(s['missing_classes'])})" +
                        (": ms_cls rejects val/test classes unknown to train." if name == 'train'
                         else f": their {name} accuracy is not measured."))
    sizes = [s for s in splits.values() if s['width']]
    if sizes:
        w, h = train['width'] or sizes[0]['width'], train['height'] or sizes[0]['height']
        under = sum(s['short_side_under_224'] for s in splits.values())
        odd = sorted({m for s in splits.values() for m in s['modes'] if m not in ('RGB', '?')})
        modes = Counter()
        for s in splits.values():
            modes.update(s['modes'])
        tip = (f"images are {w['median']:g}x{h['median']:g} (width x height) median, "
               f"{w['p5']:g}-{w['p95']:g} wide (5-95 %)")
        if under:
            tip += f"; {under} have a short side < 224 px (a 224-px input would upscale them)"
        if odd:
            tip += (f"; modes {', '.join(f'{m} ({modes[m]})' for m in odd)} present: ms_cls "
                    "converts every image to 8-bit RGB (16-bit scaled, alpha dropped)")
        tips.append(tip + '.')
    px = summary['pixel_stats']
    if px:
        mean, std = ([round(v, 2) for v in px[k]] for k in ('mean', 'std'))
        tips.append(f"Normalize mean/std for this data: img_norm_cfg = dict(mean={mean}, "
                    f"std={std}, to_rgb=True); keep ImageNet's mean={IMAGENET['mean']} "
                    f"std={IMAGENET['std']} when fine-tuning ImageNet-pretrained weights.")
    return tips


def _table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows])


def render_report(summary):
    """One page of markdown: headline, suggestions, tables, figures (relative links)."""
    splits, dup, px = summary['splits'], summary['duplicates'], summary['pixel_stats']
    parts = [f"# Data report: {summary['source']}", '',
             f"{summary['images']} images in " + ', '.join(
                 f"{n} ({s['images']}{'' if s['labelled'] else ', unlabelled'})"
                 for n, s in splits.items())
             + f"; {summary['classes']} classes; {len(summary['unreadable'])} unreadable; "
             f"{dup['groups']} groups of identical files; scanned in {summary['seconds']} s "
             f"with {summary['workers']} threads.", '']
    for name, err in summary['skipped_splits'].items():
        parts += [f"Skipped data.{name}: {err}", '']
    parts += ['## Suggestions', ''] + [f'- {t}' for t in summary['suggestions']] + ['']
    rows = []
    for n, s in splits.items():
        lab = s['labelled']
        rows.append([n, s['images'], s.get('classes', '-'),
                     *(s[k] if lab else '-' for k in ('min_per_class', 'median_per_class',
                                                       'max_per_class', 'imbalance_ratio')),
                     len(s['small_classes']) if lab else '-',
                     len(s['missing_classes']) if lab else '-',
                     dup['extra_copies'].get(n, 0), s['unreadable']])
    parts += ['## Splits', '', _table(['split', 'images', 'classes', 'min/class', 'median/class',
                                       'max/class', 'imbalance', f"< {summary['min_images']}",
                                       'missing classes', 'duplicate copies', 'unreadable'], rows),
              '']
    if 'class_counts.png' in summary['figures']:
        parts += ['## Class counts', '', 'Full table: class_counts.csv.', '',
                  '![images per class](class_counts.png)', '']
        for n, s in splits.items():
            if s['labelled'] and s['class_counts']:
                ranked = sorted((kv for kv in s['class_counts'].items() if kv[1]),
                                key=lambda kv: (kv[1], kv[0]))
                parts += [f"{n}: smallest {', '.join(f'{c} ({k})' for c, k in ranked[:5])}; "
                          f"largest {', '.join(f'{c} ({k})' for c, k in ranked[::-1][:3])}.", '']
    parts += ['## Images and files', '',
              _table(['split', 'formats', 'modes', 'width p5/median/p95', 'height p5/median/p95',
                      'aspect median', 'file KB median (max)'],
                     [[n, _counts(s['formats']), _counts(s['modes']), _pcts(s['width']),
                       _pcts(s['height']), s['aspect']['median'] if s['aspect'] else '-',
                       f"{s['file_kb']['median']:.1f} ({s['file_kb']['max']:.1f})"
                       if s['file_kb'] else '-'] for n, s in splits.items()]), '']
    if 'sizes.png' in summary['figures']:
        parts += ['![image sizes](sizes.png)', '']
    parts += ['## Duplicates and leaks', '',
              (f"{dup['groups']} groups of identical files (SHA-1 of the bytes); across splits: "
               + (', '.join(f'{k}: {v}' for k, v in dup['leaks'].items()) or 'none')
               + f"; conflicting labels: {dup['conflicting_labels']}. Every copy: duplicates.csv.")
              if dup['groups'] else 'No identical files.', '',
              '## Unreadable files', '',
              (f"{len(summary['unreadable'])} (full list with errors: unreadable.txt): "
               + ', '.join(f"`{os.path.basename(u['path'])}` ({u['kind']})"
                           for u in summary['unreadable'][:5])
               + (' ...' if len(summary['unreadable']) > 5 else ''))
              if summary['unreadable'] else 'None: every file decoded fully.', '']
    if px:
        sub = ('all' if px['every'] == 1 else
               f"a subsample (1 in {px['every']} images):")
        parts += ['## Pixel statistics', '',
                  f"RGB on the 0-255 scale over {sub} {px['images']} of {px['of']} "
                  f"{px['split']} images: mean {px['mean']}, std {px['std']}."
                  + (f" {px['reduced_decodes']} of them are JPEG decodes reduced with "
                     f"Image.draft to >= {px['draft_size']} px a side (DCT scaling), which "
                     "smooths a little: std can read slightly low." if px['reduced_decodes']
                     else ' All from full-resolution decodes.'), '']
    if 'samples.png' in summary['figures']:
        parts += ['## Samples', '', '![sample images per class](samples.png)', '']
    return '\n'.join(parts) + '\n'


def _counts(mapping):
    return ', '.join(f'{k} {v}' for k, v in mapping.items())


def _pcts(spread):
    return f"{spread['p5']:g}/{spread['median']:g}/{spread['p95']:g}" if spread else '-'
