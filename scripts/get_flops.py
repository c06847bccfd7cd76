"""Print a model's parameter count and FLOPs (multiply-adds) at an input size.

    python scripts/get_flops.py CONFIG [--shape 224 224] [--cfg-options ...]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import config_from_args, run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='input height and width (one number: square)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.models.builder import build_model
        from ms_cls.models.summary import summarize
        from ms_cls.runtime import init_context
        shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape[:2])
        cfg = config_from_args(args.config, args.cfg_options)
        init_context(cfg.get('device_target', 'auto'), 'pynative')
        stats = summarize(build_model(cfg.model), shape)
        print(f"Input shape: (3, {shape[0]}, {shape[1]})\n"
              f"Flops: {stats['macs'] / 1e9:.3f} GFLOPs (multiply-adds)\n"
              f"Params: {stats['params'] / 1e6:.3f} M "
              f"(trainable {stats['trainable_params'] / 1e6:.3f} M)")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
