"""Classification losses in the mmcls vocabulary, as MindSpore cells for ``Model(loss_fn=...)``.

Both take logits (N, C) and labels that are class indices (N,) or soft targets (N, C) (mixed
labels). Logits are cast to float32 first, so the loss is computed in full precision under amp.
Reduction follows mmcls: per-sample losses (times their class weight) are averaged over the batch.
"""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops


def _check_reduction(reduction):
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


class CrossEntropyLoss(nn.Cell):
    """Softmax cross entropy times ``loss_weight``; ``class_weight`` (one per class) scales each
    sample's loss by the weight of its class, as mmcls does (the mean is over samples).

    ``use_soft=True`` is mmcls's soft-label version for mixed labels; here the one loss takes both
    kinds of label, so it only documents intent. ``use_sigmoid=True`` is mmcls's binary cross
    entropy with logits (class indices become one-hot targets; ``pos_weight`` per class): summed
    over classes and averaged over samples, as mmcls's heads average it (avg_factor = batch)."""

    def __init__(self, loss_weight=1.0, reduction='mean', class_weight=None, use_sigmoid=False,
                 use_soft=False, pos_weight=None):
        super().__init__()
        if use_sigmoid and use_soft:
            raise ValueError("use_sigmoid and use_soft cannot both be True (mmcls refuses it "
                             "too); keep one in model.head.loss")
        if pos_weight is not None and not use_sigmoid:
            raise ValueError("pos_weight is for use_sigmoid=True (binary cross entropy)")
        _check_reduction(reduction)
        self.loss_weight = loss_weight
        self.mean = reduction == 'mean'
        self.use_sigmoid = use_sigmoid
        self.class_weight = None if class_weight is None else ms.Tensor(class_weight, ms.float32)
        self.pos_weight = None if pos_weight is None else ms.Tensor(pos_weight, ms.float32)

    def targets(self, logits, labels):
        if labels.ndim == 1:
            return ops.one_hot(labels, logits.shape[-1], ms.Tensor(1.0, ms.float32),
                               ms.Tensor(0.0, ms.float32))
        return ops.cast(labels, ms.float32)

    def per_sample(self, logits, labels):
        logits = ops.cast(logits, ms.float32)
        targets = self.targets(logits, labels)
        if self.use_sigmoid:
            ones = ops.ones_like(logits)
            loss = ops.binary_cross_entropy_with_logits(
                logits, targets, ones if self.class_weight is None else ones * self.class_weight,
                ones if self.pos_weight is None else ones * self.pos_weight, reduction='none')
            return loss.sum(axis=-1)
        log_probs = ops.log_softmax(logits, axis=-1)
        if self.class_weight is not None:
            targets = targets * self.class_weight
        return -(targets * log_probs).sum(axis=-1)

    def reduce(self, loss):
        return (loss.mean() if self.mean else loss.sum()) * self.loss_weight

    def construct(self, logits, labels):
        return self.reduce(self.per_sample(logits, labels))


class LabelSmoothLoss(CrossEntropyLoss):
    """Cross entropy against smoothed targets (mmcls ``LabelSmoothLoss``).

    mode 'original': (1 - e) * one_hot + e / C; 'classy_vision': (one_hot + e / C) / (1 + e).
    ``num_classes`` defaults to the head's.
    """

    def __init__(self, label_smooth_val, num_classes=None, mode='original', reduction='mean',
                 loss_weight=1.0, class_weight=None, use_sigmoid=False, pos_weight=None):
        super().__init__(loss_weight=loss_weight, reduction=reduction, class_weight=class_weight,
                         use_sigmoid=bool(use_sigmoid), pos_weight=pos_weight)
        if not 0 <= label_smooth_val < 1:
            raise ValueError(f"label_smooth_val={label_smooth_val!r} must be in [0, 1)")
        if mode not in ('original', 'classy_vision'):
            raise ValueError(f"mode={mode!r}; use 'original' or 'classy_vision'")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes={num_classes!r} must be an int >= 2")
        self.eps = label_smooth_val
        self.num_classes = num_classes
        self.mode = mode

    def construct(self, logits, labels):
        if labels.ndim == 1:
            labels = ops.one_hot(labels, self.num_classes, ms.Tensor(1.0, ms.float32),
                                 ms.Tensor(0.0, ms.float32))
        labels = ops.cast(labels, ms.float32)
        if self.mode == 'original':
            labels = labels * (1 - self.eps) + self.eps / self.num_classes
        else:
            labels = (labels + self.eps / self.num_classes) / (1 + self.eps)
        return self.reduce(self.per_sample(logits, labels))
