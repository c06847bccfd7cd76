"""What every command-line entry point shares: config loading and error reporting.

Errors that are the user's to fix (a bad config key, a missing folder, a diverged run) are
printed as one clear message with exit code 1 instead of a traceback.
"""
import sys

from .config import Config
from .errors import ConfigError, UserError


def config_from_args(path, cfg_options=(), **overrides):
    """Config file + ``--cfg-options`` + explicit command-line flags (those not None); a
    misspelt top-level name stops every command (``config.check_top_level_names``)."""
    from .config import check_top_level_names, parse_options
    options = parse_options(cfg_options)
    options.update({k: v for k, v in overrides.items() if v is not None})
    cfg = Config.fromfile(path, options)
    check_top_level_names(cfg)
    return cfg


def run_cli(fn):
    """Run ``fn``; user errors -> 'ERROR: ...' on stderr and exit code 1."""
    try:
        fn()
    except UserError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return getattr(err, 'exit_code', 1)   # an interrupted run: 128 + the signal
    return 0


#: mmcls's ``--device`` names -> MindSpore's device_target
DEVICES = {'cpu': 'CPU', 'cuda': 'GPU', 'gpu': 'GPU', 'npu': 'Ascend', 'ascend': 'Ascend'}
#: mmcls tools/test.py flags for a display or for its distributed collection; they change
#: nothing here, and one line says so
TEST_ONLY_NOTES = {
    'show': "--show opens a window per image, which ms_cls does not; --show-dir DIR saves "
            "the drawings",
    'show_options': "--show-options (mmcls's show_result arguments) is ignored: --show-dir "
                    "draws with ms_cls's own layout",
    'gpu_collect': "--gpu-collect is ignored: scripts/test.py scores every image in one process",
    'tmpdir': "--tmpdir is ignored: scripts/test.py scores every image in one process and "
              "writes no temporary results",
}


def add_mmcls_flags(parser, script):
    """The flags of mmcls 0.25's ``tools/train.py`` / ``tools/test.py`` (``script``) that
    ms_cls's scripts do not have under their own names, so a command typed for mmcls runs or
    says in one line what to use instead (``mmcls_options``)."""
    group = parser.add_argument_group('mmcls flags', 'accepted as mmcls 0.25 reads them, or '
                                      'answered with what to use instead')
    group.add_argument('--options', nargs='+', metavar='KEY=VALUE',
                       help='old mmcls spelling of --cfg-options (deprecated)')
    group.add_argument('--device', help="mmcls's device name (cpu, cuda, npu): the device "
                       'target (CPU, GPU, Ascend)')
    group.add_argument('--gpu-id', type=int, help='card of a one-process run: only 0 here; '
                       'CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES choose another')
    group.add_argument('--gpu-ids', type=int, nargs='+', help='(deprecated in mmcls) the first '
                       'id is --gpu-id')
    group.add_argument('--launcher', default='none', help="mmcls's distributed launcher: use "
                       '--msrun N (train.py) instead')
    group.add_argument('--local_rank', '--local-rank', type=int, help='set by torch launchers; '
                       'msrun gives each process its rank')
    if script == 'train':
        group.add_argument('--no-validate', action='store_true', help='no validation during '
                           'training (hence no best.ckpt)')
        group.add_argument('--deterministic', action='store_true', help='deterministic=True')
        group.add_argument('--auto-scale-lr', action='store_true', help='auto_scale_lr.enable='
                           'True: scale the lr by total batch / auto_scale_lr.base_batch_size')
        group.add_argument('--gpus', type=int, help='(deprecated in mmcls) 1 card; use --msrun N '
                           'for N processes')
        group.add_argument('--diff-seed', action='store_true', help='each process already '
                           'augments with draws of its own')
        group.add_argument('--ipu-replicas', type=int, help='not supported (no IPU in MindSpore)')
    else:
        group.add_argument('--show', action='store_true', help='see --show-dir')
        group.add_argument('--show-options', nargs='+', metavar='KEY=VALUE', help='ignored')
        group.add_argument('--gpu-collect', action='store_true', help='ignored (one process)')
        group.add_argument('--tmpdir', help='ignored (one process)')


