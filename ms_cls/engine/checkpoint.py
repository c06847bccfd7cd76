"""Checkpoint files that are never half-written and carry their class names.

``mindspore.save_checkpoint`` removes an existing file before writing the new one, so a crash
mid-save would lose both; ms_cls writes to a hidden temporary name and ``os.replace``s it.
"""
import json
import os
import shutil

import mindspore as ms

from ..models.weights import META_KEY


def save_atomic(cell, path, meta, extra=None):
    """Save ``cell``'s parameters (and optimizer state, if it is a train cell) with ``meta`` and
    ``extra`` tensors (name -> Tensor)."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f'.tmp-{os.getpid()}-{name}')
    ms.save_checkpoint(cell, tmp, append_dict={META_KEY: json.dumps(meta), **(extra or {})})
    os.replace(tmp, path)


def copy_atomic(src, dst):
    directory, name = os.path.split(dst)
    tmp = os.path.join(directory, f'.tmp-{os.getpid()}-{name}')
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
