"""Curves and training time from ms_cls JSON logs (<work_dir>/<timestamp>.log.json).

    python scripts/analyze_logs.py plot_curve LOG.json [LOG2.json ...] --keys loss accuracy_top-1 lr
                                   [--legend a b] [--title T] [--out curves.png]
    python scripts/analyze_logs.py cal_train_time LOG.json [LOG2.json ...]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='one subplot per key, one line per log')
    plot.add_argument('logs', nargs='+', metavar='LOG.json')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help='train keys (loss, loss_avg, lr, time) are drawn against iterations, '
                           'val keys (accuracy_top-1, accuracy_top-5) against epochs')
    plot.add_argument('--legend', nargs='+', help='one name per log (default: work-dir names)')
    plot.add_argument('--title')
    plot.add_argument('--out', default='curves.png', help='image to write (.png, .pdf, .svg)')
    timing = sub.add_parser('cal_train_time', help='time per iteration and per epoch')
    timing.add_argument('logs', nargs='+', metavar='LOG.json')
    args = parser.parse_args()

    def run():
        from ms_cls.analysis.logs import plot_curves, train_time_lines
        from ms_cls.engine.log import load_json_log
        logs = [load_json_log(path) for path in args.logs]
        if args.task == 'plot_curve':
            for note in plot_curves(logs, args.keys, args.out, args.legend, args.title):
                print(f"NOTE: {note}")
            print(f"wrote {args.out}")
        else:
            for log in logs:
                print('\n'.join(train_time_lines(log)))
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
