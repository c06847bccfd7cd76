"""One run per work dir (a lock taken before any image is read; a dead run's lock taken over),
and a --work-dir that cannot be a folder stopped in one line before anything is built."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ms_cls.distributed import Cluster
from ms_cls.engine.trainer import train
from ms_cls.errors import ConfigError
from ms_cls.launch import launch
from ms_cls.workdir import LOCK_FILE, WorkDirInUse, hold_work_dir

from conftest import ROOT, tiny_cfg
from test_resume import tiny_args


def run_script(args):
    """-> (exit code, stdout + stderr) of a finished script run."""
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def assert_one_error_line(code, out, *words):
    errors = [line for line in out.splitlines() if line.startswith('ERROR: ')]
    assert code == 1 and len(errors) == 1 and 'Traceback' not in out, out[-3000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def listing(folder):
    return {name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in os.listdir(folder)}


def test_two_runs_into_one_work_dir_and_a_killed_runs_lock(tiny_demo, tmp_path):
    """A second train.py into a work dir a live run holds, new or --resume auto, is refused
    before it reads an image and writes nothing; once the holder is killed (-9) its lock file
    stays but blocks nothing: the next start takes it over and trains."""
    work = str(tmp_path / 'wd')
    args = tiny_args(tiny_demo, work)
    slow = [a if a != 'runner.max_epochs=2' else 'runner.max_epochs=100' for a in args]
    log_path = tmp_path / 'first.txt'
    with open(log_path, 'w') as out:
        first = subprocess.Popen(slow, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, PYTHONUNBUFFERED='1'))
    seconds = []
    try:
        deadline = time.time() + 300
        while 'Epoch:[  1/100], step:[    2/    5]' not in log_path.read_text():
            assert first.poll() is None, log_path.read_text()[-3000:]
            assert time.time() < deadline, 'the first run never reached epoch 2'
            time.sleep(0.1)
        seconds = [subprocess.Popen(a, cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
                   for a in (args, args + ['--resume', 'auto'])]
        outs = [(p.communicate(timeout=300)[0], p.returncode) for p in seconds]
        assert first.poll() is None, 'the first run ended before the second ones were refused'
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        for process in [first] + seconds:
            if process.poll() is None:
                process.kill()
                process.wait()
    for out, code in outs:
        assert_one_error_line(code, out, f'pid {first.pid}', 'started', '--work-dir')
        assert 'train: ' not in out and 'decode' not in out.lower()   # no image was read
    assert len([n for n in os.listdir(work) if n.endswith('.log')]) == 1   # the first's only
    with open(os.path.join(work, LOCK_FILE)) as f:
        assert json.load(f)['pid'] == first.pid        # left by the killed run

    summary = train(tiny_cfg(tiny_demo, resume_from='auto', **{'runner.max_epochs': 3}), work)
    assert summary['epochs'] == 3
    (text,) = [n for n in os.listdir(work) if n.endswith('.log')]
    with open(os.path.join(work, text)) as f:
        assert f'took over the lock of a run that no longer runs: pid {first.pid} ' in f.read()
    assert not os.path.exists(os.path.join(work, LOCK_FILE))      # removed at the end


def test_resume_auto_into_a_held_work_dir_is_refused_before_the_data(tiny_demo, tmp_path):
    """The lock comes before the data: with a data folder missing the held work dir is what
    is reported; released, the data mistake is, and the folders made for the lock go again."""
    work = str(tmp_path / 'runs' / 'wd')
    missing = str(tmp_path / 'no_data')
    args = tiny_args(missing, work, '--resume', 'auto')
    with hold_work_dir(work, Cluster()):
        before = listing(work)
        code, out = run_script(args)
        assert_one_error_line(code, out, f'pid {os.getpid()}', 'in use by another run')
        assert listing(work) == before == {LOCK_FILE: before[LOCK_FILE]}
        with pytest.raises(WorkDirInUse):       # a second lock in one process is refused too
            train(tiny_cfg(tiny_demo), work)
    assert not os.path.exists(tmp_path / 'runs')
    with pytest.raises(ConfigError, match='no_data'):
        train(tiny_cfg(missing, resume_from='auto'), work)
    assert not os.path.exists(tmp_path / 'runs')


def test_a_work_dir_that_is_a_file_or_under_one_is_one_line(tiny_demo, tmp_path):
    """Before the model is built (a bad depth would be reported otherwise) and before the
    data; the file is untouched, nothing else appears; msrun is not started either."""
    taken = tmp_path / 'taken'
    taken.write_text('mine')
    code, out = run_script(tiny_args(tiny_demo, str(taken)))
    assert_one_error_line(code, out, str(taken), 'is a file', '--work-dir')
    bad_model = {'model.backbone.depth': 7}
    with pytest.raises(ConfigError, match=f'lies under {taken}, which is a file'):
        train(tiny_cfg(str(tmp_path / 'no_data'), **bad_model), str(taken / 'wd'))
    with pytest.raises(ConfigError, match='is a file'):
        launch(2, os.path.join(ROOT, 'scripts', 'train.py'), [], str(taken))
    assert taken.read_text() == 'mine' and os.listdir(tmp_path) == ['taken']


def test_msrun_into_a_held_work_dir_starts_nothing(tmp_path):
    work = str(tmp_path / 'wd')
    with hold_work_dir(work, Cluster()):
        with pytest.raises(WorkDirInUse, match=f'pid {os.getpid()}'):
            launch(2, os.path.join(ROOT, 'scripts', 'train.py'), [], work)
        assert os.listdir(work) == [LOCK_FILE]


def test_other_ranks_do_not_lock(tmp_path):
    """The ranks of one launch share the work dir: only rank 0 takes the lock."""
    work = str(tmp_path / 'wd')
    with hold_work_dir(work, Cluster(rank=0, size=2)):
        with hold_work_dir(work, Cluster(rank=1, size=2)) as note:
            assert note is None
