"""Score a saved prediction file (scripts/test.py --out, or a submission CSV) against an answer
key, without a model.

    python scripts/eval_metric.py RESULT --ann GT.csv [--metrics accuracy precision recall ...]
        [--metric-options topk=1,5 average_mode=macro] [--id-column id] [--label-column label]

RESULT: a .json/.csv result file (filename + pred_label/pred_class, top-k columns, class scores)
or a submission CSV (an id column + a label column: class index, class name, or Caltech prefix).
GT.csv: an id column and a label (index) and/or class_name column, e.g. the demo's
test_answers.csv. Ids match exactly, else by file name, else by file stem.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('result', help='result .json/.csv or submission .csv')
    parser.add_argument('--ann', required=True, help='answer key CSV')
    parser.add_argument('--metrics', nargs='+', default=['accuracy'])
    parser.add_argument('--metric-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--id-column', default='id', help='id column (default: the first column '
                        'when there is no such column)')
    parser.add_argument('--label-column', default='label', help="label column (a submission with "
                        "two columns needs no name; the key may use 'class_name' instead)")
    args = parser.parse_args()

    def run():
        from ms_cls.evaluation.rescore import rescore
        rescore(args.result, args.ann, args.metrics, args.metric_options, args.id_column,
                args.label_column)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
