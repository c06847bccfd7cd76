"""Class-balanced sampling for imbalanced training sets (``data.sampler``), as MindSpore samplers.

``GeneratorDataset(..., sampler=...)`` asks its sampler for a fresh list of indices every epoch,
so each epoch is a new draw. The draws come from a numpy generator seeded with the dataset seed
(``mindspore.dataset.config.get_seed()``, which the config's ``seed`` sets), so a run repeats.
Both samplers keep every epoch the same length: the lr schedule counts the steps per epoch before
training starts.
"""
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
