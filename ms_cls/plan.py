"""The run plan: everything one training run needs, built once from the config alone.

``build_plan(cfg)`` reads no image and writes no file. Building it *is* the validation: each
section of the config is checked as its part is built (the network, loss, pipelines and batch
augments) or turned into a spec of plain values (optimizer, schedules, EMA, sampler, loaders)
for the parts that need the data first. ``engine.trainer`` consumes the plan; nothing below it
reads the config. Resume, data parallel and sweeps change a run by changing its plan.
"""
import os
import random
from dataclasses import dataclass, field

from .checkpoint import check_checkpoint_file
from .config import (IGNORED_KEYS, UNSUPPORTED_KEYS, check_top_level_names, ignored_keys_note,
                     run_work_dir)
from .errors import ConfigError
from .data.batch_augments import build_batch_augments
from .data.builder import (check_dataset_cfg, loader_spec, sampler_spec, scan_spec,
                           torch_loader_options)
from .data.pipeline import build_pipeline
from .distributed import join_cluster
from .engine.ema import ema_spec
from .engine.precise_bn import precise_bn_spec
from .engine.optim import optimizer_spec
from .engine.precision import NOT_SET, Precision, precision_for
from .engine.sink import sink_spec
from .engine.tensorboard import HOOK as TENSORBOARD_HOOK, tensorboard_spec
from .engine.schedules import base_momentum, lr_schedule_spec, schedule_spec, scaled_lr
from .models.builder import PretrainedSpec, build_loss, build_model, pretrained_weights
from .runtime import init_context
from .validation import check_keys, positive_int, where
from .weights.sources import check_reference
from .workdir import check_work_dir

#: The callbacks of a run, in the order they run at each step and epoch end (mmcls's
#: ``register_training_hooks`` priorities): the position sets the global step (and stops on a
#: signal); the momentum is set before a step; the EMA averages are swapped in at the epoch's
#: last step, before validation; the monitor logs and records the validation result that the
#: checkpoint saver then uses (and times the step before PreciseBNHook recomputes the BatchNorm
#: statistics of the weights validated and saved); the TensorBoard writer (log_config's
#: TensorboardLoggerHook) takes the monitor's validation result too.
HOOK_ORDER = ('position', 'momentum', 'ema', 'monitor', 'precise_bn', 'tensorboard', 'checkpoint')

NO_VALIDATE_NOTE = ("validation is off (--no-validate): data.val is not read, no val line is "
                    "logged and no best.ckpt is written; latest.ckpt and epoch_*.ckpt are as "
                    "usual")

SECTION_KEYS = {
    'runner': ('type', 'max_epochs'),
    'checkpoint_config': ('interval', 'max_keep_ckpts', 'by_epoch', 'save_last'),
    'log_config': ('interval', 'hooks'),
    'evaluation': ('interval', 'metric', 'save_best'),
    'optimizer_config': ('grad_clip',),
}
DICT_SECTIONS = ('model', 'data', 'optimizer', 'optimizer_config', 'lr_config',
                 'momentum_config', 'runner', 'checkpoint_config', 'log_config', 'evaluation',
                 'auto_scale_lr', 'fp16', 'sampler')

@dataclass
class RunPlan:
    """What a run is made of; built by :func:`build_plan`, consumed by ``engine.trainer``."""
    config: object                  # the merged config, kept only to be dumped in the work dir
    work_dir: str
    device: str
    mode: str
    cluster: object                 # distributed.Cluster: this process's rank among how many
    seed: object
    net: object                     # ImageClassifier, classes attached once the data is read
    num_classes_where: str          # where model.head.num_classes was set, for messages
    loss_fn: object
    pipelines: dict                 # split -> MindSpore ops
    batch_augments: object          # BatchAugments or None
    datasets: dict                  # split -> checked dataset config (built with the data)
    loaders: dict                   # split -> LoaderSpec
    sampler: object                 # SamplerSpec or None
    scan: object                    # ScanSpec: the decode check (data.skip_broken, ...)
    optimizer: object               # OptimizerSpec (grad clip included)
    base_lr: float
    lr_note: str
    lr: object                      # ScheduleSpec
    momentum: object                # ScheduleSpec or None
    base_momentum: float
    ema: object                     # EMASpec or None
    precision: Precision
    sink: object                    # SinkSpec: dataset sink mode (engine/sink.py)
    max_epochs: int
    eval_interval: int
    log_interval: int
    ckpt_interval: int              # epochs, or iterations when ckpt_by_epoch is False
    ckpt_by_epoch: bool
    max_keep_ckpts: int
    save_last: bool
    init_weights: list              # [models.builder.PretrainedSpec], loaded in this order
    backbone_cfg: dict              # model.backbone as plain values: converts PyTorch weights
    resume_from: str                # 'auto', a checkpoint path, or None
    hooks: tuple                    # the callbacks to make, in HOOK_ORDER
    tensorboard: object = None      # TensorboardSpec (engine/tensorboard.py) or None
    precise_bn: object = None       # PreciseBNSpec (engine/precise_bn.py) or None
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)   # run-log lines on what the config set but
                                                # cannot matter here (mmcls runtime keys)


