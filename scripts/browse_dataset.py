"""Save a grid of what a config's pipeline really feeds the model (the built ops, run as in
training), with class names as captions.

    python scripts/browse_dataset.py CONFIG [--phase train|val|test] [-n 16]
                                     [--mode original|transformed|concat] [--out browse.png]
                                     [--cfg-options ...]
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
    parser.add_argument('--phase', default='train', choices=['train', 'val', 'test'])
    parser.add_argument('-n', type=int, default=16, help='number of images')
    parser.add_argument('--mode', default='transformed',
                        choices=['original', 'transformed', 'concat'],
                        help='transformed: Normalize undone for display; concat: both')
    parser.add_argument('--out', default='browse.png', help='PNG to write')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.data.tools import browse_dataset
        browse_dataset(config_from_args(args.config, args.cfg_options), args.phase, args.n,
                       args.mode, args.out)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
