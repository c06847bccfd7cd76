"""The run log: what a run prints, its text copy, and the JSON-lines record that analysis reads.

This module owns the format: RunLog writes it and ``load_json_log`` is its only reader, so the
record shapes live in one place. Console lines keep the shape of the user's MindSpore log (and
are tested by regex)::

    Epoch:[  0/ 80], step:[  100/  251], loss:[1.839/3.199], time:47.745 ms, lr:0.10000
    Epoch time: 18681.407 ms, per step time: 74.428 ms, avg loss: 2.167
    --------------------
    Epoch: [  1 /  80], Train Loss: [1.100], Accuracy:  0.748, Top5:  0.950

``<timestamp>.log.json`` holds one record a line (epoch 1-based, times in seconds)::

    {"mode": "meta", "max_epochs": 80, "steps_per_epoch": 251, "samples_per_gpu": 64, ...}
    {"mode": "train", "epoch": 1, "iter": 100, "lr": 0.1, "momentum": 0.9, "loss": 1.84, "loss_avg": 3.2, "time": 0.048}
    {"mode": "epoch", "epoch": 1, "time": 18.681, "step_time": 0.0744, "loss_avg": 2.167}
    {"mode": "val", "epoch": 1, "iter": 251, "accuracy_top-1": 0.748, "accuracy_top-5": 0.95}
    {"mode": "error", "kind": "diverged", "message": "Training stopped: ...", "epoch": 2, "iter": 3}
    {"mode": "error", "kind": "image_load", "message": "Cannot decode image ..."}
    {"mode": "error", "kind": "save_failed", "message": "Cannot write .../latest.ckpt: No space ..."}

The text log is for people; nothing parses it. No MindSpore import here: logs are read on any
machine, also while the run is still writing them.
"""
import json
import os
import sys
import time

import pandas as pd

from ..errors import ConfigError

