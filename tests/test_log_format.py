"""The console lines must keep the exact shape of the user's MindSpore log."""
import re

from ms_cls.engine.log import SEPARATOR, format_epoch, format_step, format_val

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
