"""One training run: plan -> data -> loaders -> ``mindspore.train.Model.fit`` -> work dir.

The plan (``ms_cls.plan``) has checked the config and built the network, loss, pipelines and
batch augments; this module reads the data, builds what needs it (sampler, schedules,
optimizer, callbacks) once, and only then writes the work dir. ``fit`` runs one epoch per
``Model.fit`` call on a loader seeded for that epoch (``ms_cls.data.seeding``), so that a run
resumed at any step (``engine/resume.py``) draws what the uninterrupted run would have.
"""
import os
import platform
import time
from dataclasses import dataclass

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
from mindspore.train import Model

from .. import __version__
from ..errors import ImageLoadError, Interrupted, SaveFailed, TrainingDiverged
from ..data.builder import build_dataloader, dataset_from
from ..data.samplers import EpochOrder
from ..data.seeding import epoch_seed, rank_seed, reseed
from ..data.datasets import image_load_error
from ..data.scan import BROKEN_FILE, CACHE_FILE, DecodeCheck
from ..evaluation.model_metrics import TopKAccuracy
from ..fileio import write_lines
from ..models.builder import attach_classes
from ..models.summary import trained_line
from ..checkpoint import load_weights, remove_stale_temps, save_checkpoint
from ..weights.sources import pretrained_params
from ..plan import build_plan
from ..runtime import graph_dumps_in, onednn_note
from ..workdir import hold_work_dir
from .callbacks import CheckpointSaver, MomentumSchedule, RunState, StepPosition, TrainMonitor
from .ema import EMAHook
from .precise_bn import PreciseBNHook
from .tensorboard import TensorboardLogger, optimizer_momentum
from .log import IMAGE_LOAD, SAVE_FAILED, RunLog
from .optim import build_optimizer
from .sink import fit_calls, sink_steps
from .resume import (LATEST, RECOVERY, check_new_run, exit_code, find_resume, restore,
                     restore_best, set_aside_abandoned, stop_on_signals)


#: Printed before the first step, which compiles the training graph (first step measured on 2
#: CPU cores, compile included: 2.8 s for the demo's ResNet-18 at 32px, 7.5 s for ResNet-50 at
#: 224px with batch 8; the issue that asked for it saw 20-60 s).
COMPILE_NOTE = ("compiling the training graph (the first step), this takes from seconds to a "
                "minute ...")


def train(cfg, work_dir=None, validate=True):
    """Train as the config says; returns a summary dict (best top-1, its epoch, paths).
    ``validate=False``: no validation during training (mmcls's --no-validate).

    Nothing is written until the config and the data have passed every check, but the work
    dir's lock (``ms_cls.workdir``): it is taken before any image is read, so a second run into
    the same work dir stops at once, and removed at the end (with the work dir if still empty).
    """
    plan = build_plan(cfg, work_dir, validate)
    with hold_work_dir(plan.work_dir, plan.cluster) as took_over:
        if took_over:
            plan.notes.append(took_over)
        return run(plan)


@dataclass
class RunData:
    """The datasets of a run and what is built from them once (sampler, val loader)."""
    classes: list
    train_set: object
    val_set: object
    sampler: object         # data.sampler's, or None
    order: object           # EpochOrder: this process's share of each epoch's order
    val_loader: object
    steps_per_epoch: int


