"""What runs produced, side by side: one table of many work dirs (scripts/compare_runs.py) and
contact sheets of a per-image result file (scripts/analyze_results.py).

The table replaces the hand-kept experiment table of configs/caltech256/README.md: every column
comes from the work dir itself (the dumped merged config and the JSON log), so it cannot drift
from what was actually run. No MindSpore import: this runs in a second on any machine.
"""
import glob
import os
import re
from functools import partial

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..config import Config
from ..errors import ConfigError
from ..engine.log import TOP1, TOP5, load_json_log
from ..engine.schedules import policy_name
from ..evaluation.results import read_results
from ..fileio import atomic_write, write_csv, write_text
from ..plan import schedule_plan
from .logs import format_minutes

COLUMNS = ('run', 'model', 'frozen_stages', 'batch', 'lr', 'lr_schedule', 'augmentation',
           'epochs', 'max_epochs', TOP1, 'best_epoch', TOP5, 'final_' + TOP1, 'train_min',
           'status')
HEADERS = {'lr_schedule': 'lr schedule', TOP1: 'best top-1', 'best_epoch': 'at epoch',
           TOP5: 'best top-5', 'final_' + TOP1: 'final top-1', 'train_min': 'train time'}
# what every classification pipeline has; anything else is an augmentation worth a column
PLAIN_TRANSFORMS = {'LoadImageFromFile', 'RandomResizedCrop', 'RandomCrop', 'CenterCrop', 'Resize',
                    'RandomFlip', 'Normalize', 'ImageToTensor', 'ToTensor', 'Collect', 'Transpose',
                    'ToNumpy', 'ToPIL'}


def find_log(work_dir):
    """-> (newest .log.json with records or None, note or None). Re-runs leave several logs;
    runs stopped by a config check leave empty ones, which are passed over."""
    logs = sorted(glob.glob(os.path.join(work_dir, '*.log.json')))
    if not logs:
        return None, f"{work_dir}: no .log.json, skipped"
    used = [p for p in logs if os.path.getsize(p)]
    if not used:
        return None, f"{work_dir}: {len(logs)} .log.json file(s), all empty, skipped"
    if len(logs) == 1:
        return used[-1], None
    empty = len(logs) - len(used)
    return used[-1], (f"{work_dir}: {len(logs)} logs (re-runs), using the newest with records, "
                      f"{os.path.basename(used[-1])}" + (f" ({empty} empty)" if empty else ''))


def find_config(work_dir, meta):
    """The dumped merged config: the .py named like the run's config, else the newest .py."""
    named = os.path.join(work_dir, os.path.basename(meta.get('config') or 'config.py'))
    if os.path.isfile(named):
        return named
    found = sorted(glob.glob(os.path.join(work_dir, '*.py')), key=os.path.getmtime)
    return found[-1] if found else None


def model_name(model):
    """'ResNet-50', 'SwinTransformer-tiny': the backbone type and its depth or arch."""
    backbone = model.get('backbone') or {}
    size = backbone.get('depth', backbone.get('arch'))
    return f"{backbone.get('type', model.get('type', '?'))}" + (
        f"-{size}" if isinstance(size, (int, str)) else '')


def lr_schedule_summary(lr_config):
    """'step [30,60,90]', 'cosine warmup linear 1500 r0.25', ... (the README table's column)."""
    lr_config = dict(lr_config or {'policy': 'fixed'})
    name = policy_name(lr_config.get('policy', 'fixed'))
    text = {'CosineAnnealing': 'cosine', 'FlatCosineAnnealing': 'flat-cosine',
            'CosineRestart': 'cosine-restart'}.get(name, name.lower())
    if name == 'Step':
        step = lr_config.get('step')
        text += f" [{','.join(str(s) for s in step)}]" if isinstance(step, (list, tuple)) \
            else f" {step}"
    if 'gamma' in lr_config:
        text += f" g{lr_config['gamma']:g}"
    if lr_config.get('warmup'):
        unit = 'ep' if lr_config.get('warmup_by_epoch') else ''
        text += (f" warmup {lr_config['warmup']} {lr_config.get('warmup_iters', 0)}{unit} "
                 f"r{lr_config.get('warmup_ratio', 0.1):g}")
    return text


