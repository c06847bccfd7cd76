"""What an evaluation leaves behind for a person: per-image results, a class table, pictures.

The per-image frame is the one source for every output here (result files, the show dir), so a
row in ``results.csv`` and the picture drawn for it always agree. Files are written under a
temporary name and renamed, so a crash never leaves a truncated file that looks complete.

This module owns the result-file format: ``write_results`` writes it and ``read_results`` is its
one reader (scripts/analyze_results.py and scripts/eval_metric.py use it). ``.json``::

    {"metrics": {...}, "classes": [...], "data_prefix": "/abs/data/val",
     "results": [{"filename": "001.ak47/0001.jpg", "pred_label": 0, ..., "class_scores": [...]}]}

``.csv``: the same row fields as columns, then ``score_<class>`` columns for the class scores
and a ``data_prefix`` column (the same on every row); no metrics.
"""
import json
import math
import os
import pickle
import re
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ..errors import ConfigError
from ..data.datasets import load_rgb
from ..fileio import atomic_write, save_figure, write_bytes, write_csv, write_text
from .metrics import confusion_matrix

OUT_ITEMS = ('pred_label', 'pred_class', 'pred_score', 'gt_label', 'topk', 'class_scores')
SCORE_PREFIX = 'score_'
DATA_PREFIX = 'data_prefix'
PRED_COLUMNS = ('pred_label', 'pred_class', 'top1_label', 'top1_class')
SHOW_MIN_SIDE = 128
MATRIX_TEXT_MAX = 30


def prediction_frame(dataset, probs, classes, topk=5):
    """One row per ``dataset.samples`` entry, in order (the index is the sample position).

    ``frame.attrs`` keeps the class names (result files name the score columns with them and a
    rescoring tool maps labels back to names) and the absolute folder the filenames are relative
    to (so a result file says where its images are).
    """
    probs = np.asarray(probs)
    if len(probs) != len(dataset.samples):
        raise ValueError(f"{len(probs)} rows of probabilities for {len(dataset.samples)} images.")
    classes = list(classes)
    order = np.argsort(-probs, axis=1, kind='stable')[:, :min(topk, len(classes))]
    labels = [int(label) for _, label in dataset.samples]
    frame = pd.DataFrame({
        'filename': [os.path.relpath(p, dataset.data_prefix).replace(os.sep, '/')
                     for p, _ in dataset.samples],
        'gt_label': labels,
        'gt_class': [classes[label] if label >= 0 else '' for label in labels],
        'pred_label': order[:, 0].astype(int),
        'pred_class': [classes[i] for i in order[:, 0]],
        'pred_score': probs[np.arange(len(probs)), order[:, 0]].astype(float),
    })
    for i in range(order.shape[1]):
        frame[f'top{i + 1}_label'] = order[:, i].astype(int)
        frame[f'top{i + 1}_class'] = [classes[k] for k in order[:, i]]
        frame[f'top{i + 1}_score'] = probs[np.arange(len(probs)), order[:, i]].astype(float)
    frame.attrs['classes'] = classes
    frame.attrs[DATA_PREFIX] = os.path.abspath(dataset.data_prefix)
    return frame


def _item_columns(frame, item):
    if item == 'topk':
        return [c for c in frame.columns if re.fullmatch(r'top\d+_(label|class|score)', c)]
    if item == 'gt_label':
        return ['gt_label', 'gt_class']
    return [item]


