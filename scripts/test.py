"""Evaluate a checkpoint on a labelled split: metrics, per-class table, result files.

    python scripts/test.py CONFIG CKPT [CKPT ...] [--configs C1 C2 ...] [--weights W1 W2 ...]
        [--split val|test] [--metrics accuracy precision ...]
        [--metric-options topk=1,5 average_mode=macro] [--out results.json|.csv]
        [--out-items pred_label pred_class pred_score gt_label topk class_scores]
        [--show-dir DIR] [--confusion-matrix cm.png] [--tta flip multi-scale] [--cfg-options ...]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import add_mmcls_flags, config_from_args, mmcls_options, run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoints', nargs='+', metavar='CKPT',
                        help='several: an ensemble (mean of their probabilities)')
    parser.add_argument('--configs', nargs='+', help='one config per checkpoint (ensembles of '
                        'different models); default: CONFIG for all')
    parser.add_argument('--weights', nargs='+', type=float, help='ensemble weights')
    parser.add_argument('--split', default='val', choices=['val', 'test', 'train'])
    parser.add_argument('--metrics', nargs='+', default=['accuracy'])
    parser.add_argument('--metric-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--out', help='per-image results (.json or .csv)')
    parser.add_argument('--out-items', nargs='+', help='columns of --out (default: all but '
                        'class_scores)')
    parser.add_argument('--show-dir', help='draw each image with its prediction (mistakes first)')
    parser.add_argument('--show-limit', type=int, help='draw at most this many images')
    parser.add_argument('--confusion-matrix', help='PNG of the confusion matrix')
    parser.add_argument('--table-rows', type=int, default=20, help='per-class rows printed')
    parser.add_argument('--tta', nargs='+', default=[])
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    add_mmcls_flags(parser, 'test')
    args = parser.parse_args()

    def run():
        from ms_cls.evaluation.evaluate import evaluate_models
        from ms_cls.evaluation.metrics import format_metrics, parse_metric_options
        from ms_cls.evaluation.results import (class_table_text, prediction_frame,
                                               save_confusion_matrix, save_show_dir,
                                               write_results)
        options = mmcls_options(args, 'test')
        configs = [config_from_args(c, options) for c in (args.configs or [args.config])]
        result = evaluate_models(configs, args.checkpoints, args.split, args.metrics,
                                 parse_metric_options(args.metric_options), tta=args.tta,
                                 batch_size=args.batch_size, weights=args.weights)
        classes = result.model.classes
        left_out = f" ({len(result.broken)} broken left out)" if result.broken else ''
        tta = f", TTA {'+'.join(args.tta)}" if args.tta else ''
        print(f"{args.split}: {len(result.dataset)} images scored{left_out}, "
              f"{len(classes)} classes, checkpoint {', '.join(args.checkpoints)}{tta}")
        print(format_metrics(result.metrics))
        print(f"per class, worst recall first:\n"
              f"{class_table_text(result.class_table(), args.table_rows)}")
        if args.out or args.show_dir:
            frame = prediction_frame(result.dataset, result.probs, classes)
        if args.out:
            write_results(args.out, frame, result.probs, result.metrics, args.out_items)
            print(f"wrote {args.out}")
        if args.confusion_matrix:
            save_confusion_matrix(result.probs, result.labels, classes, args.confusion_matrix)
            print(f"wrote {args.confusion_matrix}")
        if args.show_dir:
            counts = save_show_dir(frame, result.dataset, args.show_dir, args.show_limit)
            print(f"wrote {args.show_dir}: " + ', '.join(f"{k} {v}" for k, v in counts.items()))
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
