"""Training samplers (``sampler`` or ``data.sampler``), as MindSpore samplers: class-balanced
sampling for imbalanced training sets and mmcls's repeated augmentation.

``GeneratorDataset(..., sampler=...)`` asks its sampler for a fresh list of indices every epoch,
so each epoch is a new draw. The draws come from a numpy generator seeded with the dataset seed
(``mindspore.dataset.config.get_seed()``, which the config's ``seed`` sets), so a run repeats.
Both samplers keep every epoch the same length: the lr schedule counts the steps per epoch before
training starts.
"""
import math

import numpy as np
import mindspore.dataset as ds

from ..errors import ConfigError


def _labels(labels, name):
    labels = np.asarray(labels, dtype=np.int64)
    if not labels.size or labels.min() < 0:
        raise ConfigError(f"data.sampler '{name}' needs a labelled training set "
                          "(with_label=True).")
    return labels


class _SeededSampler(ds.Sampler):
    """Subclasses set what ``__len__`` needs, then call this; ``epoch()`` gives one epoch.
    ``check_args`` checks the config's arguments before any labels exist (the run plan)."""

    @staticmethod
    def check_args(**_):
        pass

    def __init__(self):
        self.rng = np.random.default_rng(ds.config.get_seed())
        super().__init__()

    def __iter__(self):
        return iter(self.epoch().tolist())


class ClassBalancedSampler(_SeededSampler):
    """Every class drawn equally often: an image weighs 1 / (images in its class). An epoch is
    ``len(dataset)`` draws with replacement, so rare-class images repeat within an epoch and
    common-class images are skipped at random (each is still seen over several epochs)."""

    def __init__(self, labels):
        self.labels = _labels(labels, 'ClassBalanced')
        weights = 1.0 / np.bincount(self.labels)[self.labels]
        self.p = weights / weights.sum()
        super().__init__()

    def __len__(self):
        return len(self.labels)

    def epoch(self):
        return self.rng.choice(len(self.labels), size=len(self.labels), p=self.p)


class RepeatFactorSampler(_SeededSampler):
    """LVIS repeat-factor sampling (Gupta et al. 2019; mmdet's ClassBalancedDataset) for one
    label per image: r(c) = max(1, sqrt(repeat_thr / f(c))) with f(c) the fraction of images in
    class c, so classes rarer than ``repeat_thr`` are oversampled and the rest kept once.

    Each epoch an image appears floor(r) times plus one more with probability about frac(r)
    (stochastic rounding, drawn afresh every epoch). The number of extra copies is fixed at
    round(sum of frac(r)) and spread by systematic sampling over the fractional parts, so every
    epoch has the same length, ``sum(floor(r)) + round(sum(frac(r)))``, while each image's
    expected count stays r (up to the rounding of that total).
    """

    @staticmethod
    def check_args(repeat_thr):
        if isinstance(repeat_thr, bool) or not isinstance(repeat_thr, (int, float)) \
                or not repeat_thr > 0:
            raise ConfigError("data.sampler.repeat_thr must be a positive number (a class "
                              f"frequency such as 0.1), got {repeat_thr!r}.")

    def __init__(self, labels, repeat_thr):
        self.check_args(repeat_thr)
        labels = _labels(labels, 'RepeatFactor')
        freq = np.bincount(labels)[labels] / len(labels)
        self.repeat_factors = np.maximum(1.0, np.sqrt(repeat_thr / freq))
        self.base = np.floor(self.repeat_factors).astype(np.int64)
        self.frac_cum = np.cumsum(self.repeat_factors - self.base)
        self.extra = int(round(self.frac_cum[-1]))
        super().__init__()

    def __len__(self):
        return int(self.base.sum()) + self.extra

    def epoch(self):
        counts = self.base.copy()
        if self.extra:
            step = self.frac_cum[-1] / self.extra
            points = (self.rng.random() + np.arange(self.extra)) * step
            hits = np.searchsorted(self.frac_cum, points, side='right')
            np.add.at(counts, np.minimum(hits, len(counts) - 1), 1)
        return self.rng.permutation(np.repeat(np.arange(len(counts)), counts))


def _count(value, name, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"sampler 'RepeatAugSampler': {name}={value!r} must be an int >= {low}.")


