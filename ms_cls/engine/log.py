"""The run's three outputs: the seed-format console lines, a plain text log and a JSON-lines log.

Line formats are the ones of the user's MindSpore log (and are tested by regex)::

    Epoch:[  0/ 80], step:[  100/  251], loss:[1.839/3.199], time:47.745 ms, lr:0.10000
    Epoch time: 18681.407 ms, per step time: 74.428 ms, avg loss: 2.167
    --------------------
    Epoch: [  1 /  80], Train Loss: [1.100], Accuracy:  0.748, Top5:  0.950
"""
import json
import os
import sys
import time

SEPARATOR = '-' * 20


def format_step(epoch, max_epochs, step, steps, loss, mean_loss, step_ms, lr):
    """``epoch`` is 0-based, ``step`` 1-based within the epoch, ``loss`` this step's."""
    return (f"Epoch:[{epoch:3d}/{max_epochs:3d}], step:[{step:5d}/{steps:5d}], "
            f"loss:[{loss:.3f}/{mean_loss:.3f}], time:{step_ms:.3f} ms, lr:{lr:.5f}")


def format_epoch(epoch_ms, step_ms, avg_loss):
    return f"Epoch time: {epoch_ms:.3f} ms, per step time: {step_ms:.3f} ms, avg loss: {avg_loss:.3f}"


def format_val(epoch, max_epochs, train_loss, top1, top5=None):
    """``epoch`` is the number of epochs done (1-based), ``train_loss`` the last step's loss."""
    line = f"Epoch: [{epoch:3d} / {max_epochs:3d}], Train Loss: [{train_loss:.3f}], Accuracy: {top1:6.3f}"
    return line + (f", Top5: {top5:6.3f}" if top5 is not None else '')


class RunLog:
    """Writes every console line to ``<work_dir>/<timestamp>.log`` and records to ``.log.json``.

    Both files are appended and flushed line by line, so a crash keeps everything logged so far.
    Without ``work_dir`` lines go to the console and are kept until :meth:`attach` names the
    work dir: a run writes nothing before its checks have passed.
    """

    def __init__(self, work_dir=None, timestamp=None, stream=None):
        self.timestamp = timestamp or time.strftime('%Y%m%d_%H%M%S')
        self.stream = stream or sys.stdout
        self._text = self._json = None
        self._pending = []
        if work_dir is not None:
            self.attach(work_dir)

    def attach(self, work_dir):
        """Open the files in ``work_dir`` and write what was logged so far."""
        os.makedirs(work_dir, exist_ok=True)
        self.text_path = os.path.join(work_dir, f'{self.timestamp}.log')
        self.json_path = os.path.join(work_dir, f'{self.timestamp}.log.json')
        self._text = open(self.text_path, 'a', encoding='utf-8')
        self._json = open(self.json_path, 'a', encoding='utf-8')
        pending, self._pending = self._pending, []
        for kind, item in pending:
            (self._write_text if kind == 'text' else self._write_json)(item)

    def info(self, line):
        print(line, file=self.stream, flush=True)
        self._write_text(line)

    def record(self, **fields):
        self._write_json(fields)

    def _write_text(self, line):
        if self._text is None:
            self._pending.append(('text', line))
            return
        self._text.write(line + '\n')
        self._text.flush()

    def _write_json(self, fields):
        if self._json is None:
            self._pending.append(('json', fields))
            return
        self._json.write(json.dumps(fields) + '\n')
        self._json.flush()

    def close(self):
        for f in (self._text, self._json):
            if f is not None:
                f.close()
