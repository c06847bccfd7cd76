"""Never lose a run to the disk: a full disk keeps the previous checkpoint and leaves no temporary
file, and a killed run's temporary files are removed at the next start (real tmpfs mounts)."""
import json
import os
import subprocess
import sys

import mindspore.nn as nn
import pytest

from ms_cls.checkpoint import copy_checkpoint, make_meta, read_checkpoint, remove_stale_temps
from ms_cls.checkpoint import save_checkpoint
from ms_cls.errors import SaveFailed
from ms_cls.fileio import stale_temp_files, write_text

from conftest import DEMO_CONFIG, ROOT


@pytest.fixture
def small_disk(tmp_path):
    """small_disk('3m') -> a folder on a tmpfs of that size, unmounted after the test."""
    mounts = []

    def mount(size):
        if os.geteuid() != 0:
            pytest.skip('mounting a tmpfs needs root')
        path = tmp_path / f'disk{len(mounts)}'
        path.mkdir()
        res = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                             capture_output=True, text=True)
        if res.returncode:
            pytest.skip(f'cannot mount a tmpfs here: {res.stderr.strip()}')
        mounts.append(path)
        return path
    yield mount
    for path in mounts:
        if subprocess.run(['umount', str(path)]).returncode:
            subprocess.run(['umount', '-l', str(path)], check=True)


def dead_pid():
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    return child.pid


def test_full_disk_keeps_the_previous_checkpoint_byte_for_byte(small_disk):
    disk = small_disk('3m')
    path = disk / 'latest.ckpt'
    save_checkpoint(nn.Dense(700, 700), str(path), make_meta(epoch=1))   # 2 MB: one fits
    before = path.read_bytes()
    with pytest.raises(SaveFailed) as err:
        save_checkpoint(nn.Dense(1000, 1000), str(path), make_meta(epoch=2))   # 4 MB
    assert str(err.value).startswith(f"Cannot write {path}: No space left on device (")
    assert f"MB free in {disk}); the previous latest.ckpt (1.9 MB) is kept unchanged" \
        in str(err.value)
    assert path.read_bytes() == before
    assert os.listdir(disk) == ['latest.ckpt']          # neither .tmp-PID-* nor MindSpore's .tmp
    with pytest.raises(SaveFailed, match=f"Cannot write {disk / 'best.ckpt'}: .*nothing was "
                                         "written"):
        copy_checkpoint(str(path), str(disk / 'best.ckpt'))
    with pytest.raises(SaveFailed, match='Free space on that disk'):
        write_text(str(disk / 'report.md'), 'x' * 4_000_000)
    assert os.listdir(disk) == ['latest.ckpt']


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    gone, alive = dead_pid(), os.getpid()
    names = [f'.tmp-{gone}-latest.ckpt', f'.tmp-{gone}-latest.tmp', 'epoch_3.tmp', 'x.tmp',
             'x.ckpt', f'.tmp-{alive}-best.ckpt', 'notes.tmp', 'epoch_2.ckpt']
    for name in names:
        (tmp_path / name).write_text('')
    assert stale_temp_files(str(tmp_path)) == sorted([f'.tmp-{gone}-latest.ckpt',
                                                      f'.tmp-{gone}-latest.tmp'])
    lines = []
    removed = remove_stale_temps(str(tmp_path), lines.append)
    assert removed == sorted([f'.tmp-{gone}-latest.ckpt', f'.tmp-{gone}-latest.tmp',
                              'epoch_3.tmp', 'x.tmp'])
    assert sorted(os.listdir(tmp_path)) == sorted([f'.tmp-{alive}-best.ckpt', 'notes.tmp',
                                                   'x.ckpt', 'epoch_2.ckpt'])
    assert lines == [f"Removed 4 temporary file(s) a killed run left in {tmp_path}: "
                     f"{', '.join(removed)}"]
    assert remove_stale_temps(str(tmp_path), lines.append) == [] and len(lines) == 1


def test_training_on_a_full_disk_stops_with_one_line_and_keeps_the_last_checkpoint(
        tiny_demo, small_disk, tmp_path):
    """A ResNet-18 latest.ckpt (with momentum) is ~90 MB: one fits on 120 MB, the next save
    (written beside the old one) does not. The run starts by removing a killed run's leftovers."""
    work_dir = small_disk('120m') / 'wd'
    work_dir.mkdir()
    leftovers = [f'.tmp-{dead_pid()}-latest.ckpt', 'latest.tmp']
    for name in leftovers:
        (work_dir / name).write_text('partial')
    options = [f'data.train.data_prefix={tiny_demo}/train', f'data.val.data_prefix={tiny_demo}/val',
               'data.samples_per_gpu=16', 'runner.max_epochs=2', 'evaluation.interval=2',
               'checkpoint_config.interval=2', 'log_config.interval=5']
    res = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), DEMO_CONFIG,
                          '--work-dir', str(work_dir), '--cfg-options', *options],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stderr[-3000:]
    latest = work_dir / 'latest.ckpt'
    expected = f"ERROR: Cannot write {latest}: No space left on device ("
    assert res.stderr.startswith(expected) and len(res.stderr.splitlines()) == 1, res.stderr
    assert 'Traceback' not in res.stdout + res.stderr and 'CRITICAL' not in res.stderr
    assert f"Removed 2 temporary file(s) a killed run left in {work_dir}: " \
           f"{', '.join(sorted(leftovers))}" in res.stdout
    assert read_checkpoint(str(latest))[1]['epoch'] == 1
    files = os.listdir(work_dir)
    assert not [f for f in files if f.startswith('.tmp') or f.endswith('.tmp')], files
    (log_json,) = [f for f in files if f.endswith('.log.json')]
    with open(work_dir / log_json) as f:
        last = json.loads(f.read().splitlines()[-1])
    assert last['mode'] == 'error' and last['kind'] == 'save_failed'
    assert last['message'].startswith(f"Cannot write {latest}: No space left on device")
    assert os.listdir(tmp_path) == ['disk0']            # nothing written into the cwd
