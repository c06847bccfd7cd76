"""K-fold cross-validation: stratified folds of the training folder, one run per fold, the CV
top-1 as mean +- std over the folds, out-of-fold predictions and the fold ensemble on the test
folder.

The folds are the split tool's (``ms_cls.data.tools.split_dataset(k_fold=k)``): ann files under
``<out>/folds``; fold i trains on ``fold{i}/train.txt`` and validates on ``fold{i}/val.txt``, both
over ``data.train.data_prefix`` (the config's own val split is not used). The runs are a sweep
(``ms_cls.tuning.sweep``) of the variants fold0..fold{k-1}, so a restarted k-fold skips finished
folds and resumes an interrupted one. ``<out>/kfold.json`` is the sweep summary (kind 'kfold')
plus ``cv``: {'mean', 'std', 'folds': [top-1 per fold], 'oof_top1'}.
"""
import json
import os

import numpy as np

from ..config import Config, parse_options
from ..errors import ConfigError
from ..fileio import write_text
from .sweep import Sweep, Variant

SPLIT_RECORD = 'split.json'


def fold_variants(cfg, k, seed, folds_dir, log=print):
    """The split (made once; a restart reuses it if k and seed match) and one Variant per fold."""
    from ..data.tools import split_dataset
    train = (cfg.get('data') or {}).get('train')
    if not isinstance(train, dict) or not train.get('data_prefix'):
        raise ConfigError(f"{cfg.filename}: data.train.data_prefix is not set; k-fold splits that "
                          "class-folder tree.")
    if train.get('ann_file'):
        raise ConfigError(f"{cfg.filename}: data.train has an ann_file; k-fold splits a "
                          "class-folder tree (data.train in folder mode), remove ann_file.")
    data_dir = train.data_prefix
    record_path = os.path.join(folds_dir, SPLIT_RECORD)
    wanted = {'k': k, 'seed': seed, 'data_prefix': os.path.abspath(data_dir)}
    if os.path.isfile(record_path):
        with open(record_path, encoding='utf-8') as f:
            made = json.load(f)
        if made != wanted:
            raise ConfigError(f"{folds_dir} holds folds made with {made}, not {wanted}; use the "
                              "same --k and --seed, or another --out-dir.")
        log(f"k-fold: reusing the {k} folds in {folds_dir}")
    else:
        split_dataset(data_dir, seed=seed, out_dir=folds_dir, k_fold=k, log=log)
        write_text(record_path, json.dumps(wanted) + '\n')
    classes = os.path.join(folds_dir, 'classes.txt')
    variants = []
    for i in range(k):
        fold = os.path.join(folds_dir, f'fold{i}')
        options = {'data.train.ann_file': os.path.join(fold, 'train.txt'),
                   'data.train.classes': classes}
        val = {'data_prefix': data_dir, 'ann_file': os.path.join(fold, 'val.txt'),
               'classes': classes}
        if isinstance(cfg.data.get('val'), dict):
            options.update({f'data.val.{key}': value for key, value in val.items()})
        else:
            test = cfg.data.get('test') or {}
            options['data.val'] = dict(type=train.get('type', 'CustomDataset'),
                                       pipeline=test.get('pipeline') or cfg.get('test_pipeline'),
                                       **val)
        variants.append(Variant(f'fold{i}', options, extra={'fold': i}))
    return variants


def run_kfold(config, k=5, seed=0, out_dir=None, cfg_options=None, test_out=None,
              oof_name='oof.csv', log=print):
    """Train every fold, then score: the CV line, ``<out>/oof.csv`` (one row per training image
    in a val fold: ``filename, fold``, the prediction columns and ``score_<class>``) and, with
    ``test_out``, the fold ensemble's submission CSV. Returns the ``cv`` dict."""
    if not isinstance(k, int) or k < 2:
        raise ConfigError(f"--k {k!r}: give an int >= 2.")
    options = parse_options(cfg_options) if isinstance(cfg_options, (list, tuple)) \
        else dict(cfg_options or {})
    cfg = Config.fromfile(config, options)
    stem = os.path.splitext(os.path.basename(config))[0]
    out_dir = out_dir or os.path.join('work_dirs', f'kfold{k}_{stem}')
    variants = fold_variants(cfg, k, seed, os.path.join(out_dir, 'folds'), log)
    sweep = Sweep(config, variants, out_dir, options, swept_keys=[], log=log, kind='kfold')
    for v in sweep.variants:
        sweep.prepare(v)
    sweep.run()
    cv = score_folds(sweep, os.path.join(out_dir, oof_name), log)
    summary = sweep.summary()
    summary['cv'] = cv
    write_text(os.path.join(out_dir, 'kfold.json'), json.dumps(summary, indent=1, default=str)
               + '\n')
    log(f"CV top-1 (best epoch of each fold): {cv['mean']:.4f} +- {cv['std']:.4f} over {k} folds "
        f"({', '.join(f'{t:.4f}' for t in cv['folds'])}); out-of-fold top-1 "
        f"{cv['oof_top1']:.4f} over {cv['oof_images']} images ({cv['oof']})")
    if test_out:
        from ..evaluation.submission import predict_submission
        predict_submission([v.config_path for v in sweep.variants],
                           [os.path.join(v.work_dir, 'best.ckpt') for v in sweep.variants],
                           test_out, log=log, overwrite=True)   # a restarted k-fold redoes it
    return cv


def score_folds(sweep, oof_path, log=print):
    """Each fold's best.ckpt on its own val fold -> the out-of-fold rows, and the CV figures
    (the best val top-1 each fold's log recorded; std over folds with numpy's default ddof=0)."""
    import pandas as pd
    from ..evaluation.evaluate import evaluate_checkpoint
    from ..evaluation.results import prediction_frame, write_results
    tops, frames, probs = [], [], []
    for v in sweep.variants:
        ckpt = os.path.join(v.work_dir, 'best.ckpt')
        if not os.path.isfile(ckpt):
            raise ConfigError(f"{v.name}: no {ckpt}; its run did not validate (see "
                              f"{v.work_dir}). Start the k-fold again to resume it.")
        result = evaluate_checkpoint(v.config_path, ckpt, 'val', log=log)
        frame = prediction_frame(result.dataset, result.probs, result.model.classes)
        frame.insert(1, 'fold', v.extra['fold'])
        frames.append(frame)
        probs.append(result.probs)
        tops.append(float(result.metrics.get('accuracy_top-1', np.mean(
            frame['pred_label'] == frame['gt_label']))))
    oof = pd.concat(frames, ignore_index=True)
    oof.attrs.update(frames[0].attrs)
    write_results(oof_path, oof, np.concatenate(probs), items=(
        'pred_label', 'pred_class', 'pred_score', 'gt_label', 'class_scores'), extra=('fold',))
    logged = [r['accuracy_top-1'] for r in sorted(sweep.summary()['variants'],
                                                  key=lambda r: r['fold'])]
    folds = [t if t is not None else e for t, e in zip(logged, tops)]
    return {'mean': float(np.mean(folds)), 'std': float(np.std(folds)), 'folds': folds,
            'oof_top1': float(np.mean(oof['pred_label'] == oof['gt_label'])),
            'oof_images': len(oof), 'oof': oof_path}
