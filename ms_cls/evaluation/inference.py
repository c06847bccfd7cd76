"""Batched prediction over a dataset: one or several models, optional TTA, averaged softmax.

Each model runs its own test pipeline (so an ensemble may mix configs and input sizes) in the
dataset's workers; the network runs in batches of ``batch_size``. Rows come back in the
dataset's order (``dataset.samples``), which the loader keeps with shuffle off.
"""
import numpy as np
import mindspore as ms
import mindspore.ops as ops

from ..apis import init_model
from ..errors import ConfigError
from ..data.builder import build_dataloader
from ..progress import progress

TTA_MODES = ('flip', 'multi-scale')
SCALES = (0.875, 1.0, 1.125)


def check_tta(tta):
    """``--tta`` values -> a tuple of modes; unknown names are a ConfigError."""
    tta = tuple(tta or ())
    for mode in tta:
        if mode not in TTA_MODES:
            raise ConfigError(f"--tta {mode!r} is not known; use one or more of {TTA_MODES}.")
    return tta


def load_models(configs, checkpoints, cfg_options=None):
    """One model per checkpoint; ``configs`` has one entry (shared) or one per checkpoint.

    Every model must name the same classes in the same order (an ensemble averages columns).
    """
    if not checkpoints:
        raise ConfigError("Give at least one checkpoint.")
    if len(configs) not in (1, len(checkpoints)):
        raise ConfigError(f"{len(configs)} configs for {len(checkpoints)} checkpoints: give one "
                          "config for all, or one per checkpoint.")
    configs = list(configs) * len(checkpoints) if len(configs) == 1 else list(configs)
    models = [init_model(c, ckpt, cfg_options) for c, ckpt in zip(configs, checkpoints)]
    for ckpt, model in zip(checkpoints[1:], models[1:]):
        if model.classes != models[0].classes:
            raise ConfigError(f"{ckpt} names other classes than {checkpoints[0]}; an ensemble "
                              "needs models trained on the same classes.")
    return models


def _scaled(images, scale):
    if scale == 1.0:
        return images
    h, w = images.shape[2:]
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return ops.interpolate(images, size=size, mode='bilinear', align_corners=False)


def _softmax_views(model, images, tta):
    """Mean softmax over the views TTA asks for: the image, its mirror, other scales."""
    scales = SCALES if 'multi-scale' in tta else (1.0,)
    probs, views = 0.0, 0
    for scale in scales:
        view = _scaled(images, scale)
        probs = probs + ops.softmax(model(view), axis=-1)
        views += 1
        if 'flip' in tta:
            probs = probs + ops.softmax(model(ops.flip(view, (3,))), axis=-1)
            views += 1
    return (probs / views).asnumpy()


def predict_probs(model, dataset, batch_size=32, workers=2, tta=(), ops=None, desc='predict'):
    """(N, num_classes) float32 softmax probabilities for ``dataset.samples`` in order.

    ``ops``: the pipeline to run (default: the model's test pipeline). Progress (images done)
    goes to stderr under ``desc``.
    """
    tta = check_tta(tta)
    loader = build_dataloader(dataset, batch_size, workers, where='data.test',
                              ops=ops if ops is not None else model.test_ops)
    model.set_train(False)
    rows = []
    with progress(total=len(dataset), desc=desc) as bar:
        for images, _ in loader.create_tuple_iterator(output_numpy=True, num_epochs=1):
            rows.append(_softmax_views(model, ms.Tensor(images), tta))
            bar.update(len(images))
    probs = np.concatenate(rows) if rows else np.zeros((0, model.head.num_classes), np.float32)
    if len(probs) != len(dataset):
        raise RuntimeError(f"Predicted {len(probs)} rows for {len(dataset)} images.")
    return probs.astype(np.float32)


def ensemble_probs(models, dataset_for, batch_size=32, workers=2, tta=(), weights=None,
                   ops_for=None):
    """Weighted mean of the models' probabilities. ``dataset_for(model)`` gives the dataset to
    run (built from that model's config) so that every model reads the same images;
    ``ops_for(model)`` the pipeline (default: the model's test pipeline)."""
    if weights is None:
        weights = [1.0] * len(models)
    if len(weights) != len(models) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"--weights {list(weights)}: give one non-negative weight per "
                          f"checkpoint ({len(models)}), not all zero.")
    total, samples = 0.0, None
    for index, (model, weight) in enumerate(zip(models, weights)):
        dataset = dataset_for(model)
        if samples is not None and [p for p, _ in dataset.samples] != samples:
            raise ConfigError("The ensemble's configs point at different images; give the same "
                              "data folder to every model (e.g. with --cfg-options).")
        samples = [p for p, _ in dataset.samples]
        ops = ops_for(model) if ops_for else None
        desc = f'predict, model {index + 1}/{len(models)}' if len(models) > 1 else 'predict'
        total = total + weight * predict_probs(model, dataset, batch_size, workers, tta, ops, desc)
    return (total / sum(weights)).astype(np.float32)
