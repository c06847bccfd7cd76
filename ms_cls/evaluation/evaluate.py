"""Standalone evaluation of a checkpoint on a labelled split (what ``scripts/test.py`` runs).

The split's own pipeline from the config is used and labels are mapped onto the checkpoint's
class names, so the top-1 printed here is the one the training log printed for that checkpoint.
Every image is decoded first (``ms_cls.data.scan``); broken ones follow training's rule,
``data.skip_broken``: left out and named in a warning (as training left them out of validation),
or one ImageLoadError before any prediction.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..data.builder import build_dataset, loader_spec
from ..data.pipeline import build_pipeline
from ..data.scan import checkpoint_check
from .inference import ensemble_probs, load_models
from .metrics import evaluate, per_class_table


@dataclass
class EvalRun:
    """Everything an evaluation produced, for the result files and reports."""
    model: object
    dataset: object
    probs: np.ndarray
    labels: np.ndarray
    metrics: dict
    broken: list = field(default_factory=list)   # [(path, reason)] left out, not scored

    def class_table(self):
        return per_class_table(self.probs, self.labels, self.model.classes)


def evaluate_checkpoint(config, checkpoint, split='val', metrics=('accuracy',), metric_options=None,
                        cfg_options=None, tta=(), batch_size=None, workers=None, log=print):
    """Load, predict ``data.<split>`` in batches, score. Returns an :class:`EvalRun`."""
    return evaluate_models([config], [checkpoint], split, metrics, metric_options, cfg_options,
                           tta, batch_size, workers, log=log)


def evaluate_models(configs, checkpoints, split='val', metrics=('accuracy',), metric_options=None,
                    cfg_options=None, tta=(), batch_size=None, workers=None, weights=None,
                    log=print):
    """As :func:`evaluate_checkpoint` for an ensemble: the weighted mean of the checkpoints'
    probabilities (one config for all, or one per checkpoint), each through its own pipeline.
    ``log`` receives the warnings (images left out, files that are not images)."""
    models = load_models(configs, checkpoints, cfg_options)
    cfg = models[0].cfg
    if 'data' not in cfg:
        raise ConfigError(f"{cfg.filename}: no 'data' section, so there is no split to evaluate.")
    split_cfg = cfg.data.get(split)
    if isinstance(split_cfg, dict) and split_cfg.get('with_label') is False:
        raise ConfigError(
            f"data.{split} is unlabelled (with_label=False): nothing to score. Evaluate the val "
            "split, or predict the test folder with scripts/predict.py and score the CSV against "
            "an answer key with scripts/eval_metric.py.")
    datasets = {id(m): build_dataset(m.cfg.data, split, m.classes) for m in models}
    dataset = datasets[id(models[0])]
    check = checkpoint_check(cfg.data, checkpoints[0])
    for warning in check.check([(dataset, split)]):
        log(f"WARNING: {warning}")
    check.save_cache()
    for other in datasets.values():   # every model reads the same images
        other.drop(check.broken)
    loader = loader_spec(cfg.data, split)   # data.<split>_dataloader over the data-level keys
    probs = ensemble_probs(
        models, lambda m: datasets[id(m)], batch_size or loader.batch_size,
        workers or loader.workers, tta, weights,
        ops_for=lambda m: build_pipeline(datasets[id(m)].pipeline, f'data.{split}.pipeline'))
    labels = np.array([label for _, label in dataset.samples], dtype=np.int64)
    scores = evaluate(probs, labels, models[0].classes, metrics, metric_options)
    return EvalRun(models[0], dataset, probs, labels, scores, check.broken)
