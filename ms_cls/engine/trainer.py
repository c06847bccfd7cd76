"""One training run: config -> datasets -> model -> ``mindspore.train.Model.fit`` -> work dir."""
import os
import platform
import time
from dataclasses import dataclass

import mindspore as ms
import mindspore.nn as nn
from mindspore.train import Model
from mindspore.amp import DynamicLossScaleManager, FixedLossScaleManager

from .. import __version__
from ..config import near_misses
from ..errors import ConfigError, ImageLoadError, TrainingDiverged
from ..validation import check_keys
from ..data.batch_augments import build_batch_augments
from ..data.builder import build_dataloader, build_dataset, build_sampler, check_sampler
from ..data.datasets import image_load_error
from ..data.pipeline import build_pipeline
from ..models.builder import attach_classes, build_loss, build_model
from ..checkpoint import load_weights
from ..runtime import init_context, onednn_note, resolve_amp_level
from .callbacks import CheckpointSaver, MomentumSchedule, RunState, TrainMonitor
from .ema import EMAHook, ema_hook_args
from .log import RunLog
from .optimizers import build_optimizer, grad_clip_norm, optimizer_args
from .schedules import base_momentum, build_lr_schedule, build_momentum_schedule, scaled_lr

SECTION_KEYS = {
    'runner': ('type', 'max_epochs'),
    'checkpoint_config': ('interval', 'max_keep_ckpts', 'by_epoch', 'save_last'),
    'log_config': ('interval', 'hooks'),
    'evaluation': ('interval', 'metric', 'metric_options', 'save_best'),
    'optimizer_config': ('grad_clip',),
}


def default_work_dir(cfg):
    stem = os.path.splitext(os.path.basename(cfg.filename or 'config'))[0]
    return os.path.join('work_dirs', stem)


DICT_SECTIONS = ('model', 'data', 'optimizer', 'optimizer_config', 'lr_config',
                 'momentum_config', 'runner', 'checkpoint_config', 'log_config', 'evaluation',
                 'auto_scale_lr', 'fp16')


def check_sections(cfg):
    """Validate the keys of the plain (type-less) sections before anything slow happens."""
    for section in DICT_SECTIONS:
        if cfg.get(section) is not None and not isinstance(cfg[section], dict):
            raise ConfigError(f"{cfg.where(section)} must be a dict, got {cfg[section]!r}.")
    for section in ('model', 'data', 'optimizer', 'runner'):
        if not cfg.get(section):
            raise ConfigError(f"'{section}' is missing from {cfg.filename or 'the config'}.")
    for section, keys in SECTION_KEYS.items():
        if isinstance(cfg.get(section), dict):
            check_keys(cfg[section], keys, section)
    runner = cfg.get('runner') or {}
    if runner.get('type', 'EpochBasedRunner') != 'EpochBasedRunner':
        raise ConfigError(f"runner.type={runner.get('type')!r}: ms_cls trains by epoch; use "
                          "'EpochBasedRunner' with max_epochs.")
    max_epochs = runner.get('max_epochs')
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ConfigError(f"runner.max_epochs must be a positive int, got {max_epochs!r}.")
    metric = (cfg.get('evaluation') or {}).get('metric', 'accuracy')
    if metric not in ('accuracy', ['accuracy'], ('accuracy',)):
        raise ConfigError(f"evaluation.metric={metric!r}: validation during training reports "
                          "'accuracy' (top-1, and top-5 with 5+ classes).")
    for key, path in (('model.pretrained', (cfg.get('model') or {}).get('pretrained')),
                      ('load_from', cfg.get('load_from'))):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{key}: checkpoint not found: {path}")
    if cfg.get('resume_from'):
        raise ConfigError("resume_from is not supported yet; use load_from to start from a "
                          "checkpoint's weights.")


def _metrics(head, num_classes):
    metrics = {'top_1': nn.Top1CategoricalAccuracy()}
    if 5 in head.topk and num_classes >= 5:
        metrics['top_5'] = nn.TopKCategoricalAccuracy(5)
    return metrics


