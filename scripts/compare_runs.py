"""One table of many training runs, best first, from their work dirs (config + JSON log).

    python scripts/compare_runs.py work_dirs/* [--out runs.md] [--csv runs.csv]
                                   [--sort accuracy_top-1] [--ascending]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument('--out', help='Markdown file to write')
    parser.add_argument('--csv', help='CSV file to write')
    parser.add_argument('--sort', default='accuracy_top-1', help='column to sort by')
    parser.add_argument('--ascending', action='store_true', help='smallest first')
    args = parser.parse_args()

    def run():
        from ms_cls.analysis.runs import compare_runs, markdown_table, write_comparison
        frame, notes = compare_runs(args.work_dirs, args.sort, args.ascending)
        for note in notes:
            print(f"NOTE: {note}")
        print(markdown_table(frame))
        write_comparison(frame, notes, args.out, args.csv)
        written = [p for p in (args.out, args.csv) if p]
        if written:
            print(f"wrote {' and '.join(written)}")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
