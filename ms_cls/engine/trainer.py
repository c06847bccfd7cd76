"""One training run: plan -> data -> loaders -> ``mindspore.train.Model.fit`` -> work dir.

The plan (``ms_cls.plan``) has checked the config and built the network, loss, pipelines and
batch augments; this module reads the data, builds what needs it (sampler, loaders, schedules,
optimizer, callbacks) once, and only then writes the work dir.
"""
import os
import platform
import time
from dataclasses import dataclass

import mindspore as ms
from mindspore.train import Model

from .. import __version__
from ..errors import ImageLoadError, TrainingDiverged
from ..data.builder import build_dataloader, dataset_from
from ..data.datasets import image_load_error
from ..data.scan import BROKEN_FILE, CACHE_FILE, DecodeCheck
from ..evaluation.model_metrics import TopKAccuracy
from ..fileio import write_lines
from ..models.builder import attach_classes
from ..checkpoint import load_weights
from ..plan import build_plan
from ..runtime import onednn_note
from .callbacks import CheckpointSaver, MomentumSchedule, RunState, TrainMonitor
from .ema import EMAHook
from .log import IMAGE_LOAD, RunLog
from .optim import build_optimizer


def train(cfg, work_dir=None):
    """Train as the config says; returns a summary dict (best top-1, its epoch, paths).

    Nothing is written, not even the work dir, until the config and the data have passed every
    check.
    """
    return run(build_plan(cfg, work_dir))


@dataclass
class RunData:
    """The datasets and loaders of a run, built from the plan's specs."""
    classes: list
    train_set: object
    val_set: object
    train_loader: object
    val_loader: object
    steps_per_epoch: int


def run(plan):
    """Carry out a plan: read the data, build the training parts, write the work dir, fit."""
    log = RunLog()
    try:
        for warning in plan.warnings:
            log.info(f"WARNING: {warning}")
        if plan.device == 'CPU' and onednn_note():
            log.info(onednn_note())
        log.info(f"ms_cls {__version__}, MindSpore {ms.__version__}, device {plan.device}, "
                 f"mode {plan.mode}, amp_level {plan.precision.amp_level}, "
                 f"config {plan.config.filename}, work_dir {plan.work_dir}")
        data = load_data(plan, log)
        model, callbacks, state = build_training(plan, data, log)
        write_run_files(plan, data, log)
        return fit(plan, data, model, callbacks, state, log)
    finally:
        log.close()


def load_data(plan, log):
    """Scan the splits, decode every image once (broken ones left out and listed in the work dir,
    or the run stopped, as data.skip_broken says), attach the classes, load initial weights."""
    train_set = dataset_from(plan.datasets['train'], 'train')
    classes = train_set.classes
    val_set = dataset_from(plan.datasets['val'], 'val', classes) if 'val' in plan.datasets \
        else None
    check = DecodeCheck(plan.scan, os.path.join(plan.work_dir, CACHE_FILE))
    splits = [(train_set, 'training')] + ([(val_set, 'val')] if val_set else [])
    for warning in check.check(splits, os.path.join(plan.work_dir, BROKEN_FILE)):
        log.info(f"WARNING: {warning}")
    log.info(check.summary())
    log.on_attach(check.write)
    log.info(f"train: {len(train_set)} images in {len(classes)} classes from "
             f"{train_set.data_prefix}" + (f"; val: {len(val_set)} images from "
                                            f"{val_set.data_prefix}" if val_set else ''))
    attach_classes(plan.net, classes, plan.num_classes_where)
    for _, path in plan.init_weights:
        load_weights(plan.net, path, log=log.info)
    spec = plan.loaders['train']
    train_loader = build_dataloader(
        train_set, spec.batch_size, spec.workers, shuffle=spec.shuffle, drop_last=spec.drop_last,
        where='data.train', ops=plan.pipelines['train'], batch_ops=plan.batch_augments,
        sampler=plan.sampler.build(train_set) if plan.sampler else None)
    val_loader = None
    if val_set is not None:
        spec = plan.loaders['val']
        val_loader = build_dataloader(val_set, spec.batch_size, spec.workers, shuffle=spec.shuffle,
                                      where='data.val', ops=plan.pipelines['val'])
    return RunData(classes, train_set, val_set, train_loader, val_loader,
                   train_loader.get_dataset_size())


