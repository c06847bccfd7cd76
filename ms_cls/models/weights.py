"""Reading ms_cls / MindCV checkpoints into a network.

An ms_cls checkpoint is a MindSpore .ckpt whose parameter names are MindCV's, plus one string
entry ``ms_cls_meta`` (JSON: class names, epoch, best top-1) so that class names travel with the
weights. Optimizer state in the file (``moments.*``, ``global_step``, ...) is ignored here, and
so are the ``raw.*`` weights of an EMA run (its main weights are the averaged ones).
"""
import json
import os

import numpy as np
import mindspore as ms
from mindspore.train import serialization as _serialization

from ..errors import ConfigError

META_KEY = 'ms_cls_meta'
HEAD_PREFIX = 'classifier.'
BIAS_TABLE = 'relative_position_bias_table'
EMA_PREFIX = 'ema.'
RAW_PREFIX = 'raw.'  # ms_cls EMA runs: the weights before averaging (see engine/ema.py)


def available_memory():
    """MemAvailable from /proc/meminfo: free memory plus the page cache the kernel can drop.

    MindSpore 2.10 refuses to read a .ckpt larger than the *free* pages (SC_AVPHYS_PAGES); after
    a training run has filled the page cache that can be a few hundred MB on a machine with
    gigabytes available, so ms_cls gives its size check this figure instead.
    """
    try:
        with open('/proc/meminfo', encoding='ascii') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


if hasattr(_serialization, '_get_available_memory'):
    _serialization._get_available_memory = available_memory


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


def load_weights(net, path, log=print, use_ema=False):
    """Load ``path`` into ``net`` (non-strict) and report, once, what did not match.

    A head whose shape differs (another number of classes) is dropped and reported, so an
    ImageNet or earlier-run checkpoint can start a new task. ``use_ema`` takes the ``ema.``
    copies of the weights (MindCV's EMA) instead of the raw ones. A model with one input channel
    gets the RGB first convolution summed over its input channels. Returns the checkpoint's meta.
    """
    params, meta = read_checkpoint(path)
    ema = {k[len(EMA_PREFIX):]: v for k, v in params.items() if k.startswith(EMA_PREFIX)}
    if use_ema and not ema:
        raise ConfigError(f"Checkpoint {path} has no '{EMA_PREFIX}' weights; drop use_ema.")
    if use_ema:
        params = ema
    own = {p.name: p for p in net.get_parameters()}
    loadable, skipped, notes = {}, [], []
    for name, value in params.items():
        if name not in own:
            continue
        want, have = tuple(own[name].shape), tuple(value.shape)
        if have != want and _rgb_to_grey(have, want):
            value = ms.Parameter(value.asnumpy().sum(axis=1, keepdims=True), name=name)
            notes.append(f"{name} summed over RGB for 1 input channel")
        elif have != want and name.endswith(BIAS_TABLE) and _smaller_window(have, want):
            value = ms.Parameter(_crop_bias_table(value.asnumpy(), want), name=name)
            notes.append(f"{name} cropped to the smaller window")
        elif have != want:
            if not name.startswith(HEAD_PREFIX):
                raise ConfigError(
                    f"Checkpoint {path}: parameter '{name}' has shape {have} but the model's is "
                    f"{want}. Is the config's backbone the one this checkpoint was trained with?")
            skipped.append(name)
            continue
        loadable[name] = value
    ms.load_param_into_net(net, loadable, strict_load=False)
    missing = sorted(n for n in own if n not in loadable and n not in skipped)
    unexpected = sorted(n for n in params if n not in own and not _optimizer_state(n)
                        and not n.startswith((EMA_PREFIX, RAW_PREFIX)))
    log(f"Loaded {len(loadable)}/{len(own)} parameters from {path}"
        + (' (EMA weights)' if use_ema else '')
        + (f"; dropped head {skipped} (shape differs: new num_classes)" if skipped else '')
        + (f"; missing {len(missing)}: {_head_of(missing)}" if missing else '')
        + (f"; unexpected {len(unexpected)}: {_head_of(unexpected)}" if unexpected else '')
        + ''.join(f"; {n}" for n in notes))
    return meta


def _table_side(rows):
    side = int(round(rows ** 0.5))
    return side if side * side == rows else None


def _smaller_window(have, want):
    """A Swin stage whose map is smaller than the pretraining window uses a smaller window."""
    big, small = _table_side(have[0]), _table_side(want[0])
    return big and small and small < big and have[1:] == want[1:]


def _crop_bias_table(table, want):
    """Relative offsets of a w'-window are the centre of a w-window's (2w-1)^2 table: crop."""
    big, small = _table_side(table.shape[0]), _table_side(want[0])
    start = (big - small) // 2
    grid = table.reshape(big, big, -1)[start:start + small, start:start + small]
    return np.ascontiguousarray(grid.reshape(want))


def _rgb_to_grey(have, want):
    return len(have) == 4 and have[1] == 3 and want[1] == 1 and have[:1] + have[2:] == want[:1] + want[2:]


def _optimizer_state(name):
    return name.startswith(('moments.', 'accum.', 'moment1.', 'moment2.', 'global_step',
                            'learning_rate', 'momentum', 'beta1_power', 'beta2_power',
                            'scale_sense', 'current_iterator_step', 'last_overflow_iterator_step',
                            'epoch_num', 'step_num'))


def _head_of(names, n=5):
    return ', '.join(names[:n]) + (', ...' if len(names) > n else '')
