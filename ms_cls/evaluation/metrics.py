"""mmcls evaluation metrics from a probability matrix, as fractions (0.987, not 98.7).

``accuracy`` gives ``accuracy_top-k`` for each k in ``topk`` that is at most the number of
classes (top-5 with 4 classes is skipped, not an error); ``precision``, ``recall``,
``f1_score`` and ``support`` are per class, averaged with ``average_mode='macro'`` (mmcls's
default) or listed per class with ``average_mode='none'``. A class never predicted has
precision 0 and one absent from the labels recall 0 (mmcls's convention).
"""
import numpy as np
import pandas as pd

from ..config import parse_value
from ..errors import ConfigError

METRICS = ('accuracy', 'precision', 'recall', 'f1_score', 'support')
OPTION_KEYS = ('topk', 'average_mode', 'thrs')


def check_metrics(metrics, options=None):
    """-> (metrics list, options dict) with bad names/options reported clearly."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics or ['accuracy'])
    for name in metrics:
        if name not in METRICS:
            raise ConfigError(f"--metrics {name!r} is not known; use some of {METRICS}.")
    options = dict(options or {})
    for key in options:
        if key not in OPTION_KEYS:
            raise ConfigError(f"--metric-options {key}: unknown; use {OPTION_KEYS}.")
    topk = options.get('topk', (1, 5))
    topk = (topk,) if isinstance(topk, int) else tuple(topk)
    if not topk or not all(isinstance(k, int) and k >= 1 for k in topk):
        raise ConfigError(f"--metric-options topk={options.get('topk')!r}: give positive ints, "
                          "e.g. topk=1,5.")
    options['topk'] = topk
    if 'average_mode' in options and options['average_mode'] is None:
        options['average_mode'] = 'none'    # the command line's 'none' parses to None
    mode = options.setdefault('average_mode', 'macro')
    if mode not in ('macro', 'none'):
        raise ConfigError(f"--metric-options average_mode={mode!r}; use 'macro' or 'none'.")
    if options.get('thrs') not in (None, 0, 0.0):
        raise ConfigError("--metric-options thrs is not supported (scores are not thresholded).")
    return metrics, options


def topk_accuracy(probs, labels, k):
    top = np.argsort(-probs, axis=1, kind='stable')[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def per_class_table(probs, labels, classes):
    """DataFrame indexed by class: support, correct, precision, recall, f1_score, plus the class
    it is most often mistaken for."""
    preds = probs.argmax(axis=1)
    n = len(classes)
    confusion = confusion_matrix(preds, labels, n)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    confused = [classes[int(off[i].argmax())] if off[i].sum() else '' for i in range(n)]
    return pd.DataFrame({'support': support, 'correct': tp.astype(int), 'precision': precision,
                         'recall': recall, 'f1_score': f1, 'most_confused_with': confused},
                        index=pd.Index(classes, name='class'))


def confusion_matrix(preds, labels, num_classes):
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def evaluate(probs, labels, classes, metrics=('accuracy',), options=None):
    """{metric name: value}; per-class values are lists under average_mode='none'."""
    metrics, options = check_metrics(metrics, options)
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ConfigError("The split has no labels (or labels outside the classes); evaluate a "
                          "labelled split, or use scripts/predict.py for unlabelled images.")
    results = {}
    if 'accuracy' in metrics:
        for k in options['topk']:
            if k <= len(classes):
                results[f'accuracy_top-{k}'] = topk_accuracy(probs, labels, k)
    table = per_class_table(probs, labels, classes)
    for name in ('precision', 'recall', 'f1_score', 'support'):
        if name not in metrics:
            continue
        column = table[name]
        if options['average_mode'] == 'none':
            results[name] = [float(v) if name != 'support' else int(v) for v in column]
        else:
            results[name] = int(column.sum()) if name == 'support' else float(column.mean())
    return results


def parse_metric_options(options):
    """``['topk=1,5', 'average_mode=none']`` (or a dict) -> a dict. average_mode stays text:
    the config parser would turn 'none' into None."""
    if isinstance(options, dict) or options is None:
        return dict(options or {})
    parsed = {}
    for pair in options:
        key, sep, value = pair.partition('=')
        if not sep or not key.strip():
            raise ConfigError(f"--metric-options expects KEY=VALUE, got {pair!r} "
                              "(e.g. topk=1,5 average_mode=none).")
        key = key.strip()
        parsed[key] = value.strip() if key == 'average_mode' else parse_value(value)
    return parsed


def format_metrics(metrics):
    """``accuracy_top-1: 0.9870`` lines, as every script prints them; per-class lists (from
    average_mode='none') on one line."""
    def text(value):
        if isinstance(value, list):
            return '[' + ', '.join(text(v) for v in value) + ']'
        return str(value) if isinstance(value, int) else f'{value:.4f}'
    return '\n'.join(f"{name}: {text(value)}" for name, value in metrics.items())
