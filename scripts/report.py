"""One self-contained HTML report of a run, or of several runs (a sweep):

python scripts/report.py WORK_DIR [--results results.json] [--eda EDA_DIR] [--out report.html]
python scripts/report.py WORK_DIR1 WORK_DIR2 ... --out sweep.html [--eda EDA_DIR]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402
from ms_cls.analysis.report import write_report  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument('--results', help='result file of scripts/test.py --out (default: the '
                        "work dir's val_results.json, made from best.ckpt if missing)")
    parser.add_argument('--eda', metavar='EDA_DIR', help='--out-dir of scripts/eda.py')
    parser.add_argument('--out', help='the HTML file (default: WORK_DIR/report.html for one run)')
    parser.add_argument('--no-cams', action='store_true', help='leave the Grad-CAMs out of the '
                        'mistakes gallery (no model is loaded for them)')
    args = parser.parse_args()

    def run():
        path = write_report(args.work_dirs, args.out, args.results, args.eda,
                            cams=not args.no_cams)
        print(f"report: {path}")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
