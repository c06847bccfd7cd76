"""The console lines must keep the exact shape of the user's MindSpore log; the JSON log's
records go through its one reader unchanged."""
import io
import json
import re

import pytest

from ms_cls.engine.log import (DIVERGED, IMAGE_LOAD, SEPARATOR, TOP1, TOP5, RunLog,
                               format_epoch, format_step, format_val, load_json_log)
from ms_cls.errors import ConfigError

SEED_LINES = """\
Epoch:[  0/ 80], step:[  100/  251], loss:[1.839/3.199], time:47.745 ms, lr:0.10000
Epoch time: 18681.407 ms, per step time: 74.428 ms, avg loss: 2.167
--------------------
Epoch: [  1 /  80], Train Loss: [1.100], Accuracy:  0.748""".splitlines()

STEP_RE = re.compile(r'^Epoch:\[ *\d+/ *\d+\], step:\[ *\d+/ *\d+\], loss:\[\d+\.\d{3}/\d+\.\d{3}\], '
                     r'time:\d+\.\d{3} ms, lr:\d+\.\d{5}$')
EPOCH_RE = re.compile(r'^Epoch time: \d+\.\d{3} ms, per step time: \d+\.\d{3} ms, avg loss: \d+\.\d{3}$')
VAL_RE = re.compile(r'^Epoch: \[ *\d+ / *\d+\], Train Loss: \[\d+\.\d{3}\], Accuracy: +\d\.\d{3}'
                    r'(, Top5: +\d\.\d{3})?$')


def test_formats_reproduce_the_seed_log_exactly():
    assert format_step(0, 80, 100, 251, 1.8389, 3.1992, 47.7451, 0.1) == SEED_LINES[0]
    assert format_epoch(18681.4071, 74.4281, 2.1671) == SEED_LINES[1]
    assert SEPARATOR == SEED_LINES[2]
    assert format_val(1, 80, 1.1, 0.748) == SEED_LINES[3]


def test_regexes_accept_seed_and_ours():
    assert STEP_RE.match(SEED_LINES[0]) and EPOCH_RE.match(SEED_LINES[1])
    assert VAL_RE.match(SEED_LINES[3])
    assert VAL_RE.match(format_val(12, 100, 0.5, 0.81234, 0.97))
    assert format_val(12, 100, 0.5, 0.81234, 0.97).endswith('Accuracy:  0.812, Top5:  0.970')


def test_run_log_lines_and_records_round_trip_through_the_reader(tmp_path):
    """Each RunLog method prints its line and writes the record of the same numbers; the reader
    gives them back (epochs done, epoch times, the divergence and other errors)."""
    out = io.StringIO()
    log = RunLog(str(tmp_path), '20240101_000000', stream=out)
    log.record(mode='meta', max_epochs=3, steps_per_epoch=4)
    log.step(1, 3, 4, 4, 1.8389, 3.1992, 0.0477451, 0.1)
    log.epoch(1, 18.6814071, 4, 2.1671)
    log.val(1, 3, 4, 1.1, {TOP1: 0.748, TOP5: 0.95})
    log.epoch(2, 10.0, 4, 1.5)
    log.error(DIVERGED, 'Training stopped: loss is nan', epoch=3, iter=2)
    log.error(IMAGE_LOAD, 'Cannot decode image a.jpg')
    log.close()
    lines = out.getvalue().splitlines()
    assert lines == (tmp_path / '20240101_000000.log').read_text().splitlines()
    assert STEP_RE.match(lines[0]) and lines[0].startswith('Epoch:[  0/  3], step:[    4/    4]')
    assert lines[1] == 'Epoch time: 18681.407 ms, per step time: 4670.352 ms, avg loss: 2.167'
    assert lines[2] == SEPARATOR and lines[3] == format_val(1, 3, 1.1, 0.748, 0.95)
    assert lines[-2:] == ['ERROR: Training stopped: loss is nan',
                          'ERROR: Cannot decode image a.jpg']
    records = [json.loads(line) for line in (tmp_path / '20240101_000000.log.json').open()]
    assert records[1:4] == [
        {'mode': 'train', 'epoch': 1, 'iter': 4, 'lr': 0.1, 'loss': 1.8389, 'loss_avg': 3.1992,
         'time': 0.0477451},
        {'mode': 'epoch', 'epoch': 1, 'time': 18.6814071, 'step_time': 18.6814071 / 4,
         'loss_avg': 2.1671},
        {'mode': 'val', 'epoch': 1, 'iter': 4, TOP1: 0.748, TOP5: 0.95}]
    assert records[-2:] == [
        {'mode': 'error', 'kind': 'diverged', 'message': 'Training stopped: loss is nan',
         'epoch': 3, 'iter': 2},
        {'mode': 'error', 'kind': 'image_load', 'message': 'Cannot decode image a.jpg'}]

    data = load_json_log(log.json_path)
    assert data.epochs_done() == 2 and data.epoch_seconds() == [18.6814071, 10.0]
    assert data.divergence() == 'epoch 3 step 2'
    assert data.failure['message'] == 'Cannot decode image a.jpg'
    assert data.train['step'].tolist() == [4] and data.val['step'].tolist() == [4]
    assert data.keys() == {'lr': 'train', 'loss': 'train', 'loss_avg': 'train', 'time': 'train',
                           TOP1: 'val', TOP5: 'val'}


def test_files_for_the_work_dir_wait_for_it_like_the_lines(tmp_path):
    log = RunLog(stream=io.StringIO())
    written = []
    log.on_attach(written.append)
    log.info('before the checks')
    assert written == [] and not (tmp_path / 'wd').exists()
    log.attach(str(tmp_path / 'wd'))
    log.on_attach(written.append)
    assert written == [str(tmp_path / 'wd')] * 2
    log.close()


def test_reader_skips_a_truncated_last_line_and_rejects_other_text(tmp_path):
    path = tmp_path / 'run.log.json'
    path.write_text('{"mode": "epoch", "epoch": 1, "time": 2.0, "step_time": 0.5, "loss_avg": 1}\n'
                    '{"mode": "train", "ep')
    assert load_json_log(str(path)).epochs_done() == 1
    path.write_text('Epoch time: 1.0 ms\n{"mode": "epoch", "epoch": 1}\n')
    with pytest.raises(ConfigError, match='line 1: not a JSON record'):
        load_json_log(str(path))
    with pytest.raises(ConfigError, match='log not found'):
        load_json_log(str(tmp_path / 'missing.log.json'))