def augmentation_summary(cfg):
    """Train transforms beyond load/crop/flip/normalize, then the batch augments of
    ``model.train_cfg``: 'RandAugment(13 ops) + Mixup(0.8)'; 'none' without any."""
    train = (cfg.get('data') or {}).get('train') or {}
    if isinstance(train, (list, tuple)) or 'datasets' in train:   # ConcatDataset: the first's
        train = (list(train) if isinstance(train, (list, tuple)) else train['datasets'])[0]
    pipeline = train.get('pipeline') or (train.get('dataset') or {}).get('pipeline') or []
    names = []
    for step in pipeline:
        kind = step.get('type', '?')
        if kind in PLAIN_TRANSFORMS:
            continue
        policies = step.get('policies')
        if isinstance(policies, str):
            kind += f"({policies})"
        elif kind == 'RandAugment' and policies:
            kind += f"({len({p.get('type') for p in policies})} ops)"
        elif kind == 'AutoAugment' and policies:
            kind += f"({len(policies)} policies)"
        names.append(kind)
    augments = ((cfg.get('model') or {}).get('train_cfg') or {}).get('augments') or []
    for aug in [augments] if isinstance(augments, dict) else augments:
        kind = aug.get('type', '?').removeprefix('Batch')
        if kind != 'Identity':
            names.append(f"{kind}({aug['alpha']:g})" if 'alpha' in aug else kind)
    return ' + '.join(names) or 'none'


def config_columns(cfg):
    model = cfg.get('model') or {}
    try:
        lr = schedule_plan(cfg).base_lr
    except (ConfigError, AttributeError, TypeError):
        lr = (cfg.get('optimizer') or {}).get('lr')
    return {'model': model_name(model),
            'frozen_stages': (model.get('backbone') or {}).get('frozen_stages', -1),
            'lr': lr, 'lr_schedule': lr_schedule_summary(cfg.get('lr_config')),
            'augmentation': augmentation_summary(cfg)}


def run_row(work_dir):
    """-> (one table row or None, notes)."""
    path, note = find_log(work_dir)
    notes = [note] if note else []
    if path is None:
        return None, notes
    log = load_json_log(path)
    row = {'run': os.path.basename(os.path.normpath(work_dir))}
    config = find_config(work_dir, log.meta)
    try:
        if config is None:
            raise ConfigError("no dumped config (.py)")
        cfg = Config.fromfile(config)
        row.update(config_columns(cfg))
        batch = (cfg.get('data') or {}).get('samples_per_gpu')
    except (ConfigError, AttributeError, TypeError) as err:
        notes.append(f"{work_dir}: config columns left empty ({err})")
        batch = None
    # the step's total batch: per process x processes (a data-parallel run's meta has both)
    per_process = log.meta.get('samples_per_gpu', batch)
    row['batch'] = None if per_process is None else per_process * log.meta.get('processes', 1)
    epochs = log.epochs_done()
    row.update(epochs=epochs, max_epochs=log.meta.get('max_epochs'))
    val = log.val
    if len(val) and TOP1 in val:
        best = val.loc[val[TOP1].idxmax()]
        row.update({TOP1: float(best[TOP1]), 'best_epoch': int(best['epoch']),
                    'final_' + TOP1: float(val[TOP1].iloc[-1])})
        if TOP5 in val:
            row[TOP5] = float(val[TOP5].max())
    if len(log.epochs):
        row['train_min'] = sum(log.epoch_seconds()) / 60
    elif len(log.train):
        row['train_min'] = float(log.train['time'].mean()) * log.steps_per_epoch * epochs / 60
    row['status'] = run_status(log, epochs)
    return row, notes


def run_status(log, epochs):
    """diverged (a NaN/Inf loss) / failed (another error record, e.g. an unreadable image) /
    done / interrupted (stopped by a signal, resumable) / running-or-stopped (a log cannot tell
    a live run from a killed one)."""
    if log.diverged:
        return 'diverged'
    if log.failure and log.failure.get('kind') != 'interrupted':
        return 'failed'
    if log.meta.get('max_epochs') and epochs >= log.meta['max_epochs']:
        return 'done'
    return 'interrupted' if log.failure else 'running-or-stopped'


