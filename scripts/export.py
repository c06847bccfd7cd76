"""Export a checkpoint to MINDIR (or ONNX) for serving, with a JSON sidecar for preprocessing.

    python scripts/export.py CONFIG CKPT [--format MINDIR|ONNX] [--shape 1 3 224 224]
                             [--out PATH] [--softmax] [--cfg-options ...]

Writes PATH (default: next to CKPT with the format's extension) and PATH.json (class names,
input shape, the test pipeline's Resize/CenterCrop/Normalize), then runs the exported file on a
random input and prints how far its outputs are from the network's.
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
    parser.add_argument('checkpoint')
    parser.add_argument('--format', default='MINDIR', help='MINDIR or ONNX')
    parser.add_argument('--shape', type=int, nargs='+', default=[1, 3, 224, 224],
                        help='input N C H W (fixed in the exported graph)')
    parser.add_argument('--out', help="output file (the format's extension is appended if missing)")
    parser.add_argument('--softmax', action='store_true',
                        help='output probabilities instead of logits')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        from ms_cls.evaluation.export import export_model
        cfg = config_from_args(args.config, args.cfg_options)
        result = export_model(cfg, args.checkpoint, args.format, args.shape, args.out,
                              args.softmax)
        print(f"wrote {result.path} and {result.sidecar}")
        for note in result.notes:
            print(f"note: {note}")
        print(result.check)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