class RepeatAugSampler(_SeededSampler):
    """mmcls's RepeatAugSampler (DeiT's repeated augmentation): each epoch is a permutation of
    the dataset with every index repeated ``num_repeats`` times in a row. EpochOrder deals it
    out index by index, so the copies of an image go to consecutive processes (each augments its
    own), and each process keeps the first :meth:`selected` indices of its share: mmcls's
    ``len(dataset) // selected_round * selected_round / selected_ratio`` (``selected_ratio`` 0:
    the number of processes; ``selected_round`` 0: ``ceil(len(dataset) / selected_ratio)``).
    With one process and the defaults an epoch is the first len // 256 * 256 of the repeated
    order: about a third of the images, each three times, as in mmcls."""

    @staticmethod
    def check_args(num_repeats=3, selected_round=256, selected_ratio=0):
        _count(num_repeats, 'num_repeats', 1)
        _count(selected_round, 'selected_round', 0)
        if isinstance(selected_ratio, bool) or not isinstance(selected_ratio, (int, float)) \
                or selected_ratio < 0:
            raise ConfigError("sampler 'RepeatAugSampler': selected_ratio="
                              f"{selected_ratio!r} must be a number >= 0 (0: the number of "
                              "processes).")

    def __init__(self, labels, num_repeats=3, selected_round=256, selected_ratio=0):
        self.check_args(num_repeats, selected_round, selected_ratio)
        self.images = len(labels)
        self.num_repeats = num_repeats
        self.selected_round = selected_round
        self.selected_ratio = selected_ratio
        super().__init__()

    def __len__(self):
        return self.images * self.num_repeats

    def selected(self, num_shards):
        """How many indices each of ``num_shards`` processes keeps per epoch."""
        ratio = self.selected_ratio or num_shards
        if self.selected_round:
            kept = math.floor(self.images // self.selected_round * self.selected_round / ratio)
        else:
            kept = math.ceil(self.images / ratio)
        if kept < 1:
            raise ConfigError(
                f"sampler 'RepeatAugSampler': {self.images} training images give no image per "
                f"epoch and process (selected_round={self.selected_round} keeps "
                f"len // {self.selected_round} * {self.selected_round} / {ratio:g}); lower "
                "sampler.selected_round (0 keeps len / selected_ratio).")
        return int(kept)

    def epoch(self):
        return np.repeat(self.rng.permutation(self.images), self.num_repeats)


class EpochOrder(ds.Sampler):
    """The training order of one epoch and this process's share of it.

    The order is the ``base`` sampler's draw (``data.sampler``), else a permutation of the
    dataset (``shuffle``) or its own order. Every process of a data-parallel run draws the same
    order (the trainer seeds ``rng`` and ``base`` from (seed, epoch), not from the rank) and
    takes every ``num_shards``-th index from ``shard_id`` on, so each image goes to one process
    per epoch. As torch's and mmcls's DistributedSampler do, the order is first padded with its
    own first indices to a multiple of ``num_shards``: every process then has as many batches,
    and none waits at a gradient sum that another never reaches. A ``base`` with a ``selected``
    rule (RepeatAugSampler) keeps only that many of each share.
    """

    def __init__(self, size, shuffle=True, base=None, num_shards=1, shard_id=0):
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard_id {shard_id} is not in 0..{num_shards - 1}")
        self.size = len(base) if base is not None else int(size)
        self.shuffle = shuffle
        self.base = base
        self.num_shards = num_shards
        self.shard_id = shard_id
        self.share = -(-self.size // num_shards)
        if hasattr(base, 'selected'):
            self.share = min(self.share, base.selected(num_shards))
        self.rng = np.random.default_rng(ds.config.get_seed())
        super().__init__()

    def __len__(self):
        return self.share

    def order(self):
        """The whole epoch's indices, the same in every process."""
        if self.base is not None:
            return np.asarray(self.base.epoch())
        return self.rng.permutation(self.size) if self.shuffle else np.arange(self.size)

    def __iter__(self):
        order = self.order()
        total = -(-self.size // self.num_shards) * self.num_shards
        if total > len(order):
            order = np.resize(order, total)   # repeats from the start, as DistributedSampler
        return iter(order[self.shard_id::self.num_shards][:self.share].tolist())
