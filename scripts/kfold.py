"""K-fold cross-validation of a config: stratified folds of its training folder, one run each.

    python scripts/kfold.py CONFIG --k 5 [--seed S] [--out-dir work_dirs/kfold5_NAME]
                            [--predict-test submission.csv] [--cfg-options ...]

Prints CV top-1 as mean +- std over the folds, writes <out>/oof.csv (the out-of-fold prediction
of every training image, with its fold and class scores), <out>/kfold.md/.csv/.json (the fold
table) and with --predict-test the fold ensemble's submission for data.test. Started again, it
skips finished folds and resumes an interrupted one.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--k', type=int, default=5, help='number of folds')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split')
    parser.add_argument('--out-dir', help='default: work_dirs/kfold<K>_<config name>')
    parser.add_argument('--predict-test', metavar='CSV', help="predict data.test's folder with "
                        'the ensemble of the folds and write this submission')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.tuning.kfold import run_kfold
        run_kfold(args.config, args.k, args.seed, args.out_dir, args.cfg_options,
                  args.predict_test)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
