"""Predict every image under a folder and write a leaderboard CSV (one row per image, sorted).

    python scripts/predict.py CONFIG CKPT [CKPT ...] [--img-dir DIR] [--out submission.csv]
    python scripts/predict.py CKPT [CKPT ...] --configs CFG [CFG ...]   (one config per CKPT)

Several checkpoints are an ensemble (softmax averaged, --weights to weigh them). --img-dir
defaults to the (first) config's data.test.data_prefix. --topk K adds LABEL_1..LABEL_K columns,
best first, next to the top-1 LABEL column. An unreadable image stops the run before anything is
predicted; --skip-unreadable leaves such images out of the CSV and lists them in
<out>.unreadable.txt instead. --pseudo-labels pl.txt [--threshold 0.9] also writes the confident
predictions as an ann file, to train on with a list under data.train. An existing --out is
kept unless --overwrite is given.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     usage='%(prog)s CONFIG CKPT [CKPT ...] [options]',
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('files', nargs='+', metavar='CONFIG CKPT',
                        help='a config then checkpoints (only checkpoints with --configs)')
    parser.add_argument('--configs', nargs='+', metavar='CFG', help='one config per checkpoint')
    parser.add_argument('--img-dir', help='folder of test images (flat or nested)')
    parser.add_argument('--out', default='submission.csv', help='CSV to write')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    parser.add_argument('--weights', nargs='+', type=float, help='one weight per checkpoint')
    parser.add_argument('--tta', nargs='+', default=[], metavar='MODE', help='flip, multi-scale')
    parser.add_argument('--columns', default='id,label', help='names of the id and label columns')
    parser.add_argument('--id-format', default='name',
                        help="name ('0001.jpg'), stem ('0001') or path ('sub/0001.jpg')")
    parser.add_argument('--label-format', default='index',
                        help="index (3), name ('004.star') or prefix (4, from '004.star')")
    parser.add_argument('--topk', type=int, default=1, help='also write the K best labels')
    parser.add_argument('--probs', help='also save the probabilities (.npy, + .ids/.classes.txt)')
    parser.add_argument('--skip-unreadable', action='store_true',
                        help='leave unreadable images out of the CSV instead of stopping')
    parser.add_argument('--pseudo-labels', metavar='ANN.txt', help='also write the confident '
                        'predictions as an ann file (for a list under data.train)')
    parser.add_argument('--threshold', type=float, default=0.9,
                        help='least top probability of a pseudo-label (default 0.9)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.evaluation.submission import predict_submission, split_model_args
        configs, checkpoints = split_model_args(args.files, args.configs)
        predict_submission(configs, checkpoints, args.out, args.img_dir, args.batch_size,
                           args.workers, args.tta, args.weights, args.cfg_options, args.columns,
                           args.id_format, args.label_format, args.topk, args.probs,
                           args.skip_unreadable, pseudo_labels=args.pseudo_labels,
                           threshold=args.threshold, overwrite=args.overwrite)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
