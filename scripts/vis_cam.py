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
from ms_cls.analysis.cam import METHODS, vis_cam  # noqa: E402


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
        vis_cam(args.config, args.checkpoint, args.save_path, args.img, args.img_dir,
                args.target_layers, args.method, args.target_category,
                parse_options(args.cfg_options))
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
