"""Checkpoint files that are never half-written and carry their class names.

``mindspore.save_checkpoint`` removes an existing file before writing the new one, so a crash
mid-save would lose both; ms_cls writes to a hidden temporary name and ``os.replace``s it.
"""
import json
import shutil
from functools import partial

import mindspore as ms

from ..fileio import atomic_path, atomic_write
from ..models.weights import META_KEY


def save_atomic(cell, path, meta, extra=None):
    """Save ``cell``'s parameters (and optimizer state, if it is a train cell) with ``meta`` and
    ``extra`` tensors (name -> Tensor). The temporary name keeps the .ckpt suffix MindSpore
    requires."""
    with atomic_path(path) as tmp:
        ms.save_checkpoint(cell, tmp, append_dict={META_KEY: json.dumps(meta), **(extra or {})})


def copy_atomic(src, dst):
    atomic_write(dst, partial(shutil.copyfile, src))