def run(plan):
    """Carry out a plan: read the data, build the training parts, write the work dir, fit."""
    point = find_resume(plan.resume_from, plan.work_dir)
    config_name = os.path.basename(plan.config.filename or 'config.py')
    if point is None:
        check_new_run(plan.work_dir, config_name)
    cluster = plan.cluster
    log = RunLog(timestamp=RunLog.last_timestamp(plan.work_dir) if point else None,
                 files=cluster.main)
    try:
        for warning in plan.warnings:
            log.info(f"WARNING: {warning}")
        for note in plan.notes:
            log.info(note)
        if plan.device == 'CPU' and onednn_note():
            log.info(onednn_note())
        log.info(f"ms_cls {__version__}, MindSpore {ms.__version__}, device {plan.device}, "
                 f"mode {plan.mode}, amp_level {plan.precision.amp_level}, "
                 f"config {plan.config.filename}, work_dir {plan.work_dir}")
        if cluster.parallel:
            log.info(f"data parallel: process {cluster.rank} of {cluster.size} (msrun), "
                     f"{plan.loaders['train'].batch_size} images per process and step, "
                     f"total batch {plan.loaders['train'].batch_size * cluster.size}"
                     + ("" if cluster.main else "; rank 0 writes the run's files"))
        data = load_data(plan, log, init_weights=point is None)
        model, callbacks, state = build_training(plan, data, log)
        if point is not None:
            resume_state(plan, point, model, callbacks, state, log)
            if state.global_step >= plan.max_epochs * data.steps_per_epoch:
                log.info(f"{point.path}: the run finished all {plan.max_epochs} epochs; nothing "
                         "to resume (raise runner.max_epochs to train on).")
                return summary_of(plan, state, 0.0)
        if plan.sink.enabled:   # an explicit sink_size that does not fit stops here
            log.info(f"{plan.sink.line}; {sink_size(plan, data.steps_per_epoch, 0)} steps per "
                     "sink")
        cluster.barrier()   # every process has checked the work dir before rank 0 writes it
        if cluster.main:
            write_run_files(plan, data, log, state.global_step if point else None)
            if point is not None:
                set_aside_abandoned(plan.work_dir, point, data.steps_per_epoch, log.info)
                restore_best(plan.work_dir, point, state, log.info)
        with graph_dumps_in(plan.work_dir):   # a graph that fails to compile dumps here
            return fit(plan, data, model, callbacks, state, log)
    finally:
        log.close()


def load_data(plan, log, init_weights=True):
    """Scan the splits, decode every image once (broken ones left out and listed in the work dir,
    or the run stopped, as data.skip_broken says), attach the classes, load initial weights
    (not when resuming: the checkpoint has them)."""
    train_set = dataset_from(plan.datasets['train'], 'train')
    classes = train_set.classes
    val_set = dataset_from(plan.datasets['val'], 'val', classes) if 'val' in plan.datasets \
        else None
    check = DecodeCheck(plan.scan, os.path.join(plan.work_dir, CACHE_FILE), cluster=plan.cluster)
    splits = [(train_set, 'training')] + ([(val_set, 'val')] if val_set else [])
    for warning in check.check(splits, os.path.join(plan.work_dir, BROKEN_FILE)):
        log.info(f"WARNING: {warning}")
    log.info(check.summary())
    log.on_attach(check.write)
    log.info(f"train: {len(train_set)} images in {len(classes)} classes from "
             f"{train_set.data_prefix}" + (f"; val: {len(val_set)} images from "
                                            f"{val_set.data_prefix}" if val_set else ''))
    attach_classes(plan.net, classes, plan.num_classes_where)
    for spec in plan.init_weights if init_weights else ():
        params, path, _ = pretrained_params(spec, plan.backbone_cfg, log=log.info)
        load_weights(plan.net, path, log=log.info, new_head=True, source=spec.source,
                     params=params)
    cluster = plan.cluster
    sampler = plan.sampler.build(train_set) if plan.sampler else None
    train_spec = plan.loaders['train']
    order = EpochOrder(len(train_set), train_spec.shuffle, sampler, cluster.size, cluster.rank)
    val_loader = None
    if val_set is not None:
        spec = plan.loaders['val']
        # each val image is scored by one process; TopKAccuracy sums the counts of all
        shard = ds.SubsetSampler(cluster.shard(range(len(val_set)))) if cluster.parallel \
            else None
        val_loader = build_dataloader(val_set, spec.batch_size, spec.workers, shuffle=spec.shuffle,
                                      where='data.val', ops=plan.pipelines['val'], sampler=shard)
    steps = train_spec.steps(order.size, 'data.train', cluster.size, len(order))
    log.info(train_spec.describe(order.size, cluster.size, len(order)))
    return RunData(classes, train_set, val_set, sampler, order, val_loader, steps)


