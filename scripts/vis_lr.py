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
        from ms_cls.analysis.schedule import visualize_schedule
        cfg = config_from_args(args.config, args.cfg_options)
        print(visualize_schedule(cfg, args.dataset_size, args.ngpus, args.save_path,
                                 args.save_csv, os.path.basename(args.config)))
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
