"""Small cells shared by more than one backbone."""
import mindspore.nn as nn
import mindspore.ops as ops


class DropPath(nn.Cell):
    """Stochastic depth: drop the whole residual branch per sample while training (any rank:
    Swin's (N, L, C) tokens, ResNet's (N, C, H, W) maps)."""

    def __init__(self, drop_prob):
        super().__init__()
        self.dropout = nn.Dropout(p=drop_prob)  # scales the kept samples by 1 / keep_prob

    def construct(self, x):
        if not self.training:
            return x
        mask_shape = (x.shape[0],) + (1,) * (len(x.shape) - 1)
        return x * self.dropout(ops.ones(mask_shape, x.dtype))
