"""Plot a config's learning rate (and momentum) per iteration without training.

    python scripts/vis_lr.py CONFIG --dataset-size N [--ngpus K] [--save-path lr.png]
                             [--save-csv lr.csv] [--cfg-options ...]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import config_from_args, run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--dataset-size', type=int, required=True,
                        help='number of training images')
    parser.add_argument('--ngpus', type=int, default=1)
    parser.add_argument('--save-path', default='lr.png', help='PNG to write')
    parser.add_argument('--save-csv', help='also write iter,lr,momentum as CSV')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.analysis.schedule import plot_schedule, schedule_frame, steps_per_epoch
        cfg = config_from_args(args.config, args.cfg_options)
        frame = schedule_frame(cfg, args.dataset_size, args.ngpus)
        steps = steps_per_epoch(cfg, args.dataset_size, args.ngpus)
        plot_schedule(frame, args.save_path, os.path.basename(args.config), steps)
        if args.save_csv:
            frame.to_csv(args.save_csv, index=False, float_format='%.8g')
        last = len(frame) - 1
        marks = sorted({0, steps, last // 2, last})
        print(f"{len(frame)} iterations ({steps} per epoch x {cfg.runner.max_epochs} epochs); "
              + ', '.join(f"iter {i}: lr {frame.lr[i]:.6g}" for i in marks)
              + f"\nwrote {args.save_path}" + (f" and {args.save_csv}" if args.save_csv else ''))
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
