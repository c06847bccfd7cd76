"""Helpers the benchmarks share: networks and random batches, the two training loops compared
(ms_cls's Model + callbacks, a bare TrainOneStepCell loop), interleaved timing (A B A B, so a
load spike from elsewhere hits both sides alike), child processes for settings that are read
once per process, and the printed tables.

Importing this module imports ms_cls first, which sets GLOG_v and ONEDNN_MAX_CPU_ISA as every
ms_cls command does (a variable exported before wins).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ms_cls  # noqa: E402,F401
import numpy as np  # noqa: E402

DEMO_CONFIG = os.path.join(ROOT, 'configs', 'resnet', 'resnet18_1xb64_demo-32px.py')
#: The benchmarks' networks: ms_cls's model_cfg names (ms_cls.models.convert).
ARCHS = ('resnet18', 'resnet50', 'swin-tiny')
LR = np.full(100_000, 0.01, np.float32)


def make_net(arch, size, num_classes=10):
    """(model cfg, network) of ``arch`` for ``size`` px inputs (Swin is built for one size)."""
    from ms_cls.models.builder import build_model
    from ms_cls.models.convert import model_cfg
    cfg = model_cfg(arch, num_classes)
    if arch.startswith('swin'):
        cfg['backbone']['img_size'] = size
    return cfg, build_model(cfg)


def sgd(params):
    """The optimizer of ms_cls's configs (SGD, momentum 0.9, weight decay 1e-4)."""
    from ms_cls.engine.optim import build_optimizer, optimizer_spec
    spec = optimizer_spec(dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
    return build_optimizer(spec, params, LR)


def random_batches(batch, size, steps, seed=0):
    """``steps`` (images, labels) numpy batches of standard-normal images."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 3, size, size)).astype(np.float32),
             rng.integers(0, 10, batch).astype(np.int32)) for _ in range(steps)]


def bare_loop(net, loss_fn, optimizer, batches):
    """A pass over ``batches`` (held as tensors) by a bare TrainOneStepCell: what the hardware
    and MindSpore give without any trainer around them. -> the callable running one pass."""
    import mindspore as ms
    from mindspore import nn
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), optimizer)
    step.set_train(True)
    tensors = [(ms.Tensor(x), ms.Tensor(y)) for x, y in batches]

    def run():
        for x, y in tensors:
            step(x, y).asnumpy()
    return run


class NullLog:
    """TrainMonitor writes through this (any method: RunLog's grow); printing would time the
    terminal, not the trainer. The formatting of the lines is still timed."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def ms_cls_loop(net, loss_fn, optimizer, batches, repeat=1, **model_args):
    """A pass over ``batches`` (``repeat`` times) the way ms_cls trains: ``mindspore.train.Model``
    (``model_args``: amp_level, loss_scale_manager) with ms_cls's TrainMonitor, fed by a
    ``mindspore.dataset`` pipeline over the same in-memory arrays."""
    import mindspore.dataset as ds
    from mindspore.train import Model
    from ms_cls.engine.callbacks import RunState, TrainMonitor
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    data = ds.NumpySlicesDataset({'image': images, 'label': labels},
                                 shuffle=False).batch(len(batches[0][0])).repeat(repeat)
    model = Model(net, loss_fn=loss_fn, optimizer=optimizer, **model_args)
    monitor = TrainMonitor(NullLog(), RunState(steps_per_epoch=len(batches) * repeat), LR, 2, 1)

    def run():
        model.train(1, data, callbacks=[monitor], dataset_sink_mode=False)
    return run


def interleaved(fns, rounds, warmup=1):
    """Wall seconds of each of ``fns`` in each of ``rounds`` rounds (after ``warmup`` rounds
    not counted, which compile); within a round the callables run in turn, A B A B."""
    times = [[] for _ in fns]
    for round_ in range(warmup + rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            if round_ >= warmup:
                times[i].append(time.perf_counter() - start)
    return times


def min_median(values):
    return min(values), statistics.median(values)


def rate(count, seconds):
    """(min, median) of ``count / s`` over a list of seconds: the best and the typical rate."""
    rates = [count / s for s in seconds]
    return max(rates), statistics.median(rates)


def ratio_median(numerators, denominators):
    """Median of the round-by-round ratios a/b (each pair measured back to back)."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def ratios(numerators, denominators):
    """'best-to-best / median of pairs' of two lists of seconds: the first holds when load from
    elsewhere came in bursts (each side's least disturbed round), the second when it was
    steady; on a quiet machine they agree."""
    return (f"{min(numerators) / min(denominators):.3f} / "
            f"{ratio_median(numerators, denominators):.3f}")


def fmt_rate(pair):
    """'best / median' of a (best, median) img/s pair."""
    best, median = pair
    return f"{best:7.1f} / {median:7.1f}"


def print_table(title, headers, rows, note=None):
    """A Markdown table (pastes into RESULTS.md as it is), flushed at once."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    print(f"\n### {title}\n")
    print('| ' + ' | '.join(str(h).ljust(w) for h, w in zip(headers, widths)) + ' |')
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for row in rows:
        print('| ' + ' | '.join(str(c).ljust(w) for c, w in zip(row, widths)) + ' |')
    if note:
        print(f"\n{note}")
    sys.stdout.flush()


def run_child(script, spec, env=None, timeout=900):
    """Run ``script --child JSON(spec)`` in a fresh process with ``env`` added to this one's,
    in a temporary folder (graph kernel fusion writes akg_kernel_meta/ and kernel_build_tmp.key
    into the current one); -> the JSON object its last output line holds, or {'error': why}."""
    full_env = dict(os.environ, GLOG_v='3', **(env or {}))
    try:
        with tempfile.TemporaryDirectory() as cwd:
            out = subprocess.run([sys.executable, os.path.abspath(script), '--child',
                                  json.dumps(spec)], env=full_env, capture_output=True,
                                 text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {'error': f'timed out after {timeout} s'}
    lines = out.stdout.strip().splitlines()
    if out.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    tail = (out.stderr.strip().splitlines() or lines or ['no output'])[-1]
    return {'error': f'exit {out.returncode}: {tail[:110]}'}


def child_rounds(script, variants, rounds):
    """Each variant ``(label, spec, env)`` run as a child process once per round, the variants
    in turn within a round (A B A B across processes). -> {label: [result per round]}; a
    variant that fails once is not run again (its error is its only result)."""
    results = {label: [] for label, _, _ in variants}
    for _ in range(rounds):
        for label, spec, env in variants:
            if results[label] and 'error' in results[label][-1]:
                continue
            results[label].append(run_child(script, spec, env))
    return results


def child_main(measure):
    """The ``--child JSON`` entry of a benchmark script: print ``measure(**spec)`` as JSON and
    leave at once (MindSpore's teardown prints noise and takes seconds)."""
    if len(sys.argv) == 3 and sys.argv[1] == '--child':
        print(json.dumps(measure(**json.loads(sys.argv[2]))), flush=True)
        os._exit(0)


def step_seconds(step, steps):
    """Per-step wall seconds of ``step()`` (which must block until its result is computed),
    after one compiling/warming call."""
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def round_medians(results, key='step_s'):
    """The per-round median of each child's list ``key`` -> {label: [seconds per round]}
    (None for a variant that failed)."""
    out = {}
    for label, runs in results.items():
        good = [statistics.median(r[key]) for r in runs if 'error' not in r]
        out[label] = good or None
    return out


def error_of(runs):
    return next((r['error'] for r in runs if 'error' in r), None)


def cpu_model():
    """lscpu's model name and the CPU count, for the tables' headers."""
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
        name = next(line.split(':', 1)[1].strip() for line in out.splitlines()
                    if line.startswith('Model name'))
    except (OSError, StopIteration):
        name = 'unknown CPU'
    return f"{name}, {os.cpu_count()} CPUs"


def mode_parser(doc, quick, full):
    """The command line every benchmark starts from: its docstring, --quick and --full (help
    texts ``quick`` and ``full``)."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--quick', action='store_true', help=quick)
    group.add_argument('--full', action='store_true', help=full)
    return parser
