"""Files written for the user are never half-written.

Everything ms_cls writes that a user keeps (checkpoints, reports, result files, submissions, ann
files) goes to a hidden temporary name in the target's folder and is then renamed over the
target: ``os.replace`` is atomic on one file system, so a crash leaves the old file or the new
one, and the temporary file is removed whatever happens.
"""
import contextlib
import os


def temp_name(path):
    """The hidden temporary name next to ``path`` (it keeps the file's extension)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f'.tmp-{os.getpid()}-{name}')


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; it replaces ``path`` only if the block succeeds."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path, write):
    """``write(tmp_path)``, then rename onto ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
