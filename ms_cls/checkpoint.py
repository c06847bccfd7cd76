"""The ms_cls .ckpt format: writing, copying, reading and loading it into a network.

An ms_cls checkpoint is a MindSpore .ckpt (written with MindSpore's CRC32, checked at load) whose parameter names are MindCV's, plus one string
entry ``ms_cls_meta`` (JSON, see ``make_meta``) so that class names travel with the weights. Other
entries are recognised by prefix: ``ema.*`` (MindCV's averaged weights), ``raw.*`` (an ms_cls EMA
run's weights before averaging; its main weights are the averaged ones) and optimizer state
(``moments.*``, ``global_step``...), which loading ignores.

This module imports neither ``ms_cls.models`` nor ``ms_cls.engine``: both use it.
"""
import contextlib
import json
import logging
import os
import re
import shutil
from functools import partial

import numpy as np
import mindspore as ms
from mindspore import log as ms_log
from mindspore.train import serialization as _serialization

from .errors import ConfigError, UnreadableCheckpoint
from .fileio import atomic_path, atomic_write, stale_temp_files

META_KEY = 'ms_cls_meta'
HEAD_PREFIX = 'classifier.'  # LinearClsHead's Dense, MindCV's name
EMA_PREFIX = 'ema.'
RAW_PREFIX = 'raw.'
BIAS_TABLE = 'relative_position_bias_table'
SWIN_CONSTANTS = ('.relative_bias.index', '.attn_mask')  # MindCV keeps them as Parameters
META_FIELDS = ('classes', 'epoch', 'ema', 'metrics', 'step', 'best', 'seed')
CHECKPOINT_NAME = re.compile(r'latest|best|epoch_\d+')   # what training writes, less '.ckpt'
#: ``mindspore.save_checkpoint(crc_check=True)`` ends the file with this tag and 10 CRC bytes.
CRC_TAG, CRC_TAIL = b'crc_num', 17
#: What a folder holding a training run contains, best first (the checkpoint to name instead).
RUN_CHECKPOINTS = ('best.ckpt', 'latest.ckpt')


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
    a failed save leaves neither that name nor MindSpore's own ``.tmp`` file behind; a full disk
    raises SaveFailed (``fileio.atomic_path``). ``path`` must end in .ckpt: MindSpore appends it
    otherwise, and reads no other name.
    """
    path = os.fspath(path)
    if not path.endswith('.ckpt'):
        raise ConfigError(f"Checkpoint file {path!r}: the name must end in .ckpt (MindSpore "
                          f"reads no other), e.g. {os.path.splitext(path)[0]}.ckpt.")
    entries = {META_KEY: json.dumps(make_meta(**(meta or {}))), **(extra or {})}
    with atomic_path(path) as tmp, _quiet_failure('Failed to save the checkpoint file'):
        try:
            ms.save_checkpoint(cell, tmp, append_dict=entries, crc_check=True)
        except BaseException:
            if os.path.exists(_mindspore_temp(tmp)):
                os.remove(_mindspore_temp(tmp))
            raise


class _FailureFilter(logging.Filter):
    """Drops MindSpore's log line about a failed save or load ('Failed to save the checkpoint
    file <temporary name>', 'Failed to read ... May not have permission' for a CRC mismatch):
    ms_cls reports the failure once, under the checkpoint's own name and with its real cause."""

    def __init__(self, start):
        super().__init__()
        self.start = start

    def filter(self, record):
        return not record.getMessage().startswith(self.start)


@contextlib.contextmanager
def _quiet_failure(start):
    logger, quiet = ms_log._get_logger(), _FailureFilter(start)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def remove_stale_temps(folder, log=print):
    """Remove what killed saves left in ``folder`` (a work dir at the start of a run): hidden
    temporary files of processes that no longer run, and MindSpore's ``<name>.tmp`` next to a
    checkpoint (``<name>.ckpt`` present, or one of the names training writes). One line says
    what went; returns the removed names."""
    try:
        names = set(os.listdir(folder))
    except OSError:
        return []
    stale = set(stale_temp_files(folder)) | {
        n for n in names if n.endswith('.tmp') and not n.startswith('.') and (
            n[:-4] + '.ckpt' in names or CHECKPOINT_NAME.fullmatch(n[:-4]))}
    for name in sorted(stale):
        os.remove(os.path.join(folder, name))
    if stale:
        log(f"Removed {len(stale)} temporary file(s) a killed run left in {folder}: "
            f"{', '.join(sorted(stale))}")
    return sorted(stale)