def compare_runs(work_dirs, sort=TOP1, ascending=False):
    """-> (DataFrame with COLUMNS, one row per run, best first; notes about skipped dirs)."""
    if sort not in COLUMNS:
        raise ConfigError(f"--sort {sort!r}: use one of {', '.join(COLUMNS)}.")
    rows, notes = [], []
    for work_dir in work_dirs:
        if not os.path.isdir(work_dir):
            notes.append(f"{work_dir}: not a folder, skipped")
            continue
        try:
            row, row_notes = run_row(work_dir)
        except ConfigError as err:   # an unreadable log must not hide the other runs
            row, row_notes = None, [f"{work_dir}: skipped, {err}"]
        notes += row_notes
        if row:
            rows.append(row)
    if not rows:
        raise ConfigError("no runs to compare: " + ('; '.join(notes) or 'no folders given'))
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    frame = frame.sort_values(sort, ascending=ascending, na_position='last', kind='stable')
    return frame.reset_index(drop=True), notes


def _cell(column, value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return '-'
    if column in (TOP1, TOP5, 'final_' + TOP1):
        return f"{value:.3f}"
    if column == 'lr':
        return f"{value:g}"
    if column == 'train_min':
        return format_minutes(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace('|', '\\|')


def markdown_table(frame):
    """The frame as a Markdown table (epochs shown as done/max)."""
    columns = [c for c in COLUMNS if c != 'max_epochs']
    lines = ['| ' + ' | '.join(HEADERS.get(c, c) for c in columns) + ' |',
             '| ' + ' | '.join('---' for _ in columns) + ' |']
    for _, row in frame.iterrows():
        cells = [_cell(c, row[c]) for c in columns]
        cells[columns.index('epochs')] += f"/{_cell('max_epochs', row['max_epochs'])}"
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_comparison(frame, notes, md_path=None, csv_path=None):
    """Markdown (table, then the notes) and/or CSV, each written atomically."""
    if md_path:
        text = markdown_table(frame) + '\n'
        if notes:
            text += '\n' + ''.join(f"- {n}\n" for n in notes)
        write_text(md_path, text)
    if csv_path:
        write_csv(csv_path, frame, float_format='%.6g')


THUMB = 160
CAPTION_LINES = 3
LINE_H = 12
LABEL_W = 90
RIGHT, WRONG = (30, 140, 30), (200, 30, 30)


def labelled_rows(result, path):
    """The rows with a ground-truth label, with class names (from the file's class list, else
    the label numbers) where the file has no gt_class/pred_class column."""
    frame = result.rows
    missing = [c for c in ('gt_label', 'pred_label', 'pred_score') if c not in frame]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} column(s); write it with "
                          "scripts/test.py --out FILE.json (default --out-items).")
    classes = result.classes
    for kind in ('gt', 'pred'):
        if f'{kind}_class' not in frame:
            frame[f'{kind}_class'] = [classes[i] if classes and 0 <= i < len(classes) else str(i)
                                      for i in frame[f'{kind}_label']]
    frame = frame[frame['gt_label'] >= 0]
    if frame.empty:
        raise ConfigError(f"{path}: no ground-truth labels (a test-set result?); right and wrong "
                          "need a labelled split such as val.")
    return frame


def _thumbnail(path):
    """The image letterboxed into THUMB x THUMB; a grey square if it cannot be decoded."""
    try:
        with Image.open(path) as img:
            return ImageOps.pad(ImageOps.exif_transpose(img).convert('RGB'), (THUMB, THUMB),
                                color=(255, 255, 255))
    except (OSError, ValueError):
        return Image.new('RGB', (THUMB, THUMB), (160, 160, 160))


def _fit(text, width, font, draw):
    while text and draw.textlength(text, font=font) > width:
        text = text[:-1]
    return text


