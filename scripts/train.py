"""Train a classifier from a config file: python scripts/train.py CONFIG [--work-dir DIR] ..."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import (add_mmcls_flags, check_auto_scale_lr, config_from_args,  # noqa: E402
                        mmcls_options, run_cli)
from ms_cls.config import run_work_dir  # noqa: E402
from ms_cls.distributed import launched_by_msrun  # noqa: E402
from ms_cls.launch import launch  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file, e.g. configs/resnet/resnet18_1xb64_demo-32px.py')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--load-from', help='whole-model weights that start the run: a path, an '
                        'https:// URL, torchvision://NAME or mindcv://NAME')
    parser.add_argument('--resume', choices=['auto'], help="'auto': continue the run of the "
                        'work dir from its newest checkpoint (a new run if it has none)')
    parser.add_argument('--resume-from', metavar='CKPT', help='continue the run from this '
                        'checkpoint (weights, optimizer state, schedule, EMA, data order)')
    parser.add_argument('--device-target', choices=['auto', 'Ascend', 'GPU', 'CPU'])
    parser.add_argument('--seed', type=int)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys, e.g. runner.max_epochs=3 '
                        'data.samples_per_gpu=32 data.train.pipeline.1.flip_prob=0.0')
    parser.add_argument('--msrun', type=int, metavar='N', help='data parallel: run N worker '
                        'processes on this machine with msrun (what run_distribute_train.sh '
                        'does; NNODES/NODE_RANK/MASTER_ADDR/MASTER_PORT for several machines)')
    parser.add_argument('--no-report', action='store_true', help='do not write '
                        'WORK_DIR/report.html at the end (scripts/report.py writes it later)')
    add_mmcls_flags(parser, 'train')
    args = parser.parse_args()

    def run():
        cfg = config_from_args(args.config, mmcls_options(args, 'train'),
                               load_from=args.load_from,
                               resume_from=args.resume_from or args.resume,
                               device_target=args.device_target, seed=args.seed)
        if args.auto_scale_lr:
            check_auto_scale_lr(cfg)
        if args.msrun and not launched_by_msrun():
            launch(args.msrun, __file__, sys.argv[1:], run_work_dir(cfg, args.work_dir))
            return
        from ms_cls.engine.trainer import train
        summary = train(cfg, args.work_dir, validate=not args.no_validate)
        if not args.no_report:
            from ms_cls.analysis.report import report_after_training
            report_after_training(summary)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