def copy_checkpoint(src, dst):
    """Copy a checkpoint file; ``dst`` is replaced only once the copy is complete."""
    atomic_write(dst, partial(shutil.copyfile, src))


def check_checkpoint_file(path, source='Checkpoint'):
    """ConfigError unless ``path`` is a file: a folder is named as one (a run's folder with the
    checkpoint in it to give instead), anything else as not found."""
    if os.path.isfile(path):
        return
    if os.path.isdir(path):
        inside = next((n for n in RUN_CHECKPOINTS if os.path.isfile(os.path.join(path, n))), None)
        raise ConfigError(f"{source} {path} is a folder, not a checkpoint file" + (
            f"; it holds a run: give {os.path.join(path, inside)} (or another .ckpt in it)"
            if inside else "; give the .ckpt file itself") + ".")
    raise ConfigError(f"{source} not found: {path}")


def has_crc(path):
    """True when ``path`` ends with MindSpore's CRC32 tag (ms_cls checkpoints since the CRC was
    added). Older ones and MindCV's published files have none: loading them with
    ``crc_check=True`` would only log a warning, so they are read without the check."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < CRC_TAIL:
            return False
        f.seek(-CRC_TAIL, os.SEEK_END)
        return f.read(len(CRC_TAG)) == CRC_TAG


def read_checkpoint(path):
    """-> (parameters: dict name -> Parameter, meta: ``make_meta``'s dict). A missing, empty,
    truncated or damaged file (CRC mismatch) is an UnreadableCheckpoint naming the file; a
    checkpoint without ms_cls meta (MindCV's) gets the defaults."""
    check_checkpoint_file(path)
    if os.path.getsize(path) == 0:
        raise UnreadableCheckpoint(path, "is empty (0 bytes): not a MindSpore checkpoint")
    try:
        with _quiet_failure('Failed to read the checkpoint file'):
            entries = ms.load_checkpoint(path, crc_check=has_crc(path))
    except (ValueError, RuntimeError, OSError) as err:
        raise UnreadableCheckpoint(path, _unreadable_reason(err)) from None
    stored = entries.get(META_KEY)
    meta = _parse_meta(stored, path) if isinstance(stored, str) else make_meta()
    params = {k: v for k, v in entries.items() if isinstance(v, ms.Parameter)}
    return params, meta


def _unreadable_reason(err):
    """MindSpore's load error -> what it means, in words about the file (MindSpore reports a
    CRC mismatch as a permission problem, an empty entry list as a filter_prefix mistake)."""
    cause = f"{err} {err.__cause__ or ''}"
    if 'crc check' in cause:
        return ("is damaged: its CRC32 does not match its contents (bytes changed after it was "
                "written); use another checkpoint of the run (an epoch_N.ckpt, best.ckpt)")
    if 'dict is empty' in cause:
        return "is empty or not a MindSpore checkpoint (no entries in it)"
    if isinstance(err.__cause__, PermissionError) or isinstance(err, PermissionError):
        return "cannot be opened: no permission to read it"
    if 'may be corrupted' in cause or 'cannot be parsed' in cause:
        return "is truncated or corrupt (MindSpore cannot parse it)"
    return f"cannot be read: {err}"


def ema_weights(params, path, option='use_ema'):
    """The ``ema.*`` entries of ``params`` under their plain names; ConfigError without any."""
    ema = {k[len(EMA_PREFIX):]: v for k, v in params.items() if k.startswith(EMA_PREFIX)}
    if not ema:
        raise ConfigError(f"Checkpoint {path} has no '{EMA_PREFIX}' weights; drop {option}.")
    return ema


def load_weights(net, path, log=print, use_ema=False, new_head=False, source='checkpoint',
                 params=None, meta=None):
    """Load ``path`` into ``net`` and report in one line what was adapted or left out.

    A checkpoint of another network used to load "0/102 parameters" and leave a random model
    that trained or predicted without a word, so the fit is checked first: every backbone
    parameter (all but the head, ``classifier.*``) must be in the checkpoint with the model's
    shape, and the checkpoint may hold no weight the model has no place for; otherwise
    ConfigError naming ``source`` (the config key or option that gave ``path``), what matched
    and what the checkpoint looks like. The head must fit too, unless ``new_head`` (a run
    starting a new task): then a head of another size, or none, is left to the model's own
    initialisation and the line says why. Adaptations: ``use_ema`` takes the ``ema.`` copies
    (MindCV's EMA); a 1-channel model gets the RGB first convolution summed over its input
    channels; a Swin stage smaller than the pretraining window gets the centre of the bias
    table. Optimizer state and MindCV's Swin constants are ignored. ``params`` (name -> Tensor)
    and their ``meta`` are used instead of reading ``path`` (converted or prefix-filtered
    weights, see ``weights.sources``). Returns the meta.
    """
    if params is None:
        params, meta = read_checkpoint(path)
    meta = meta or make_meta()
    if use_ema:
        params = ema_weights(params, path)
    own = {p.name: p for p in net.get_parameters()}
    loadable, notes = {}, []
    for name, param in own.items():
        if name not in params:
            continue
        value, want = params[name], tuple(param.shape)
        have = tuple(value.shape)
        if have != want and _rgb_to_grey(have, want):
            value = ms.Parameter(value.asnumpy().sum(axis=1, keepdims=True), name=name)
            notes.append(f"{name} summed over RGB for 1 input channel")
        elif have != want and name.endswith(BIAS_TABLE) and _smaller_window(have, want):
            value = ms.Parameter(_crop_bias_table(value.asnumpy(), want), name=name)
            notes.append(f"{name} cropped to the smaller window")
        elif have != want:
            continue
        loadable[name] = value
    stray = _stray(params, own)
    backbone = [n for n in own if not n.startswith(HEAD_PREFIX)]
    if stray or any(n not in loadable for n in backbone):
        raise ConfigError(_misfit(net, path, source, params, own, loadable, backbone, stray))
    head = [n for n in own if n.startswith(HEAD_PREFIX)]
    if not all(n in loadable for n in head):
        why = _head_misfit(params, own, loadable)
        if not new_head:
            raise ConfigError(
                f"{source} {path}: its head ({HEAD_PREFIX}*) does not fit: {why}. Predicting "
                "needs the head the checkpoint was trained with: use the config of its run (the "
                ".py in its work dir) and a checkpoint written by training (best.ckpt).")
        kept = any(n in params for n in head)
        notes.insert(0, f"head {HEAD_PREFIX}* {'dropped' if kept else 'newly initialised'}: {why}")
        loadable = {n: v for n, v in loadable.items() if n not in head}
    ms.load_param_into_net(net, loadable, strict_load=False)
    log(f"Loaded {len(loadable)}/{len(own)} parameters from {path}"
        + (' (EMA weights)' if use_ema else '') + ''.join(f"; {n}" for n in notes))
    return meta


def _stray(params, own):
    """Checkpoint weights the model has no place for. Not weights: optimizer state and counters
    (a prefixed copy of a model parameter, e.g. ``adam_m.conv1.weight``, or a name without a dot),
    ``ema.``/``raw.`` copies and MindCV Swin's constant index and mask."""
    return [n for n in params if n not in own and '.' in n and not _optimizer_state(n)
            and not n.startswith((EMA_PREFIX, RAW_PREFIX)) and not n.endswith(SWIN_CONSTANTS)
            and n.split('.', 1)[1] not in own]


def _head_misfit(params, own, loadable):
    """Why the checkpoint's head cannot be used: absent, or another number of classes."""
    weight = HEAD_PREFIX + 'weight'
    if weight in params and weight in own and params[weight].shape[1:] == own[weight].shape[1:] \
            and params[weight].shape[0] != own[weight].shape[0]:
        return f"checkpoint has {params[weight].shape[0]} classes, the model {own[weight].shape[0]}"
    name = next(n for n in own if n.startswith(HEAD_PREFIX) and n not in loadable)
    if name not in params:
        return f"{name} not in the checkpoint"
    return f"checkpoint's {name} has shape {tuple(params[name].shape)}, the model's " \
           f"{tuple(own[name].shape)}"


def _misfit(net, path, source, params, own, loadable, backbone, stray):
    """The ConfigError text for a checkpoint of another network: what matched, what did not,
    what the checkpoint looks like and how to fix the config or the file."""
    model = _arch({n: tuple(p.shape) for n, p in own.items()})
    model_name = getattr(getattr(net, 'backbone', None), 'arch_name', None) or (
        model[1] if model else 'the model')
    missing = [n for n in backbone if n not in params]
    shaped = [f"{n} {tuple(params[n].shape)} vs {tuple(own[n].shape)}"
              for n in backbone if n in params and n not in loadable]
    found = sum(n in loadable for n in backbone)
    details = '; '.join(part for part in (
        f"not in the checkpoint: {_head_of(missing, 3)}" if missing else '',
        f"other shape: {_head_of(shaped, 3)}" if shaped else '',
        f"{len(stray)} weights the model has no place for: {_head_of(stray, 3)}" if stray else '')
        if part)
    fix = ("Set model.backbone to the network the checkpoint was trained with, or convert other "
           "weights with scripts/convert_weights.py SRC DST"
           + (f" --arch {model[0]}" if model else '') + '.')
    return (f"{source} {path} does not fit {model_name}: {found} of {len(backbone)} backbone "
            f"parameters match ({details}). The checkpoint "
            f"{_describe(params)}. {fix}")


def _describe(params):
    """What a checkpoint's names say it is: the network when they are MindCV's ResNet or Swin
    names, else a hint at the layout, and the first names."""
    weights = [n for n in params if '.' in n and not _optimizer_state(n)
               and not n.startswith((EMA_PREFIX, RAW_PREFIX))]
    arch = _arch({n: tuple(params[n].shape) for n in weights})
    head = params.get(HEAD_PREFIX + 'weight')
    text = f"holds {len(weights)} weights" + (
        f" ({head.shape[0]} classes)" if head is not None and len(head.shape) == 2 else '')
    if arch:
        return text + f" named like MindCV's {arch[1]} (model.backbone={arch[2]})"
    if any(n.startswith(('backbone.', 'fc.')) or 'running_' in n for n in weights):
        text += " in a PyTorch layout (backbone.*, fc.*, running_mean)"
    return text + f", first: {_head_of(weights, 3)}"


RESNET_DEPTHS = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34,
                 ((3, 4, 6, 3), True): 50, ((3, 4, 23, 3), True): 101,
                 ((3, 8, 36, 3), True): 152}
SWIN_ARCHS = {(96, 6): 'tiny', (96, 18): 'small', (128, 18): 'base',
              (192, 18): 'large'}


def _arch(shapes):
    """(convert_weights --arch, display name, backbone config) of MindCV-named weights
    {name: shape}, from the block counts and the embedding width; None when unrecognised."""
    def blocks(prefix):
        return len({n[len(prefix):].split('.')[0] for n in shapes if n.startswith(prefix)})
    if 'patch_embed.proj.weight' in shapes:
        arch = SWIN_ARCHS.get((shapes['patch_embed.proj.weight'][0], blocks('layers.2.blocks.')))
        return arch and (f'swin-{arch}', f'Swin-{arch[0].upper()}',
                         f"dict(type='SwinTransformer', arch='{arch}')")
    if 'conv1.weight' in shapes:
        counts = tuple(blocks(f'layer{i}.') for i in range(1, 5))
        depth = RESNET_DEPTHS.get((counts, 'layer1.0.conv3.weight' in shapes))
        return depth and (f'resnet{depth}', f'ResNet-{depth}', f"dict(type='ResNet', depth={depth})")
    return None


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
