"""Average checkpoints of one run into one (SWA-style), or make a greedy soup of them.

    python scripts/average_ckpts.py W/epoch_*.ckpt --out avg.ckpt
    python scripts/average_ckpts.py W/epoch_*.ckpt --out avg.ckpt --config W/CONFIG.py --update-bn
    python scripts/average_ckpts.py W/epoch_*.ckpt --out soup.ckpt --config W/CONFIG.py --soup

The result is an ordinary ms_cls checkpoint (class names kept) for test.py, predict.py or
load_from. With --config every checkpoint and the result are scored on data.val; --update-bn
recomputes the BatchNorm statistics over one pass of the training images; --soup keeps a
checkpoint (best first) only when it improves the average's val top-1.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+', metavar='CKPT')
    parser.add_argument('--out', required=True, help='the checkpoint to write (.ckpt)')
    parser.add_argument('--config', help="the run's config (the .py in its work dir)")
    parser.add_argument('--update-bn', action='store_true',
                        help='recompute BatchNorm statistics on the training images')
    parser.add_argument('--soup', action='store_true', help='greedy soup instead of the uniform '
                        'average of all')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.config import parse_options
        from ms_cls.tuning.averaging import average_checkpoints
        average_checkpoints(args.checkpoints, args.out, args.config, args.update_bn, args.soup,
                            parse_options(args.cfg_options))
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
