"""Reading ms_cls / MindCV checkpoints into a network.

An ms_cls checkpoint is a MindSpore .ckpt whose parameter names are MindCV's, plus one string
entry ``ms_cls_meta`` (JSON: class names, epoch, best top-1) so that class names travel with the
weights. Optimizer state in the file (``moments.*``, ``global_step``, ...) is ignored here.
"""
import json
import os

import mindspore as ms

from ..config import ConfigError

META_KEY = 'ms_cls_meta'
HEAD_PREFIX = 'classifier.'


def read_checkpoint(path):
    """-> (parameters: dict name -> Parameter, meta: dict). Clear errors for missing/bad files."""
    if not os.path.isfile(path):
        raise ConfigError(f"Checkpoint not found: {path}")
    try:
        entries = ms.load_checkpoint(path)
    except (ValueError, RuntimeError, OSError) as err:
        raise ConfigError(f"Cannot read checkpoint {path}: {err}") from None
    meta = {}
    if isinstance(entries.get(META_KEY), str):
        meta = json.loads(entries[META_KEY])
    params = {k: v for k, v in entries.items() if isinstance(v, ms.Parameter)}
    return params, meta


def load_weights(net, path, log=print):
    """Load ``path`` into ``net`` (non-strict) and report what did not match.

    A head whose shape differs (another number of classes) is dropped and reported, so an
    ImageNet or earlier-run checkpoint can start a new task. Returns the checkpoint's meta.
    """
    params, meta = read_checkpoint(path)
    own = {p.name: p for p in net.get_parameters()}
    loadable, skipped = {}, []
    for name, value in params.items():
        if name not in own:
            continue
        if tuple(value.shape) != tuple(own[name].shape):
            if not name.startswith(HEAD_PREFIX):
                raise ConfigError(
                    f"Checkpoint {path}: parameter '{name}' has shape {tuple(value.shape)} but the "
                    f"model's is {tuple(own[name].shape)}. Is the config's backbone the one this "
                    "checkpoint was trained with?")
            skipped.append(name)
            continue
        loadable[name] = value
    ms.load_param_into_net(net, loadable, strict_load=False)
    missing = sorted(n for n in own if n not in loadable and n not in skipped)
    unexpected = sorted(n for n in params if n not in own and not _optimizer_state(n))
    log(f"Loaded {len(loadable)}/{len(own)} parameters from {path}"
        + (f"; dropped head {skipped} (shape differs: new num_classes)" if skipped else '')
        + (f"; missing {len(missing)}: {_head_of(missing)}" if missing else '')
        + (f"; unexpected {len(unexpected)}: {_head_of(unexpected)}" if unexpected else ''))
    return meta


def _optimizer_state(name):
    return name.startswith(('moments.', 'accum.', 'moment1.', 'moment2.', 'global_step',
                            'learning_rate', 'momentum', 'beta1_power', 'beta2_power',
                            'scale_sense', 'current_iterator_step', 'last_overflow_iterator_step',
                            'epoch_num', 'step_num'))


def _head_of(names, n=5):
    return ', '.join(names[:n]) + (', ...' if len(names) > n else '')
