"""Weight averaging of checkpoints of one run (SWA-style) and greedy "soups".

The uniform average takes the mean of every model weight of the chosen checkpoints (optimizer
state, ``ema.*``/``raw.*`` copies and counters are left out) and is written as an ordinary
ms_cls checkpoint: the first checkpoint's class names, ``epoch`` None (not written by
training) and, when a config was given, the val metrics of the result.

BatchNorm statistics of averaged weights are not the average network's (Izmailov et al., SWA):
``update_bn`` recomputes them over one pass of the training images (the config's train
pipeline, no batch augments) as the plain mean of the batch statistics, the way PreciseBNHook
does during training (``engine.precise_bn``).

The greedy soup (Wortsman et al., model soups) orders the checkpoints by their own val top-1 and
adds each to the average only when the average's val top-1 improves.
"""
import numpy as np
import mindspore as ms

from ..checkpoint import EMA_PREFIX, META_KEY, RAW_PREFIX, _optimizer_state, read_checkpoint
from ..checkpoint import save_checkpoint
from ..errors import ConfigError

TOP1 = 'accuracy_top-1'


def model_weights(params):
    """The entries of a checkpoint that are model weights (name -> float32/64 array)."""
    return {n: p.asnumpy() for n, p in params.items()
            if n != META_KEY and not _optimizer_state(n)
            and not n.startswith((EMA_PREFIX, RAW_PREFIX))}


def read_weights(paths):
    """-> ([weights dict per checkpoint], meta of the first); every checkpoint must hold the
    same weight names and shapes and name the same classes."""
    if not paths:
        raise ConfigError("Give at least one checkpoint to average.")
    weights, metas = [], []
    for path in paths:
        params, meta = read_checkpoint(path)
        weights.append(model_weights(params))
        metas.append(meta)
    first = weights[0]
    for path, w, meta in zip(paths[1:], weights[1:], metas[1:]):
        if set(w) != set(first):
            odd = sorted(set(w) ^ set(first))[:3]
            raise ConfigError(f"{path} holds other weights than {paths[0]} (e.g. {odd}); average "
                              "checkpoints of one model.")
        shaped = [n for n in first if w[n].shape != first[n].shape]
        if shaped:
            raise ConfigError(f"{path}: '{shaped[0]}' has shape {w[shaped[0]].shape}, "
                              f"{paths[0]} {first[shaped[0]].shape}; average checkpoints of one "
                              "model.")
        if meta.get('classes') != metas[0].get('classes'):
            raise ConfigError(f"{path} names other classes than {paths[0]}; average checkpoints "
                              "trained on the same classes.")
    return weights, metas[0]


def average(weights):
    """The element-wise mean of weight dicts (integer entries taken from the first)."""
    out = {}
    for name, first in weights[0].items():
        if np.issubdtype(first.dtype, np.floating):
            out[name] = np.mean([w[name] for w in weights], axis=0, dtype=np.float64) \
                .astype(first.dtype)
        else:
            out[name] = first.copy()
    return out


def save_weights(weights, path, classes, metrics=None):
    """An ordinary ms_cls checkpoint of ``weights`` (name -> array) with its classes."""
    params = {n: ms.Parameter(ms.Tensor(v), name=n) for n, v in weights.items()}
    save_checkpoint(params, path, dict(classes=classes, metrics=metrics or {}))


class Scorer:
    """The config's network and val split, to score weight dicts (and recompute BatchNorm
    statistics on the training images) without writing a file per candidate."""

    def __init__(self, config, checkpoint, cfg_options=None, batch_size=None, workers=None):
        from ..apis import init_model
        from ..data.builder import build_dataset, loader_spec
        from ..data.pipeline import build_pipeline
        self.model = init_model(config, checkpoint, cfg_options)
        cfg = self.model.cfg
        if not (cfg.get('data') or {}).get('val'):
            raise ConfigError(f"{cfg.filename}: no data.val to score the averages on.")
        self.cfg = cfg
        self.val = build_dataset(cfg.data, 'val', self.model.classes)
        self.val_ops = build_pipeline(self.val.pipeline, 'data.val.pipeline')
        spec = loader_spec(cfg.data, 'val')
        self.batch_size = batch_size or spec.batch_size
        self.workers = workers or spec.workers
        self.labels = np.array([label for _, label in self.val.samples])

    def load(self, weights):
        ms.load_param_into_net(self.model, {n: ms.Parameter(ms.Tensor(v), name=n)
                                            for n, v in weights.items()}, strict_load=False)

    def top1(self, weights):
        from ..evaluation.inference import predict_probs
        self.load(weights)
        probs = predict_probs(self.model, self.val, self.batch_size, self.workers,
                              ops=self.val_ops)
        return float(np.mean(probs.argmax(axis=1) == self.labels))

    def update_bn(self, weights, log=print):
        """``weights`` with every BatchNorm's moving mean and variance recomputed over one pass
        of the training images (``recompute_bn``)."""
        from ..data.builder import build_dataloader, build_dataset, loader_spec
        from ..data.pipeline import build_pipeline
        self.load(weights)
        train = build_dataset(self.cfg.data, 'train', self.model.classes)
        spec = loader_spec(self.cfg.data, 'train')
        loader = build_dataloader(train, spec.batch_size, spec.workers, where='data.train',
                                  ops=build_pipeline(train.pipeline, 'data.train.pipeline'))
        batches = (images for images, _ in
                   loader.create_tuple_iterator(output_numpy=True, num_epochs=1))
        layers, count = recompute_bn(self.model, batches)
        if not layers:
            log("update-bn: the model has no BatchNorm layer; weights unchanged")
            return dict(weights)
        updated = dict(weights)
        updated.update({p.name: p.asnumpy().copy() for p in self.model.get_parameters()
                        if p.name.endswith(('moving_mean', 'moving_variance'))})
        log(f"update-bn: {layers} BatchNorm layers recomputed over {len(train)} training images "
            f"({count} batches)")
        return updated


