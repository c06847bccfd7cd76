"""Stratified train/val split (or k folds) of a class-folder tree into ann files; no image is
copied. Prints the counts and the config lines that use the split.

    python scripts/split_dataset.py DATA_DIR [--val-ratio 0.2] [--seed 0] [--out-dir DIR]
                                    [--k-fold K] [--force]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_dir', help='one sub-folder per class, e.g. data/caltech256/train')
    parser.add_argument('--val-ratio', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-dir', help='where the ann files go (default: DATA_DIR_split)')
    parser.add_argument('--k-fold', type=int, help='write fold{i}/train.txt, fold{i}/val.txt')
    parser.add_argument('--force', action='store_true', help='replace existing split files')
    args = parser.parse_args()

    def run():
        from ms_cls.data.tools import split_dataset
        split_dataset(args.data_dir, args.val_ratio, args.seed, args.out_dir, args.k_fold,
                      args.force)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