def mmcls_options(args, script, note=None):
    """The ``--cfg-options`` the mmcls flags of ``args`` amount to, after the user's own (the
    flags win, as in mmcls). Flags that mean nothing here print one line through ``note``;
    flags that cannot be honoured raise ConfigError saying what to use."""
    note = note or (lambda line: print(f"WARNING: {line}", file=sys.stderr))
    options = list(getattr(args, 'cfg_options', None) or [])
    if args.options:
        if options:
            raise ConfigError("--options and --cfg-options cannot both be given; --options is "
                              "mmcls's deprecated spelling of --cfg-options: use that alone.")
        note("--options is deprecated in favour of --cfg-options (as in mmcls); read as "
             "--cfg-options.")
        options = list(args.options)
    if args.device is not None:
        target = DEVICES.get(args.device.split(':')[0].lower())
        if target is None:
            raise ConfigError(f"--device {args.device}: unknown; use one of "
                              f"{', '.join(DEVICES)} (or --device-target CPU|GPU|Ascend).")
        options.append(f'device_target={target}')
    _check_card(args, note)
    if args.launcher != 'none':
        if script == 'train':
            raise ConfigError(f"--launcher {args.launcher}: ms_cls starts data-parallel "
                              "processes with msrun: use --msrun N (or "
                              "scripts/run_distribute_train.sh CONFIG N).")
        note(f"--launcher {args.launcher} is ignored: scripts/test.py scores every image in "
             "this one process (the same result).")
    if args.local_rank is not None:
        note("--local_rank is ignored: msrun gives each process its rank (use --msrun N).")
    if script == 'train':
        if args.deterministic:
            options.append('deterministic=True')
        if args.auto_scale_lr:
            options.append('auto_scale_lr.enable=True')
        if args.diff_seed:
            note("--diff-seed is ignored: each process already augments with draws of its own; "
                 "the data order is shared so that every image is used once an epoch.")
        if args.ipu_replicas is not None:
            raise ConfigError("--ipu-replicas: MindSpore has no IPU backend; train on CPU, GPU "
                              "or Ascend (--device-target).")
    else:
        for key, line in TEST_ONLY_NOTES.items():
            if getattr(args, key):
                note(line + '.')
    return options


def _check_card(args, note):
    """``--gpu-id`` / ``--gpu-ids`` / ``--gpus``: ms_cls runs a one-process run on the
    default card (0); another card, or several, needs the environment or msrun."""
    gpus = getattr(args, 'gpus', None)
    if gpus is not None and gpus != 1:
        raise ConfigError(f"--gpus {gpus}: one process trains on one card; use --msrun {gpus} "
                          "for data parallel over several.")
    if gpus is not None or args.gpu_ids is not None:
        note("--gpus/--gpu-ids are deprecated in mmcls in favour of --gpu-id; read as --gpu-id "
             f"{(args.gpu_ids or [0])[0]}.")
    card = (args.gpu_ids or [args.gpu_id if args.gpu_id is not None else 0])[0]
    if card != 0:
        raise ConfigError(f"--gpu-id {card}: ms_cls does not choose the card; make it the only "
                          f"visible one instead (CUDA_VISIBLE_DEVICES={card} on GPU, "
                          f"ASCEND_RT_VISIBLE_DEVICES={card} on Ascend) and leave --gpu-id out.")


def check_auto_scale_lr(cfg):
    """``--auto-scale-lr`` needs the batch the config's lr was tuned for."""
    if not (cfg.get('auto_scale_lr') or {}).get('base_batch_size'):
        raise ConfigError(f"--auto-scale-lr: {cfg.filename} has no auto_scale_lr."
                          "base_batch_size (the total batch its lr was set for); add "
                          "auto_scale_lr = dict(base_batch_size=256) to the config or "
                          "--cfg-options auto_scale_lr.base_batch_size=256.")
