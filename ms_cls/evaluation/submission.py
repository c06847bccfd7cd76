"""Leaderboard CSVs from a folder of unlabelled test images (``scripts/predict.py``).

Rows: one per image file under the folder, in sorted relative-path order (``list_images``), so
reruns and ensembles write rows in the same order; ``check_against_folder`` re-lists the folder
before anything is written, and files are written atomically (temp + ``os.replace``), so a
half-written or short CSV never sits where a leaderboard upload would pick it up.

Columns: ``columns=(ID, LABEL)`` names the two main columns. ``topk=K > 1`` appends
``LABEL_1 .. LABEL_K``, best first; ``LABEL`` stays the top-1 (equal to ``LABEL_1``), so a top-1
grader reading ``LABEL`` still works and a top-K one finds the ranks as separate columns.

``pseudo_labels``: the confident predictions (top probability >= ``threshold``) are also written
as an ann file, to train on next to the training set (a list under ``data.train``).

Unreadable images: every image is fully decoded before a model is built (a header check passes a
truncated JPEG, which would then fail mid-prediction; ``ms_cls.data.scan``, cached as there). By
default any bad file stops the run with one ImageLoadError naming all of them and nothing is
written. ``skip_unreadable`` leaves them out of the CSV, lists them in ``<out>.unreadable.txt``
and warns on stderr: a leaderboard may reject or zero-score a CSV with missing ids, so that is
opt-in, never silent (and not ``data.skip_broken``, which is training's rule). Files under the
folder that are not images ms_cls reads (by extension) are named in a warning too.
"""
import os
import sys
from collections import Counter

import numpy as np
import pandas as pd

from ..config import Config, parse_options
from ..errors import ConfigError, ImageLoadError, OutputExists, SubmissionError
from ..data.datasets import (CustomDataset, class_number, image_load_error, list_images,
                             other_files_warning)
from ..data.scan import checkpoint_check
from ..fileio import save_npy, write_csv, write_lines
from .inference import check_tta, ensemble_probs, load_models

LABEL_FORMATS = ('index', 'name', 'prefix')
ID_FORMATS = ('name', 'stem', 'path')


def _choice(value, options, flag):
    if value not in options:
        raise ConfigError(f"{flag} {value!r} is not known; use one of {options}.")
    return value


def check_columns(columns):
    """'id,label' or a pair -> (id column, label column)."""
    names = tuple(c.strip() for c in (columns.split(',') if isinstance(columns, str) else columns))
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise ConfigError(f"--columns {','.join(names)!r}: give two different names, the id "
                          "column first, e.g. --columns id,label.")
    return names


def check_topk(topk, num_classes=None):
    """A positive int, at most ``num_classes`` once that is known."""
    if not isinstance(topk, int) or topk < 1 or (num_classes and topk > num_classes):
        raise ConfigError(f"--topk {topk!r}: give an int from 1 to the number of classes"
                          + (f" ({num_classes})." if num_classes else "."))
    return topk


def label_values(classes, label_format='index'):
    """What the CSV writes for each class index: the index, the name, or the name's number."""
    _choice(label_format, LABEL_FORMATS, '--label-format')
    if label_format == 'index':
        return list(range(len(classes)))
    if label_format == 'name':
        return list(classes)
    values = []
    for name in classes:
        if class_number(name) is None:
            raise ConfigError(f"--label-format prefix: class {name!r} has no numeric prefix "
                              "(as in '001.ak47' -> 1); use --label-format index or name.")
        values.append(class_number(name))
    shared = sorted(v for v, n in Counter(values).items() if n > 1)
    if shared:
        raise ConfigError(f"--label-format prefix: several classes share the number(s) "
                          f"{shared[:5]}; use --label-format index or name.")
    return values


def image_ids(paths, root, id_format='name'):
    """CSV ids of ``paths`` (files under ``root``). Unique, or a row could not be told apart."""
    _choice(id_format, ID_FORMATS, '--id-format')
    ids = [os.path.relpath(p, root).replace(os.sep, '/') for p in paths]
    if id_format != 'path':
        ids = [i.rsplit('/', 1)[-1] for i in ids]
    if id_format == 'stem':
        ids = [os.path.splitext(i)[0] for i in ids]
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        files = [os.path.relpath(p, root) for p, i in zip(paths, ids) if i == repeated[0]]
        fix = "'name' or 'path'" if id_format == 'stem' else "'path' (ids relative to the folder)"
        raise ConfigError(f"--id-format {id_format}: {len(repeated)} id(s) repeat under {root}, "
                          f"e.g. {repeated[0]!r} for {files}; use --id-format {fix}.")
    return ids


