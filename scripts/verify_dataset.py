"""Decode every image of a config's train/val/test sets (or of a data folder) and list the broken
ones (printed, or written to --out-path); exit code 1 when there are any, so it can gate CI.

    python scripts/verify_dataset.py CONFIG|DATA_DIR [--out-path broken.txt] [--workers 8]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', metavar='CONFIG|DATA_DIR')
    parser.add_argument('--out-path',
                        help='write the list of broken files there, "path<TAB>reason" per line '
                        '(empty when all decode); without it they are printed in that format')
    parser.add_argument('--workers', type=int, default=8, help='decoding threads')
    args = parser.parse_args()
    broken = []

    def run():
        from ms_cls.data.tools import verify_dataset
        broken.extend(verify_dataset(args.source, args.out_path, args.workers))
    return run_cli(run) or int(bool(broken))


if __name__ == '__main__':
    sys.exit(main())
