"""``cfg.data`` -> datasets -> batched ``mindspore.dataset`` pipelines."""
from types import SimpleNamespace

import numpy as np
import mindspore.dataset as ds

from ..errors import ConfigError
from ..validation import Registry, check_keys
from .datasets import CustomDataset
from .pipeline import build_pipeline
from .samplers import ClassBalancedSampler, RepeatFactorSampler

DATASETS = Registry('dataset', {'CustomDataset': CustomDataset})
SAMPLERS = Registry('sampler', {'ClassBalanced': ClassBalancedSampler,
                                'RepeatFactor': RepeatFactorSampler})
DATA_KEYS = ('samples_per_gpu', 'workers_per_gpu', 'train', 'val', 'test', 'drop_last',
             'persistent_workers', 'shuffle', 'pin_memory', 'train_dataloader',
             'val_dataloader', 'test_dataloader', 'sampler')


def build_dataset(data_cfg, split, classes=None):
    """Build ``data.<split>``; val/test labels are mapped onto the training ``classes``."""
    check_keys(data_cfg, DATA_KEYS, 'data')
    if split not in data_cfg or data_cfg[split] is None:
        raise ConfigError(f"data.{split} is not set in the config.")
    split_cfg = data_cfg[split]
    try:
        dataset = DATASETS.build(split_cfg, where=f'data.{split}')
    except TypeError as err:
        raise ConfigError(f"data.{split}: {err}") from None
    if classes is not None:
        dataset.relabel(classes)
    return dataset


def build_sampler(sampler_cfg, dataset, where='data.sampler'):
    """``data.sampler`` -> a sampler over ``dataset``'s labels, or None (plain shuffling)."""
    if sampler_cfg is None:
        return None
    try:
        return SAMPLERS.build(sampler_cfg, where, labels=dataset.labels)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def check_sampler(sampler_cfg):
    """Check ``data.sampler`` (type, keys, values) from the config alone, on a one-image
    stand-in, so that a mistake fails before any image folder is scanned."""
    build_sampler(sampler_cfg, SimpleNamespace(labels=np.zeros(1, np.int32)))


def build_dataloader(dataset, samples_per_gpu, workers_per_gpu=2, shuffle=False,
                     drop_last=False, where='data', ops=None, batch_ops=None, sampler=None):
    """Source (Pillow decode in threads) -> vision ops in C++ workers -> batch [-> batch_ops].

    ``ops``: the dataset's pipeline already built by ``build_pipeline`` (built here if None).
    ``batch_ops``: a callable on whole batches ``(images, labels) -> (images, labels)``, such as
    ``build_batch_augments``'s op; one worker, so its random draws follow the batch order.
    ``sampler``: the indices to read (a ``build_sampler`` sampler or another
    ``mindspore.dataset.Sampler``; an epoch may be longer than the dataset); it replaces
    ``shuffle``, which MindSpore does not accept together with a sampler.
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
    # one source thread: two Python threads decoding contend for the GIL and were 3-9x slower
    # here (benchmarks/eval_throughput.py); the vision ops below run in C++ workers
    loader = ds.GeneratorDataset(dataset, column_names=['image', 'label'],
                                 shuffle=shuffle if sampler is None else None, sampler=sampler,
                                 num_parallel_workers=1, python_multiprocessing=False)
    loader = loader.map(operations=ops, input_columns='image', num_parallel_workers=workers)
    loader = loader.batch(samples_per_gpu, drop_remainder=drop_last)
    if batch_ops is not None:
        loader = loader.map(operations=batch_ops, input_columns=['image', 'label'],
                            num_parallel_workers=1)
    return loader