def loss_scaling(loss_scale, amp_level, device):
    """-> (loss-scale manager or None, the optimizer's loss_scale, one line saying what was chosen).

    No scaling in fp32 (O0). Otherwise 'dynamic', a number, or dict(type=.., init_scale=..).
    A fixed scale without overflow checks needs the optimizer to divide the gradients by the same
    number; CPU supports only that kind, so 'dynamic' becomes fixed there (and the line says so).
    """
    compute = {'O0': 'float32 everywhere', 'O1': 'float16 for convolutions and matmuls',
               'O2': 'float16 except BatchNorm/LayerNorm and the loss',
               'O3': 'float16 everywhere'}[amp_level]
    head = f"amp: {amp_level} on {device} ({compute})"
    if amp_level == 'O0' or loss_scale is None:
        return None, 1.0, f"{head}, no loss scaling" + (
            "; on CPU float16 is slower than float32, so amp_level='auto' means O0"
            if device == 'CPU' else '')
    if isinstance(loss_scale, dict):
        kind = loss_scale.get('type', 'dynamic')
        value = loss_scale.get('init_scale', loss_scale.get('loss_scale', 2 ** 10))
    elif loss_scale == 'dynamic':
        kind, value = 'dynamic', 2 ** 16
    elif isinstance(loss_scale, (int, float)) and loss_scale > 0:
        kind, value = 'fixed', loss_scale
    else:
        kind, value = None, None
    if kind not in ('dynamic', 'fixed'):
        raise ConfigError(f"loss_scale={loss_scale!r}; use 'dynamic', a positive number, or "
                          "dict(type='dynamic'|'fixed', init_scale=...).")
    if kind == 'dynamic' and device != 'CPU':
        return (DynamicLossScaleManager(init_loss_scale=float(value)), 1.0,
                f"{head}, dynamic loss scale starting at {value:g}")
    line = f"{head}, fixed loss scale {value:g}"
    if kind == 'dynamic':
        value = 2 ** 10
        line = (f"{head}, fixed loss scale {value} (MindSpore has no dynamic loss scale on "
                "CPU; 'dynamic' was asked)")
    return FixedLossScaleManager(float(value), drop_overflow_update=False), float(value), line


def precision(cfg, device):
    """(amp level, loss scale) from ``amp_level``/``loss_scale`` or mmcls's ``fp16=dict(
    loss_scale=512.)`` (which means O2 unless amp_level says otherwise)."""
    fp16 = cfg.get('fp16')
    if fp16 is None:
        return (resolve_amp_level(cfg.get('amp_level', 'auto'), device),
                cfg.get('loss_scale', 'dynamic'))
    check_keys(fp16, ('loss_scale',), 'fp16')
    if 'loss_scale' in cfg:
        raise ConfigError("Both fp16 and loss_scale are set; keep one (fp16=dict(loss_scale=...) "
                          "is mmcls's spelling of amp_level='O2' with that loss scale).")
    return resolve_amp_level(cfg.get('amp_level', 'O2'), device), fp16.get('loss_scale', 512.0)


@dataclass
class ConfigParts:
    """What can be built from the config alone, before any data is read or file written."""
    net: object
    loss_fn: object
    pipelines: dict


def build_config_parts(cfg):
    """Build/check model, loss, optimizer, schedule and pipelines: config mistakes fail here."""
    check_sections(cfg)
    net = build_model(cfg.model)
    loss_fn = build_loss(cfg.model)
    optimizer_args(cfg.optimizer)
    grad_clip_norm((cfg.get('optimizer_config') or {}).get('grad_clip'))
    ema_hook_args(cfg.get('custom_hooks'))
    build_lr_schedule(cfg.get('lr_config'), scaled_lr(cfg)[0], cfg.runner.max_epochs, 1)
    base_momentum(cfg)
    data_cfg = cfg.data
    check_sampler(data_cfg.get('sampler'))
    pipelines = {split: build_pipeline((data_cfg.get(split) or {}).get('pipeline', []),
                                       f'data.{split}.pipeline') for split in ('train', 'val')}
    return ConfigParts(net, loss_fn, pipelines)


def train(cfg, work_dir=None):
    """Train as the config says; returns a summary dict (best top-1, its epoch, paths).

    Nothing is written, not even the work dir, until the config has passed every check.
    """
    device = init_context(cfg.get('device_target', 'auto'), cfg.get('mode', 'graph'),
                          cfg.get('seed'))
    parts = build_config_parts(cfg)
    amp_level, loss_scale = precision(cfg, device)
    work_dir = work_dir or cfg.get('work_dir') or default_work_dir(cfg)
    os.makedirs(work_dir, exist_ok=True)
    cfg.work_dir = work_dir
    log = RunLog(work_dir)
    try:
        for miss in near_misses(cfg):
            log.info(f"WARNING: {miss}")
        if device == 'CPU' and onednn_note():
            log.info(onednn_note())
        log.info(f"ms_cls {__version__}, MindSpore {ms.__version__}, device {device}, "
                 f"mode {cfg.get('mode', 'graph')}, amp_level {amp_level}, "
                 f"config {cfg.filename}, work_dir {work_dir}")
        return _fit(cfg, parts, device, (amp_level, loss_scale), work_dir, log)
    finally:
        log.close()


