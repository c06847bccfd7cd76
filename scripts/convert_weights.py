"""Convert torchvision/timm/mmcls (.pth .pt .safetensors) or MindCV (.ckpt) weights to ms_cls.

    python scripts/convert_weights.py SRC DST.ckpt --arch resnet50 [--num-classes 257] [--use-ema]

SRC is a file, an https:// URL, torchvision://NAME or mindcv://NAME. Training needs no
conversion step (configs name weights directly); this writes a .ckpt to keep or share.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    from ms_cls.models.convert import ARCHS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='.pth / .pt / .safetensors / .ckpt: a path, an https:// URL, '
                        'torchvision://NAME or mindcv://NAME')
    parser.add_argument('dst', help='output .ckpt')
    parser.add_argument('--arch', required=True, choices=ARCHS)
    parser.add_argument('--num-classes', type=int,
                        help='drop the source head when it has another number of classes')
    parser.add_argument('--use-ema', action='store_true', help="take a .ckpt's 'ema.' weights")
    args = parser.parse_args()

    def run():
        from ms_cls.models.convert import convert, save_converted
        params, meta, report = convert(args.src, args.arch, args.num_classes, args.use_ema)
        save_converted(params, args.dst, meta)
        print('\n'.join(report) + f"\nwrote {args.dst}")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
