"""An :class:`~.spec.OptimizerSpec` -> the MindSpore optimizer cell, driven by a per-step lr array.

=========  ==============================================================
type       MindSpore cell
=========  ==============================================================
SGD        nn.Momentum (momentum > 0, no dampening), else nn.SGD
Adam       nn.Adam
AdamW      :class:`~.torch_optimizers.AdamW`
RMSprop    :class:`~.torch_optimizers.RMSprop`
Lamb       :class:`~.torch_optimizers.Lamb`
=========  ==============================================================

nn.Adam matches torch's Adam except that eps is added to sqrt(v) before the bias correction
(TensorFlow's "epsilon hat"), a difference of order eps.
"""
import numpy as np
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from .param_groups import build_param_groups
from .spec import OptimizerSpec
from .torch_optimizers import AdamW, Lamb, RMSprop, TorchSemantics


def _sgd(spec):
    momentum, nesterov, dampening = spec['momentum'], spec['nesterov'], spec['dampening']
    if momentum > 0 and dampening == 0:
        return nn.Momentum, dict(momentum=momentum, use_nesterov=nesterov)
    return nn.SGD, dict(momentum=momentum, dampening=dampening, nesterov=nesterov)


def _adam(cls):
    def cell(spec):
        beta1, beta2 = spec['betas']
        return cls, dict(beta1=beta1, beta2=beta2, eps=spec['eps'])
    return cell


def _rmsprop(spec):
    return RMSprop, dict(alpha=spec['alpha'], eps=spec['eps'], momentum=spec['momentum'],
                         centered=spec['centered'])


def _lamb(spec):
    beta1, beta2 = spec['betas']
    return Lamb, dict(beta1=beta1, beta2=beta2, eps=spec['eps'],
                      **{key: spec[key] for key in ('bias_correction', 'grad_averaging',
                                                    'max_grad_norm', 'trust_clip',
                                                    'always_adapt')})


# spec.type -> (cell class, its type-specific arguments)
CELLS = {'SGD': _sgd, 'Adam': _adam(nn.Adam), 'AdamW': _adam(AdamW), 'RMSprop': _rmsprop,
         'Lamb': _lamb}


def build_optimizer(spec, params, lr_schedule, loss_scale=1.0, net=None):
    """The optimizer ``spec`` describes, with mmcls semantics; nothing is checked again here.

    ``params``: the parameters to train (``net.trainable_params()``; frozen ones are dropped, and
    None means the trainable parameters of ``net``). ``lr_schedule``: the lr of every global step.
    ``loss_scale``: the fixed loss scale the gradients carry, divided out by the optimizer.
    ``net``: needed only for ``paramwise_cfg``, which matches parameters by module path.
    """
    if not isinstance(spec, OptimizerSpec):
        raise TypeError(f"build_optimizer takes an OptimizerSpec, got {type(spec).__name__}: "
                        "check the config once with optimizer_spec(cfg.optimizer, grad_clip).")
    groups = build_param_groups(spec.paramwise, spec['weight_decay'], params, lr_schedule,
                                net=net)
    lr = ms.Tensor(np.asarray(lr_schedule, np.float32), ms.float32)
    loss_scale = float(loss_scale)
    common = dict(learning_rate=lr, weight_decay=spec['weight_decay'], loss_scale=loss_scale)
    cls, kwargs = CELLS[spec.type](spec)
    if spec.max_norm is None:
        return cls(groups, **common, **kwargs)
    # the gradients still carry a fixed loss scale here: clip at the same scale
    if issubclass(cls, TorchSemantics):
        optimizer = cls(groups, **common, **kwargs)
        optimizer.clip_norm = spec.max_norm * loss_scale
        return optimizer
    return clipped(cls, spec.max_norm * loss_scale)(groups, **common, **kwargs)


def clipped(optimizer_class, clip_norm):
    """A subclass of MindSpore's ``optimizer_class`` (Momentum, SGD, Adam) that first rescales
    the gradients so that their global L2 norm is at most ``clip_norm`` (torch's
    ``clip_grad_norm_``), before weight decay.

    A subclass, not a wrapper cell: ``mindspore.train.Model`` accepts only ``nn.Optimizer``s.
    The clip goes into ``decay_weight``, the first thing their constructs do with the
    gradients: overriding the ``@jit`` construct itself does not compile reliably (``super()``
    recurses; calling the base construct by name lost ``self`` once the process had compiled
    other graphs). ms_cls's own AdamW/RMSprop clip inside their construct.
    """
    clip_norm = float(clip_norm)
    base_decay = optimizer_class.decay_weight

    def decay_weight(self, gradients):
        return base_decay(self, ops.clip_by_global_norm(gradients, clip_norm))

    return type(f'Clipped{optimizer_class.__name__}', (optimizer_class,),
                {'decay_weight': decay_weight, 'clip_norm': clip_norm})