def _metrics(head, num_classes):
    """The validation metrics: the numpy top-k of ``scripts/test.py``, inside ``Model``."""
    metrics = {'top_1': TopKAccuracy(1)}
    if 5 in head.topk and num_classes >= 5:
        metrics['top_5'] = TopKAccuracy(5)
    return metrics


def build_training(plan, data, log):
    """-> (Model, callbacks in the plan's HOOK_ORDER, the state they share)."""
    steps = data.steps_per_epoch
    if plan.lr_note:
        log.info(plan.lr_note)
    lr_values = plan.lr.values(plan.base_lr, plan.max_epochs, steps)
    log.info(plan.precision.line)
    net = plan.net
    optimizer = build_optimizer(plan.optimizer, net.trainable_params(), lr_values,
                                loss_scale=plan.precision.optimizer_loss_scale, net=net)
    model = Model(net, loss_fn=plan.loss_fn, optimizer=optimizer,
                  metrics=_metrics(net.head, len(data.classes)),
                  amp_level=plan.precision.amp_level,
                  loss_scale_manager=plan.precision.manager)
    state = RunState()
    built = {}
    for hook in plan.hooks:
        if hook == 'momentum':
            built[hook] = MomentumSchedule(optimizer, plan.momentum.values(
                plan.base_momentum, plan.max_epochs, steps))
        elif hook == 'ema':
            built[hook] = EMAHook(net.trainable_params(), plan.ema)
            log.info(f"EMA: momentum {plan.ema.momentum:g} every {plan.ema.interval} step(s); "
                     "validation "
                     "and checkpoints use the averaged weights (raw ones saved as raw.*)")
        elif hook == 'monitor':
            built[hook] = TrainMonitor(log, state, lr_values, plan.max_epochs, plan.log_interval)
        elif hook == 'checkpoint':
            built[hook] = CheckpointSaver(
                plan.work_dir, state, data.classes, plan.max_epochs, plan.ckpt_interval,
                plan.max_keep_ckpts, log=log.info, ema=built.get('ema'),
                save_last=plan.save_last)
    return model, [built[hook] for hook in plan.hooks], state


def write_run_files(plan, data, log):
    """The work dir, its log files, the merged config and classes.txt (checks have passed)."""
    os.makedirs(plan.work_dir, exist_ok=True)
    log.attach(plan.work_dir)
    cfg = plan.config
    cfg.work_dir = plan.work_dir
    cfg.dump(os.path.join(plan.work_dir, os.path.basename(cfg.filename or 'config.py')))
    write_lines(os.path.join(plan.work_dir, 'classes.txt'), data.classes)
    log.record(mode='meta', ms_cls=__version__, mindspore=ms.__version__, device=plan.device,
               amp_level=plan.precision.amp_level, config=cfg.filename, seed=plan.seed,
               python=platform.python_version(), classes=len(data.classes),
               max_epochs=plan.max_epochs, steps_per_epoch=data.steps_per_epoch,
               samples_per_gpu=plan.loaders['train'].batch_size)


def fit(plan, data, model, callbacks, state, log):
    """``Model.fit`` with validation every ``evaluation.interval`` epochs; -> summary dict."""
    start = time.time()
    try:
        model.fit(plan.max_epochs, data.train_loader, valid_dataset=data.val_loader,
                  valid_frequency=plan.eval_interval, callbacks=callbacks,
                  dataset_sink_mode=False)
    except RuntimeError as err:
        # the dataset workers re-raise our ImageLoadError as a RuntimeError with a long report
        reason = image_load_error(str(err))
        if reason is None:
            raise
        log.error(IMAGE_LOAD, f"{reason} Checkpoints written before this point are kept.")
        raise ImageLoadError(reason) from None
    if state.diverged:
        raise TrainingDiverged(state.diverged)
    summary = dict(work_dir=plan.work_dir, epochs=state.epoch, best_top1=state.best_top1,
                   best_epoch=state.best_epoch, minutes=(time.time() - start) / 60)
    if state.best_epoch:
        log.info(f"Done in {summary['minutes']:.1f} min: best accuracy_top-1 "
                 f"{state.best_top1:.3f} at epoch {state.best_epoch} "
                 f"({os.path.join(plan.work_dir, 'best.ckpt')})")
    return summary
