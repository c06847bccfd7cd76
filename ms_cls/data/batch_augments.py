"""mmcls 0.x batch augments (``model.train_cfg.augments``): Mixup, CutMix, ResizeMix.

mmcls applies them in the model's training step; here they run as one Python op mapped over the
batched ``['image', 'label']`` columns, after the per-image pipeline (so on normalised CHW float32
images, as in mmcls). Semantics follow mmcls 0.x: one augment is picked per batch with
probabilities = the ``prob``s (they may sum to less than 1; the rest is identity, which still
returns one-hot labels); each draws one lam and one permutation of the batch (CutMix/ResizeMix:
one box for the whole batch) and mixes the one-hot labels as ``lam * y + (1 - lam) * y[perm]``.
``mindspore.dataset.vision.MixUpBatch``/``CutMixBatch`` do not match: they decide per image, and
cannot choose one augment per batch.

Randomness comes from the op's own ``np.random.Generator``, seeded from
``mindspore.dataset.config.get_seed()`` when the op is built, so a seeded run repeats.
"""
import math
import numbers

import numpy as np
import mindspore.dataset as ds

from ..errors import ConfigError
from ..validation import Registry, check_keys, located, subset

TRAIN_CFG_KEYS = ('augments',)
INTERPOLATIONS = ('nearest', 'bilinear')
PROB_TOLERANCE = 1e-6


class _BadValue(ValueError):
    """An augment argument that is out of range; the builder adds where it was set."""

    def __init__(self, key, requirement):
        super().__init__(f"{key}: {requirement}")
        self.key = key
        self.requirement = requirement


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _alpha(alpha):
    if not _real(alpha) or not alpha > 0:
        raise _BadValue('alpha', "must be a number > 0 (lam is drawn from Beta(alpha, alpha))")
    return float(alpha)


def _unit(value, key):
    if not _real(value) or not 0 <= value <= 1:
        raise _BadValue(key, "must be a number in [0, 1]")
    return float(value)


def _minmax(cutmix_minmax):
    if cutmix_minmax is None:
        return None
    if (not isinstance(cutmix_minmax, (list, tuple)) or len(cutmix_minmax) != 2
            or not all(_real(v) for v in cutmix_minmax)
            or not 0 <= cutmix_minmax[0] < cutmix_minmax[1] <= 1):
        raise _BadValue('cutmix_minmax', "must be None or (min, max) box side ratios with "
                                         "0 <= min < max <= 1, e.g. (0.2, 0.8)")
    return tuple(float(v) for v in cutmix_minmax)


class Identity:
    """mmcls 'Identity': images unchanged, labels one-hot."""

    def __init__(self, prob=1.0):
        self.prob = _unit(prob, 'prob')

    def __call__(self, images, onehot, rng):
        return images, onehot


