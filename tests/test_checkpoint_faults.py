"""Unreadable, damaged, empty or misplaced checkpoints: one line naming the file, a fallback for
--resume auto, and no file of the user's deleted or replaced (issue 23, cases 4, 5 and 7)."""
import os
import shutil

import mindspore as ms
import pytest

from ms_cls.apis import init_model
from ms_cls.checkpoint import has_crc, read_checkpoint
from ms_cls.engine.resume import find_resume
from ms_cls.engine.trainer import train
from ms_cls.errors import ConfigError, OutputExists, UnreadableCheckpoint
from ms_cls.evaluation.submission import predict_submission

from conftest import tiny_cfg
from test_cli_flags import run_script

CONFIG = 'resnet18_1xb64_demo-32px.py'


@pytest.fixture
def work(trained, tmp_path):
    """A copy of the shared 2-epoch run (latest, best, epoch_2 .ckpt and its config)."""
    copy = str(tmp_path / 'run')
    shutil.copytree(trained[1], copy)
    return copy


def truncate(path, keep=0.5):
    with open(path, 'r+b') as f:
        f.truncate(int(os.path.getsize(path) * keep))


def scribble(path, size=64 * 1024):
    """``dd if=/dev/urandom of=path bs=64K count=1 seek=... conv=notrunc``: random bytes inside."""
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(os.urandom(size))


def sizes(folder):
    return {n: os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder)}


def test_resume_auto_skips_a_truncated_recovery_checkpoint_and_keeps_it(work, tiny_demo, capsys):
    shutil.copyfile(os.path.join(work, 'latest.ckpt'), os.path.join(work, 'recovery.ckpt'))
    truncate(os.path.join(work, 'recovery.ckpt'))
    before = sizes(work)
    train(tiny_cfg(tiny_demo, resume_from='auto'), work)
    out = capsys.readouterr().out
    line = next(t for t in out.splitlines() if 'skipped' in t)
    assert 'recovery.ckpt, which is truncated or corrupt' in line
    assert f"resuming from {os.path.join(work, 'latest.ckpt')}" in line
    assert 'finished all 2 epochs' in out
    assert {n: s for n, s in sizes(work).items() if n in before} == before


def test_resume_auto_falls_back_from_a_truncated_latest_to_the_newest_epoch_checkpoint(work):
    truncate(os.path.join(work, 'latest.ckpt'))
    point = find_resume('auto', work)
    assert point.path == os.path.join(work, 'epoch_2.ckpt') and point.meta['epoch'] == 2
    assert 'latest.ckpt, which is truncated or corrupt' in point.skipped_line
    assert os.path.isfile(os.path.join(work, 'latest.ckpt'))


def test_resume_auto_with_nothing_readable_lists_the_files_and_names_resume_from(
        work, tiny_demo, capsys):
    truncate(os.path.join(work, 'latest.ckpt'))
    scribble(os.path.join(work, 'epoch_2.ckpt'))
    before = sizes(work)
    code, _, err = run_script('train.py', [os.path.join(work, CONFIG), '--work-dir', work,
                                           '--resume', 'auto', '--no-report'], capsys)
    assert code == 1 and err.count('\n') == 1 and err.startswith('ERROR: --resume auto')
    assert 'latest.ckpt, which is truncated' in err and 'epoch_2.ckpt, which is damaged' in err
    assert '--resume-from FILE' in err
    assert sizes(work) == before


def test_bytes_changed_inside_a_checkpoint_are_caught_by_its_crc(work, tiny_demo, capsys):
    epoch_2 = os.path.join(work, 'epoch_2.ckpt')
    assert all(has_crc(os.path.join(work, n)) for n in ('latest.ckpt', 'best.ckpt', 'epoch_2.ckpt'))
    scribble(epoch_2)
    with pytest.raises(UnreadableCheckpoint, match='epoch_2.ckpt is damaged: its CRC32'):
        init_model(os.path.join(work, CONFIG), epoch_2)
    code, _, err = run_script('test.py', [os.path.join(work, CONFIG), epoch_2], capsys)
    assert code == 1 and err.count('\n') == 1 and 'epoch_2.ckpt is damaged' in err
    assert 'permission' not in err
    with pytest.raises(UnreadableCheckpoint, match='epoch_2.ckpt is damaged'):
        train(tiny_cfg(tiny_demo, resume_from=epoch_2), work)


def test_a_checkpoint_without_crc_still_loads(work, capsys):
    """ms_cls checkpoints written before the CRC, and MindCV's published ones, have none."""
    best = os.path.join(work, 'best.ckpt')
    entries = ms.load_checkpoint(best)
    old = os.path.join(work, 'old.ckpt')
    ms.save_checkpoint([{'name': k, 'data': v} for k, v in entries.items()
                        if isinstance(v, ms.Parameter)], old, append_dict={
                            k: v for k, v in entries.items() if isinstance(v, str)})
    assert not has_crc(old)
    model = init_model(os.path.join(work, CONFIG), old)
    assert model.classes == init_model(os.path.join(work, CONFIG), best).classes
    assert 'crc' not in ''.join(capsys.readouterr()).lower()


def test_an_empty_checkpoint_and_a_folder_get_lines_of_their_own(work, capsys):
    empty = os.path.join(work, 'empty.ckpt')
    open(empty, 'wb').close()
    code, _, err = run_script('test.py', [os.path.join(work, CONFIG), empty], capsys)
    assert code == 1 and err.count('\n') == 1
    assert 'empty.ckpt is empty (0 bytes): not a MindSpore checkpoint' in err
    assert 'prefix' not in err
    code, _, err = run_script('test.py', [os.path.join(work, CONFIG), work], capsys)
    assert code == 1 and err.count('\n') == 1
    assert f"{work} is a folder, not a checkpoint file; it holds a run: give " \
           f"{os.path.join(work, 'best.ckpt')}" in err
    with pytest.raises(ConfigError, match='is a folder, not a checkpoint file; give the .ckpt'):
        read_checkpoint(os.path.dirname(work))


def test_predict_keeps_an_existing_out_unless_overwrite(trained, tiny_demo, tmp_path, capsys):
    out = tmp_path / 'submission.csv'
    out.write_text('mine\n')
    args = [os.path.join(trained[1], CONFIG), os.path.join(trained[1], 'best.ckpt'),
            '--img-dir', f'{tiny_demo}/test', '--out', str(out)]
    code, _, err = run_script('predict.py', args, capsys)
    assert code == 1 and err.count('\n') == 1
    assert f'--out {out} exists; pass --overwrite' in err
    assert out.read_text() == 'mine\n'
    code, stdout, err = run_script('predict.py', args + ['--overwrite'], capsys)
    assert code == 0, err
    assert out.read_text().startswith('id,label\n')
    with pytest.raises(OutputExists):
        predict_submission([args[0]], [args[1]], str(out), img_dir=args[3])
