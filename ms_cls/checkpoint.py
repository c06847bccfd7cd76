"""The ms_cls .ckpt format: writing, copying, reading and loading it into a network.

An ms_cls checkpoint is a MindSpore .ckpt whose parameter names are MindCV's, plus one string
entry ``ms_cls_meta`` (JSON, see ``make_meta``) so that class names travel with the weights. Other
entries are recognised by prefix: ``ema.*`` (MindCV's averaged weights), ``raw.*`` (an ms_cls EMA
run's weights before averaging; its main weights are the averaged ones) and optimizer state
(``moments.*``, ``global_step``...), which loading ignores.

This module imports neither ``ms_cls.models`` nor ``ms_cls.engine``: both use it.
"""
import json
import os
import shutil
from functools import partial

import numpy as np
import mindspore as ms
from mindspore.train import serialization as _serialization

from .errors import ConfigError
from .fileio import atomic_path, atomic_write

META_KEY = 'ms_cls_meta'
HEAD_PREFIX = 'classifier.'  # LinearClsHead's Dense, MindCV's name
EMA_PREFIX = 'ema.'
RAW_PREFIX = 'raw.'
BIAS_TABLE = 'relative_position_bias_table'
META_FIELDS = ('classes', 'epoch', 'ema', 'metrics', 'step', 'best', 'seed')


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


def make_meta(classes=None, epoch=None, ema=False, metrics=None, step=None, best=None,
              seed=None):
    """The ``ms_cls_meta`` entry, the one place its schema is written down:

    - ``classes``: class names, index = label (None: the checkpoint does not name them);
    - ``epoch``: the epochs training had finished when it wrote it (None: not from training);
    - ``ema``: True when the main weights are EMA averages and ``raw.*`` holds the raw ones;
    - ``metrics``: validation results of that epoch, name -> float ({} when not validated);
    - ``step``: global training steps done (a mid-epoch recovery checkpoint has more than
      ``epoch`` full epochs' worth); ``best``: {'accuracy_top-1': x, 'epoch': n} so far;
      ``seed``: the run's seed (resume repeats its data order and augmentation draws).
    """
    if classes is not None and not all(isinstance(c, str) for c in classes):
        raise ValueError(f"checkpoint classes must be strings, got {classes!r}")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise ValueError(f"checkpoint epoch must be an int, got {epoch!r}")
    return {'classes': None if classes is None else list(classes), 'epoch': epoch,
            'ema': bool(ema), 'metrics': {str(k): float(v) for k, v in (metrics or {}).items()},
            'step': step, 'best': dict(best) if best else None, 'seed': seed}


def _parse_meta(text, path):
    """Stored JSON -> ``make_meta``'s dict. Checkpoints written before the schema kept their
    metrics as top-level numbers; those are read as ``metrics``."""
    try:
        stored = json.loads(text)
        fields = {k: v for k, v in stored.items() if k in META_FIELDS}
        legacy = {k: v for k, v in stored.items() if k not in META_FIELDS
                  and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if legacy and 'metrics' not in fields:
            fields['metrics'] = legacy
        return make_meta(**fields)
    except (ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"Checkpoint {path}: its '{META_KEY}' entry is not ms_cls meta "
                          f"({err}); was the file written by ms_cls?") from None


def _mindspore_temp(path):
    """Where ``mindspore.save_checkpoint(path)`` writes before renaming: '.ckpt' -> '.tmp'."""
    return os.path.splitext(path)[0] + '.tmp'


def save_checkpoint(cell, path, meta=None, extra=None):
    """Write ``cell``'s parameters (and optimizer state, if it is a train cell), ``meta``
    (``make_meta``'s dict) and ``extra`` tensors (name -> Tensor) to ``path``.

    ``mindspore.save_checkpoint`` removes an existing file before writing the new one, so a crash
    mid-save would lose both: the file is written under a hidden temporary name and renamed, and
    a failed save leaves neither that name nor MindSpore's own ``.tmp`` file behind. ``path``
    must end in .ckpt: MindSpore appends it otherwise, and reads no other name.
    """
    path = os.fspath(path)
    if not path.endswith('.ckpt'):
        raise ConfigError(f"Checkpoint file {path!r}: the name must end in .ckpt (MindSpore "
                          f"reads no other), e.g. {os.path.splitext(path)[0]}.ckpt.")
    entries = {META_KEY: json.dumps(make_meta(**(meta or {}))), **(extra or {})}
    with atomic_path(path) as tmp:
        try:
            ms.save_checkpoint(cell, tmp, append_dict=entries)
        except BaseException:
            if os.path.exists(_mindspore_temp(tmp)):
                os.remove(_mindspore_temp(tmp))
            raise


def copy_checkpoint(src, dst):
    """Copy a checkpoint file; ``dst`` is replaced only once the copy is complete."""
    atomic_write(dst, partial(shutil.copyfile, src))


def read_checkpoint(path):
    """-> (parameters: dict name -> Parameter, meta: ``make_meta``'s dict). Clear errors for
    missing or unreadable files; a checkpoint without ms_cls meta (MindCV's) gets the defaults."""
    if not os.path.isfile(path):
        raise ConfigError(f"Checkpoint not found: {path}")
    try:
        entries = ms.load_checkpoint(path)
    except (ValueError, RuntimeError, OSError) as err:
        raise ConfigError(f"Cannot read checkpoint {path}: {err}") from None
    stored = entries.get(META_KEY)
    meta = _parse_meta(stored, path) if isinstance(stored, str) else make_meta()
    params = {k: v for k, v in entries.items() if isinstance(v, ms.Parameter)}
    return params, meta


def ema_weights(params, path, option='use_ema'):
    """The ``ema.*`` entries of ``params`` under their plain names; ConfigError without any."""
    ema = {k[len(EMA_PREFIX):]: v for k, v in params.items() if k.startswith(EMA_PREFIX)}
    if not ema:
        raise ConfigError(f"Checkpoint {path} has no '{EMA_PREFIX}' weights; drop {option}.")
    return ema


def load_weights(net, path, log=print, use_ema=False):
    """Load ``path`` into ``net`` (non-strict) and report, once, what did not match.

    A head whose shape differs (another number of classes) is dropped and reported, so an
    ImageNet or earlier-run checkpoint can start a new task. ``use_ema`` takes the ``ema.``
    copies of the weights (MindCV's EMA) instead of the raw ones. A model with one input channel
    gets the RGB first convolution summed over its input channels; a Swin stage whose map is
    smaller than the pretraining window gets the centre of the bias table. Returns the meta.
    """
    params, meta = read_checkpoint(path)
    if use_ema:
        params = ema_weights(params, path)
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