def train_loader(plan, data, epoch, skip=0):
    """The training loader of ``epoch`` (0-based): its shuffle, sampler, augmentation and batch
    augment draws all follow from (seed, epoch). ``skip`` drops the first batches after they
    were drawn (a run resumed mid-epoch), so the rest of the epoch is drawn as it was."""
    seed = epoch_seed(plan.seed, epoch)
    reseed([data.order, data.sampler], seed)   # the order: the same in every process
    augment_seed = rank_seed(seed, plan.cluster.rank)
    ds.config.set_seed(augment_seed)
    reseed(plan.pipelines['train'] + [plan.batch_augments], augment_seed)
    spec = plan.loaders['train']
    loader = build_dataloader(
        data.train_set, spec.batch_size, spec.workers,
        drop_last=spec.drops_remainder(len(data.order)),
        where='data.train', ops=plan.pipelines['train'], batch_ops=plan.batch_augments,
        sampler=data.order)
    return loader.skip(skip) if skip else loader


def _metrics(head, num_classes, cluster, state):
    """The validation metrics: the numpy top-k of ``scripts/test.py``, inside ``Model``, over
    the val images of every process.

    ``Model.fit`` validates even after a signal stopped the epoch early; then rank 0 alone is
    validating (the other ranks let the signal pass and are at their next step's gradient
    sum), so the counts are not summed: two different collectives would meet and fail
    (measured: "RunRingAllReduce Memcpy error") before rank 0 wrote its recovery checkpoint.
    A signal during validation stopped no step: every process validates whole and sums."""
    def total(values):
        return values if state.stopped_at else cluster.all_sum(values)

    total = total if cluster.parallel else None
    metrics = {'top_1': TopKAccuracy(1, total)}
    if 5 in head.topk and num_classes >= 5:
        metrics['top_5'] = TopKAccuracy(5, total)
    return metrics


def build_training(plan, data, log):
    """-> (Model, callbacks in the plan's HOOK_ORDER, the state they share)."""
    steps = data.steps_per_epoch
    if plan.lr_note:
        log.info(plan.lr_note)
    lr_values = plan.lr.values(plan.base_lr, plan.max_epochs, steps)
    log.info(plan.precision.line)
    net = plan.net
    log.info(trained_line(net))
    optimizer = build_optimizer(plan.optimizer, net.trainable_params(), lr_values,
                                loss_scale=plan.precision.optimizer_loss_scale, net=net)
    state = RunState(steps_per_epoch=steps)
    model = Model(net, loss_fn=plan.loss_fn, optimizer=optimizer,
                  metrics=_metrics(net.head, len(data.classes), plan.cluster, state),
                  amp_level=plan.precision.amp_level,
                  loss_scale_manager=plan.precision.manager)
    # the momentum of every step (momentum_config), or the optimizer's constant one: set by
    # MomentumSchedule, written to the log and to TensorBoard
    momentum = (np.asarray(plan.momentum.values(plan.base_momentum, plan.max_epochs, steps),
                           np.float32)
                if 'momentum' in plan.hooks else optimizer_momentum(plan.optimizer))
    built = {}
    for hook in plan.hooks:
        if hook == 'position':
            built[hook] = StepPosition(state)
        elif hook == 'momentum':
            built[hook] = MomentumSchedule(optimizer, momentum)
        elif hook == 'ema':
            built[hook] = EMAHook(net.trainable_params(), plan.ema, steps)
            log.info(f"EMA: momentum {plan.ema.momentum:g} every {plan.ema.interval} step(s); "
                     "validation "
                     "and checkpoints use the averaged weights (raw ones saved as raw.*)")
        elif hook == 'precise_bn':
            built[hook] = PreciseBNHook(net, plan.precise_bn, state,
                                        lambda epoch: train_loader(plan, data, epoch),
                                        plan.loaders['train'].batch_size, plan.cluster, log.info)
        elif hook == 'monitor':
            built[hook] = TrainMonitor(log, state, lr_values, plan.max_epochs, plan.log_interval,
                                       COMPILE_NOTE if plan.mode == 'graph' else None, momentum)
        elif hook == 'tensorboard':
            built[hook] = TensorboardLogger(plan.tensorboard, plan.work_dir, state, lr_values,
                                            momentum, plan.max_epochs * steps)
        elif hook == 'checkpoint':
            built[hook] = CheckpointSaver(
                plan.work_dir, state, data.classes, plan.max_epochs, plan.ckpt_interval,
                plan.max_keep_ckpts, log=log.info, ema=built.get('ema'),
                save_last=plan.save_last, seed=plan.seed, by_epoch=plan.ckpt_by_epoch)
    return model, [built[hook] for hook in plan.hooks], state


