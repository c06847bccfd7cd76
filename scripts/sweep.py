"""Train one run per variant of a config and rank them (one work dir per variant).

    python scripts/sweep.py BASE_CONFIG --grid optimizer.lr=0.05,0.1,0.2 data.samples_per_gpu=32,64
                            [--cfg-options ...] [--out-dir work_dirs/sweep_NAME]
    python scripts/sweep.py BASE_CONFIG --variants configs/caltech256/seed_experiments_variants.py
    python scripts/sweep.py BASE_CONFIG --search optimizer.lr=float:0.005:0.2:log \
                            data.samples_per_gpu=choice:32,64 --trials 12  (pip install optuna)
    ... --dry-run                        list the variants, iterations and a time estimate
    ... --epochs 5 --top 2 [--rerun]     screen every variant for 5 epochs, then train the best 2
                                         in full (continued in their work dir, or re-run)

Started again with the same arguments, finished variants are skipped and an interrupted one is
resumed. After every run <out>/sweep.md (the ranked table), sweep.csv, sweep.json and sweep.png
(best val top-1 against each swept key) are rewritten.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the base config')
    parser.add_argument('--grid', nargs='+', metavar='KEY=V1,V2', help='values to combine')
    parser.add_argument('--variants', metavar='FILE.py',
                        help='a file with variants = [dict(name=..., options={...}), ...]')
    parser.add_argument('--search', nargs='+', metavar='KEY=SPEC', help='Optuna search space: '
                        'float:LOW:HIGH[:log], int:LOW:HIGH[:log] or choice:A,B,C (optional '
                        'dependency; weak runs are pruned from their per-epoch val top-1)')
    parser.add_argument('--trials', type=int, default=10, help='trials of --search in all')
    parser.add_argument('--seed', type=int, default=0, help="seed of --search's sampler")
    parser.add_argument('--out-dir', help='default: work_dirs/sweep_<config or variants name>')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='applied to every variant (before its own options)')
    parser.add_argument('--dry-run', action='store_true', help='list the runs, train nothing')
    parser.add_argument('--img-per-sec', type=float, help='training speed for the --dry-run '
                        'estimate (default: measured from the runs already in --out-dir)')
    parser.add_argument('--epochs', type=int, help='screening: train every variant N epochs')
    parser.add_argument('--top', type=int, help='after screening, train the best K in full')
    parser.add_argument('--rerun', action='store_true', help='the best K start again in '
                        '<out>/full instead of continuing their screening run')
    args = parser.parse_args()

    def run():
        from ms_cls.tuning.sweep import build_sweep, dry_run_table
        sweep = build_sweep(args.config, args.grid, args.variants, args.out_dir, args.cfg_options,
                            args.epochs, args.top, args.rerun, args.search)
        if args.search:
            from ms_cls.tuning.search import parse_search, run_search
            if args.dry_run:
                print(f"search: {args.trials} trials over {', '.join(parse_search(args.search))}"
                      " (the variants are chosen while it runs)")
                return
            run_search(sweep, parse_search(args.search), args.trials, args.seed)
            print(sweep.report())
            return
        if args.dry_run:
            print(dry_run_table(*sweep.dry_run(args.img_per_sec)))
            if args.top:
                print(f"then the best {args.top} in full ({'re-run' if args.rerun else 'continued'}"
                      f", {sweep.full_epochs()} epochs each)")
            return
        sweep.run()
        print(sweep.report())
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
