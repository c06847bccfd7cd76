"""Freezing parts of a backbone, with mmcls's ``frozen_stages`` / ``norm_eval`` meaning.

``Model`` calls ``set_train(True)`` on the whole network, so putting a sub-cell in eval mode does
not hold; a BatchNorm keeps its moving statistics only with ``use_batch_statistics=False``.
"""
import mindspore.nn as nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)


def freeze(cell):
    """No gradient for ``cell``'s parameters (so the optimizer skips them) and fixed BN stats."""
    for param in cell.get_parameters():
        param.requires_grad = False
    norm_eval(cell)


def norm_eval(cell):
    """Every BatchNorm inside ``cell`` normalises with, and keeps, its moving statistics."""
    for _, sub in cell.cells_and_names():
        if isinstance(sub, BATCH_NORMS):
            sub.use_batch_statistics = False
