"""Classification losses in the mmcls vocabulary, as MindSpore cells for ``Model(loss_fn=...)``."""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops


class CrossEntropyLoss(nn.Cell):
    """Softmax cross entropy on integer labels, times ``loss_weight``.

    Logits are cast to float32 first so that the loss is computed in full precision under amp.
    """

    def __init__(self, loss_weight=1.0, reduction='mean', use_sigmoid=False, use_soft=False):
        super().__init__()
        if use_sigmoid or use_soft:
            raise ValueError("CrossEntropyLoss: use_sigmoid/use_soft are not supported; "
                             "remove them from model.head.loss.")
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean' or 'sum', "
                             f"got {reduction!r}.")
        self.loss_weight = loss_weight
        self.ce = nn.CrossEntropyLoss(reduction=reduction)

    def construct(self, logits, labels):
        return self.ce(ops.cast(logits, ms.float32), labels) * self.loss_weight
