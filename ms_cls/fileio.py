"""Files written for the user are never half-written.

Everything ms_cls writes that a user keeps (checkpoints, configs, reports, result files,
submissions, ann files, plots, tables) goes to a hidden temporary name in the target's folder and
is then renamed over the target: ``os.replace`` is atomic on one file system, so a crash leaves the
old file or the new one, and the temporary file is removed whatever happens. The temporary name
keeps the target's extension, so writers that pick the format from the name (matplotlib, Pillow)
write the format the target asks for.

The target gets the mode any new file of the user gets (0666 less the umask): some writers set
their own (MindSpore's checkpoint and MINDIR writers leave ``-r--------``), and the rename would
carry that over.

A write that fails because the disk is full (or read-only) raises SaveFailed naming the file and
the free space instead of a raw OSError; a killed process leaves its temporary file, which
``stale_temp_files`` finds by the process id in its name.
"""
import contextlib
import errno
import os
import re
import shutil

import numpy as np

from .errors import SaveFailed

#: Errors only writing can cause: a disk without room or without write access.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
TEMP_RE = re.compile(r'^\.tmp-(\d+)-')


def temp_name(path):
    """The hidden temporary name next to ``path`` (it keeps the file's extension)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f'.tmp-{os.getpid()}-{name}')


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; it replaces ``path`` only if the block succeeds. A full or
    read-only disk raises SaveFailed once the temporary file is gone (so the free space it
    reports is what is really there)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temp_name(path)
    failed = None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        failed = err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if failed is not None:
        raise SaveFailed(save_failed_message(path, failed)) from None


def current_umask():
    """The process's umask, read without changing it (Linux reports it in /proc; elsewhere it
    is set and put back at once)."""
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_failed_message(path, err):
    """'Cannot write PATH: reason (N MB free in FOLDER). ...' with what is kept and what to do."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = f"{shutil.disk_usage(folder).free / 2 ** 20:.1f} MB free in {folder}"
    except OSError:
        free = f"free space in {folder} unknown"
    kept = (f"the previous {os.path.basename(path)} ({os.path.getsize(path) / 2 ** 20:.1f} MB) "
            "is kept unchanged" if os.path.exists(path) else "nothing was written")
    return (f"Cannot write {path}: {err.strerror or err} ({free}); {kept}. Free space on that "
            "disk (old work dirs, checkpoints) or write to another folder (--work-dir for "
            "training), then run again.")


def stale_temp_files(folder):
    """Temporary files (``temp_name``'s) in ``folder`` whose writing process no longer runs:
    what a killed process left behind. A live process's files are never listed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(name for name in names
                  if TEMP_RE.match(name) and not _alive(int(TEMP_RE.match(name).group(1))))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


def atomic_write(path, write):
    """``write(tmp_path)``, then rename onto ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)


def write_bytes(path, data):
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)


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