def _fit(cfg, parts, device, amp, work_dir, log):
    """Scan the data, write the run's files, and train."""
    net, data_cfg, max_epochs = parts.net, cfg.data, cfg.runner.max_epochs
    amp_level, loss_scale = amp
    train_set = build_dataset(data_cfg, 'train')
    classes = train_set.classes
    val_set = build_dataset(data_cfg, 'val', classes) if data_cfg.get('val') else None
    for dataset in filter(None, (train_set, val_set)):
        dataset.check_readable()
    log.info(f"train: {len(train_set)} images in {len(classes)} classes from "
             f"{train_set.data_prefix}" + (f"; val: {len(val_set)} images from "
                                            f"{val_set.data_prefix}" if val_set else ''))

    attach_classes(net, classes, cfg.model)
    for weights in (cfg.model.get('pretrained'), cfg.get('load_from')):
        if weights:
            load_weights(net, weights, log=log.info)
    cfg.dump(os.path.join(work_dir, os.path.basename(cfg.filename or 'config.py')))
    with open(os.path.join(work_dir, 'classes.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(classes) + '\n')

    batch = data_cfg.samples_per_gpu
    workers = data_cfg.get('workers_per_gpu', 2)
    train_loader = build_dataloader(
        train_set, batch, workers, shuffle=True, drop_last=True, where='data.train',
        ops=parts.pipelines['train'],
        batch_ops=build_batch_augments(cfg.model.get('train_cfg'), len(classes)),
        sampler=build_sampler(data_cfg.get('sampler'), train_set))
    val_loader = build_dataloader(val_set, batch, workers, where='data.val',
                                  ops=parts.pipelines['val']) if val_set else None

    steps_per_epoch = train_loader.get_dataset_size()
    base_lr, note = scaled_lr(cfg)
    if note:
        log.info(note)
    lr_schedule = build_lr_schedule(cfg.get('lr_config'), base_lr, max_epochs, steps_per_epoch)
    scale_manager, opt_loss_scale, amp_line = loss_scaling(loss_scale, amp_level, device)
    log.info(amp_line)
    optimizer = build_optimizer(cfg.optimizer, net.trainable_params(), lr_schedule,
                                loss_scale=opt_loss_scale, net=net,
                                grad_clip=(cfg.get('optimizer_config') or {}).get('grad_clip'))
    model = Model(net, loss_fn=parts.loss_fn, optimizer=optimizer,
                  metrics=_metrics(net.head, len(classes)), amp_level=amp_level,
                  loss_scale_manager=scale_manager)

    state = RunState()
    ckpt_cfg = cfg.get('checkpoint_config') or {}
    callbacks = []
    momentum = base_momentum(cfg)
    if momentum is not None:
        callbacks.append(MomentumSchedule(optimizer, build_momentum_schedule(
            cfg.momentum_config, momentum, max_epochs, steps_per_epoch)))
    ema_args = ema_hook_args(cfg.get('custom_hooks'))
    ema = EMAHook(net.trainable_params(), *ema_args) if ema_args else None
    if ema:
        callbacks.append(ema)   # swaps the averages in before validation and saving
        log.info(f"EMA: momentum {ema_args[0]:g} every {ema_args[1]} step(s); validation and "
                 "checkpoints use the averaged weights (raw ones saved as raw.*)")
    callbacks += [
        TrainMonitor(log, state, lr_schedule, max_epochs,
                     (cfg.get('log_config') or {}).get('interval', 100)),
        CheckpointSaver(work_dir, state, classes, max_epochs, ckpt_cfg.get('interval', 1),
                        ckpt_cfg.get('max_keep_ckpts', -1), log=log.info, ema=ema),
    ]
    log.record(mode='meta', ms_cls=__version__, mindspore=ms.__version__, device=device,
               amp_level=amp_level, config=cfg.filename, seed=cfg.get('seed'),
               python=platform.python_version(), classes=len(classes), max_epochs=max_epochs,
               steps_per_epoch=steps_per_epoch, samples_per_gpu=batch)
    start = time.time()
    try:
        model.fit(max_epochs, train_loader, valid_dataset=val_loader,
                  valid_frequency=(cfg.get('evaluation') or {}).get('interval', 1),
                  callbacks=callbacks, dataset_sink_mode=False)
    except RuntimeError as err:
        # the dataset workers re-raise our ImageLoadError as a RuntimeError with a long report
        reason = image_load_error(str(err))
        if reason is None:
            raise
        log.info(f"ERROR: {reason} Checkpoints written before this point are kept.")
        raise ImageLoadError(reason) from None
    if state.diverged:
        raise TrainingDiverged(state.diverged)
    summary = dict(work_dir=work_dir, epochs=state.epoch, best_top1=state.best_top1,
                   best_epoch=state.best_epoch, minutes=(time.time() - start) / 60)
    if state.best_epoch:
        log.info(f"Done in {summary['minutes']:.1f} min: best accuracy_top-1 "
                 f"{state.best_top1:.3f} at epoch {state.best_epoch} "
                 f"({os.path.join(work_dir, 'best.ckpt')})")
    return summary
