"""Per-epoch random state of the data: every draw of epoch e follows from (seed, e).

The training loader is built anew for each epoch with the dataset seed ``epoch_seed(seed, e)``
(MindSpore's shuffle and C++ random ops read it when a pipeline is built), and ms_cls's own
random ops, samplers and batch augments are re-seeded from it. Epoch e therefore draws the same
order and augmentations whether the run got there directly or by resuming.
"""
import random
import zlib

import numpy as np


def epoch_seed(seed, epoch):
    """The dataset seed of epoch ``epoch`` (0-based) of a run seeded with ``seed``."""
    return zlib.crc32(f'{seed}/epoch{epoch}'.encode()) & 0x7FFFFFFF


def rank_seed(seed, rank):
    """The augmentation seed of process ``rank`` in a data-parallel run: rank 0 keeps ``seed``
    (a single process draws as before), the others draw streams of their own, so two processes
    do not crop and flip their images alike."""
    return seed if rank == 0 else zlib.crc32(f'{seed}/rank{rank}'.encode()) & 0x7FFFFFFF


def reseed(objects, seed):
    """Give every object that draws from ``self.rng`` a generator of its own from ``seed``
    (salted by its type, and by its count for a second op of one type such as a horizontal and
    a vertical RandomFlip, so two ops do not draw the same stream)."""
    seen = {}
    for obj in objects:
        rng = getattr(obj, 'rng', None)
        if rng is None:
            continue
        name = type(obj).__name__
        salt = f'{seed}/{name}' + (f'/{seen[name]}' if seen.get(name) else '')
        seen[name] = seen.get(name, 0) + 1
        own = zlib.crc32(salt.encode())
        obj.rng = random.Random(own) if isinstance(rng, random.Random) \
            else np.random.default_rng(own)
