"""Progress of the long steps (ms_cls/progress.py): a tqdm bar on a terminal, whole lines in a
file; shown by the decode check, eval and predict batches, EDA, and training's first step."""
import io
import os
import shutil

import pytest

from ms_cls import progress as progress_module
from ms_cls.analysis import eda
from ms_cls.evaluation.evaluate import evaluate_checkpoint
from ms_cls.evaluation.submission import predict_submission
from ms_cls.engine.trainer import COMPILE_NOTE
from ms_cls.progress import progress

from test_train_e2e import read_logs


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def every_report(monkeypatch):
    """Lines at every update instead of every 10 s."""
    monkeypatch.setattr(progress_module, 'LINE_SECONDS', 0.0)


def test_a_file_gets_whole_lines_a_terminal_the_bar(every_report):
    log = io.StringIO()
    for _ in progress(range(3), total=3, desc='decode check', file=log):
        pass
    lines = log.getvalue().splitlines()
    assert '\r' not in log.getvalue() and log.getvalue().endswith('\n')
    assert lines[0].startswith('decode check: 0/3 images (0 %), 00:00 elapsed')
    assert [line.split(' images')[0] for line in lines] == [f'decode check: {n}/3' for n in range(4)]
    screen = Terminal()
    for _ in progress(range(3), total=3, desc='decode check', file=screen):
        pass
    assert screen.getvalue().startswith('\rdecode check:   0%|          | 0/3 [00:00<?')


def test_a_short_step_writes_nothing_to_a_file():
    log = io.StringIO()     # LINE_SECONDS (10 s) never passes
    for _ in progress(range(1000), total=1000, desc='predict', file=log):
        pass
    assert log.getvalue() == ''


def run_files(trained):
    _, work_dir, _ = trained
    return (os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'),
            os.path.join(work_dir, 'best.ckpt'))


def test_predict_and_eval_show_decode_and_batch_progress(trained, tiny_demo, tmp_path, capsys,
                                                         every_report):
    config, ckpt = run_files(trained)
    test = tmp_path / 'test'
    shutil.copytree(f'{tiny_demo}/test', test)
    (test / 'notes.txt').write_text('where the images came from')
    (test / '.DS_Store').write_bytes(b'\0')
    predict_submission([config], [ckpt], str(tmp_path / 's.csv'), img_dir=str(test),
                       batch_size=8)
    err = capsys.readouterr().err.splitlines()
    assert 'decode check: 20/20 images (100 %)' in '\n'.join(err)
    done = [line for line in err if line.startswith('predict: 20/20 images (100 %)')]
    assert len(done) == 1 and [l for l in err if l.startswith('predict: 8/20 images')]
    # the files that are not images: counted in one line, the hidden one too
    (other,) = [line for line in err if 'not images' in line]
    assert other.startswith(f'WARNING: --img-dir: 2 file(s) under {test} are not images')
    assert '(.txt 1, hidden 1), e.g. ' + str(test / 'notes.txt') in other
    evaluate_checkpoint(config, ckpt, log=lambda line: None)
    assert 'predict: 30/30 images (100 %)' in capsys.readouterr().err


def test_eda_shows_progress_at_any_size(tiny_demo, tmp_path, every_report):
    log = io.StringIO()
    eda.analyse(f'{tiny_demo}/val', str(tmp_path / 'eda'), workers=2, log=log)
    assert 'eda: 30/30 images (100 %)' in log.getvalue() and '\r' not in log.getvalue()


def test_the_run_log_says_what_trains_and_when_the_graph_compiles(trained):
    _, work_dir, _ = trained
    lines, _ = read_logs(work_dir)
    first_step = next(i for i, line in enumerate(lines) if line.startswith('Epoch:['))
    note = lines.index(COMPILE_NOTE)
    assert lines[note + 1].startswith('graph compiled, first step done in ')
    assert note + 1 < first_step
    assert 'model: 11,181,642 of 11,181,642 parameters are trained' in lines
