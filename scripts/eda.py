"""Look at a data set before training on it: class balance, sizes, formats, broken files,
duplicates and leaks, Normalize mean/std. Writes report.md, summary.json and PNGs to --out-dir.

    python scripts/eda.py CONFIG|DATA_DIR --out-dir DIR [--min-images 20] [--workers N]
                          [--sample-per-class 4] [--cfg-options ...]

DATA_DIR holds train/val/test sub-folders, or is itself one split of class folders.
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
    parser.add_argument('--out-dir', required=True, help='folder for report.md and friends')
    parser.add_argument('--min-images', type=int, default=20,
                        help='flag classes with fewer images than this (default 20)')
    parser.add_argument('--workers', type=int, help='threads (default: CPU count, at most 8)')
    parser.add_argument('--sample-per-class', type=int, default=4,
                        help='images per class in samples.png (0: no grid)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.analysis.eda import analyse
        summary = analyse(args.source, args.out_dir, args.min_images, args.workers,
                          args.sample_per_class, args.cfg_options)
        print(f"{summary['images']} images, {summary['classes']} classes, "
              f"{len(summary['unreadable'])} unreadable, {summary['duplicates']['groups']} "
              f"duplicate groups in {summary['seconds']} s")
        for tip in summary['suggestions']:
            print(f"- {tip}")
        print(f"wrote {os.path.join(args.out_dir, 'report.md')}")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
