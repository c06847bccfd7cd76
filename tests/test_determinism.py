"""Issue 23 case 8: the same seed gives the same run, whatever the loader's worker threads do."""
import os
import re

from ms_cls.engine.trainer import train

from conftest import tiny_cfg


def loss_and_accuracy_lines(work_dir):
    """The run log's step, epoch and validation lines without their timings."""
    (name,) = [f for f in os.listdir(work_dir) if f.endswith('.log')]
    with open(os.path.join(work_dir, name)) as f:
        lines = [line for line in f.read().splitlines() if 'loss' in line.lower()]
    return [re.sub(r'time: ?[\d.]+ ms', 'time', line) for line in lines]


def test_the_same_seed_prints_the_same_loss_lines_with_one_or_two_workers(tiny_demo, tmp_path):
    """The crop and flip drew per worker thread before: the runs differed with the number of
    workers (and so did the demo's best top-1 between two clones)."""
    options = {'runner.max_epochs': 1, 'log_config.interval': 1,
               'data.train.pipeline.1.scale': (0.3, 1.0)}
    runs = []
    for run, workers in enumerate((2, 2, 1)):
        work_dir = str(tmp_path / f'run{run}')
        train(tiny_cfg(tiny_demo, **options, **{'data.workers_per_gpu': workers}), work_dir)
        runs.append(loss_and_accuracy_lines(work_dir))
    assert len(runs[0]) >= 6 and any('Accuracy' in line for line in runs[0])
    assert runs[0] == runs[1] == runs[2]
