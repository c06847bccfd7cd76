"""Score a saved prediction file against an answer key, without a model (scripts/eval_metric.py).

Two kinds of prediction file are read:

* a result file from ``write_results`` (``.json`` or ``.csv``, read by ``read_results``):
  ``filename`` plus pred_label / pred_class, the top{i}_* columns (used for top-k) and, when
  saved, the class scores (exact top-k for every k);
* a submission CSV: an id column and one label column holding class indices, class names, or
  Caltech-256 numeric prefixes (1 for '001.ak47'), plus ``<label>_1 .. <label>_K`` ranked
  columns when scripts/predict.py wrote them with --topk K (used for top-k).

The answer key is a CSV with an id column and a ``label`` (index) and/or ``class_name`` column,
like the demo's test_answers.csv. Only MindSpore-free modules are imported, so this runs in a
second on a machine without the training stack.
"""
import os
import re
from collections import Counter

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..data.datasets import class_number
from .metrics import check_metrics, evaluate, format_metrics, parse_metric_options
from .results import is_result_table, read_results

MATCH_LEVELS = (
    ('exact id', lambda s: s),
    ('file name', lambda s: s.replace('\\', '/').rsplit('/', 1)[-1]),
    ('file stem', lambda s: os.path.splitext(s.replace('\\', '/').rsplit('/', 1)[-1])[0]),
)


def _read_csv(path):
    """Every cell as stripped text: '001' must stay '001' and a class named 'NA' stay a name."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: file not found.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not a readable CSV ({err}).") from None
    if frame.empty:
        raise ConfigError(f"{path}: no rows.")
    frame.columns = [c.strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip())


def _is_int(values):
    return all(re.fullmatch(r'-?\d+', v) for v in values)


def _id_column(frame, id_column):
    """The named id column, else the first one (Kaggle files lead with the id)."""
    return id_column if id_column in frame.columns else frame.columns[0]


def read_answers(path, id_column='id', label_column='label'):
    """-> (ids, label indices or None, class names or None) from an answer-key CSV."""
    frame = _read_csv(path)
    ids = frame[_id_column(frame, id_column)].tolist()
    labels, names = None, None
    if label_column in frame.columns:
        if _is_int(frame[label_column]):
            labels = frame[label_column].astype(int).to_numpy()
        else:
            names = frame[label_column].tolist()
    if 'class_name' in frame.columns and names is None:
        names = frame['class_name'].tolist()
    if labels is None and names is None:
        raise ConfigError(f"{path}: no '{label_column}' or 'class_name' column (columns: "
                          f"{list(frame.columns)}).")
    return ids, labels, names


def read_predictions(path, id_column='id', label_column='label'):
    """A prediction file as a dict: ids, ranked (N, K) 'labels' and/or 'names' columns (best
    first), 'scores' (N, C) with 'classes' when saved, or 'tokens' for a submission's raw labels.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in ('.json', '.csv'):
        raise ConfigError(f"{path}: unknown extension {ext or '(none)'!r}; give a .json or .csv.")
    frame = _read_csv(path) if ext == '.csv' else None
    if frame is None or is_result_table(frame.columns):
        result = read_results(path)
        if not is_result_table(result.rows.columns):
            raise ConfigError(f"{path}: the results have no 'filename' and pred_label/pred_class.")
        return _ranked(result.rows, result.classes, result.scores)
    ids_col = _id_column(frame, id_column)
    others = [c for c in frame.columns if c != ids_col]
    mains = [c for c in others if not any(re.fullmatch(rf'{re.escape(o)}_\d+', c) for o in others)]
    label_col = label_column if label_column in others else (mains[0] if len(mains) == 1
                                                             else None)
    if label_col is None:
        raise ConfigError(f"{path}: which column holds the labels? Columns: {list(frame.columns)}; "
                          "name it with --label-column.")
    ranks = [label_col]
    while f'{label_col}_{len(ranks)}' in frame.columns:
        ranks.append(f'{label_col}_{len(ranks)}')
    cols = ranks[1:] or ranks
    return {'ids': frame[ids_col].tolist(), 'tokens': frame[cols].to_numpy().astype(object)}


