"""Resuming from an older checkpoint keeps the run as it stands, and a signal during validation
loses no epoch (issue 23, cases 1 and 3)."""
import os
import shutil
import signal

import pytest

from ms_cls.analysis.runs import compare_runs
from ms_cls.engine import callbacks
from ms_cls.engine.log import TOP1
from ms_cls.engine.trainer import train
from ms_cls.errors import Interrupted

from conftest import tiny_cfg
from test_resume import assert_same_weights, weights

KEEP_TWO = {'checkpoint_config.max_keep_ckpts': 2}


@pytest.fixture(scope='module')
def two_epochs(tiny_demo, tmp_path_factory):
    """A finished 2-epoch run keeping epoch_1.ckpt and epoch_2.ckpt."""
    work = str(tmp_path_factory.mktemp('two_epochs') / 'wd')
    train(tiny_cfg(tiny_demo, **KEEP_TWO), work)
    return work


def checkpoints(work):
    return sorted(n for n in os.listdir(work) if n.endswith('.ckpt'))


def assert_best_agrees(work, summary):
    """best.ckpt holds the epoch the run and compare_runs call best, with its score."""
    _, meta = weights(os.path.join(work, 'best.ckpt'))
    row = compare_runs([work])[0].iloc[0]
    assert meta['epoch'] == summary['best_epoch'] == row['best_epoch']
    assert meta['metrics'][TOP1] == pytest.approx(summary['best_top1'])
    assert row[TOP1] == pytest.approx(summary['best_top1'])
    assert row['status'] == 'done'


@pytest.mark.parametrize('max_epochs, kept', [(4, ['epoch_3.ckpt', 'epoch_4.ckpt']),
                                              (3, ['epoch_2.ckpt', 'epoch_3.ckpt'])])
def test_resuming_from_an_older_epoch_keeps_the_run_as_it_stands(
        two_epochs, tiny_demo, tmp_path, max_epochs, kept):
    work = str(tmp_path / 'wd')
    shutil.copytree(two_epochs, work)
    summary = train(tiny_cfg(tiny_demo, **KEEP_TWO, **{
        'runner.max_epochs': max_epochs, 'resume_from': os.path.join(work, 'epoch_1.ckpt')}),
        work)
    assert summary['epochs'] == max_epochs
    assert checkpoints(work) == sorted(['best.ckpt', 'latest.ckpt'] + kept)
    steps = weights(os.path.join(work, 'latest.ckpt'))[1]['step'] // max_epochs
    for name in kept:       # written by the resumed run
        assert weights(os.path.join(work, name))[1]['step'] == int(name[6:-5]) * steps
    # what the resumed run re-trained is set aside, not deleted
    aside = os.path.join(work, f'abandoned_after_step_{steps}')
    assert 'epoch_2.ckpt' in checkpoints(aside) and 'latest.ckpt' in checkpoints(aside)
    assert_best_agrees(work, summary)


def signal_in_validation(monkeypatch, epoch):
    """SIGINT as validation of ``epoch`` begins, from inside the running process."""
    begin = callbacks.TrainMonitor.on_eval_begin

    def on_eval_begin(self, run_context):
        begin(self, run_context)
        if self.state.global_step == epoch * self.state.steps_per_epoch:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(callbacks.TrainMonitor, 'on_eval_begin', on_eval_begin)


def test_a_signal_during_the_last_validation_finishes_the_run(
        tiny_demo, tmp_path, monkeypatch, capsys):
    work = str(tmp_path / 'wd')
    signal_in_validation(monkeypatch, 2)
    summary = train(tiny_cfg(tiny_demo), work)
    assert 'the last epoch was validated and saved, so the run is complete' in \
        capsys.readouterr().out
    assert summary['epochs'] == 2
    assert checkpoints(work) == ['best.ckpt', 'epoch_2.ckpt', 'latest.ckpt']
    _, meta = weights(os.path.join(work, 'latest.ckpt'))
    assert meta['epoch'] == 2 and TOP1 in meta['metrics']
    assert_best_agrees(work, summary)
    monkeypatch.undo()
    train(tiny_cfg(tiny_demo, resume_from='auto'), work)
    assert 'finished all 2 epochs; nothing to resume' in capsys.readouterr().out


def test_a_signal_during_an_earlier_validation_saves_that_epoch_and_resumes_after_it(
        trained, tiny_demo, tmp_path, monkeypatch):
    _, reference, _ = trained
    work = str(tmp_path / 'wd')
    signal_in_validation(monkeypatch, 1)
    with pytest.raises(Interrupted) as stopped:
        train(tiny_cfg(tiny_demo), work)
    # MindSpore turns a SIGINT that lands inside its own calls into SIGTERM
    assert stopped.value.exit_code in (128 + signal.SIGINT, 128 + signal.SIGTERM)
    assert f"after the end of epoch 1; saved {work}/latest.ckpt. Resume with: " in \
        str(stopped.value)
    assert checkpoints(work) == ['best.ckpt', 'epoch_1.ckpt', 'latest.ckpt']
    _, meta = weights(os.path.join(work, 'latest.ckpt'))
    assert meta['epoch'] == 1 and TOP1 in meta['metrics']
    monkeypatch.undo()
    summary = train(tiny_cfg(tiny_demo, resume_from='auto'), work)
    assert summary['epochs'] == 2
    assert_same_weights(os.path.join(work, 'latest.ckpt'),
                        os.path.join(reference, 'latest.ckpt'))
    assert_best_agrees(work, summary)