class BatchMixup:
    """img = lam * img + (1 - lam) * img[perm], lam ~ Beta(alpha, alpha), one lam per batch."""

    def __init__(self, alpha, prob=1.0):
        self.alpha = _alpha(alpha)
        self.prob = _unit(prob, 'prob')

    def __call__(self, images, onehot, rng):
        lam = np.float32(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(len(images))
        return (lam * images + (1 - lam) * images[perm],
                lam * onehot + (1 - lam) * onehot[perm])


class BatchCutMix:
    """Paste the same box of img[perm] into every image; labels mixed by the box's area."""

    def __init__(self, alpha, prob=1.0, cutmix_minmax=None, correct_lam=True):
        self.alpha = _alpha(alpha)
        self.prob = _unit(prob, 'prob')
        self.cutmix_minmax = _minmax(cutmix_minmax)
        if not isinstance(correct_lam, bool):
            raise _BadValue('correct_lam', "must be True or False")
        self.correct_lam = correct_lam

    def box(self, height, width, lam, rng):
        """mmcls's rand_bbox (a square-ratio box centred anywhere, cut at the borders) or, with
        ``cutmix_minmax``, rand_bbox_minmax; lam becomes 1 - box area / image area when
        ``correct_lam`` (always with ``cutmix_minmax``, as in mmcls)."""
        if self.cutmix_minmax is not None:
            low, high = self.cutmix_minmax
            cut_h = rng.integers(int(height * low), max(int(height * high), int(height * low) + 1))
            cut_w = rng.integers(int(width * low), max(int(width * high), int(width * low) + 1))
            y1 = int(rng.integers(0, height - cut_h))
            x1 = int(rng.integers(0, width - cut_w))
            y2, x2 = y1 + int(cut_h), x1 + int(cut_w)
        else:
            ratio = math.sqrt(1 - lam)
            half_h, half_w = int(height * ratio) // 2, int(width * ratio) // 2
            cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
            y1, y2 = max(cy - half_h, 0), min(cy + half_h, height)
            x1, x2 = max(cx - half_w, 0), min(cx + half_w, width)
        if self.correct_lam or self.cutmix_minmax is not None:
            lam = 1 - (y2 - y1) * (x2 - x1) / float(height * width)
        return (y1, y2, x1, x2), lam

    def draw(self, rng):
        return rng.beta(self.alpha, self.alpha)

    def paste(self, images, perm, box):
        y1, y2, x1, x2 = box
        images[:, :, y1:y2, x1:x2] = images[perm, :, y1:y2, x1:x2]

    def __call__(self, images, onehot, rng):
        lam = self.draw(rng)
        perm = rng.permutation(len(images))
        box, lam = self.box(images.shape[-2], images.shape[-1], lam, rng)
        images = images.copy()
        self.paste(images, perm, box)
        lam = np.float32(lam)
        return images, lam * onehot + (1 - lam) * onehot[perm]


class BatchResizeMix(BatchCutMix):
    """CutMix whose box receives the whole img[perm] resized; lam mapped into [lam_min, lam_max]."""

    def __init__(self, alpha, lam_min=0.1, lam_max=0.8, interpolation='bilinear', prob=1.0,
                 cutmix_minmax=None, correct_lam=True):
        super().__init__(alpha, prob, cutmix_minmax, correct_lam)
        self.lam_min = _unit(lam_min, 'lam_min')
        self.lam_max = _unit(lam_max, 'lam_max')
        if self.lam_min > self.lam_max:
            raise _BadValue('lam_min', f"must be <= lam_max ({lam_max})")
        if interpolation not in INTERPOLATIONS:
            raise _BadValue('interpolation', f"must be one of {INTERPOLATIONS} here "
                                             "(mmcls passes it to torch's F.interpolate)")
        self.interpolation = interpolation

    def draw(self, rng):
        return rng.beta(self.alpha, self.alpha) * (self.lam_max - self.lam_min) + self.lam_min

    def paste(self, images, perm, box):
        y1, y2, x1, x2 = box
        if y2 > y1 and x2 > x1:
            images[:, :, y1:y2, x1:x2] = resize(images[perm], y2 - y1, x2 - x1,
                                                self.interpolation)


def _source_index(size_in, size_out):
    """torch's align_corners=False sampling: source rows/cols and weights for linear resizing."""
    src = np.maximum((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0)
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    return low, np.minimum(low + 1, size_in - 1), (src - low).astype(np.float32)


def resize(images, height, width, interpolation='bilinear'):
    """(N, C, H, W) -> (N, C, height, width) as torch's F.interpolate (align_corners=False)."""
    in_h, in_w = images.shape[-2:]
    if interpolation == 'nearest':
        rows = np.minimum(np.floor(np.arange(height) * (in_h / height)).astype(np.int64), in_h - 1)
        cols = np.minimum(np.floor(np.arange(width) * (in_w / width)).astype(np.int64), in_w - 1)
        return images[:, :, rows][:, :, :, cols]
    top, bottom, wy = _source_index(in_h, height)
    left, right, wx = _source_index(in_w, width)
    wy = wy[:, None]
    rows = images[:, :, top] * (1 - wy) + images[:, :, bottom] * wy
    return rows[..., left] * (1 - wx) + rows[..., right] * wx


AUGMENTS = Registry('batch augment', {'BatchMixup': BatchMixup, 'BatchCutMix': BatchCutMix,
                                      'BatchResizeMix': BatchResizeMix, 'Identity': Identity})
ARGS = {'BatchMixup': ('alpha', 'prob'),
        'BatchCutMix': ('alpha', 'prob', 'cutmix_minmax', 'correct_lam'),
        'BatchResizeMix': ('alpha', 'lam_min', 'lam_max', 'interpolation', 'prob',
                           'cutmix_minmax', 'correct_lam'),
        'Identity': ('prob',)}


def _build_augment(aug_cfg, num_classes, path):
    """One augment dict -> augment object; every mistake is a ConfigError naming its key."""
    aug_cfg = located(aug_cfg, path)
    if not isinstance(aug_cfg, dict) or 'type' not in aug_cfg:
        raise ConfigError(f"{path} must be a dict with a 'type' key, e.g. "
                          f"dict(type='BatchMixup', alpha=0.8, prob=0.5); got {aug_cfg!r}.")
    name = AUGMENTS.name(aug_cfg['type'], aug_cfg.where('type'))
    check_keys(subset(aug_cfg, ('type',)), ARGS[name] + ('num_classes',), f"augment '{name}'")
    given = aug_cfg.get('num_classes')
    if given is not None and given != num_classes:
        raise ConfigError(f"{aug_cfg.where('num_classes')} is {given!r} but "
                          f"model.head.num_classes is {num_classes}; remove num_classes from the "
                          f"augment (the head's is used) or set it to {num_classes}.")
    if name != 'Identity' and 'alpha' not in aug_cfg:
        raise ConfigError(f"{aug_cfg.where()} ({name}) needs alpha, e.g. "
                          f"dict(type='{name}', alpha=1.0, prob=0.5).")
    try:
        return AUGMENTS.items[name](**subset(aug_cfg, ('type', 'num_classes')))
    except _BadValue as err:
        raise ConfigError(f"{aug_cfg.where(err.key)} is {aug_cfg.get(err.key)!r}; it "
                          f"{err.requirement}.") from None


class BatchAugments:
    """The batch op: ``(images float32 (N, C, H, W), labels int (N,))`` ->
    ``(images float32, labels float32 (N, num_classes))``; one augment (or identity) per batch.

    ``last_applied`` names the augment used on the latest batch (tests, debugging).
    """

    def __init__(self, augments_cfg, num_classes, seed=None, path='model.train_cfg.augments'):
        single = isinstance(augments_cfg, dict)
        if single:
            augments_cfg = [augments_cfg]
        if not isinstance(augments_cfg, (list, tuple)) or not augments_cfg:
            raise ConfigError(f"{path} must be a dict or a non-empty list of augment dicts, e.g. "
                              "[dict(type='BatchMixup', alpha=0.8, prob=0.5)]; "
                              f"got {augments_cfg!r}.")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ConfigError(f"model.head.num_classes must be a positive int for {path}, "
                              f"got {num_classes!r}.")
        self.num_classes = num_classes
        self.augments = [_build_augment(cfg, num_classes, path if single else f'{path}.{i}')
                         for i, cfg in enumerate(augments_cfg)]
        self.names = [cfg['type'] for cfg in augments_cfg]
        probs = [aug.prob for aug in self.augments]
        total = sum(probs)
        terms = ' + '.join(f"{name} {p:g}" for name, p in zip(self.names, probs))
        if 'Identity' in self.names and abs(total - 1) > PROB_TOLERANCE:
            raise ConfigError(f"{path}: with an explicit Identity the probs must sum to 1, got "
                              f"{total:g} ({terms}); fix the prob values or drop Identity "
                              "(the remainder is then identity).")
        if total > 1 + PROB_TOLERANCE:
            raise ConfigError(f"{path}: the prob values sum to {total:g} ({terms}), more than 1; "
                              "lower them so they sum to at most 1 (the remainder is identity).")
        if total < 1 - PROB_TOLERANCE:
            self.augments.append(Identity(1 - total))
            self.names.append('Identity')
            probs.append(1 - total)
        self.probs = np.asarray(probs, dtype=np.float64) / sum(probs)
        self.seed = ds.config.get_seed() if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.last_applied = None

    def one_hot(self, labels):
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == self.num_classes:
            return labels.astype(np.float32)
        labels = labels.reshape(-1).astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must be in [0, {self.num_classes}), got {labels.tolist()}")
        return np.eye(self.num_classes, dtype=np.float32)[labels]

    def __call__(self, images, labels):
        images = np.asarray(images, dtype=np.float32)
        onehot = self.one_hot(labels)
        choice = int(self.rng.choice(len(self.augments), p=self.probs))
        self.last_applied = self.names[choice]
        images, onehot = self.augments[choice](images, onehot, self.rng)
        return images.astype(np.float32, copy=False), onehot.astype(np.float32, copy=False)


def build_batch_augments(train_cfg, num_classes, seed=None):
    """``model.train_cfg`` -> a ``BatchAugments`` op, or None when it names no augments.

    ``num_classes`` is the head's; ``seed`` defaults to ``mindspore.dataset.config.get_seed()``.
    """
    if train_cfg is None:
        return None
    train_cfg = located(train_cfg, 'model.train_cfg')
    if not isinstance(train_cfg, dict):
        raise ConfigError(f"model.train_cfg must be a dict such as dict(augments=[dict("
                          f"type='BatchMixup', alpha=0.8, prob=0.5)]), got {train_cfg!r}.")
    for old in ('mixup', 'cutmix'):
        if old in train_cfg:
            raise ConfigError(
                f"{train_cfg.where(old)}: train_cfg.{old} is the old mmcls spelling; write "
                f"model.train_cfg=dict(augments=[dict(type='Batch"
                f"{'Mixup' if old == 'mixup' else 'CutMix'}', alpha=..., prob=...)]).")
    check_keys(train_cfg, TRAIN_CFG_KEYS, 'model.train_cfg')
    augments_cfg = train_cfg.get('augments')
    if augments_cfg is None:
        return None
    path = f"{train_cfg.path or 'model.train_cfg'}.augments"
    return BatchAugments(augments_cfg, num_classes, seed, path=path)
