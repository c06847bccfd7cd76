"""MindSpore parameter groups from mmcv's ``paramwise_cfg`` (``DefaultOptimizerConstructor``).

``custom_keys`` (longest key first, matched as a substring of '<module path>.<parameter>', e.g.
'backbone.layer1.0.conv1.weight' or 'head.classifier.bias'; norm parameters also match under
torch's names weight/bias/running_*), then ``norm_decay_mult`` (BatchNorm/LayerNorm/GroupNorm/
InstanceNorm gamma and beta), ``dwconv_decay_mult`` (depthwise convolutions), ``bias_decay_mult``
/ ``bias_lr_mult`` (biases of other layers), ``bypass_duplicate``. Parameters that share
(lr_mult, weight decay) form one MindSpore parameter group.
"""
import numpy as np
import mindspore as ms
import mindspore.nn as nn

from ...errors import ConfigError

_norms = [getattr(nn.layer.normalization, name, None)
          for name in ('_BatchNorm', '_InstanceNorm', 'BatchNorm3d', 'LayerNorm', 'LayerNormExt',
                       'GroupNorm')]
NORM_LAYERS = tuple(n for n in _norms if isinstance(n, type))
# torch's names of norm parameters, so that mmcls custom_keys such as '.bias' or 'norm.weight'
# match MindSpore's gamma/beta as they match torch's weight/bias
TORCH_NORM_NAMES = {'gamma': 'weight', 'beta': 'bias', 'moving_mean': 'running_mean',
                    'moving_variance': 'running_var'}


def parameter_paths(net):
    """{id(parameter): (path, leaf name, cell)} by module path, as mmcv names parameters.

    ``net.cells_and_names()`` gives each cell's attribute path ('backbone.layer1.0.conv1',
    'head.classifier'), whatever the parameters' own (MindCV) names are. A parameter reached
    from two cells is listed under the first; the second paths go to the returned duplicates.
    """
    paths, duplicates = {}, []
    for cell_path, cell in net.cells_and_names():
        for leaf, param in cell.parameters_and_names(expand=False):
            path = f'{cell_path}.{leaf}'  # mmcv's f'{prefix}.{name}': '.weight' at the top
            if id(param) in paths:
                duplicates.append((param, path))
                continue
            paths[id(param)] = (path, leaf, cell)
    return paths, duplicates


def paramwise_settings(net, params, paramwise):
    """[(parameter, lr_mult, decay_mult)] for ``params`` under mmcv's DefaultOptimizerConstructor
    rules; ``paramwise`` is a checked :class:`~.spec.ParamwiseSpec`."""
    paths, duplicates = parameter_paths(net)
    wanted = {id(p) for p in params}
    if not paramwise.bypass_duplicate:
        for param, path in duplicates:
            if id(param) in wanted:
                raise ConfigError(
                    f"Parameter {param.name} is shared by {paths[id(param)][0]} and {path}; set "
                    "optimizer.paramwise_cfg.bypass_duplicate=True to give it once (as in mmcv).")
    settings = []
    for param in params:
        if id(param) not in paths:
            raise ValueError(f"Parameter {param.name} is not part of the network given to "
                             "build_optimizer(net=...).")
        path, leaf, cell = paths[id(param)]
        is_norm = isinstance(cell, NORM_LAYERS)
        names = {path}
        if is_norm and leaf in TORCH_NORM_NAMES:
            names.add(path[:-len(leaf)] + TORCH_NORM_NAMES[leaf])
        custom = next((c for c in paramwise.custom_keys if any(c.key in n for n in names)), None)
        lr_mult, decay_mult = 1.0, 1.0
        if custom is not None:
            lr_mult, decay_mult = custom.lr_mult, custom.decay_mult
        else:
            if leaf == 'bias' and not is_norm:
                lr_mult = paramwise.bias_lr_mult
            if is_norm:
                decay_mult = paramwise.norm_decay_mult
            elif isinstance(cell, nn.Conv2d) and cell.in_channels == cell.group:
                decay_mult = paramwise.dwconv_decay_mult
            elif leaf == 'bias':
                decay_mult = paramwise.bias_decay_mult
        settings.append((param, lr_mult, decay_mult))
    return settings


def build_param_groups(paramwise, weight_decay, params, lr_schedule, net=None):
    """MindSpore parameter groups for ``params`` (frozen ones dropped).

    Without ``paramwise`` (None): one group whose weight decay applies to every parameter,
    BatchNorm and biases included (mmcls; MindSpore's own default skips names with
    'gamma'/'beta'). With it: one group per (lr multiplier, weight decay), each carrying its own
    ``weight_decay`` and, where the multiplier is not 1, its own per-step ``lr`` array.
    ``params`` None means the trainable parameters of ``net``.
    """
    if params is None:
        if net is None:
            raise ValueError("build_optimizer needs params or net.")
        params = net.trainable_params()
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ConfigError("The model has no trainable parameters.")
    weight_decay = float(weight_decay)
    if paramwise is None:
        return [{'params': params, 'weight_decay': weight_decay}]
    if net is None:
        raise ValueError("optimizer.paramwise_cfg needs the network: "
                         "build_optimizer(..., net=net).")
    schedule = np.asarray(lr_schedule, np.float32)
    groups = {}
    for param, lr_mult, decay_mult in paramwise_settings(net, params, paramwise):
        groups.setdefault((lr_mult, weight_decay * decay_mult), []).append(param)
    result = []
    for (lr_mult, decay), members in groups.items():
        group = {'params': members, 'weight_decay': decay}
        if lr_mult != 1.0:
            group['lr'] = ms.Tensor(schedule * np.float32(lr_mult), ms.float32)
        result.append(group)
    if len(result) > 1:
        result.append({'order_params': params})  # keep the network's order for the update
    return result
