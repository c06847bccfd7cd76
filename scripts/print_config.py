"""Print the fully merged config (bases and --cfg-options applied) as a Python config file."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ms_cls.cli import config_from_args, run_cli  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = parser.parse_args()
    return run_cli(lambda: print(config_from_args(args.config, args.cfg_options).pretty_text,
                                 end=''))


if __name__ == '__main__':
    sys.exit(main())
