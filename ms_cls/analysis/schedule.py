"""The learning-rate (and momentum) of every iteration of a config, as a table and a plot."""
import numpy as np
import pandas as pd

from ..data.builder import loader_spec
from ..fileio import save_figure, write_csv
from ..plan import schedule_plan


def steps_per_epoch(cfg, dataset_size, ngpus=1):
    """Iterations per epoch as the trainer runs them (``LoaderSpec.steps``: the incomplete
    last batch is trained, as in mmcls, unless drop_last=True or it holds one image)."""
    return loader_spec(cfg.data, 'train').steps(dataset_size, '--dataset-size', ngpus)


def schedule_frame(cfg, dataset_size=None, ngpus=1, steps=None):
    """DataFrame with columns iter (0-based over all epochs), lr, momentum. ``steps`` (per
    epoch, e.g. from a run's log) replaces the count from ``dataset_size``."""
    plan = schedule_plan(cfg, ngpus)   # first: it names a missing section (a _base_ fragment)
    steps = steps or steps_per_epoch(cfg, dataset_size, ngpus)
    lrs = plan.lr.values(plan.base_lr, plan.max_epochs, steps)
    if plan.momentum is not None:
        momentum = plan.momentum.values(plan.base_momentum, plan.max_epochs,
                                        steps).astype(np.float64)
    else:
        values = dict(plan.optimizer.values)   # torch's defaults filled in (Adam's beta1 0.9)
        fixed = values.get('momentum', values.get('betas', (0.0,))[0])
        momentum = np.full(len(lrs), float(fixed))
    return pd.DataFrame({'iter': np.arange(len(lrs)), 'lr': lrs.astype(np.float64),
                         'momentum': momentum})


def plot_schedule(frame, path, title, steps_per_epoch):
    """Save lr (and momentum when it varies) against iterations, epochs marked on top."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    varying = frame['momentum'].nunique() > 1
    fig, axes = plt.subplots(2 if varying else 1, 1, figsize=(9, 6 if varying else 4),
                             squeeze=False, sharex=True)
    axes[0, 0].plot(frame['iter'], frame['lr'])
    axes[0, 0].set_ylabel('learning rate')
    axes[0, 0].set_title(title)
    if varying:
        axes[1, 0].plot(frame['iter'], frame['momentum'], color='tab:orange')
        axes[1, 0].set_ylabel('momentum')
    axes[-1, 0].set_xlabel('iteration')
    top = axes[0, 0].secondary_xaxis('top', functions=(lambda i: i / steps_per_epoch,
                                                       lambda e: e * steps_per_epoch))
    top.set_xlabel('epoch')
    for ax in axes[:, 0]:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def visualize_schedule(cfg, dataset_size, ngpus=1, save_path='lr.png', save_csv=None,
                       title=''):
    """scripts/vis_lr.py: the plot, optionally the iter,lr,momentum CSV, and a summary to print
    (the lr at the first iteration, the second epoch's first, the middle and the last)."""
    frame = schedule_frame(cfg, dataset_size, ngpus)
    steps = steps_per_epoch(cfg, dataset_size, ngpus)
    plot_schedule(frame, save_path, title, steps)
    if save_csv:
        write_csv(save_csv, frame, float_format='%.8g')
    last = len(frame) - 1
    marks = sorted({0, steps, last // 2, last})
    return (f"{len(frame)} iterations ({steps} per epoch x {cfg.runner.max_epochs} epochs); "
            + ', '.join(f"iter {i}: lr {frame.lr[i]:.6g}" for i in marks)
            + f"\nwrote {save_path}" + (f" and {save_csv}" if save_csv else ''))