def submission_frame(paths, root, probs, classes, columns=('id', 'label'), id_format='name',
                     label_format='index', topk=1):
    """One row per path, in the given order; see the module docstring for the column scheme.

    ``frame.attrs`` keeps ``classes`` and ``label_format`` so the labels can be read back.
    """
    id_col, label_col = check_columns(columns)
    probs = np.asarray(probs)
    if probs.shape != (len(paths), len(classes)):
        raise ValueError(f"probs has shape {probs.shape}, expected ({len(paths)}, {len(classes)}).")
    ranked_cols = [f'{label_col}_{k}' for k in range(1, check_topk(topk, len(classes)) + 1)]
    if topk > 1 and id_col in ranked_cols:
        raise ConfigError(f"--columns: id column {id_col!r} clashes with the --topk columns.")
    values = label_values(classes, label_format)
    ranked = np.argsort(-probs, axis=1, kind='stable')[:, :topk]   # ties: lower index, as argmax
    frame = pd.DataFrame({id_col: image_ids(paths, root, id_format),
                          label_col: [values[i] for i in ranked[:, 0]]})
    for k, col in enumerate(ranked_cols if topk > 1 else []):
        frame[col] = [values[i] for i in ranked[:, k]]
    frame.attrs.update(classes=list(classes), label_format=label_format)
    return frame


def check_against_folder(frame, paths, img_dir, skipped=()):
    """Guard before writing: the rows plus ``skipped`` are the folder's image files, each once."""
    def rel(ps):
        return [os.path.relpath(p, img_dir).replace(os.sep, '/') for p in ps]
    on_disk = set(rel(os.path.join(img_dir, p) for p in list_images(img_dir)))
    listed = Counter(rel(paths) + rel(skipped))
    problems = []
    if len(frame) != len(paths):
        problems.append(f"{len(frame)} rows for {len(paths)} predicted images")
    ids = frame.iloc[:, 0]
    if ids.duplicated().any():
        problems.append(f"repeated ids {ids[ids.duplicated()].head(3).tolist()}")
    for what, names in (('listed twice', [p for p, n in listed.items() if n > 1]),
                        ('not predicted', sorted(on_disk - set(listed))),
                        ('no longer in the folder', sorted(set(listed) - on_disk))):
        if names:
            problems.append(f"{len(names)} image(s) {what}, e.g. {names[:3]}")
    if problems:
        raise SubmissionError(f"Not writing the submission: it must have one row per image under "
                          f"{img_dir} ({len(on_disk)} files): " + '; '.join(problems)
                          + ". Did the folder change while predicting? Run again.")


def _file_target(path):
    """``path``, unless it is a folder (renaming a file over it would fail with a traceback)."""
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a folder; give a file name to write.")
    return path


def write_submission(frame, path):
    """CSV at ``path`` (parent folders made); only ``path`` itself is replaced."""
    write_csv(_file_target(path), frame)


def write_probs(probs, path, ids, classes):
    """The (rows, classes) float32 matrix as .npy plus ``<path>.ids.txt`` (the CSV ids, one per
    row) and ``<path>.classes.txt`` (one per column): enough to blend runs later without
    guessing the row or column order."""
    save_npy(_file_target(path), np.asarray(probs, np.float32))
    for suffix, lines in (('ids', ids), ('classes', classes)):
        write_lines(_file_target(f'{path}.{suffix}.txt'), lines)


def write_pseudo_labels(path, paths, img_dir, probs, threshold=0.9):
    """The predictions whose top probability is at least ``threshold`` as an ann file
    (``relative/path.jpg <label>`` a line, relative to ``img_dir``, labels being the model's
    class indices): train on it next to the training set with a list under ``data.train``.
    Returns (images kept, their share)."""
    if not 0 < threshold <= 1:
        raise ConfigError(f"--threshold {threshold!r}: give a probability in (0, 1].")
    probs = np.asarray(probs)
    keep = probs.max(axis=1) >= threshold
    labels = probs.argmax(axis=1)
    write_lines(_file_target(path), [
        f"{os.path.relpath(p, img_dir).replace(os.sep, '/')} {int(label)}"
        for p, label, kept in zip(paths, labels, keep) if kept])
    return int(keep.sum()), float(keep.mean()) if len(keep) else 0.0