SEPARATOR = '-' * 20
DIVERGED, IMAGE_LOAD, SAVE_FAILED = 'diverged', 'image_load', 'save_failed'
TOP1, TOP5 = 'accuracy_top-1', 'accuracy_top-5'
NOT_KEYS = ('mode', 'epoch', 'iter', 'step')


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
    work dir: a run writes nothing before its checks have passed (files to keep beside the logs
    wait with the lines, :meth:`on_attach`).
    Each method below prints a line and writes the record of the same numbers.
    ``files=False`` (the other processes of a data-parallel run; rank 0 writes the run's files):
    lines go to the console only and nothing is kept for a work dir.
    """

    def __init__(self, work_dir=None, timestamp=None, stream=None, files=True):
        self.files = files
        self.timestamp = timestamp or time.strftime('%Y%m%d_%H%M%S')
        self.stream = stream or sys.stdout
        self._text = self._json = None
        self._pending = []
        self._writers = []
        self.work_dir = None
        if work_dir is not None:
            self.attach(work_dir)

    @staticmethod
    def last_timestamp(work_dir):
        """The timestamp of the newest run log in ``work_dir`` (a resumed run appends to it)."""
        stamps = sorted(name[:-len('.log.json')] for name in os.listdir(work_dir)
                        if name.endswith('.log.json')) if os.path.isdir(work_dir) else []
        return stamps[-1] if stamps else None

    def attach(self, work_dir):
        """Open the files in ``work_dir`` and write what was logged so far."""
        os.makedirs(work_dir, exist_ok=True)
        self.text_path = os.path.join(work_dir, f'{self.timestamp}.log')
        self.json_path = os.path.join(work_dir, f'{self.timestamp}.log.json')
        self._text = open(self.text_path, 'a', encoding='utf-8')
        self._json = open(self.json_path, 'a', encoding='utf-8')
        self.work_dir = work_dir
        pending, self._pending = self._pending, []
        for kind, item in pending:
            (self._write_text if kind == 'text' else self._write_json)(item)
        writers, self._writers = self._writers, []
        for write in writers:
            write(work_dir)

    def on_attach(self, write):
        """Call ``write(work_dir)`` once the work dir is named (at once if it is already)."""
        if self.work_dir is None:
            if self.files:
                self._writers.append(write)
        else:
            write(self.work_dir)

    def info(self, line):
        print(line, file=self.stream, flush=True)
        self._write_text(line)

    def record(self, **fields):
        self._write_json(fields)

    def _write_text(self, line):
        if self._text is None:
            if self.files:
                self._pending.append(('text', line))
            return
        self._text.write(line + '\n')
        self._text.flush()

    def _write_json(self, fields):
        if self._json is None:
            if self.files:
                self._pending.append(('json', fields))
            return
        self._json.write(json.dumps(fields) + '\n')
        self._json.flush()

    def step(self, epoch, max_epochs, step, steps, loss, loss_avg, seconds, lr, momentum=None):
        """A logged train step; ``epoch`` 1-based (the line shows it 0-based, as MindSpore).
        ``momentum`` (SGD's, Adam's beta1) goes to the record only: the line keeps its shape."""
        self.info(format_step(epoch - 1, max_epochs, step, steps, loss, loss_avg, seconds * 1000,
                              lr))
        extra = {} if momentum is None else {'momentum': momentum}
        self.record(mode='train', epoch=epoch, iter=step, lr=lr, loss=loss, loss_avg=loss_avg,
                    time=seconds, **extra)

    def epoch(self, epoch, seconds, steps, loss_avg):
        """A finished epoch: ``seconds`` from its start to its last step (data loading included,
        validation not) over ``steps`` steps."""
        step_time = seconds / max(1, steps)
        self.info(format_epoch(seconds * 1000, step_time * 1000, loss_avg))
        self.info(SEPARATOR)
        self.record(mode='epoch', epoch=epoch, time=seconds, step_time=step_time,
                    loss_avg=loss_avg)

    def val(self, epoch, max_epochs, steps, train_loss, results):
        """Validation after ``epoch``; ``results`` maps TOP1 (and TOP5 with 5+ classes)."""
        self.info(format_val(epoch, max_epochs, train_loss, results[TOP1], results.get(TOP5)))
        self.record(mode='val', epoch=epoch, iter=steps, **results)

    def error(self, kind, message, console=True, **fields):
        """What ended the run: 'ERROR: message' in the console and text log, and a record that
        analysis reads (``kind``: DIVERGED, IMAGE_LOAD, SAVE_FAILED; ``fields`` e.g. epoch and
        iter). ``console=False`` when the error is raised on to the command line, which prints
        it. The line is printed even when the disk is too full to keep it."""
        if console:
            print(f"ERROR: {message}", file=self.stream, flush=True)
        try:
            self._write_text(f"ERROR: {message}")
            self.record(mode='error', kind=kind, message=message, **fields)
        except OSError as err:
            print(f"(not in the run log: {err})", file=self.stream, flush=True)

    def close(self):
        for f in (self._text, self._json):
            if f is not None:
                f.close()


class RunLogData:
    """The records of one ``.log.json``: ``meta`` (dict), ``train``/``val``/``epochs``
    (DataFrames; train and val with a global ``step`` column = iterations done) and ``errors``
    (the error records, in order)."""

    def __init__(self, path, records):
        self.path = path
        # the last meta: a run resumed with more epochs (a sweep's finalist) records its new
        # max_epochs after the first
        self.meta = next((r for r in reversed(records) if r.get('mode') == 'meta'), {})
        frames = {mode: pd.DataFrame([r for r in records if r.get('mode') == mode])
                  for mode in ('train', 'val', 'epoch')}
        iters = frames['train']['iter'].max() if 'iter' in frames['train'] else 1
        self.steps_per_epoch = int(self.meta.get('steps_per_epoch') or iters)
        for mode in ('train', 'val'):
            if len(frames[mode]):
                frames[mode]['step'] = ((frames[mode]['epoch'] - 1) * self.steps_per_epoch
                                        + frames[mode]['iter'])
        self.train, self.val, self.epochs = frames['train'], frames['val'], frames['epoch']
        # logs written before error records had a kind recorded only divergence
        self.errors = [dict({'kind': DIVERGED}, **r) for r in records if r.get('mode') == 'error']

    @property
    def name(self):
        """The run's work-dir name (what a person called the experiment)."""
        return os.path.basename(os.path.dirname(os.path.abspath(self.path)))

    def keys(self):
        """{key: 'train' | 'val'} for every numeric quantity logged by step or validation."""
        return {k: mode for mode, frame in (('train', self.train), ('val', self.val))
                for k in frame.columns if k not in NOT_KEYS}

    def epochs_done(self):
        """Epochs finished: the last epoch record. Logs written before epoch records: the last
        epoch validated or whose last step was logged (the last step always is)."""
        if len(self.epochs):
            return int(self.epochs['epoch'].max())
        done = [0]
        if len(self.val):
            done.append(int(self.val['epoch'].max()))
        if len(self.train):
            ended = self.train.loc[self.train['iter'] >= self.steps_per_epoch, 'epoch']
            done += [int(e) for e in ended.tail(1)]
        return max(done)

    @property
    def diverged(self):
        """The first divergence record (loss NaN/Inf), or None."""
        return next((e for e in self.errors if e['kind'] == DIVERGED), None)

    @property
    def failure(self):
        """The first error record of another kind (e.g. an unreadable image), or None."""
        return next((e for e in self.errors if e['kind'] != DIVERGED), None)

    def divergence(self):
        """'epoch E step S' of the divergence, or ''."""
        err = self.diverged
        return f"epoch {err.get('epoch')} step {err.get('iter')}" if err else ''

    def epoch_seconds(self):
        """Seconds of each finished epoch (data loading included, validation not)."""
        return [float(t) for t in self.epochs['time']] if 'time' in self.epochs else []


def load_json_log(path):
    """Parse a ``.log.json``; a truncated last line (a crash mid-write) is ignored."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: log not found.")
    with open(path, encoding='utf-8') as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise ConfigError(f"{path}, line {number}: not a JSON record; is this an ms_cls "
                                  ".log.json?") from None
    return RunLogData(path, continued(records))


def continued(records):
    """The records of a run as one history: at a ``resume`` record (a run resumed from global
    step S), what the interrupted process logged after step S is dropped, since the resumed one
    logs those steps again, and so is its 'interrupted' error."""
    meta = next((r for r in records if r.get('mode') == 'meta'), {})
    steps = int(meta.get('steps_per_epoch') or 1)

    def position(record):
        mode = record.get('mode')
        if mode == 'train':
            return (record['epoch'] - 1) * steps + record['iter']
        if mode in ('val', 'epoch'):
            return record['epoch'] * steps
        return None

    kept = []
    for record in records:
        if record.get('mode') == 'resume':
            step = record.get('step', 0)
            kept = [r for r in kept if not (position(r) is not None and position(r) > step)
                    and r.get('kind') != 'interrupted']
        kept.append(record)
    return kept