def recompute_bn(net, batches):
    """Every tracked BatchNorm's moving mean and variance of ``net`` set to the mean of its
    batch statistics over ``batches`` (numpy NCHW arrays), as PreciseBNHook does
    (``engine.precise_bn``). -> (BatchNorm layers, batches)."""
    from ..engine.precise_bn import recompute_bn_stats
    return recompute_bn_stats(net, batches)


def greedy_soup(paths, weights, scores, scorer, log=print):
    """Checkpoints by their own val top-1, best first; each joins the soup only when the soup's
    val top-1 improves. -> (kept paths, soup weights, soup top-1)."""
    order = sorted(range(len(paths)), key=lambda i: -scores[i])
    kept = [order[0]]
    best = scores[order[0]]
    log(f"soup: start with {paths[order[0]]} ({best:.4f})")
    for i in order[1:]:
        trial = scorer.top1(average([weights[j] for j in kept + [i]]))
        verdict = 'kept' if trial > best else 'left out'
        log(f"soup: + {paths[i]} ({scores[i]:.4f} alone) -> {trial:.4f}, {verdict}")
        if trial > best:
            kept.append(i)
            best = trial
    return [paths[i] for i in kept], average([weights[i] for i in kept]), best


def average_checkpoints(paths, out, config=None, update_bn=False, soup=False, cfg_options=None,
                        log=print):
    """``scripts/average_ckpts.py``: the uniform average (or greedy soup) of ``paths`` to
    ``out``; with ``config`` every checkpoint and the result are scored on its val split.
    Returns a dict of what was measured."""
    if (update_bn or soup) and not config:
        raise ConfigError("--update-bn and --soup need --config (the run's config: its network, "
                          "its train images for BatchNorm and its val split for scoring).")
    if not str(out).endswith('.ckpt'):
        raise ConfigError(f"--out {out!r}: the name must end in .ckpt.")
    if len(paths) < 2:
        raise ConfigError(f"got {len(paths)} checkpoint; averaging needs two or more.")
    weights, meta = read_weights(paths)
    report = {'checkpoints': list(paths)}
    if not config:
        save_weights(average(weights), out, meta.get('classes'))
        log(f"wrote {out}: uniform average of {len(paths)} checkpoints")
        return report
    scorer = Scorer(config, paths[0], cfg_options)
    scores = [scorer.top1(w) for w in weights]
    for path, score in zip(paths, scores):
        log(f"  {path}: val top-1 {score:.4f}")
    report['single'] = dict(zip(paths, scores))
    best_single = max(scores)
    if soup:
        members, result, top1 = greedy_soup(paths, weights, scores, scorer, log)
        report['soup'] = members
        what = f"greedy soup of {len(members)}/{len(paths)} checkpoints"
    else:
        result = average(weights)
        top1 = scorer.top1(result)
        what = f"uniform average of {len(paths)} checkpoints"
    report['average_top1'] = top1
    if update_bn:
        result = scorer.update_bn(result, log)
        report['before_update_bn'] = top1
        top1 = scorer.top1(result)
        log(f"update-bn: val top-1 {report['before_update_bn']:.4f} -> {top1:.4f}")
    report.update(top1=top1, best_single=best_single)
    save_weights(result, out, meta.get('classes'), {TOP1: top1})
    log(f"wrote {out}: {what}{' with recomputed BatchNorm statistics' if update_bn else ''}; "
        f"val top-1 {top1:.4f} vs best single {best_single:.4f} ({top1 - best_single:+.4f})")
    return report