def class_counts_text(frame_or_labels, classes, n=10):
    """How often each class was predicted: the ``n`` most and least, and those never predicted.

    Takes a ``submission_frame`` (its label column, read back through its label format) or an
    iterable of class indices. A skewed count is the cheapest check before spending a submission.
    """
    if isinstance(frame_or_labels, pd.DataFrame):
        column = frame_or_labels.iloc[:, 1]
        default = 'name' if column.isin(list(classes)).all() else 'index'
        values = label_values(classes, frame_or_labels.attrs.get('label_format', default))
        index = {v: i for i, v in enumerate(values)}
        labels = [index[v] for v in column]
    else:
        labels = [int(v) for v in frame_or_labels]
    counts = np.bincount(labels, minlength=len(classes))
    order = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
    never = [classes[i] for i in np.flatnonzero(counts == 0)]

    def listing(idx):
        return ', '.join(f'{classes[i]} {counts[i]}' for i in idx)
    lines = [f"{len(labels)} images, {len(order)} of {len(classes)} classes predicted"]
    if len(order) <= 2 * n:
        lines.append(f"  counts: {listing(order)}")
    else:
        lines += [f"  most predicted: {listing(order[:n])}",
                  f"  least predicted: {listing(order[::-1][:n])}"]
    if never:
        lines.append(f"  never predicted ({len(never)}): {', '.join(never[:n])}"
                     + (' ...' if len(never) > n else ''))
    return '\n'.join(lines)


def predict_folder(configs, checkpoints, img_dir, batch_size=32, workers=2, tta=(), weights=None,
                   cfg_options=None, skip=(), check_classes=None):
    """-> (paths, probs, classes) for every image under ``img_dir`` but ``skip``, sorted.

    One unlabelled dataset serves every model; each runs it through its own test pipeline
    (``model.test_ops``), so configs with other input sizes ensemble on the same rows.
    ``check_classes(classes)`` runs once the models are loaded and before any image is, so a
    label format the classes cannot meet fails before the long part.
    """
    tta = check_tta(tta)
    dataset = CustomDataset(img_dir, with_label=False, where='img_dir')
    skip = {os.path.abspath(p) for p in skip}
    dataset.samples = [s for s in dataset.samples if os.path.abspath(s[0]) not in skip]
    if not dataset.samples:
        raise ConfigError(f"{img_dir}: no readable images left to predict.")
    models = load_models(configs, checkpoints, cfg_options)
    if check_classes is not None:
        check_classes(models[0].classes)
    try:
        probs = ensemble_probs(models, lambda model: dataset, batch_size, workers, tta, weights)
    except RuntimeError as err:
        reason = image_load_error(str(err))   # a worker's ImageLoadError, wrapped by MindSpore
        if reason is None:
            raise
        raise ImageLoadError(reason) from None
    return [p for p, _ in dataset.samples], probs, list(models[0].classes)


def split_model_args(files, configs=None):
    """Command-line positionals -> (configs, checkpoints): ``CONFIG CKPT [CKPT ...]``, or all
    checkpoints when ``--configs`` gives the configs."""
    files = list(files)
    if configs:
        return list(configs), files
    if len(files) < 2:
        raise ConfigError("Give a config and at least one checkpoint: predict.py CONFIG CKPT "
                          "[CKPT ...], or predict.py CKPT [CKPT ...] --configs CFG [CFG ...].")
    return files[:1], files[1:]


def _config(config, cfg_options=None):
    return config if isinstance(config, Config) else Config.fromfile(config, cfg_options)


def default_img_dir(config, cfg_options=None):
    """The config's ``data.test.data_prefix`` (the first config's, for a mixed ensemble)."""
    cfg = _config(config, cfg_options)
    prefix = ((cfg.get('data') or {}).get('test') or {}).get('data_prefix')
    if not prefix:
        raise ConfigError(f"{cfg.filename} sets no data.test.data_prefix; give --img-dir.")
    return prefix