def build_plan(cfg, work_dir=None, validate=True):
    """Check the whole config and build the run's parts; a mistake raises ConfigError naming
    the key and the file that set it. Sets the device, mode and seed of this process.
    ``validate=False`` (train.py --no-validate) leaves data.val out: no validation, no
    best.ckpt."""
    check_sections(cfg)
    work_dir = run_work_dir(cfg, work_dir)
    check_work_dir(work_dir)
    seed = cfg.get('seed')
    check_top_level_names(cfg)
    warnings = []
    if seed is None:   # a resumed run must repeat the data draws: the seed goes in checkpoints
        seed = random.SystemRandom().randrange(2 ** 31)
        warnings.append(f"seed is not set; this run uses seed={seed} (set seed to repeat it).")
    elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{cfg.where('seed')} = {seed!r}: expected an int >= 0.")
    device = init_context(cfg.get('device_target', 'auto'), cfg.get('mode', 'graph'),
                          seed, cfg.get('deterministic', False))
    cluster = join_cluster()
    net = build_model(cfg.model)
    data = cfg.data
    datasets = {split: check_dataset_cfg(data, split)
                for split in ('train', 'val')
                if split == 'train' or (validate and data.get('val'))}
    loaders = {split: loader_spec(data, split) for split in datasets}
    sampler_cfg, sampler_key = train_sampler(cfg)
    sampler = sampler_spec(sampler_cfg, sampler_key)
    if sampler is not None and ('shuffle' in data
                                or 'shuffle' in (data.get('train_dataloader') or {})):
        raise ConfigError(f"{sampler_key} decides the training order, so a shuffle setting would "
                          "be ignored; remove shuffle or the sampler.")
    schedules = schedule_plan(cfg, cluster.size)
    ema = ema_spec(cfg.get('custom_hooks'))
    precise_bn = precise_bn_spec(cfg.get('custom_hooks'))
    ckpt = cfg.get('checkpoint_config') or {}
    evaluation = cfg.get('evaluation') or {}
    log_interval = positive_int(cfg.get('log_config') or {}, 'interval', 100)
    tensorboard = tensorboard_plan(cfg.get('log_config') or {}, log_interval)
    hooks = tuple(name for name in HOOK_ORDER
                  if (name != 'momentum' or schedules.momentum) and (name != 'ema' or ema)
                  and (name != 'tensorboard' or tensorboard)
                  and (name != 'precise_bn' or precise_bn)
                  # rank 0 writes the run's files
                  and (name not in ('checkpoint', 'tensorboard') or cluster.main))
    return RunPlan(
        config=cfg, work_dir=work_dir,
        device=device, mode=cfg.get('mode', 'graph'), cluster=cluster, seed=seed,
        net=net, num_classes_where=where(cfg.model.head, 'num_classes'),
        loss_fn=build_loss(cfg.model),
        pipelines={split: build_pipeline(datasets[split].get('pipeline', []),
                                         f'data.{split}.pipeline') for split in datasets},
        batch_augments=build_batch_augments(cfg.model.get('train_cfg'), net.head.num_classes),
        datasets=datasets, loaders=loaders, sampler=sampler, scan=scan_spec(data),
        optimizer=schedules.optimizer,
        base_lr=schedules.base_lr, lr_note=schedules.lr_note, lr=schedules.lr,
        momentum=schedules.momentum, base_momentum=schedules.base_momentum, ema=ema,
        precision=precision_for(cfg.get('amp_level'), cfg.get('loss_scale', NOT_SET),
                                cfg.get('fp16'), device),
        sink=sink_spec(cfg.get('dataset_sink_mode', 'auto'), cfg.get('sink_size', 'auto'), device),
        max_epochs=schedules.max_epochs,
        eval_interval=positive_int(evaluation, 'interval', 1),
        log_interval=log_interval,
        ckpt_interval=positive_int(ckpt, 'interval', 1),
        ckpt_by_epoch=ckpt.get('by_epoch', True),
        max_keep_ckpts=_max_keep(ckpt), save_last=ckpt.get('save_last', True),
        init_weights=init_weights(cfg), backbone_cfg=cfg.model.backbone.to_dict(),
        resume_from=cfg.get('resume_from'), hooks=hooks, warnings=warnings,
        tensorboard=tensorboard, precise_bn=precise_bn, notes=[note for note in [
            ignored_keys_note({**{k: why for k, why in IGNORED_KEYS.items() if k in cfg},
                               **torch_loader_options(data)}),
            None if validate or not data.get('val') else NO_VALIDATE_NOTE,
            head_note(cfg.model.head)] if note])


