"""Grad-CAM / Grad-CAM++ of a checkpoint on images, drawn over each image with the predicted
class and score (mmcls's tools/visualizations/vis_cam.py):

python scripts/vis_cam.py CONFIG CKPT --img PATH|--img-dir DIR --save-path out.jpg|DIR
    [--target-category K] [--target-layers backbone.layer4] [--method gradcam|gradcam++]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402
from ms_cls.config import parse_options  # noqa: E402
from ms_cls.analysis.cam import METHODS, save_cams  # noqa: E402
from ms_cls.data.datasets import list_images  # noqa: E402
from ms_cls.errors import ConfigError  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--img', help='one image file')
    source.add_argument('--img-dir', help='a folder of images (searched recursively)')
    parser.add_argument('--save-path', required=True, help='the output image (.jpg/.png) for '
                        '--img, a folder for --img-dir')
    parser.add_argument('--target-category', type=int, help='class index to explain '
                        '(default: the predicted class of each image)')
    parser.add_argument('--target-layers', help='the layer whose activations are weighted '
                        '(default: backbone.layer4 for ResNet, backbone.norm for Swin, or the deepest '
                        'stage with a 7x7 map or finer when the input is small)')
    parser.add_argument('--method', default='gradcam', choices=METHODS)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()

    def run():
        if args.img and not os.path.isfile(args.img):
            raise ConfigError(f"--img {args.img}: no such file.")
        if args.img_dir and not os.path.isdir(args.img_dir):
            raise ConfigError(f"--img-dir {args.img_dir}: no such folder.")
        images = [args.img] if args.img else [os.path.join(args.img_dir, p)
                                              for p in list_images(args.img_dir)]
        if args.img_dir:
            os.makedirs(args.save_path, exist_ok=True)
        save_cams(args.config, args.checkpoint, images, args.save_path, args.target_layers,
                  args.method, args.target_category, parse_options(args.cfg_options),
                  root=args.img_dir)
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
