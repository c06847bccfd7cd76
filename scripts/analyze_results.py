"""Contact sheets of a per-image result file (scripts/test.py --out results.json): for each
class its most confident right and most confident wrong images, and an index.md, worst class first.

    python scripts/analyze_results.py RESULT.json --out-dir DIR [--topk 5] [--data-prefix P]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('result', help='.json (or .csv) written by scripts/test.py --out')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--topk', type=int, default=5, help='images per row')
    parser.add_argument('--data-prefix', help='folder the filenames are relative to (needed '
                        'unless the result file records it), e.g. data/caltech256/val')
    args = parser.parse_args()

    def run():
        from ms_cls.analysis.runs import analyze_results
        index, classes = analyze_results(args.result, args.out_dir, args.topk, args.data_prefix)
        print(f"wrote {classes} class sheets under {os.path.join(args.out_dir, 'classes')} "
              f"and {index}")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