def _ranked(frame, classes, scores):
    pred = {'ids': frame['filename'].tolist(), 'classes': classes, 'scores': scores}
    for kind, suffix in (('labels', 'label'), ('names', 'class')):
        k = 0
        while f'top{k + 1}_{suffix}' in frame.columns:
            k += 1
        cols = [f'top{i + 1}_{suffix}' for i in range(k)] or [f'pred_{suffix}']
        if cols[0] in frame.columns:
            values = frame[cols].to_numpy()
            pred[kind] = values.astype(int) if kind == 'labels' else values.astype(object)
    return pred


def match_ids(gt_ids, pred_ids):
    """Row of ``pred_ids`` for each answer-key id, and the rule that matched them.

    The first rule under which both files name the same set wins; if none does, the rule that
    matches the most ids is used to report what is missing, extra or duplicated.
    """
    best = None
    for name, key in MATCH_LEVELS:
        gk, pk = [key(s) for s in gt_ids], [key(s) for s in pred_ids]
        overlap = len(set(gk) & set(pk))
        if best is None or overlap > best[0] or set(gk) == set(pk):
            best = (overlap, name, gk, pk)
        if set(gk) == set(pk):
            break
    _, name, gk, pk = best
    problems = []
    for what, keys in (('the answer key', gk), ('the predictions', pk)):
        dup = sorted(k for k, n in Counter(keys).items() if n > 1)
        if dup:
            problems.append(f"{len(dup)} duplicate ids in {what}, e.g. {dup[:5]}")
    missing, extra = sorted(set(gk) - set(pk)), sorted(set(pk) - set(gk))
    if missing:
        problems.append(f"{len(missing)} ids missing from the predictions, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} extra ids not in the answer key, e.g. {extra[:5]}")
    if problems:
        raise ConfigError(f"ids compared by {name}: " + '; '.join(problems) + '.')
    row = {k: i for i, k in enumerate(pk)}
    return np.array([row[k] for k in gk], dtype=np.int64), name


def _class_space(pred, gt_labels, gt_names):
    """The class list every index refers to: the result file's own list when it has one, else
    the answer key's names (by label index when given), else plain indices."""
    if pred.get('classes'):
        return list(pred['classes'])
    if gt_names is not None:
        if gt_labels is not None:
            classes = [str(i) for i in range(int(gt_labels.max()) + 1)]
            for label, name in zip(gt_labels, gt_names):
                classes[label] = name
        else:
            classes = sorted(set(gt_names))
        extra = [] if pred.get('names') is None else pred['names'].ravel().tolist()
        return classes + sorted(set(extra) - set(classes))
    top = [int(gt_labels.max())]
    if pred.get('labels') is not None:
        top.append(int(pred['labels'].max()))
    if pred.get('tokens') is not None and _is_int(pred['tokens'].ravel()):
        top.append(max(int(t) for t in pred['tokens'].ravel()))
    return [str(i) for i in range(max(top) + 1)]


def _indices(values, classes, what):
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted({v for v in values if v not in lookup})
    if unknown:
        raise ConfigError(f"{what}: {len(unknown)} class names not among the {len(classes)} "
                          f"classes, e.g. {unknown[:5]}.")
    return np.array([lookup[v] for v in values], dtype=np.int64)


def _check_range(labels, classes, what):
    bad = labels[(labels < 0) | (labels >= len(classes))]
    if len(bad):
        raise ConfigError(f"{what}: label {int(bad[0])} is outside 0..{len(classes) - 1}.")
    return labels