def head_note(head_cfg):
    """mmcls's mixup/cutmix configs use MultiLabelLinearClsHead for soft labels: say once how it
    is trained here."""
    if head_cfg.get('type') != 'MultiLabelLinearClsHead':
        return None
    return ("model.head MultiLabelLinearClsHead: trained on one label per image (mixed into soft "
            "targets by the batch augments, as mmcls's mixup/cutmix configs use it); data sets "
            "with several labels per image are not supported.")


def init_weights(cfg):
    """[PretrainedSpec]: the model's pretrained weights (``model.pretrained``, Pretrained
    ``init_cfg``s), then ``load_from`` (mmcls: the whole model), each checked as a reference
    (a local file that exists, or a URL / model name this project can fetch)."""
    specs = pretrained_weights(cfg.model)
    if cfg.get('load_from'):
        specs.append(PretrainedSpec('load_from', cfg.load_from))
    for spec in specs:
        check_reference(spec.checkpoint, spec.source)
    return specs


def train_sampler(cfg):
    """(the training sampler's config or None, its key): mmcls 0.25 reads the top-level
    ``sampler``, ms_cls also ``data.sampler``; setting both is an error."""
    top, data = cfg.get('sampler'), cfg.data.get('sampler')
    if top is not None and data is not None:
        raise ConfigError(f"{cfg.where('sampler')} and {cfg.data.where('sampler')} both set the "
                          "training sampler; keep one (mmcls reads the top-level sampler).")
    return (top, 'sampler') if top is not None else (data, 'data.sampler')


def tensorboard_plan(log_config, log_interval):
    """The TensorboardSpec of ``log_config.hooks`` (None without that hook)."""
    specs = [tensorboard_spec(hook, i, log_interval)
             for i, hook in enumerate(log_config.get('hooks') or [])
             if isinstance(hook, dict) and hook.get('type') == TENSORBOARD_HOOK]
    if len(specs) > 1:
        raise ConfigError(f"log_config.hooks: {TENSORBOARD_HOOK} is given {len(specs)} times; "
                          "keep one.")
    return specs[0] if specs else None


@dataclass
class SchedulePlan:
    """The optimizer and what it is driven by: enough for ``scripts/vis_lr.py`` and the run
    table, without building a network."""
    optimizer: object       # OptimizerSpec
    base_lr: float
    lr_note: str
    lr: object              # ScheduleSpec
    momentum: object        # ScheduleSpec or None
    base_momentum: float
    max_epochs: int


def schedule_plan(cfg, ngpus=1):
    """Check optimizer, auto_scale_lr, lr_config and momentum_config of ``cfg``."""
    for section in ('optimizer', 'runner', 'data'):
        if not isinstance(cfg.get(section), dict):
            raise ConfigError(f"'{section}' (a dict) is missing from "
                              f"{cfg.filename or 'the config'}.")
    optimizer = optimizer_spec(cfg.optimizer,
                               (cfg.get('optimizer_config') or {}).get('grad_clip'))
    total_batch = loader_spec(cfg.data, 'train').batch_size * ngpus
    base_lr, lr_note = scaled_lr(optimizer['lr'], cfg.get('auto_scale_lr'), total_batch)
    max_epochs = positive_int(cfg.runner, 'max_epochs')
    lr = lr_schedule_spec(cfg.get('lr_config')).check(base_lr, max_epochs)
    momentum_config = cfg.get('momentum_config')
    momentum = base_momentum(momentum_config, optimizer)
    schedule = None if momentum is None else schedule_spec(
        'momentum_config', momentum_config, momentum=True).check(momentum, max_epochs)
    return SchedulePlan(optimizer, base_lr, lr_note, lr, schedule, momentum, max_epochs)


