"""Where a training epoch's time goes: waiting for the loader vs the network step vs callbacks
vs validation, from short real training runs on the demo data.

    python benchmarks/epoch_time.py [--quick | --full] [--workers 1 2] [--epochs 3] [--runs 3]

Each run is ``ms_cls.engine.trainer.train`` on the demo config (ResNet-18, 32px, batch 64; the
demo set drawn into a temporary folder, each run in its own temporary work dir) with two timing
callbacks added around ms_cls's own: one first and one last, so that the gap between one step's
end and the next one's begin is the wait for the next batch (loader + conversion), and the span
inside both is the network step. The first epoch (graph compile) is left out; the worker
counts take turns, one run each per round. Compare the network step with train_step.py's
in-memory figure for ResNet-18 32px batch 64 to see what the loader's threads take from the
network's two cores.
"""
import contextlib
import gc
import io
import os
import statistics
import tempfile
import time

import _common as C

from mindspore.train import Callback  # noqa: E402


class Clock(Callback):
    """Time stamps of the train hooks; ``first`` marks the callback that runs before ms_cls's."""

    def __init__(self, first, marks):
        super().__init__()
        self.first, self.marks = first, marks

    def _mark(self, event):
        self.marks.append((event, self.first, time.perf_counter()))

    def on_train_epoch_begin(self, run_context):
        self._mark('epoch_begin')

    def on_train_step_begin(self, run_context):
        self._mark('step_begin')

    def on_train_step_end(self, run_context):
        self._mark('step_end')

    def on_train_epoch_end(self, run_context):
        self._mark('epoch_end')


def split_epochs(marks):
    """Time stamps -> per epoch {wait, step, hooks, rest, total, steps} in seconds. wait: from
    the last callback of the previous step (or the epoch begin) to the first of the next; step:
    between the last step_begin and the first step_end hook; hooks: ms_cls's step callbacks;
    rest: after the last step to the epoch's end hook (validation, checkpoints)."""
    epochs, current = [], None
    for event, first, t in marks:
        if event == 'epoch_begin' and first:
            current = dict(wait=0.0, step=0.0, hooks=0.0, steps=0, start=t, last=t)
        elif event == 'step_begin':
            if first:
                current['wait'] += t - current['last']
                current['head'] = t
            else:
                current['hooks'] += t - current['head']
                current['begin'] = t
        elif event == 'step_end':
            if first:
                current['step'] += t - current['begin']
                current['steps'] += 1
                current['head'] = t
            else:
                current['hooks'] += t - current['head']
                current['last'] = t
        elif event == 'epoch_end' and not first:
            current['rest'] = t - current['last']
            current['total'] = t - current['start']
            epochs.append(current)
    return epochs


def demo_config(data, workers, epochs):
    from ms_cls.config import Config
    cfg = Config.fromfile(C.DEMO_CONFIG)
    cfg.merge_from_dict({'data.train.data_prefix': os.path.join(data, 'train'),
                         'data.val.data_prefix': os.path.join(data, 'val'),
                         'data.test.data_prefix': os.path.join(data, 'test'),
                         'data.workers_per_gpu': workers, 'runner.max_epochs': epochs,
                         'log_config.interval': 1000, 'checkpoint_config.interval': 1000})
    return cfg


def training_run(data, workers, epochs, out, folder):
    """-> a callable training one run with ``workers`` loader workers, appending its epochs
    (after the first) to ``out``."""
    from ms_cls.engine import trainer

    def run():
        marks = []
        build = trainer.build_training

        def timed(plan, run_data, log):
            model, callbacks, state = build(plan, run_data, log)
            return model, [Clock(True, marks)] + callbacks + [Clock(False, marks)], state
        trainer.build_training = timed
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                    io.StringIO()):
                trainer.train(demo_config(data, workers, epochs), tempfile.mkdtemp(dir=folder))
        finally:
            trainer.build_training = build
        gc.collect()   # the run's loaders, whose threads would go on taking CPU from the next
        out.extend(split_epochs(marks)[1:])
    return run


def main():
    parser = C.mode_parser(__doc__, quick='2 workers, 3 epochs, 2 runs', full='1 and 2 workers, 3 epochs, 2 runs')
    parser.add_argument('--workers', nargs='+', type=int)
    parser.add_argument('--epochs', type=int)
    parser.add_argument('--runs', type=int, default=2)
    args = parser.parse_args()
    workers_list = args.workers or ([1, 2] if args.full else [2])
    epochs = args.epochs or 3
    from ms_cls.data.demo import make_demo_data
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, 'demo')
        make_demo_data(data)
        results = {w: [] for w in workers_list}
        runs = [training_run(data, w, epochs, results[w], folder) for w in workers_list]
        C.interleaved(runs, args.runs, warmup=0)
    steps = 1000 // 64
    rows = []
    for workers in workers_list:
        ep = results[workers]
        med = {k: statistics.median(e[k] for e in ep) for k in ('total', 'wait', 'step', 'hooks',
                                                                  'rest')}
        n = ep[0]['steps']
        total = med['total']
        rows.append([workers, len(ep), f"{total:.2f}", *(
            f"{med[k]:.2f} ({100 * med[k] / total:.0f}%)" for k in ('wait', 'step', 'hooks', 'rest')),
            f"{1000 * med['step'] / n:.0f}"])
    C.print_table(f'Epoch time: demo training (ResNet-18, 32px, batch 64, {steps} steps + val of '
                  f'300 images per epoch; {C.cpu_model()}; medians over epochs 2..{epochs} of '
                  f'{args.runs} runs)',
                  ['workers', 'epochs', 'epoch s', 'data wait s', 'network step s',
                   'ms_cls hooks s', 'val + epoch end s', 'network ms/step'], rows)


if __name__ == '__main__':
    main()
