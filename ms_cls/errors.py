"""The errors that are the user's to fix. The command line prints them as one ``ERROR:`` line
(exit code 1) instead of a traceback; anything else is a bug in ms_cls and keeps its traceback."""
import difflib


def did_you_mean(name, candidates):
    """" Did you mean 'x'?" for the closest of ``candidates``, or ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ''


class UserError(Exception):
    """Base class: the message names the file, key or value and says how to fix it."""


class Interrupted(UserError):
    """A run (or a sweep of runs) stopped by a signal after a recovery checkpoint was written;
    ``exit_code`` is 128 + the signal, as a shell reports it."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


class ConfigError(UserError, ValueError):
    """A config value or key (or a command-line option) that ms_cls cannot use."""


class UnreadableCheckpoint(ConfigError):
    """A checkpoint file that exists but cannot be read (empty, truncated, damaged);
    ``reason`` says which, so ``--resume auto`` can name it and use another."""

    def __init__(self, path, reason):
        super().__init__(f"Checkpoint {path} {reason}.")
        self.path, self.reason = path, reason


class ImageLoadError(UserError, RuntimeError):
    """An image file that Pillow cannot decode."""


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN/Inf; the message says at which step and what to try."""


class ExportCheckFailed(UserError):
    """An exported model file does not reproduce the network it was exported from."""


class SubmissionError(UserError):
    """A submission that does not match the test folder (missing, extra or repeated ids)."""


class SaveFailed(UserError, OSError):
    """A file that could not be written (disk full, quota, read-only disk); the message names the
    file and the free space, and the file on disk is as it was before."""


class OutputExists(UserError, FileExistsError):
    """A file or folder the command would overwrite; the message says which flag allows it."""


class DownloadFailed(UserError):
    """Pretrained weights that could not be fetched or verified; the message names the URL, the
    reason, where the cache expects the file and how to put it there by hand."""
