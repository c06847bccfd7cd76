"""Optimizers with mmcls semantics: check ``cfg.optimizer`` once (:func:`optimizer_spec`), then
build the MindSpore cell from that spec (:func:`build_optimizer`).

``spec``: the config check and :class:`OptimizerSpec`; ``param_groups``: mmcv's paramwise_cfg;
``torch_optimizers``: AdamW and RMSprop with torch's update rules; ``builder``: spec -> cell and
gradient clipping.
"""
from .builder import build_optimizer
from .spec import OptimizerSpec, ParamwiseSpec, optimizer_spec

__all__ = ['OptimizerSpec', 'ParamwiseSpec', 'build_optimizer', 'optimizer_spec']
