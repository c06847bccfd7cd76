"""Curves and time per iteration from a run's JSON-lines log (``<timestamp>.log.json``), read
by ms_cls.engine.log.load_json_log, the format's one reader.

Only pandas/matplotlib are imported (no MindSpore), so logs can be studied on any machine,
including while the run is still writing them.
"""
import os

import numpy as np

from ..errors import ConfigError
from ..fileio import save_figure

IMAGE_FORMATS = ('png', 'pdf', 'svg', 'jpg')


def legend_names(logs, legend=None):
    """``legend`` if given, else the work-dir names (plus the timestamp where two share one)."""
    if legend:
        if len(legend) != len(logs):
            raise ConfigError(f"--legend has {len(legend)} names for {len(logs)} logs.")
        return list(legend)
    names = [log.name for log in logs]
    return [f"{n}/{os.path.basename(log.path).split('.')[0]}" if names.count(n) > 1 else n
            for n, log in zip(names, logs)]


def check_keys_present(logs, keys):
    """Every key must be in some log; the error lists what the logs do have."""
    present = {}
    for log in logs:
        present.update(log.keys())
    unknown = [k for k in keys if k not in present]
    if unknown:
        listing = '; '.join(
            f"{mode}: {', '.join(sorted(k for k, m in present.items() if m == mode))}"
            for mode in ('train', 'val') if mode in present.values())
        raise ConfigError(f"key(s) {', '.join(unknown)} not in the logs; the logs have "
                          f"{listing or 'no train or val records'}.")
    return present


def plot_curves(logs, keys, out, legend=None, title=None):
    """One subplot per key: val keys against epoch, train keys against global iteration.

    A diverged run ends in a dotted vertical line where its loss became NaN/Inf.
    Returns notes to print (diverged runs, logs without the key).
    """
    ext = os.path.splitext(out)[1].lower().lstrip('.') or 'png'
    if ext not in IMAGE_FORMATS:
        raise ConfigError(f"--out {out}: use one of .{', .'.join(IMAGE_FORMATS)}.")
    fig, notes = curves_figure(logs, keys, legend, title)
    save_figure(out, fig, format=ext, dpi=100)
    return notes


def curves_figure(logs, keys, legend=None, title=None):
    """-> (the matplotlib Figure of plot_curves, notes); also what run reports embed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    present = check_keys_present(logs, keys)
    names = legend_names(logs, legend)
    notes = [f"{log.path}: diverged at {log.divergence()}" for log in logs if log.diverged]
    fig = Figure(figsize=(9, 3.2 * len(keys)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(keys), 1, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        by_epoch = present[key] == 'val'
        for i, (log, name) in enumerate(zip(logs, names)):
            frame = log.val if by_epoch else log.train
            colour = f'C{i % 10}'
            if key not in frame or frame[key].isna().all():
                notes.append(f"{log.path}: no {key!r} records")
                continue
            x = frame['epoch'] if by_epoch else frame['step']
            ax.plot(x, frame[key], color=colour, marker='o' if by_epoch else None, markersize=3,
                    label=name + (' (diverged)' if log.diverged else ''))
            if log.diverged:
                err = log.diverged
                step = (err.get('epoch', 1) - 1) * log.steps_per_epoch + err.get('iter', 0)
                ax.axvline(step / log.steps_per_epoch if by_epoch else step, color=colour, ls=':')
        ax.set_xlabel('epoch' if by_epoch else 'iteration')
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig, notes


def train_time_lines(log):
    """mmcls's cal_train_time report for one log, plus the epoch times the run measured.

    The logged 'time' is one step's compute (data loading excluded), so the mean over logged
    steps estimates s/iter; the very first step compiles the graph and is left out.
    """
    lines = [f"-----Analyze train time of {log.path}-----"]
    train = log.train
    if len(train) > 1:
        train = train[(train['epoch'] > 1) | (train['iter'] > 1)]
    if not len(train):
        return lines + ["no train records: the run stopped before its first logged step"]
    per_epoch = train.groupby('epoch')['time'].mean()
    mean = float(train['time'].mean())
    lines += [f"slowest epoch {per_epoch.idxmax()}, average time is {per_epoch.max():.4f} s/iter",
              f"fastest epoch {per_epoch.idxmin()}, average time is {per_epoch.min():.4f} s/iter",
              f"time std over epochs is {float(np.nan_to_num(per_epoch.std())):.4f}",
              f"average iter time: {mean:.4f} s/iter"]
    max_epochs = int(log.meta.get('max_epochs') or log.epochs_done() or 1)
    total = mean * max_epochs * log.steps_per_epoch / 60
    lines.append(f"estimated total training time: {max_epochs} epochs x {log.steps_per_epoch} "
                 f"iters x {mean:.4f} s = {format_minutes(total)} (steps only: data loading "
                 "and validation not included)")
    if len(log.epochs):
        lines.append(f"measured: {len(log.epochs)} epoch(s) trained in "
                     f"{format_minutes(sum(log.epoch_seconds()) / 60)}, "
                     f"{log.epochs['step_time'].mean():.4f} s/iter with data loading")
    if log.diverged:
        lines.append(f"NOTE: this run diverged at {log.divergence()} (loss NaN/Inf); the times "
                     "cover the steps before it")
    return lines


def format_minutes(minutes):
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
