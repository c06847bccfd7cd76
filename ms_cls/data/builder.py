"""``cfg.data`` -> datasets -> batched ``mindspore.dataset`` pipelines."""
import mindspore.dataset as ds

from ..config import ConfigError, build_from_cfg, check_keys
from .datasets import CustomDataset
from .pipeline import build_pipeline

DATASETS = {'CustomDataset': CustomDataset}
DATA_KEYS = ('samples_per_gpu', 'workers_per_gpu', 'train', 'val', 'test', 'drop_last',
             'persistent_workers', 'shuffle', 'pin_memory', 'train_dataloader',
             'val_dataloader', 'test_dataloader')


def build_dataset(data_cfg, split, classes=None):
    """Build ``data.<split>``; val/test labels are mapped onto the training ``classes``."""
    check_keys(data_cfg, DATA_KEYS, 'data')
    if split not in data_cfg or data_cfg[split] is None:
        raise ConfigError(f"data.{split} is not set in the config.")
    split_cfg = data_cfg[split]
    try:
        dataset = build_from_cfg(split_cfg, DATASETS, 'dataset', where=f'data.{split}')
    except TypeError as err:
        raise ConfigError(f"data.{split}: {err}") from None
    if classes is not None:
        dataset.relabel(classes)
    return dataset


def build_dataloader(dataset, samples_per_gpu, workers_per_gpu=2, shuffle=False,
                     drop_last=False, where='data', ops=None, batch_ops=None):
    """Source (Pillow decode in threads) -> vision ops in C++ workers -> batch [-> batch_ops].

    ``ops``: the dataset's pipeline already built by ``build_pipeline`` (built here if None).
    ``batch_ops``: a callable on whole batches ``(images, labels) -> (images, labels)``, such as
    ``build_batch_augments``'s op; one worker, so its random draws follow the batch order.
    """
    if not isinstance(samples_per_gpu, int) or samples_per_gpu < 1:
        raise ConfigError(f"data.samples_per_gpu must be a positive int, got {samples_per_gpu!r}.")
    if drop_last and len(dataset) < samples_per_gpu:
        raise ConfigError(f"{where} has {len(dataset)} images, fewer than one batch "
                          f"(data.samples_per_gpu={samples_per_gpu}); lower samples_per_gpu.")
    workers = max(1, int(workers_per_gpu))
    if ops is None:
        ops = build_pipeline(dataset.pipeline, f'{where}.pipeline')
    loader = ds.GeneratorDataset(dataset, column_names=['image', 'label'], shuffle=shuffle,
                                 num_parallel_workers=workers, python_multiprocessing=False)
    loader = loader.map(operations=ops, input_columns='image', num_parallel_workers=workers)
    loader = loader.batch(samples_per_gpu, drop_remainder=drop_last)
    if batch_ops is not None:
        loader = loader.map(operations=batch_ops, input_columns=['image', 'label'],
                            num_parallel_workers=1)
    return loader
