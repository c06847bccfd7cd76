"""Write K augmented copies of every image, made by the config's pipeline transforms up to
Normalize, into DIR/<class>/<stem>_aug{k}.jpg with DIR/<phase>.txt and DIR/classes.txt.

    python scripts/offline_augment.py CONFIG --copies K --out-dir DIR [--phase train] [--seed 0]
                                      [--include-originals] [--force] [--cfg-options ...]
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
    parser.add_argument('--copies', type=int, required=True, help='augmented copies per image')
    parser.add_argument('--out-dir', required=True, help='a folder outside the source data')
    parser.add_argument('--phase', default='train', choices=['train', 'val', 'test'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--include-originals', action='store_true',
                        help='copy the source images into DIR too and list them in the ann file')
    parser.add_argument('--force', action='store_true', help='write into a non-empty DIR')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.data.tools import offline_augment
        offline_augment(config_from_args(args.config, args.cfg_options), args.copies,
                        args.out_dir, args.phase, args.seed, args.include_originals, args.force)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