def resume_state(plan, point, model, callbacks, state, log):
    """Put the checkpoint's weights, optimizer state, EMA averages, position and best-so-far
    back; the schedules follow from the step count."""
    if point.skipped:
        log.info(point.skipped_line)
    ema = next((c for c in callbacks if isinstance(c, EMAHook)), None)
    restore(point, model.train_network, ema)
    meta = point.meta
    state.global_step = point.step
    state.epoch = point.step // state.steps_per_epoch
    best = meta.get('best') or {}
    state.best_top1 = float(best.get('accuracy_top-1', -1.0))
    state.best_epoch = int(best.get('epoch', 0))
    if meta.get('seed') != plan.seed:
        log.info(f"WARNING: {point.path} was written by a run with seed {meta.get('seed')!r}, "
                 f"this one has {plan.seed!r}: the data order and augmentations will differ.")
    log.info(f"Resuming from {point.path}: {state.epoch} epoch(s) and "
             f"{point.step - state.epoch * state.steps_per_epoch} step(s) done "
             f"(global step {point.step})")


def write_run_files(plan, data, log, resumed_step=None):
    """The work dir, its log files, the merged config and classes.txt (checks have passed).
    A resumed run appends to its logs, after a record of the step it resumed from."""
    os.makedirs(plan.work_dir, exist_ok=True)
    log.attach(plan.work_dir)
    if resumed_step is not None:
        log.record(mode='resume', step=resumed_step, seed=plan.seed)
    remove_stale_temps(plan.work_dir, log.info)
    cfg = plan.config
    cfg.work_dir = plan.work_dir
    cfg.dump(os.path.join(plan.work_dir, os.path.basename(cfg.filename or 'config.py')))
    write_lines(os.path.join(plan.work_dir, 'classes.txt'), data.classes)
    log.record(mode='meta', ms_cls=__version__, mindspore=ms.__version__, device=plan.device,
               amp_level=plan.precision.amp_level, config=cfg.filename, seed=plan.seed,
               python=platform.python_version(), classes=len(data.classes),
               max_epochs=plan.max_epochs, steps_per_epoch=data.steps_per_epoch,
               samples_per_gpu=plan.loaders['train'].batch_size, processes=plan.cluster.size)


def sink_size(plan, steps, done):
    """Steps per sink for the rest of an epoch (1 without sink mode, engine/sink.py)."""
    every = [] if plan.ckpt_by_epoch else [('checkpoint_config.interval', plan.ckpt_interval)]
    return sink_steps(plan.sink, steps, done, plan.log_interval, every,
                      per_step=plan.momentum is not None or plan.ema is not None)


