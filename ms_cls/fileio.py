"""Files written for the user are never half-written.

Everything ms_cls writes that a user keeps (checkpoints, configs, reports, result files,
submissions, ann files, plots, tables) goes to a hidden temporary name in the target's folder and
is then renamed over the target: ``os.replace`` is atomic on one file system, so a crash leaves the
old file or the new one, and the temporary file is removed whatever happens. The temporary name
keeps the target's extension, so writers that pick the format from the name (matplotlib, Pillow)
write the format the target asks for.
"""
import contextlib
import os

import numpy as np


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


def write_lines(path, lines):
    """One item per line, each ending in a newline (class lists, ann files, id lists)."""
    write_text(path, ''.join(f'{line}\n' for line in lines))


def write_csv(path, frame, **to_csv):
    """A pandas DataFrame as CSV, without the index unless ``index=True`` is passed."""
    to_csv.setdefault('index', False)
    atomic_write(path, lambda tmp: frame.to_csv(tmp, **to_csv))


def save_figure(path, fig, **savefig):
    """A matplotlib figure; the format is ``path``'s extension unless ``format`` is given."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, **savefig))


def save_npy(path, array):
    """``np.save`` through an open file: given a path not ending in .npy, np.save would add the
    extension and write another file than the one asked for."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        np.save(f, array)
