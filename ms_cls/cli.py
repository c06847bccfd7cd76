"""What every command-line entry point shares: config loading and error reporting.

Errors that are the user's to fix (a bad config key, a missing folder, a diverged run) are
printed as one clear message with exit code 1 instead of a traceback.
"""
import sys

from .config import Config
from .errors import UserError


def config_from_args(path, cfg_options=(), **overrides):
    """Config file + ``--cfg-options`` + explicit command-line flags (those not None); a
    misspelt top-level name stops every command (``config.check_top_level_names``)."""
    from .config import check_top_level_names, parse_options
    options = parse_options(cfg_options)
    options.update({k: v for k, v in overrides.items() if v is not None})
    cfg = Config.fromfile(path, options)
    check_top_level_names(cfg)
    return cfg


def run_cli(fn):
    """Run ``fn``; user errors -> 'ERROR: ...' on stderr and exit code 1."""
    try:
        fn()
    except UserError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return getattr(err, 'exit_code', 1)   # an interrupted run: 128 + the signal
    return 0
