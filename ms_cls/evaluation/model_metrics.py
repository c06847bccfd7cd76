"""metrics.py's accuracy as a ``mindspore.train.Metric``, for ``Model(metrics=...)``.

Validation during training and scripts/test.py must report the same top-k for the same logits,
ties included. MindSpore's TopKCategoricalAccuracy ranks with numpy's default (unstable) sort, so
a tie can go either way; this metric keeps every batch and calls ``metrics.topk_accuracy`` (a
stable sort: the lower class index wins a tie), the function scripts/test.py uses.
It lives apart from metrics.py, which must stay importable without MindSpore (eval_metric.py,
analyze_results.py).
"""
import numpy as np
from mindspore.train import Metric, rearrange_inputs

from .metrics import topk_accuracy


class TopKAccuracy(Metric):
    """Fraction of samples whose label is among the ``k`` highest scores.

    ``Model`` calls ``clear()`` before each evaluation, ``update(logits, labels)`` per batch
    (labels as class indices, or one-hot/soft rows, whose argmax is used) and ``eval()`` once;
    ``eval_results`` holds the float under the key given in ``Model(metrics={key: metric})``.
    ``total``: in a data-parallel run, a function summing an array over all processes
    (``Cluster.all_sum``); each process scores its share of the val images and the metric is
    over all of them.
    """

    def __init__(self, k=1, total=None):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"TopKAccuracy: k must be a positive int, got {k!r}.")
        self.k = k
        self.total = total
        self.clear()

    def clear(self):
        self._scores, self._labels = [], []

    @rearrange_inputs
    def update(self, *inputs):
        if len(inputs) != 2:
            raise ValueError(f"TopKAccuracy.update takes (logits, labels), got {len(inputs)} "
                             "inputs.")
        scores, labels = (self._convert_data(x) for x in inputs)
        if labels.ndim == scores.ndim:
            labels = labels.argmax(axis=-1)
        self._scores.append(np.asarray(scores))
        self._labels.append(np.asarray(labels).reshape(-1))

    def eval(self):
        if self.total is not None:   # every process calls this once per validation
            hits, count = self.total([self._hits(), sum(len(x) for x in self._labels)])
            if not count:
                raise RuntimeError("TopKAccuracy.eval: no samples in any process.")
            return float(hits / count)
        if not self._scores:
            raise RuntimeError("TopKAccuracy.eval: no samples; update() was never called.")
        return topk_accuracy(np.concatenate(self._scores), np.concatenate(self._labels), self.k)

    def _hits(self):
        """How many of this process's samples are right (top-k), as a whole number."""
        if not self._scores:
            return 0
        labels = np.concatenate(self._labels)
        return round(topk_accuracy(np.concatenate(self._scores), labels, self.k) * len(labels))