def _submission_labels(tokens, classes, gt, what):
    """Read a submission's (N, K) labels as class names, indices or Caltech prefixes, whichever
    fits; when indices and prefixes both fit, the reading whose top-1 agrees more with the key
    is used."""
    flat = tokens.ravel().tolist()
    if set(flat) <= set(classes) or not _is_int(flat):
        return _indices(flat, classes, what).reshape(tokens.shape), 'class names'
    values = np.array([int(t) for t in flat], dtype=np.int64).reshape(tokens.shape)
    readings = {}
    if values.min() >= 0 and values.max() < len(classes):
        readings['class indices'] = values
    numbers = Counter(class_number(c) for c in classes)
    prefix = {class_number(c): i for i, c in enumerate(classes)
              if class_number(c) is not None and numbers[class_number(c)] == 1}
    if all(int(v) in prefix for v in flat):
        readings['Caltech prefixes'] = np.vectorize(prefix.get, otypes=[np.int64])(values)
    if not readings:
        raise ConfigError(f"{what} {int(values.min())}..{int(values.max())} are neither "
                          f"class indices 0..{len(classes) - 1} nor Caltech prefixes of the "
                          "classes (1 for '001.ak47').")
    if len(readings) == 2 and not np.array_equal(*readings.values()):
        name = max(readings, key=lambda r: (readings[r][:, 0] == gt).mean())
        return readings[name], f"{name} (both readings fit; this one agrees more with the key)"
    name = next(iter(readings))
    return readings[name], name


def _ranked_indices(pred, order, classes, gt, key_has_names, result, notes):
    """(N, K) class indices, best first, in answer-key order. Names are compared when the file
    has no class list of its own but the key has names, so a different class order is harmless.
    """
    if 'tokens' in pred:
        ranked, reading = _submission_labels(pred['tokens'][order], classes, gt,
                                             f"{result} labels")
        notes.append(f"submission labels read as {reading}")
        return ranked
    names = pred.get('names')
    if names is not None and (pred.get('labels') is None
                              or (not pred.get('classes') and key_has_names)):
        names = names[order]
        return _indices(names.ravel().tolist(), classes, result).reshape(names.shape)
    return _check_range(pred['labels'][order], classes, result)


def _rank_probs(ranked, num_classes):
    """Scores that reproduce a ranking: K for the first choice down to 1, 0 for unranked."""
    probs = np.zeros((len(ranked), num_classes))
    k = ranked.shape[1]
    for r in range(k):
        probs[np.arange(len(ranked)), ranked[:, r]] = k - r
    return probs


def rescore(result, ann, metrics=('accuracy',), metric_options=None, id_column='id',
            label_column='label', echo=print):
    """Score the prediction file ``result`` against the answer key ``ann``; prints notes and
    the metric lines through ``echo`` and returns {metric: value}."""
    options = parse_metric_options(metric_options)
    asked_topk = 'topk' in options
    metrics, options = check_metrics(metrics, options)
    gt_ids, gt_labels, gt_names = read_answers(ann, id_column, label_column)
    pred = read_predictions(result, id_column, label_column)
    order, rule = match_ids(gt_ids, pred['ids'])
    echo(f"ids matched by {rule}: {len(order)} images")
    classes = _class_space(pred, gt_labels, gt_names)
    gt = (_indices(gt_names, classes, f"{ann} class names") if gt_names is not None
          else _check_range(gt_labels, classes, ann))
    notes = []
    ranked = _ranked_indices(pred, order, classes, gt, gt_names is not None, result, notes)
    if pred.get('scores') is not None:
        probs, held = pred['scores'][order], len(classes)
    else:
        probs, held = _rank_probs(ranked, len(classes)), ranked.shape[1]
    skipped = [k for k in options['topk'] if held < k <= len(classes)]
    options['topk'] = tuple(k for k in options['topk'] if k not in skipped)
    if skipped and asked_topk:
        notes.append(f"top-{','.join(map(str, skipped))} skipped: the file holds {held} "
                     "ranked prediction(s) per image")
    if not options['topk']:
        metrics = [m for m in metrics if m != 'accuracy']
        options['topk'] = (1,)
    if not metrics:
        raise ConfigError("Nothing left to compute; ask for a top-k the file holds.")
    for note in notes:
        echo(f"note: {note}")
    scores = evaluate(probs, gt, classes, metrics, options)
    echo(format_metrics(scores))
    return scores