def check_sections(cfg):
    """The plain (type-less) sections and the top-level keys, before anything is built."""
    for key, why in UNSUPPORTED_KEYS.items():
        if key in cfg:
            raise ConfigError(f"{cfg.where(key)}: ms_cls does not use '{key}' ({why}); "
                              "remove it from the config.")
    for section in DICT_SECTIONS:
        if cfg.get(section) is not None and not isinstance(cfg[section], dict):
            raise ConfigError(f"{cfg.where(section)} must be a dict, got {cfg[section]!r}.")
    for section in ('model', 'data', 'optimizer', 'runner'):
        if not cfg.get(section):
            raise ConfigError(f"'{section}' is missing from {cfg.filename or 'the config'}.")
    for section, keys in SECTION_KEYS.items():
        if isinstance(cfg.get(section), dict):
            check_keys(cfg[section], keys, section)
    runner = cfg.runner
    if runner.get('type', 'EpochBasedRunner') != 'EpochBasedRunner':
        raise ConfigError(f"runner.type={runner.get('type')!r}: ms_cls trains by epoch; use "
                          "'EpochBasedRunner' with max_epochs.")
    positive_int(runner, 'max_epochs')
    _check_evaluation(cfg.get('evaluation') or {})
    _check_logging(cfg.get('log_config') or {}, cfg.get('checkpoint_config') or {})
    workflow = cfg.get('workflow', [('train', 1)])
    if [tuple(w) for w in workflow] != [('train', 1)]:
        raise ConfigError(f"{cfg.where('workflow')} = {workflow!r}: ms_cls trains one epoch at a "
                          "time and validates every evaluation.interval epochs, which is "
                          "workflow=[('train', 1)]; set that or remove the key.")
    resume_from = cfg.get('resume_from')
    if resume_from is not None and not isinstance(resume_from, str):
        raise ConfigError(f"{cfg.where('resume_from')} = {resume_from!r}: give 'auto' (the "
                          "newest checkpoint of the work dir) or a checkpoint path.")
    if resume_from not in (None, 'auto'):
        check_checkpoint_file(resume_from, 'resume_from: checkpoint')


def _check_evaluation(evaluation):
    metric = evaluation.get('metric', 'accuracy')
    if metric not in ('accuracy', ['accuracy'], ('accuracy',)):
        raise ConfigError(f"evaluation.metric={metric!r}: validation during training reports "
                          "'accuracy' (top-1, and top-5 with 5+ classes).")
    if evaluation.get('save_best', 'auto') not in ('auto', 'accuracy', 'accuracy_top-1'):
        raise ConfigError(f"evaluation.save_best={evaluation['save_best']!r}: best.ckpt is the "
                          "epoch with the best accuracy_top-1; use save_best='auto' or remove it.")


def _check_logging(log_config, ckpt):
    for i, hook in enumerate(log_config.get('hooks') or []):
        kind = hook.get('type') if isinstance(hook, dict) else hook
        if kind not in ('TextLoggerHook', TENSORBOARD_HOOK):
            raise ConfigError(f"log_config.hooks[{i}] = {kind!r}: ms_cls writes the text and JSON "
                              f"logs itself (TextLoggerHook) and TensorBoard events with "
                              f"{TENSORBOARD_HOOK}; remove other logger hooks.")
    for key in ('by_epoch', 'save_last'):
        if not isinstance(ckpt.get(key, True), bool):
            raise ConfigError(f"checkpoint_config.{key}={ckpt[key]!r}: use True or False.")


def _max_keep(ckpt):
    value = ckpt.get('max_keep_ckpts', -1)
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or value < -1:
        raise ConfigError(f"checkpoint_config.max_keep_ckpts={value!r}: keep N >= 1 epoch "
                          "checkpoints, or -1 to keep all.")
    return value