def predict_submission(configs, checkpoints, out, img_dir=None, batch_size=32, workers=2, tta=(),
                       weights=None, cfg_options=None, columns=('id', 'label'), id_format='name',
                       label_format='index', topk=1, probs_out=None, skip_unreadable=False,
                       log=print, pseudo_labels=None, threshold=0.9, overwrite=False):
    """The whole ``scripts/predict.py`` run; returns the frame written to ``out``.

    What can be checked without the models (flags, ids, image files) is checked first; nothing is
    written unless the full CSV passed ``check_against_folder``. The CSV is written last. An
    existing ``out`` is replaced only with ``overwrite`` (--overwrite), as train.py keeps a run.
    """
    options = cfg_options if isinstance(cfg_options, dict) else parse_options(cfg_options)
    columns, tta = check_columns(columns), check_tta(tta)
    _choice(id_format, ID_FORMATS, '--id-format')
    _choice(label_format, LABEL_FORMATS, '--label-format')
    check_topk(topk)
    if os.path.isfile(out) and not overwrite:
        raise OutputExists(f"--out {out} exists; pass --overwrite to replace it (it is replaced "
                           "once the new CSV is complete), or give another --out.")
    img_dir = img_dir or default_img_dir(configs[0], options)
    if not os.path.isdir(img_dir):
        raise ConfigError(f"--img-dir {img_dir!r}: folder not found (the default is the "
                          "config's data.test.data_prefix).")
    others = []
    paths = [os.path.join(img_dir, p) for p in list_images(img_dir, others=others, hidden=True)]
    image_ids(paths, img_dir, id_format)
    not_images = other_files_warning(others, img_dir, '--img-dir')
    if not_images:
        print(f"WARNING: {not_images}", file=sys.stderr)
    data_cfg = _config(configs[0], options).get('data') or {}
    check = checkpoint_check(data_cfg, checkpoints[0], workers=max(2, workers))
    bad = check.find_broken(paths)
    check.save_cache()
    listing = f'{out}.unreadable.txt'
    if bad and not skip_unreadable:
        raise ImageLoadError(
            f"{len(bad)} unreadable image(s) under {img_dir}; nothing was predicted or written:\n"
            + ''.join(f"  {p}: {r}\n" for p, r in bad)
            + "Remove or replace them and run again, or pass --skip-unreadable to leave them out "
            f"of the CSV (then listed in {listing}; a leaderboard may reject missing ids).")

    def check_classes(classes):
        label_values(classes, label_format)
        check_topk(topk, len(classes))
    skipped = [p for p, _ in bad]
    paths, probs, classes = predict_folder(configs, checkpoints, img_dir, batch_size, workers, tta,
                                           weights, options, skipped, check_classes)
    frame = submission_frame(paths, img_dir, probs, classes, columns, id_format, label_format, topk)
    check_against_folder(frame, paths, img_dir, skipped)
    if probs_out:
        write_probs(probs, probs_out, frame.iloc[:, 0], classes)
    if bad:
        write_lines(_file_target(listing),
                    [f"{os.path.relpath(p, img_dir)}\t{r}" for p, r in bad])
        print(f"WARNING: {len(bad)} unreadable image(s) are NOT in {out} (listed in {listing}), "
              f"e.g. {[os.path.relpath(p, img_dir) for p in skipped[:3]]}. The CSV has "
              f"{len(frame)} rows for {len(frame) + len(bad)} files; a leaderboard expecting "
              "every test id may reject it.", file=sys.stderr)
    elif os.path.isfile(listing):
        os.remove(listing)
        log(f"removed {listing} of an earlier run: every image was readable this time")
    write_submission(frame, out)
    if pseudo_labels:
        kept, share = write_pseudo_labels(pseudo_labels, paths, img_dir, probs, threshold)
        log(f"wrote {pseudo_labels}: {kept} of {len(paths)} images ({share:.0%}) predicted with "
            f"probability >= {threshold:g}; train on them with data.train = [<the training "
            f"set>, dict(type='CustomDataset', data_prefix={img_dir!r}, "
            f"ann_file={pseudo_labels!r}, pipeline=...)]")
    log(class_counts_text(frame, classes))
    if probs_out:
        log(f"wrote {probs_out} (+ .ids.txt, .classes.txt): {probs.shape[0]}x{probs.shape[1]}")
    log(f"wrote {out}: {len(frame)} rows")
    return frame
