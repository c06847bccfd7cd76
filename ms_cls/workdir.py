"""One run per work dir, and a work dir that can be one.

A training run holds an exclusive ``flock`` on ``<work_dir>/.lock`` from just after its plan is
built to its end, before it reads any image: a second run into the same work dir (a new one or
``--resume auto``) is refused at once with the holder's pid, host and start time, which the
holder writes into the file. The kernel releases a ``flock`` when its process ends, however it
ends (``kill -9``, a crash, a power cut): a lock file left by a dead run is not held, so the next
run takes it over (and says so) instead of being blocked. The holder removes the file at its end.

Only rank 0 of a data-parallel run locks: the ranks of one launch share the work dir.
"""
import contextlib
import fcntl
import json
import os
import socket
import sys
import time

from .errors import ConfigError, UserError

LOCK_FILE = '.lock'


class WorkDirInUse(UserError):
    """Another live process holds the work dir's lock."""


def check_work_dir(work_dir):
    """A work dir that is a file, or lies under one, cannot be made: say so before anything is
    built or read."""
    path = os.path.abspath(work_dir)
    while True:
        if os.path.lexists(path):
            if os.path.isdir(path):
                return
            what = ("is a file" if path == os.path.abspath(work_dir)
                    else f"lies under {path}, which is a file")
            raise ConfigError(f"work dir {work_dir} {what}, not a folder; give --work-dir a new "
                              "or existing folder.")
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def holder_line(text):
    """'pid N on HOST, started TIME (COMMAND)' from a lock file's text."""
    try:
        holder = json.loads(text)
        return (f"pid {holder['pid']} on {holder['host']}, started {holder['start']} "
                f"({holder['command']})")
    except (ValueError, KeyError, TypeError):
        return "a process that is starting"


def _in_use(work_dir, text):
    return WorkDirInUse(
        f"{work_dir} is in use by another run: {holder_line(text)}. Wait for it to end or stop "
        "it, or give another --work-dir (a run that has ended, even by kill -9, releases the "
        f"lock {os.path.join(work_dir, LOCK_FILE)} by itself).")


def _read(fd):
    return os.pread(fd, 1 << 16, 0).decode('utf-8', 'replace')


def _made_folders(path):
    """The folders ``os.makedirs(path)`` would make, deepest first."""
    made = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        made.append(path)
        path = os.path.dirname(path)
    return made


def _acquire(path):
    """-> an fd holding ``path``'s flock, or raise WorkDirInUse. A lock file its holder removed
    between our open and our flock is not the lock any more: open it again."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = _read(fd)
            os.close(fd)
            raise _in_use(os.path.dirname(path), text) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def hold_work_dir(work_dir, cluster):
    """Hold ``work_dir``'s lock for the block (rank 0 only); yields a note for the run log when
    a dead run's lock was taken over, else None. Folders made here for the lock are removed
    again if the run leaves them empty (a run that failed its checks writes nothing)."""
    if not cluster.main:
        yield None
        return
    check_work_dir(work_dir)
    made = _made_folders(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, LOCK_FILE)
    fd = None
    try:
        fd = _acquire(path)
        left = _read(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            'pid': os.getpid(), 'host': socket.gethostname(),
            'start': time.strftime('%Y-%m-%d %H:%M:%S'),
            'command': ' '.join(sys.argv) or 'python'}).encode(), 0)
        yield (f"took over the lock of a run that no longer runs: {holder_line(left)}"
               if left else None)
    finally:
        if fd is not None:
            os.remove(path)    # still held: a process waiting on this file opens it again
            os.close(fd)
        for folder in made:
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def check_free(work_dir):
    """Raise WorkDirInUse if a run holds ``work_dir`` now (a launcher's early check: the run it
    starts takes the lock itself). Writes nothing."""
    path = os.path.join(work_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(work_dir, _read(fd)) from None
    finally:
        os.close(fd)
