"""``cfg.data`` -> datasets -> batched ``mindspore.dataset`` pipelines.

The run plan checks the data section into values (a dataset config per split, a LoaderSpec per
split, a SamplerSpec, a ScanSpec for the decode check) before any folder is scanned; the datasets,
sampler and loaders are built from those once the run starts.
"""
import copy
import inspect
import itertools
import os
import random
import threading
from dataclasses import dataclass

import numpy as np
import mindspore.dataset as ds

from ..config import ConfigDict
from ..errors import ConfigError
from ..validation import (Registry, check_args, check_keys, flag, located, positive_int, subset,
                          where)
from .datasets import PILLOW_MAX_PIXELS, ConcatDataset, CustomDataset
from .pipeline import build_pipeline
from .samplers import ClassBalancedSampler, RepeatAugSampler, RepeatFactorSampler
from .standard import CIFAR10, CIFAR100, CUB, ImageNet, ImageNet21k, StanfordCars

DATASETS = Registry('dataset', {'CustomDataset': CustomDataset, 'ImageNet': ImageNet,
                                'ImageNet21k': ImageNet21k, 'CIFAR10': CIFAR10,
                                'CIFAR100': CIFAR100, 'CUB': CUB, 'StanfordCars': StanfordCars})
#: mmcls's data sets with several labels per image (out of scope here)
MULTI_LABEL_DATASETS = ('VOC', 'MultiLabelDataset')
SAMPLERS = Registry('sampler', {'ClassBalanced': ClassBalancedSampler,
                                'RepeatFactor': RepeatFactorSampler,
                                'RepeatAugSampler': RepeatAugSampler})
LOADER_KEYS = ('samples_per_gpu', 'workers_per_gpu', 'shuffle', 'drop_last')
SPLITS = ('train', 'val', 'test')
SCAN_KEYS = ('skip_broken', 'decode_cache', 'max_image_pixels')
DATA_KEYS = (LOADER_KEYS + SPLITS + tuple(f'{s}_dataloader' for s in SPLITS) + ('sampler',)
             + SCAN_KEYS)
#: torch DataLoader options that MindSpore's loader has no use for
TORCH_ONLY = {'pin_memory': "MindSpore copies batches to the device itself",
              'persistent_workers': "MindSpore's dataset workers live for the whole run"}