def _jsonable(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


#: what mmcls 0.25's tools/test.py --out holds besides the metrics (``--out-items``)
MMCLS_ITEMS = ('class_scores', 'pred_score', 'pred_label', 'pred_class')


def _out_items(items, known, default):
    """``--out-items``: None -> ``default``; mmcls's 'all' -> ``known``, 'none' -> []."""
    if items is None:
        return list(default)
    items = list(dict.fromkeys(items))
    if {'all', 'none'} & set(items):
        if len(items) > 1:
            raise ConfigError(f"--out-items {' '.join(items)}: 'all' and 'none' stand alone.")
        return list(known) if items == ['all'] else []
    unknown = [i for i in items if i not in known]
    if unknown:
        raise ConfigError(f"--out-items {unknown}: unknown; use some of {known}, 'all' or "
                          "'none'.")
    return items


def mmcls_results(frame, probs, metrics=None, items=None):
    """The dict mmcls 0.25's ``tools/test.py --out x.pkl`` writes: the metrics (as ms_cls
    reports them: fractions, where mmcls gives percents) and, in image order, ``class_scores``
    (N x classes), ``pred_score``, ``pred_label`` and ``pred_class``; ``items`` picks among
    those (mmcls's default: all), plus ``gt_label`` when asked."""
    items = _out_items(items, MMCLS_ITEMS + ('gt_label',), MMCLS_ITEMS)
    if 'class_scores' in items and probs is None:
        raise ConfigError("--out-items class_scores needs the probabilities.")
    values = {'class_scores': None if probs is None else np.asarray(probs, np.float32),
              'pred_score': frame['pred_score'].to_numpy(np.float32),
              'pred_label': frame['pred_label'].to_numpy(np.int64),
              'pred_class': list(frame['pred_class']),
              'gt_label': frame['gt_label'].to_numpy(np.int64)}
    return {**(metrics or {}), **{item: values[item] for item in items}}


def write_results(path, frame, probs=None, metrics=None, items=None, extra=()):
    """Write the per-image results as ``.json`` (with the metrics) or ``.csv``, or as ``.pkl``
    in mmcls's layout (:func:`mmcls_results`).

    ``items`` (default: all of OUT_ITEMS but class_scores, which is one column per class) picks
    the columns after ``filename``; 'gt_label' brings gt_class along, 'topk' the top{i}_* columns.
    ``extra``: more columns of ``frame`` to keep right after ``filename`` (k-fold's ``fold``).
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in ('.json', '.csv', '.pkl'):
        raise ConfigError(f"--out {path}: unknown extension {ext or '(none)'!r}; "
                          "use .json, .csv or .pkl (mmcls's layout).")
    if ext == '.pkl':
        write_bytes(path, pickle.dumps(mmcls_results(frame, probs, metrics, items)))
        return
    items = _out_items(items, OUT_ITEMS, [i for i in OUT_ITEMS if i != 'class_scores'])
    if 'class_scores' in items and probs is None:
        raise ConfigError("--out-items class_scores needs the probabilities.")
    columns = ['filename', *extra] + [c for i in items if i != 'class_scores'
                                      for c in _item_columns(frame, i)]
    table = frame[list(dict.fromkeys(columns))]
    classes = frame.attrs.get('classes')
    prefix = frame.attrs.get(DATA_PREFIX)
    if ext == '.csv':
        if 'class_scores' in items:
            names = classes or [str(i) for i in range(np.shape(probs)[1])]
            scores = pd.DataFrame(np.asarray(probs), index=table.index,
                                  columns=[SCORE_PREFIX + str(n) for n in names])
            table = pd.concat([table, scores], axis=1)
        if prefix:
            table = table.assign(**{DATA_PREFIX: prefix})
        write_csv(path, table, float_format='%.6g')
    else:
        records = table.to_dict('records')
        if 'class_scores' in items:
            for record, row in zip(records, np.asarray(probs, dtype=float)):
                record['class_scores'] = [round(float(v), 6) for v in row]
        doc = {'metrics': metrics or {}, **({'classes': classes} if classes else {}),
               **({DATA_PREFIX: prefix} if prefix else {}), 'results': records}
        write_text(path, json.dumps(doc, indent=1, default=_jsonable))


@dataclass
class ResultFile:
    """A result file read back. ``rows``: one per image, the columns written (filename,
    pred_label, ...; labels int, scores float, the rest text) without the class scores, which
    are ``scores`` (N, C) when written; ``classes`` the class list when the file has one (a CSV
    only with its score columns); ``metrics`` empty for a CSV."""
    rows: pd.DataFrame
    classes: list = None
    data_prefix: str = None
    metrics: dict = None
    scores: np.ndarray = None


def is_result_table(columns):
    """A table with filenames and predictions, as write_results writes them (not a submission)."""
    return 'filename' in columns and bool(set(PRED_COLUMNS) & set(columns))


def _typed(frame):
    """CSV cells are read as text (a class named '001' or 'NA' stays a name); labels and scores
    get their numeric types back."""
    for column in frame.columns:
        if re.fullmatch(r'(gt|pred|top\d+)_label', column):
            frame[column] = frame[column].astype(np.int64)
        elif re.fullmatch(r'(pred|top\d+)_score', column):
            frame[column] = frame[column].astype(np.float64)
    return frame


def read_results(path):
    """-> ResultFile of a ``.json`` or ``.csv`` that write_results wrote."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in ('.json', '.csv'):
        raise ConfigError(f"{path}: unknown extension {ext or '(none)'!r}; give a .json or .csv "
                          "result file (scripts/test.py --out).")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: result file not found.")
    if ext == '.csv':
        try:
            rows = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not a readable CSV ({err}).") from None
        score_columns = [c for c in rows.columns if c.startswith(SCORE_PREFIX)]
        doc = {'classes': [c[len(SCORE_PREFIX):] for c in score_columns] or None,
               DATA_PREFIX: rows[DATA_PREFIX].iloc[0] if DATA_PREFIX in rows and len(rows)
               else None}
        scores = rows[score_columns].astype(np.float64).to_numpy() if score_columns else None
        rows = rows.drop(columns=score_columns + [DATA_PREFIX], errors='ignore')
    else:
        try:
            with open(path, encoding='utf-8') as f:
                doc = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid JSON ({err}).") from None
        if not isinstance(doc, dict) or not isinstance(doc.get('results'), list):
            raise ConfigError(f"{path}: expected a result file from scripts/test.py --out "
                              "(a JSON object with a 'results' list).")
        rows = pd.DataFrame(doc['results'])
        scores = (np.array(rows.pop('class_scores').tolist(), dtype=np.float64)
                  if 'class_scores' in rows else None)
    if 'filename' not in rows:
        raise ConfigError(f"{path}: no 'filename' column; is this a result file written by "
                          "scripts/test.py --out?")
    return ResultFile(_typed(rows), doc.get('classes'), doc.get(DATA_PREFIX),
                      doc.get('metrics') or {}, scores)


def class_table_text(table, limit=None):
    """The per-class table as text, worst recall first (ties: the larger class first), so the
    classes that cost the most accuracy lead."""
    table = table.assign(_support=-table['support']).sort_values(
        ['recall', '_support'], kind='stable').drop(columns='_support')
    shown = table if limit is None else table.head(limit)
    text = shown.to_string(formatters={c: '{:.3f}'.format
                                       for c in ('precision', 'recall', 'f1_score')})
    if len(shown) < len(table):
        text += f"\n... {len(table) - len(shown)} more classes"
    return text


def save_confusion_matrix(probs, labels, classes, path):
    """Confusion matrix PNG: rows = true class, colours = row fractions (so small classes show
    their errors as clearly as big ones), counts in the cells while they stay legible."""
    if os.path.splitext(path)[1].lower() != '.png':
        raise ConfigError(f"--confusion-matrix {path}: give a .png file name.")
    counts = confusion_matrix(np.asarray(probs).argmax(axis=1), np.asarray(labels), len(classes))
    save_figure(path, confusion_figure(counts, classes), format='png', dpi=100)


def confusion_figure(counts, classes):
    """The Figure of save_confusion_matrix from a (true x predicted) count matrix; its side
    grows with the classes (to 50 in), so 257 class names stay legible when zoomed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    n = len(classes)
    rows = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    side = min(max(6.0, 0.18 * n + 3), 50.0)
    font = max(3.0, min(9.0, 0.75 * 72 * (side - 3) / max(n, 1)))
    fig = Figure(figsize=(side, side))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap='Blues', vmin=0, vmax=1, interpolation='nearest')
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='fraction of the true class')
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=90, fontsize=font)
    ax.set_yticks(range(n), [str(c) for c in classes], fontsize=font)
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class')
    ax.set_title(f'confusion matrix ({int(counts.sum())} images, top-1 '
                 f'{np.trace(counts) / max(counts.sum(), 1):.3f})')
    if n <= MATRIX_TEXT_MAX:
        for (i, j), count in np.ndenumerate(counts):
            if count:
                ax.text(j, i, str(count), ha='center', va='center', fontsize=font,
                        color='white' if fractions[i, j] > 0.5 else 'black')
    fig.tight_layout()
    return fig


def _annotated(path, lines, colour):
    return annotate(Image.fromarray(load_rgb(path)), lines, colour)


def annotate(img, lines, colour):
    """``img`` enlarged to SHOW_MIN_SIDE (and to fit the text), captioned (show dirs, CAMs)."""
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(img)
    boxes = [measure.textbbox((0, 0), line, font=font) for line in lines]
    text_w = max(b[2] - b[0] for b in boxes) + 8
    scale = max(1.0, SHOW_MIN_SIDE / min(img.size), text_w / img.width)
    img = img.resize((math.ceil(img.width * scale), math.ceil(img.height * scale)),
                     Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    y = 2
    for line, box in zip(lines, boxes):
        height = box[3] - box[1]
        draw.rectangle((0, y, box[2] - box[0] + 6, y + height + 4), fill=(0, 0, 0))
        draw.text((3, y + 2 - box[1]), line, fill=colour, font=font)
        y += height + 5
    return img


def save_show_dir(frame, dataset, show_dir, limit=None):
    """Draw each image with its prediction under show_dir/{mistakes,correct,predicted}/.

    Mistakes come first and the most confident ones lead (those hint at label noise or a
    systematic confusion); correct and unlabelled images follow least confident first, the ones
    nearest to a mistake. ``limit`` caps the number drawn in all. Pictures of an earlier run in
    those folders are removed so that the folders describe this run only.
    """
    labelled = frame['gt_label'] >= 0
    wrong = labelled & (frame['pred_label'] != frame['gt_label'])
    groups = [('mistakes', frame[wrong].sort_values('pred_score', ascending=False, kind='stable')),
              ('correct', frame[labelled & ~wrong].sort_values('pred_score', kind='stable')),
              ('predicted', frame[~labelled].sort_values('pred_score', kind='stable'))]
    groups = [(name, rows) for name, rows in groups
              if len(rows) or (name != 'predicted' and labelled.any())]
    budget = len(frame) if limit is None else max(0, limit)
    counts = {}
    for name, rows in groups:
        folder = os.path.join(show_dir, name)
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            if re.fullmatch(r'\d+_.*\.jpg', old):
                os.remove(os.path.join(folder, old))
        rows = rows.head(budget)
        budget -= len(rows)
        width = len(str(len(rows)))
        colour = {'mistakes': (255, 80, 80), 'correct': (80, 255, 80)}.get(name, (255, 255, 255))
        for rank, (position, row) in enumerate(rows.iterrows(), 1):
            path = dataset.samples[position][0]
            lines = [f"pred: {row.pred_class} {row.pred_score:.2f}"]
            if row.gt_label >= 0:
                lines.append(f"gt: {row.gt_class}")
            stem = os.path.splitext(os.path.basename(path))[0]
            atomic_write(os.path.join(folder, f'{rank:0{width}d}_{stem}.jpg'),
                         partial(_annotated(path, lines, colour).save, format='JPEG', quality=90))
        counts[name] = len(rows)
    return counts
