"""Draw the built-in 10-class demo image set (Caltech-256 layout) into data/demo."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/demo', help='output folder (default: data/demo)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing folder')
    args = parser.parse_args()

    def run():
        from ms_cls.data.demo import make_demo_data
        counts = make_demo_data(args.out, size=args.size, seed=args.seed,
                                overwrite=args.overwrite)
        print(f"Demo data in {args.out}: " + ', '.join(f'{k} {v}' for k, v in counts.items())
              + f" images; test answer key: {os.path.join(args.out, 'test_answers.csv')}")
    return run_cli(run)


if __name__ == '__main__':
    sys.exit(main())
