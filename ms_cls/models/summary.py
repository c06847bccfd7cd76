"""Parameter and FLOP counts of a classifier (``scripts/get_flops.py``).

FLOPs are counted as multiply-adds, as mmcv's get_flops and most papers do (ResNet-50 at 224px:
about 4.1 G). Convolutions and dense layers are measured from one forward pass through forward
hooks (PyNative mode); cells that multiply activations with each other (window attention) report
their own count through a ``matmul_macs(input_shape)`` method.
"""
import numpy as np
import mindspore as ms
import mindspore.nn as nn


def _conv_macs(cell, out_shape):
    kh, kw = cell.kernel_size
    return int(np.prod(out_shape)) * (cell.in_channels // cell.group) * kh * kw


def _dense_macs(cell, out_shape):
    return int(np.prod(out_shape[:-1])) * cell.in_channels * cell.out_channels


def count_macs(net, shape):
    """Multiply-adds of one forward pass of ``net`` on a (1, 3, H, W) input (PyNative mode)."""
    total = [0]

    def hook(cell, inputs, output):
        if isinstance(cell, nn.Conv2d):
            total[0] += _conv_macs(cell, output.shape)
        elif isinstance(cell, nn.Dense):
            total[0] += _dense_macs(cell, output.shape)
        if hasattr(cell, 'matmul_macs'):
            total[0] += cell.matmul_macs(inputs[0].shape)

    handles = [cell.register_forward_hook(hook) for _, cell in net.cells_and_names()
               if isinstance(cell, (nn.Conv2d, nn.Dense)) or hasattr(cell, 'matmul_macs')]
    net.set_train(False)
    net(ms.Tensor(np.zeros((1, 3) + tuple(shape), np.float32)))
    for handle in handles:
        handle.remove()
    return total[0]


def parameter_counts(net):
    """(parameters, trained ones) of ``net``: frozen weights count, BatchNorm statistics not."""
    trainable = sum(int(np.prod(p.shape)) for p in net.trainable_params())
    return trainable + sum(int(np.prod(p.shape)) for p in net.untrainable_params()
                           if 'moving_' not in p.name), trainable


def trained_line(net):
    """The run log's line on how much of the network trains (``frozen_stages`` keeps the rest)."""
    params, trainable = parameter_counts(net)
    frozen = f" ({params - trainable:,} frozen)" if trainable < params else ''
    return f"model: {trainable:,} of {params:,} parameters are trained{frozen}"


def summarize(net, shape):
    """dict(params, trainable_params, macs) for ``net`` at input size ``shape`` (H, W)."""
    params, trainable = parameter_counts(net)
    return dict(params=params, trainable_params=trainable, macs=count_macs(net, shape))