@dataclass(frozen=True)
class LoaderSpec:
    """How one split is batched: mmcls's data-level loader keys, overridden per split by
    ``data.<split>_dataloader`` (``dict(samples_per_gpu=..., workers_per_gpu=..., shuffle=...,
    drop_last=...)``)."""
    batch_size: int
    workers: int
    shuffle: bool
    drop_last: bool

    def drops_remainder(self, share):
        """Whether the incomplete last batch of a process's ``share`` is dropped: with
        drop_last, and also when it would hold a single image (MindSpore's BatchNorm trains a
        1-image batch at 1x1 into a NaN running variance, which spoils every later eval)."""
        return self.drop_last or (self.batch_size > 1 and share % self.batch_size == 1)

    def steps(self, size, where, devices=1, share=None):
        """Batches per epoch and process over ``size`` images shared by ``devices`` processes
        (each gets ceil(size / devices), as EpochOrder pads the order, unless ``share`` says
        otherwise; the incomplete last batch is trained, as in mmcls, unless
        :meth:`drops_remainder`); no full batch to train is an error naming ``where``."""
        share = -(-size // devices) if share is None else share
        steps = share // self.batch_size if self.drops_remainder(share) \
            else -(-share // self.batch_size)
        if steps < 1:
            raise ConfigError(f"{where} has {size} images, fewer than one batch "
                              f"(samples_per_gpu={self.batch_size}"
                              + (f" x {devices} processes" if devices > 1 else '')
                              + ("" if self.drop_last else ", and one image cannot make a "
                                 "BatchNorm batch") + "); lower samples_per_gpu.")
        return steps

    def describe(self, size, devices=1, share=None):
        """The log line: iterations per epoch and what happens to the last images."""
        share = -(-size // devices) if share is None else share
        steps, left = self.steps(size, 'data.train', devices, share), share % self.batch_size
        line = f"train loader: {steps} iterations per epoch of {self.batch_size} images"
        if devices > 1:
            line += f" ({share} images per process)"
        if not left:
            return line
        if self.drop_last:
            return line + (f"; drop_last=True leaves the last {left} image(s) of each epoch's "
                           "order out")
        if self.drops_remainder(share):
            return line + ("; the one image left over in each epoch's order is left out (a "
                           "1-image batch gives BatchNorm a NaN running variance)")
        return line + (f"; the last holds {left} (as mmcls; its shape compiles a second graph "
                       "once; data.train_dataloader=dict(drop_last=True) drops it)")


def torch_loader_options(data_cfg):
    """{'data.pin_memory': why, ...}: the torch DataLoader options a data section sets. They
    cannot change a result here, so they are accepted and the run log names them once."""
    found = {}
    for where_, section in [('data', data_cfg)] + [
            (f'data.{s}_dataloader', data_cfg.get(f'{s}_dataloader') or {}) for s in SPLITS]:
        found.update({f'{where_}.{key}': why for key, why in TORCH_ONLY.items()
                      if isinstance(section, dict) and key in section})
    return found


def _check_data_keys(data_cfg):
    check_keys(data_cfg, DATA_KEYS + tuple(TORCH_ONLY), 'data')


def loader_spec(data_cfg, split):
    """The checked loader settings of ``data.<split>``. Training shuffles and, as mmcls, keeps
    the last incomplete batch unless told otherwise; val/test see every image in order."""
    _check_data_keys(data_cfg)
    own = data_cfg.get(f'{split}_dataloader') or {}
    if not isinstance(own, dict):
        raise ConfigError(f"data.{split}_dataloader must be a dict such as "
                          f"dict(samples_per_gpu=32), got {own!r}.")
    own = located(own, f'data.{split}_dataloader')
    check_keys(own, LOADER_KEYS + tuple(TORCH_ONLY), f'data.{split}_dataloader')
    train = split == 'train'
    shared = subset(data_cfg, [k for k in data_cfg if k not in LOADER_KEYS])
    if not train:   # mmcls: the data-level shuffle is the training loader's
        shared = subset(shared, ('shuffle',))
    merged = subset(shared)
    merged.update(own)
    merged._sources.update(getattr(own, '_sources', {}))
    if 'samples_per_gpu' not in merged:
        raise ConfigError(f"data.samples_per_gpu is not set (the batch size of data.{split}).")
    spec = LoaderSpec(
        batch_size=positive_int(merged, 'samples_per_gpu'),
        workers=positive_int(merged, 'workers_per_gpu', 2, low=0),
        shuffle=flag(merged, 'shuffle') if 'shuffle' in merged else train,
        drop_last=flag(merged, 'drop_last') if 'drop_last' in merged else False)
    if spec.drop_last and not train:
        raise ConfigError(f"{merged.where('drop_last')}: drop_last=True would leave images of "
                          f"data.{split} unscored; set it in data.train_dataloader instead.")
    return spec


@dataclass(frozen=True)
class ScanSpec:
    """How the decode check before a run treats its images (``ms_cls.data.scan``)."""
    skip_broken: bool     # leave broken images out and list them (True) or stop (False)
    cache: str            # data.decode_cache: the cache file, or None (the work dir's)
    max_pixels: int       # data.max_image_pixels: larger images count as broken; None: no limit


def scan_spec(data_cfg):
    """The checked decode-check keys of ``data``: ``skip_broken`` (default True),
    ``decode_cache`` (a file path, default None) and ``max_image_pixels`` (default Pillow's
    decompression-bomb limit; None: no limit)."""
    _check_data_keys(data_cfg)
    cache = data_cfg.get('decode_cache')
    if cache is not None and (not isinstance(cache, str) or not cache or os.path.isdir(cache)):
        raise ConfigError(f"{where(data_cfg, 'decode_cache')} = {cache!r}: give a file path such "
                          "as 'work_dirs/decode_cache.json', or None to keep the cache in the "
                          "work dir.")
    max_pixels = data_cfg.get('max_image_pixels', PILLOW_MAX_PIXELS)
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int)
                                   or max_pixels < 1):
        raise ConfigError(f"{where(data_cfg, 'max_image_pixels')} = {max_pixels!r}: expected a "
                          "number of pixels (an int >= 1), or None for no limit.")
    return ScanSpec(skip_broken=flag(data_cfg, 'skip_broken') if 'skip_broken' in data_cfg
                    else True, cache=cache, max_pixels=max_pixels)


def check_dataset_cfg(data_cfg, split):
    """``data.<split>`` with its type and keys checked (the folder is not read yet)."""
    _check_data_keys(data_cfg)
    if split not in data_cfg or data_cfg[split] is None:
        raise ConfigError(f"data.{split} is not set in the config.")
    split_cfg = data_cfg[split]
    if isinstance(split_cfg, (list, tuple)):   # a list under data.train: mmcls's ConcatDataset
        split_cfg = dict(type='ConcatDataset', datasets=list(split_cfg))
    split_cfg = located(split_cfg, f'data.{split}')
    if isinstance(split_cfg, dict) and split_cfg.get('type') == 'ConcatDataset':
        return _check_concat(split_cfg, split)
    if isinstance(split_cfg, dict) and split_cfg.get('type') in MULTI_LABEL_DATASETS:
        raise ConfigError(f"{where(split_cfg, 'type')} = {split_cfg['type']!r}: data sets with "
                          "several labels per image are not supported; ms_cls trains one label "
                          "per image (a folder per class, or an ann_file of 'path label' lines).")
    name = DATASETS.check_type(split_cfg, f'data.{split}')
    check_args(DATASETS.items[name], subset(split_cfg, ('type',)), f"data.{split} '{name}'",
               ('where',))
    return split_cfg


def _check_concat(split_cfg, split):
    """``dict(type='ConcatDataset', datasets=[...])``: each part checked; one pipeline for all
    (a part without one takes the first's), kept at the top for the run plan. A part in
    ann-file mode without ``classes`` takes the first part's (its labels are that set's
    indices, as ``scripts/predict.py --pseudo-labels`` writes them)."""
    where_ = f'data.{split}'
    check_keys(split_cfg, ('type', 'datasets'), f"{where_} 'ConcatDataset'")
    parts = split_cfg.get('datasets')
    if not isinstance(parts, (list, tuple)) or not parts:
        raise ConfigError(f"{where_}: ConcatDataset needs datasets=[dict(type='CustomDataset', "
                          "...), ...] (or give the list itself as data.{split}).")
    checked = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or part.get('type') == 'ConcatDataset':
            raise ConfigError(f"{where_}.datasets[{i}] must be a dataset dict such as "
                              f"dict(type='CustomDataset', ...), got {part!r}.")
        checked.append(check_dataset_cfg({split: part}, split))
    pipeline = checked[0].get('pipeline', [])
    for i, part in enumerate(checked[1:], 1):
        if part.get('pipeline') is not None and list(part['pipeline']) != list(pipeline):
            raise ConfigError(f"{where_}.datasets[{i}].pipeline differs from datasets[0]'s; "
                              "ms_cls runs one pipeline per split: give the same one (or none, "
                              "to use the first's).")
    return ConfigDict(type='ConcatDataset', datasets=checked, pipeline=pipeline,
                      path=where_)


def _build_concat(split_cfg, split):
    first = DATASETS.build(split_cfg['datasets'][0], where=f'data.{split}.datasets[0]')
    parts = [first]
    for i, part in enumerate(split_cfg['datasets'][1:], 1):
        part = subset(part)
        part.setdefault('pipeline', split_cfg['pipeline'])
        if part.get('ann_file') and part.get('classes') is None:
            part['classes'] = list(first.classes)
        parts.append(DATASETS.build(part, where=f'data.{split}.datasets[{i}]'))
    return ConcatDataset(parts, where=f'data.{split}')


def build_dataset(data_cfg, split, classes=None):
    """Build ``data.<split>``; val/test labels are mapped onto the training ``classes``."""
    return dataset_from(check_dataset_cfg(data_cfg, split), split, classes)


def dataset_from(split_cfg, split, classes=None):
    """The dataset of a checked ``data.<split>`` config (this scans its folder or ann file)."""
    if split_cfg.get('type') == 'ConcatDataset':
        dataset = _build_concat(split_cfg, split)
    else:
        dataset = DATASETS.build(split_cfg, where=f'data.{split}')
    if classes is not None:
        dataset.relabel(classes)
    return dataset


@dataclass(frozen=True)
class SamplerSpec:
    """A checked ``data.sampler``: the sampler class and its arguments (labels come later)."""
    name: str
    args: tuple

    def build(self, dataset):
        return SAMPLERS.items[self.name](labels=dataset.labels, **dict(self.args))


def sampler_spec(sampler_cfg, where='data.sampler'):
    """``data.sampler`` -> SamplerSpec, or None (plain shuffling); values are checked here."""
    if sampler_cfg is None:
        return None
    sampler_cfg = located(sampler_cfg, where)
    name = SAMPLERS.check_type(sampler_cfg, where)
    args = subset(sampler_cfg, ('type',))
    sampler = SAMPLERS.items[name]
    check_args(sampler, args, f"{where} '{name}'", ('labels',))
    missing = [p.name for p in inspect.signature(sampler).parameters.values()
               if p.default is p.empty and p.name != 'labels' and p.name not in args]
    if missing:
        raise ConfigError(f"{where}: '{name}' needs {', '.join(missing)} "
                          f"({sampler_cfg.where()}).")
    sampler.check_args(**args)
    return SamplerSpec(name, tuple(args.items()))


def build_sampler(sampler_cfg, dataset, where='data.sampler'):
    """``data.sampler`` -> a sampler over ``dataset``'s labels, or None (plain shuffling)."""
    spec = sampler_spec(sampler_cfg, where)
    return None if spec is None else spec.build(dataset)


class _Rows:
    """The loader's source: per sample its index (or, for a dataset without ``load_image``,
    its image), label and position in the epoch's order. It runs in one thread and does no
    decoding, so it never is the serial stage; the position seeds the Python ops of that row
    (counted over the loader's life, so an epoch read twice from one loader draws anew)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.decoded_here = not hasattr(dataset, 'load_image')
        self.next_position = itertools.count()

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        position = np.array(next(self.next_position), dtype=np.int64)
        if self.decoded_here:
            image, label = self.dataset[index]
            return image, label, position
        return (np.array(index, dtype=np.int64),
                np.array(self.dataset.label_of(index), dtype=np.int32), position)


#: The epoch position of the row each worker thread is transforming, by thread id: a map worker
#: runs all of a row's ops in its own thread, so its Python ops find their row here. (Not a
#: threading.local: MindSpore's C++ threads may get a new Python thread state per call.) One
#: int per thread id; ids are reused as threads come and go.
_ROW_IN_THREAD = {}


class _StartRow:
    """The first op of every worker: note the row's position for this thread, and decode the
    image (Pillow, ``load_rgb``: the same pixels and errors as before) unless the source did."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __call__(self, image, position):
        _ROW_IN_THREAD[threading.get_ident()] = int(position)
        if image.ndim == 0:
            return self.dataset.load_image(int(image))
        return image


class _PerRowDraws:
    """A Python op that draws from ``self.rng`` (RandAugment, AutoAugment, ColorJitter,
    RandomErasing, and the crop box, flip and crop offsets of RandomResizedCrop, RandomFlip and
    RandomCrop), run on a copy whose generator is seeded from (the op's generator at build
    time, the row's position). Its draws then depend on the epoch seed and the position only,
    not on which of the parallel workers gets the row or when: the same with any number of
    workers, and no two rows share a stream. (Sharing one generator between worker threads made
    runs with 2 workers draw differently each time.)"""

    def __init__(self, op):
        self.op = op
        self.python_random = isinstance(op.rng, random.Random)
        self.base = op.rng.getrandbits(64) if self.python_random else int(op.rng.integers(2 ** 63))

    def generator(self, position):
        """The row's own generator, of the op's kind (random.Random or numpy's)."""
        if self.python_random:
            return random.Random((self.base << 40) + position)
        return np.random.default_rng([self.base, position])

    def __call__(self, image):
        own = copy.copy(self.op)
        own.rng = self.generator(_ROW_IN_THREAD[threading.get_ident()])
        return own(image)


def _per_row(op):
    draws = getattr(op, 'rng', None) is not None and not hasattr(op, 'implementation')
    return _PerRowDraws(op) if draws else op


def build_dataloader(dataset, samples_per_gpu, workers_per_gpu=2, shuffle=False,
                     drop_last=False, where='data', ops=None, batch_ops=None, sampler=None):
    """Sample indices (one thread) -> ``workers_per_gpu`` workers that each decode a row and run
    all its ops -> batch [-> batch_ops].

    ``dataset``: a ``CustomDataset``, or any sequence of (HWC uint8 image, label) (then the
    images are read in the one source thread, as before).
    ``ops``: the dataset's pipeline already built by ``build_pipeline`` (built here if None).
    ``batch_ops``: a callable on whole batches ``(images, labels) -> (images, labels)``, such as
    ``build_batch_augments``'s op; one worker, so its random draws follow the batch order.
    ``sampler``: the indices to read (a ``build_sampler`` sampler or another
    ``mindspore.dataset.Sampler``; an epoch may be longer than the dataset); it replaces
    ``shuffle``, which MindSpore does not accept together with a sampler.

    Why this shape (benchmarks/loader_scaling.py, 400x300 JPEGs, 2 cores): each worker does the
    whole per-image work (Pillow decode, then the C++ and Python ops), so throughput grows with
    the workers until the cores are used. The old loader decoded in the one source thread, which
    capped it at that thread's pace. The workers are threads: no shared-memory sizes
    (max_rowsize) to set for large images and no processes to end. Rejected, measured here
    without RandAugment: MindSpore's Python process workers
    (GeneratorDataset or map, python_multiprocessing=True) cost more than they save (their
    parent polls for results with 0.1 s sleeps, and a process map round-trips every row: decode
    in a process map ran 461 img/s with 1 worker, 352 with 2; a process-worker source 1048 and
    382); several source threads hit the same polling (680 -> 319 img/s); a per-batch map
    doing a whole batch per worker (decode, eager ops, stack: no batch copy outside the
    workers) ran 372 -> 253 img/s in processes and, in threads, lost to the GIL, which
    MindSpore's eager C++ ops hold (2 threads ran them at 2036 img/s, 1 thread at 2432;
    measured while other jobs ran). MindSpore's C++
    ``vision.Decode`` gave the same pixels on the 200 benchmark JPEGs but took 1.22 ms per image
    against 0.79 ms for ``load_rgb`` (EXIF and array included), so Pillow decodes (its
    decoder releases the GIL: 2 threads decode 1.79x as fast as 1, RandAugment runs 1.95x; by
    Amdahl that leaves about 12% of a decode holding the GIL, a cap near 8 workers' worth per
    process, an estimate: not measured beyond these 2 cores). One worker is one lane, as in
    mmcls's torch loader: with ``workers_per_gpu=1`` it is slower than the old loader, whose
    source thread decoded alongside its worker.
    """
    if not isinstance(samples_per_gpu, int) or samples_per_gpu < 1:
        raise ConfigError(f"data.samples_per_gpu must be a positive int, got {samples_per_gpu!r}.")
    size = len(dataset) if sampler is None else sampler.get_num_samples()
    if drop_last and size < samples_per_gpu:
        raise ConfigError(f"{where} has {size} images, fewer than one batch "
                          f"(data.samples_per_gpu={samples_per_gpu}); lower samples_per_gpu.")
    workers = max(1, int(workers_per_gpu))
    if ops is None:
        ops = build_pipeline(dataset.pipeline, f'{where}.pipeline')
    loader = ds.GeneratorDataset(_Rows(dataset), column_names=['image', 'label', 'position'],
                                 shuffle=shuffle if sampler is None else None, sampler=sampler,
                                 num_parallel_workers=1, python_multiprocessing=False)
    loader = loader.map(operations=[_StartRow(dataset)] + [_per_row(op) for op in ops],
                        input_columns=['image', 'position'], output_columns=['image'],
                        num_parallel_workers=workers)
    loader = loader.batch(samples_per_gpu, drop_remainder=drop_last)
    if batch_ops is not None:
        loader = loader.map(operations=batch_ops, input_columns=['image', 'label'],
                            num_parallel_workers=1)
    return loader