def fit(plan, data, model, callbacks, state, log):
    """One ``Model.fit`` call per epoch, validating every ``evaluation.interval`` epochs; on
    SIGINT/SIGTERM a recovery checkpoint after the current step. -> summary dict."""
    start = time.time()
    steps = data.steps_per_epoch
    try:
        with stop_on_signals(state, decides=plan.cluster.main):
            while state.global_step < plan.max_epochs * steps and not (
                    state.diverged or state.interrupted):
                epoch, done = divmod(state.global_step, steps)
                sink = sink_size(plan, steps, done)
                # in sink mode MindSpore counts a sink as an epoch
                calls = fit_calls(steps, done, sink) if plan.sink.enabled else 1
                validate = (epoch + 1) % plan.eval_interval == 0
                model.fit(calls, train_loader(plan, data, epoch, done),
                          valid_dataset=data.val_loader if validate else None,
                          valid_frequency=calls, callbacks=callbacks,
                          dataset_sink_mode=plan.sink.enabled,
                          sink_size=sink if plan.sink.enabled else -1)   # else it cuts epochs
    except SaveFailed as err:
        log.error(SAVE_FAILED, str(err), console=False)
        raise
    except RuntimeError as err:
        # the dataset workers re-raise our ImageLoadError as a RuntimeError with a long report
        reason = image_load_error(str(err))
        if reason is None:
            raise
        log.error(IMAGE_LOAD, f"{reason} Checkpoints written before this point are kept.",
                  console=False)
        raise ImageLoadError(reason) from None
    if state.diverged:
        raise TrainingDiverged(state.diverged)
    if state.interrupted and plan.cluster.main:
        if state.stopped_at or state.global_step < plan.max_epochs * steps:
            save_recovery(plan, model, callbacks, state, log)   # raises Interrupted
        log.info(f"{state.interrupted} came after the last step; the last epoch was validated "
                 "and saved, so the run is complete.")
    summary = summary_of(plan, state, (time.time() - start) / 60)
    if state.best_epoch:
        log.info(f"Done in {summary['minutes']:.1f} min: best accuracy_top-1 "
                 f"{state.best_top1:.3f} at epoch {state.best_epoch} "
                 f"({os.path.join(plan.work_dir, 'best.ckpt')})")
    return summary


def summary_of(plan, state, minutes):
    return dict(work_dir=plan.work_dir, epochs=state.epoch, best_top1=state.best_top1,
                best_epoch=state.best_epoch, minutes=minutes)


def save_recovery(plan, model, callbacks, state, log):
    """The checkpoint of the step training stopped after, and the command that resumes it. A
    signal after an epoch's last step (in its validation) stopped no step: that epoch was
    validated and saved as usual, and latest.ckpt resumes it."""
    epoch = state.global_step // state.steps_per_epoch
    path = os.path.join(plan.work_dir, LATEST)
    if state.stopped_at:
        saver = next(c for c in callbacks if isinstance(c, CheckpointSaver))
        path = os.path.join(plan.work_dir, RECOVERY)
        save_checkpoint(model.train_network, path, saver.meta(epoch, state.global_step),
                        saver.ema_entries())
    config = os.path.join(plan.work_dir, os.path.basename(plan.config.filename or 'config.py'))
    command = (f"bash scripts/run_distribute_train.sh {config} {plan.cluster.size}"
               if plan.cluster.parallel else f"python scripts/train.py {config}") \
        + f" --work-dir {plan.work_dir} --resume auto"
    where = (f"global step {state.global_step} (epoch {epoch}, step "
             f"{state.global_step - epoch * state.steps_per_epoch})" if state.stopped_at
             else f"the end of epoch {epoch}")
    message = (f"Interrupted by {state.interrupted} after {where}; saved {path}. "
               f"Resume with: {command}")
    log.error("interrupted", message, console=False, step=state.global_step)
    raise Interrupted(message, exit_code(state.interrupted))