def contact_sheet(rows_by_label, data_prefix, topk, title):
    """One picture: a row per category ('right', 'wrong') of up to ``topk`` images, each
    captioned pred / gt / score, green when right and red when wrong."""
    font = ImageFont.load_default()
    cell_h = THUMB + CAPTION_LINES * LINE_H + 6
    sheet = Image.new('RGB', (LABEL_W + topk * (THUMB + 4), 18 + len(rows_by_label) * cell_h),
                      'white')
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 3), title, fill='black', font=font)
    for r, (label, rows) in enumerate(rows_by_label):
        y = 18 + r * cell_h
        colour = RIGHT if label.startswith('right') else WRONG
        draw.text((4, y + THUMB // 2), label, fill=colour, font=font)
        if not len(rows):
            draw.text((LABEL_W, y + THUMB // 2), 'none', fill='grey', font=font)
        for c, row in enumerate(rows.itertuples()):
            x = LABEL_W + c * (THUMB + 4)
            sheet.paste(_thumbnail(os.path.join(data_prefix, row.filename)), (x, y))
            caption = (f"pred: {row.pred_class}", f"gt: {row.gt_class}",
                       f"score: {row.pred_score:.3f}")
            for i, line in enumerate(caption):
                draw.text((x, y + THUMB + 2 + i * LINE_H), _fit(line, THUMB, font, draw),
                          fill=colour, font=font)
    return sheet


def safe_name(text):
    return re.sub(r'[^\w.-]+', '_', str(text)).strip('_') or 'class'


def analyze_results(result_path, out_dir, topk=5, data_prefix=None):
    """Per class (by ground truth) a PNG of its ``topk`` most confident right and most confident
    wrong predictions, and ``index.md`` listing the classes worst accuracy first, so the classes
    that cost the most come first even with 257 of them. Returns the index path."""
    if topk < 1:
        raise ConfigError(f"--topk {topk}: give a number >= 1.")
    result = read_results(result_path)
    frame = labelled_rows(result, result_path)
    data_prefix = data_prefix or result.data_prefix
    if not data_prefix:
        raise ConfigError(f"{result_path} does not say where its images are; pass --data-prefix "
                          "(the folder its filenames are relative to, e.g. data/caltech256/val).")
    absent = [f for f in frame['filename'] if not os.path.isfile(os.path.join(data_prefix, f))]
    if absent:
        raise ConfigError(f"{len(absent)} of {len(frame)} images not found under {data_prefix}, "
                          f"e.g. {os.path.join(data_prefix, absent[0])}; check --data-prefix.")
    sheets_dir = os.path.join(out_dir, 'classes')
    os.makedirs(sheets_dir, exist_ok=True)
    frame = frame.assign(right=frame['pred_label'] == frame['gt_label'])
    table = []
    for label, rows in frame.groupby('gt_label', sort=True):
        rows = rows.sort_values('pred_score', ascending=False, kind='stable')
        right, wrong = rows[rows['right']], rows[~rows['right']]
        name = rows['gt_class'].iloc[0]
        file = f"{safe_name(name)}.png"
        if file in (t[-1] for t in table):   # two names that differ only in odd characters
            file = f"{safe_name(name)}_{label}.png"
        sheet = contact_sheet([(f"right {len(right)}", right.head(topk)),
                               (f"wrong {len(wrong)}", wrong.head(topk))], data_prefix, topk,
                              f"{name}: {len(right)}/{len(rows)} right")
        atomic_write(os.path.join(sheets_dir, file), partial(sheet.save, format='PNG'))
        confused = wrong['pred_class'].value_counts()
        table.append((len(right) / len(rows), name, len(rows), len(right), len(wrong),
                      f"{confused.index[0]} ({confused.iloc[0]})" if len(confused) else '-', file))
    table.sort(key=lambda t: (t[0], -t[2]))
    scalars = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    lines = [f"# {os.path.basename(result_path)}: most confident right and wrong per class", '',
             f"{len(frame)} labelled images, {len(table)} classes, top-1 "
             f"{frame['right'].mean():.4f}; images from `{data_prefix}`; up to {topk} per row.",
             *(['Stored metrics: ' + ', '.join(f"{k} {v:.4g}" for k, v in scalars.items())]
               if scalars else []), '',
             '| class | images | right | wrong | accuracy | most confused with | sheet |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    lines += [f"| {name} | {n} | {r} | {w} | {acc:.3f} | {confused} | [png](classes/{file}) |"
              for acc, name, n, r, w, confused, file in table]
    index = os.path.join(out_dir, 'index.md')
    write_text(index, '\n'.join(lines) + '\n')
    return index, len(table)
