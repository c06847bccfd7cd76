"""Sweeps: one training run per variant of a base config, each in its own work dir.

A variant is a name and a dict of dotted config options (``--cfg-options`` keys). Its merged
config is written to ``<out>/configs/<name>.py`` and trained by ``scripts/train.py`` in a
subprocess with ``--work-dir <out>/<name> --resume auto``: MindSpore's memory goes back to the
system after every run, and a signal to the sweep reaches the run, which saves a recovery
checkpoint as a plain ``train.py`` run does. Started again, the sweep reads each work dir's log:
a variant that finished its epochs is skipped, an interrupted one resumed from its newest
checkpoint, a failed one (an unreadable image, a full disk) retried the same way once the cause
may be fixed, a diverged one left as it is (listed in the table).

After every run the sweep rewrites, in ``<out>``:

- ``sweep.md``: the compare_runs table of every variant, best top-1 first (and its notes);
- ``sweep.csv``: the same table as CSV;
- ``sweep.json``: the machine-readable summary (``SUMMARY_VERSION``; see ``write_summary``);
- ``sweep.png``: best val top-1 against each swept key, one panel per key;
- ``sweep.html``: scripts/report.py's comparison page of the variants (the variants themselves
  train with ``--no-report``: ``scripts/report.py WORK_DIR`` makes one's own page).
"""
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ..config import Config, parse_options, parse_value, _split_top_level
from ..errors import ConfigError, Interrupted
from ..fileio import save_figure, write_text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_SCRIPT = os.path.join(ROOT, 'scripts', 'train.py')
SUMMARY_VERSION = 1
TOP1 = 'accuracy_top-1'
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SweepInterrupted(Interrupted):
    """The sweep stopped on a signal after its current run saved a recovery checkpoint."""


@dataclass
class Variant:
    """One run of a sweep: ``options`` (dotted key -> value) over the base config, or over
    ``config`` when a variants file gives this variant its own."""
    name: str
    options: dict
    config: str = None
    phase: str = 'full'          # 'screen' (--epochs N) or 'full'
    work_dir: str = None
    config_path: str = None      # the merged config written for the run
    max_epochs: int = None
    extra: dict = field(default_factory=dict)   # what k-fold adds per fold (the fold number)
    cfg: object = None           # the merged Config


# ---------------------------------------------------------------- variants


def parse_grid(pairs):
    """['optimizer.lr=0.05,0.1', 'data.samples_per_gpu=32,64'] -> {key: [values]}; a value
    that is itself a list is written in brackets: lr_config.step=[20,40],[30,60]."""
    grid = {}
    for pair in pairs or []:
        key, sep, text = pair.partition('=')
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(f"--grid expects KEY=V1,V2,..., got '{pair}' (e.g. "
                              "optimizer.lr=0.05,0.1,0.2).")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one "
                              f"{key}=V1,V2,....")
        grid[key] = [parse_value(v) for v in _split_top_level(text)]
    return grid


def _value_text(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return '-'.join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return '-'.join(_value_text(v) for v in value.values())
    return str(value)


def short_keys(keys):
    """The last part of each dotted key ('optimizer.lr' -> 'lr'), or more of it where two keys
    would read the same."""
    def tail(key, n):
        parts = [p for p in key.split('.') if not p.isdigit()] or key.split('.')
        return '.'.join(parts[-n:])
    names = {}
    for key in keys:
        n = 1
        while any(tail(key, n) == tail(other, n) for other in keys if other != key) \
                and n < len(key.split('.')):
            n += 1
        names[key] = tail(key, n)
    return names


def variant_name(options, keys=None):
    """A folder name from the settings: {'optimizer.lr': 0.1, 'data.samples_per_gpu': 32} ->
    'lr0.1_samples_per_gpu32'."""
    short = short_keys(list(keys or options))
    text = '_'.join(f"{short[k]}{_value_text(options[k])}" for k in options)
    return safe_name(text)


def safe_name(text):
    return re.sub(r'[^\w.+-]+', '-', str(text)).strip('-') or 'variant'


def grid_variants(grid):
    """Every combination of the grid's values, in the order given (the last key varies
    fastest), each named from its settings."""
    keys = list(grid)
    variants = []
    for values in itertools.product(*(grid[k] for k in keys)):
        options = dict(zip(keys, values))
        variants.append(Variant(variant_name(options, keys), options))
    return variants


def load_variants(path):
    """A variants file: a Python config file (``_base_`` allowed) whose ``variants`` is a list of
    ``dict(name=..., options={dotted key: value}, config=optional other base config)``; a
    relative ``config`` is relative to the variants file."""
    cfg = Config.fromfile(path)
    items = cfg.get('variants')
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{path}: expected `variants = [dict(name=..., options={{...}}), ...]`, "
                          f"got {type(items).__name__ if items is not None else 'no variants'}.")
    variants = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get('options', {}), dict):
            raise ConfigError(f"{path}: variants[{i}] must be dict(name=..., options={{...}}), "
                              f"got {item!r}.")
        unknown = set(item) - {'name', 'options', 'config'}
        if unknown:
            raise ConfigError(f"{path}: variants[{i}] has unknown key(s) {sorted(unknown)}; use "
                              "name, options and config.")
        options = {k: _plain(v) for k, v in (item.get('options') or {}).items()}
        config = item.get('config')
        if config:
            config = os.path.normpath(os.path.join(os.path.dirname(path), config))
            if not os.path.isfile(config):
                raise ConfigError(f"{path}: variants[{i}].config: file not found: {config}")
        name = safe_name(item.get('name') or variant_name(options))
        variants.append(Variant(name, options, config))
    return variants


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if isinstance(value, tuple) \
            else [_plain(v) for v in value]
    return value


def check_names(variants, where='variants'):
    seen = {}
    for v in variants:
        if v.name in seen:
            raise ConfigError(f"{where}: two variants are both named {v.name!r}; give them "
                              "different names (each is a work dir).")
        seen[v.name] = v
    return variants


# ---------------------------------------------------------------- configs and state


def variant_config(base, variant, cfg_options=None, max_epochs=None):
    """The variant's merged config, checked (sections and schedule) without building a model."""
    from ..plan import check_sections, schedule_plan
    options = dict(cfg_options or {})
    options.update(variant.options)
    if max_epochs is not None:
        options['runner.max_epochs'] = max_epochs
    path = variant.config or base
    try:
        cfg = Config.fromfile(path, options)
        check_sections(cfg)
        schedule_plan(cfg)
    except ConfigError as err:
        keys = ', '.join(options) or 'no options'
        raise ConfigError(f"variant {variant.name} ({path} with {keys}): {err}") from None
    return cfg


def variant_state(work_dir, max_epochs):
    """'new' (nothing trained yet), 'done' (``max_epochs`` finished), 'resume', 'diverged' or
    'failed' (an error record in the log: left for the user), read from the run's JSON log."""
    from ..analysis.runs import find_log
    from ..engine.log import load_json_log
    if not os.path.isdir(work_dir):
        return 'new'
    path, _ = find_log(work_dir)
    if path is None:
        return 'resume' if _has_checkpoint(work_dir) else 'new'
    log = load_json_log(path)
    if log.diverged:
        return 'diverged'
    if log.failure and log.failure.get('kind') != 'interrupted':
        return 'failed'
    return 'done' if log.epochs_done() >= max_epochs else 'resume'


def _has_checkpoint(work_dir):
    return any(n.endswith('.ckpt') for n in os.listdir(work_dir))


def best_top1(work_dir, up_to_epoch=None):
    """The best val top-1 of the run (of its first ``up_to_epoch`` epochs), or None."""
    from ..analysis.runs import find_log
    from ..engine.log import load_json_log
    path, _ = find_log(work_dir) if os.path.isdir(work_dir) else (None, None)
    if path is None:
        return None
    val = load_json_log(path).val
    if not len(val) or TOP1 not in val:
        return None
    if up_to_epoch is not None:
        val = val[val['epoch'] <= up_to_epoch]
    return float(val[TOP1].max()) if len(val) else None


# ---------------------------------------------------------------- running


def _die_with_parent():
    """In the child: SIGTERM when the sweep dies (even by SIGKILL), so the run saves a recovery
    checkpoint instead of training on, orphaned (Linux prctl; elsewhere nothing)."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_training(config_path, work_dir, python=None, extra_args=(), poll=None):
    """``scripts/train.py CONFIG --work-dir W --resume auto`` as a child process in its own
    session; SIGINT/SIGTERM to this process are passed on to it (once per signal, as a second
    Ctrl-C to train.py stops at once). ``poll()``, called every second while the run lasts,
    returning True stops it with SIGTERM (a pruned search trial).
    -> (return code, [signals received], stopped by poll)."""
    cmd = [python or sys.executable, TRAIN_SCRIPT, config_path, '--work-dir', work_dir,
           '--resume', 'auto', '--no-report', *extra_args]   # the sweep writes one page
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent)
    received = []
    stopped = False

    def forward(signum, _frame):
        received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)
    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        while True:
            try:
                code = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if poll is not None and not stopped and not received and poll():
                    stopped = True
                    proc.send_signal(signal.SIGTERM)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return code, received, stopped


def command_line(config_path, work_dir):
    return f"python scripts/train.py {config_path} --work-dir {work_dir} --resume auto"


class Sweep:
    """Runs ``variants`` of ``base`` into ``out_dir``; see the module docstring."""

    def __init__(self, base, variants, out_dir, cfg_options=None, swept_keys=None, log=print,
                 kind='sweep', python=None):
        self.base = base
        self.variants = check_names(list(variants))
        self.out_dir = out_dir
        self.cfg_options = parse_options(cfg_options) if isinstance(cfg_options, (list, tuple)) \
            else dict(cfg_options or {})
        self.swept_keys = list(swept_keys) if swept_keys else sorted(
            {k for v in self.variants for k in v.options})
        self.log = log
        self.kind = kind
        self.python = python
        self.results = {}        # (phase, name) -> dict(state, return_code)
        self.screen_epochs = None
        self.top = None
        self.continue_full = True    # finalists go on in their work dir (else: <out>/full)

    # -- preparing

    def prepare(self, variant, max_epochs=None, phase='full'):
        """The variant's config checked, its work dir and config path set (nothing written)."""
        cfg = variant_config(self.base, variant, self.cfg_options, max_epochs)
        variant.phase = phase
        sub = '' if phase == 'screen' or not self.screen_epochs or self.continue_full else 'full'
        variant.work_dir = os.path.join(self.out_dir, sub, variant.name)
        variant.config_path = os.path.join(self.out_dir, 'configs', sub, f'{variant.name}.py')
        variant.max_epochs = int(cfg.runner.max_epochs)
        variant.cfg = cfg
        return variant

    def full_epochs(self):
        """The epochs of a full run: the base config's (with --cfg-options)."""
        probe = Variant(self.variants[0].name, self.variants[0].options, self.variants[0].config)
        return int(variant_config(self.base, probe, self.cfg_options).runner.max_epochs)

    def report(self):
        """The ranked table as written to <out>/<kind>.md, and where the files are."""
        path = os.path.join(self.out_dir, f'{self.kind}.md')
        table = open(path, encoding='utf-8').read() if os.path.isfile(path) else '(no runs logged)'
        return (table + f"\nwrote {path} and {self.kind}.csv, {self.kind}.json, "
                f"{self.kind}.png next to it")

    # -- dry run

    def dry_run(self, img_per_sec=None):
        """Rows (name, options, images, steps/epoch, epochs, iterations, estimate) without
        training; the estimate uses ``img_per_sec`` or the speed of the runs already in
        ``out_dir``."""
        from ..data.builder import build_dataset, loader_spec
        rate, source = (img_per_sec, '--img-per-sec') if img_per_sec else \
            measured_speed([v.work_dir for v in self.variants if v.work_dir])
        rows, sizes = [], {}
        for v in self.variants:
            cfg = v.cfg
            spec = loader_spec(cfg.data, 'train')
            key = repr(cfg.data.train)
            if key not in sizes:
                sizes[key] = len(build_dataset(cfg.data, 'train'))
            images = sizes[key]
            steps = images // spec.batch_size if spec.drop_last else -(-images // spec.batch_size)
            state = variant_state(v.work_dir, v.max_epochs)
            iters = steps * v.max_epochs
            seconds = iters * spec.batch_size / rate if rate else None
            rows.append(dict(name=v.name, phase=v.phase, state=state, images=images,
                             batch=spec.batch_size, steps_per_epoch=steps, epochs=v.max_epochs,
                             iterations=iters, estimate_min=None if seconds is None
                             else seconds / 60))
        return rows, rate, source

    # -- running

    def run(self):
        """Every variant in order, then (screening) the best ``top`` in full."""
        variants = self.variants
        for v in variants:
            self._run_one(v)
        if self.screen_epochs and self.top:
            for v in self.finalists():
                self._run_one(v)
        self.write_summary()
        return self.summary()

    def finalists(self):
        """The best ``top`` screened variants (best top-1 of their first N epochs), prepared
        for their full run: continued in their work dir, or re-run in ``<out>/full``."""
        scored = [(best_top1(v.work_dir, self.screen_epochs), v) for v in self.variants]
        scored = [(s, v) for s, v in scored if s is not None]
        scored.sort(key=lambda sv: -sv[0])
        chosen = []
        for score, v in scored[:self.top]:
            full = Variant(v.name, v.options, v.config)
            self.prepare(full, None, 'full')
            chosen.append(full)
            self.log(f"{self.kind}: {v.name} (top-1 {score:.3f} in {self.screen_epochs} "
                     f"epochs) goes on to {full.max_epochs} epochs")
        self.full_variants = chosen
        return chosen

    def _run_one(self, v):
        state = variant_state(v.work_dir, v.max_epochs)
        record = self.results.setdefault((v.phase, v.name), {})
        record['state'] = state
        if state in ('done', 'diverged'):   # a diverged run would diverge again
            self.log(f"{self.kind}: {v.name}: {state} ({v.work_dir}), skipped")
            return
        if state != 'new' and not _has_checkpoint(v.work_dir):
            self._set_aside(v)
            state = 'new'
        v.cfg.dump(v.config_path)
        verb = {'resume': 'resuming', 'failed': 'retrying (it failed before)'}.get(
            state, 'training')
        self.log(f"{self.kind}: {v.name}: {verb} {v.max_epochs} epochs in {v.work_dir}")
        started = time.time()
        code, received, _ = run_training(v.config_path, v.work_dir, self.python)
        record.update(return_code=code, state=variant_state(v.work_dir, v.max_epochs),
                      seconds=round(time.time() - started, 1))
        self.write_summary()
        if received or code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            raise SweepInterrupted(
                f"{self.kind} interrupted during {v.name} (its run saved a recovery checkpoint "
                f"in {v.work_dir}); start the same command again: finished variants are "
                "skipped and this one is resumed.", code if code > 128 else 130)
        if code != 0:
            self.log(f"{self.kind}: {v.name} exited with code {code}; going on with the next "
                     f"variant (resume it alone with: {command_line(v.config_path, v.work_dir)})")

    def _set_aside(self, v):
        """A run killed before its first checkpoint (``kill -9``, a crash) has nothing to resume
        and train.py would refuse a new run over its config: its folder is renamed, not
        deleted, and the variant starts again."""
        aside = f"{v.work_dir}.no-checkpoint-{time.strftime('%Y%m%d_%H%M%S')}"
        os.replace(v.work_dir, aside)
        self.log(f"{self.kind}: {v.name}: its run stopped before writing a checkpoint; moved "
                 f"{v.work_dir} to {aside} and starting it again")

    # -- summary

    def all_variants(self):
        """The variants of the table: a finalist continued in its screening work dir replaces
        its screening entry."""
        full = {v.work_dir: v for v in getattr(self, 'full_variants', [])}
        listed = [full.pop(v.work_dir, v) for v in self.variants]
        return listed + list(full.values())

    def summary(self):
        """The sweep.json dict."""
        from ..analysis.runs import run_row
        rows = []
        for v in self.all_variants():
            row = {'name': v.name, 'phase': v.phase, 'options': v.options,
                   'config': v.config_path, 'base_config': v.config or self.base,
                   'work_dir': v.work_dir, 'max_epochs': v.max_epochs, **v.extra}
            result = self.results.get((v.phase, v.name), {})
            row['state'] = result.get('final_state') or variant_state(v.work_dir, v.max_epochs)
            row['return_code'] = result.get('return_code')
            table, _ = run_row(v.work_dir) if os.path.isdir(v.work_dir) else (None, [])
            table = table or {}
            for key in (TOP1, 'best_epoch', 'accuracy_top-5', 'final_' + TOP1, 'epochs',
                        'train_min'):
                value = table.get(key)
                row[key] = None if value is None or value != value else value
            rows.append(row)
        ranked = sorted(rows, key=lambda r: -(r[TOP1] if r[TOP1] is not None else -1))
        for rank, row in enumerate(ranked, 1):
            row['rank'] = rank if row[TOP1] is not None else None
        return {'version': SUMMARY_VERSION, 'kind': self.kind, 'base_config': self.base,
                'out_dir': self.out_dir, 'cfg_options': self.cfg_options,
                'swept_keys': self.swept_keys, 'screen_epochs': self.screen_epochs,
                'top': self.top, 'updated': time.strftime('%Y-%m-%dT%H:%M:%S'),
                'variants': ranked}

    def write_summary(self):
        """sweep.md, sweep.csv, sweep.json, sweep.png and sweep.html (the comparison page of
        scripts/report.py; each run's own page: scripts/report.py WORK_DIR) in ``out_dir``, each
        written atomically."""
        from ..analysis.runs import compare_runs, write_comparison
        summary = self.summary()
        write_text(os.path.join(self.out_dir, f'{self.kind}.json'),
                   json.dumps(summary, indent=1, default=str) + '\n')
        dirs = [r['work_dir'] for r in summary['variants'] if os.path.isdir(r['work_dir'])]
        if dirs:
            try:
                frame, notes = compare_runs(dirs)
            except ConfigError:   # no run has logged anything yet
                frame = None
            if frame is not None:
                write_comparison(frame, notes, os.path.join(self.out_dir, f'{self.kind}.md'),
                                 os.path.join(self.out_dir, f'{self.kind}.csv'))
                from ..analysis.report import sweep_report
                sweep_report(dirs, os.path.join(self.out_dir, f'{self.kind}.html'))
        if self.swept_keys:
            plot_sweep(summary, os.path.join(self.out_dir, f'{self.kind}.png'))
        return summary


def measured_speed(work_dirs):
    """(training images per second over the finished epochs of ``work_dirs``, where from), or
    (None, why not)."""
    from ..analysis.runs import find_log
    from ..engine.log import load_json_log
    images = seconds = 0.0
    for work_dir in work_dirs:
        if not os.path.isdir(work_dir):
            continue
        path, _ = find_log(work_dir)
        if path is None:
            continue
        log = load_json_log(path)
        batch = log.meta.get('samples_per_gpu')
        if not batch or not len(log.epochs):
            continue
        images += len(log.epochs) * log.steps_per_epoch * batch * log.meta.get('processes', 1)
        seconds += sum(log.epoch_seconds())
    if not seconds:
        return None, 'no finished epoch in the sweep folder yet (pass --img-per-sec)'
    return images / seconds, f'{int(images)} images trained in this sweep folder'


def plot_sweep(summary, path):
    """Best val top-1 against each swept key, one panel per key (categorical axes for values
    that are not numbers, a log axis for positive numbers spread over 10x or more)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    keys = summary['swept_keys']
    rows = [r for r in summary['variants'] if r.get(TOP1) is not None]
    fig = Figure(figsize=(4 * len(keys), 3.4))
    FigureCanvasAgg(fig)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        points = [(r['options'].get(key), r[TOP1]) for r in rows if key in r['options']]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
        if numeric and points:
            xs = [x for x, _ in points]
            ax.scatter(xs, [y for _, y in points])
            if min(xs) > 0 and max(xs) >= 10 * min(xs):
                ax.set_xscale('log')
        elif points:
            labels = sorted({_value_text(x) for x, _ in points})
            ax.scatter([labels.index(_value_text(x)) for x, _ in points],
                       [y for _, y in points])
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_xlabel(key)
        ax.set_ylabel('best val top-1')
        ax.grid(alpha=0.3)
    fig.suptitle(f"{summary['kind']} {summary['out_dir']}: {len(rows)} runs", fontsize=9)
    fig.tight_layout()
    save_figure(path, fig, dpi=90)


def dry_run_table(rows, rate, source):
    """The --dry-run listing as text."""
    lines = [f"{'variant':40s} {'phase':6s} {'state':8s} {'images':>7s} {'batch':>5s} "
             f"{'steps/ep':>8s} {'epochs':>6s} {'iters':>7s} {'estimate':>9s}"]
    total = 0.0
    for r in rows:
        est = '-' if r['estimate_min'] is None else f"{r['estimate_min']:.1f} min"
        total += r['estimate_min'] or 0.0
        lines.append(f"{r['name'][:40]:40s} {r['phase']:6s} {r['state']:8s} {r['images']:7d} "
                     f"{r['batch']:5d} {r['steps_per_epoch']:8d} {r['epochs']:6d} "
                     f"{r['iterations']:7d} {est:>9s}")
    lines.append(f"{len(rows)} runs, {sum(r['iterations'] for r in rows)} iterations; "
                 + (f"estimate {total:.1f} min at {rate:.0f} img/s ({source}; validation not "
                    "counted)" if rate else f"no time estimate: {source}"))
    return '\n'.join(lines)


def build_sweep(base, grid=None, variants_file=None, out_dir=None, cfg_options=None,
                epochs=None, top=None, rerun=False, search=None, log=print):
    """The Sweep of ``scripts/sweep.py``: a grid, a variants file or a search space
    (``search``: run it with ``ms_cls.tuning.search.run_search``), screening (``epochs``) and
    finalists (``top``); every variant's config is checked here, before anything runs."""
    if sum(bool(x) for x in (grid, variants_file, search)) != 1:
        raise ConfigError("give one of --grid KEY=V1,V2 ..., --variants FILE.py or --search "
                          "KEY=SPEC ....")
    if not os.path.isfile(base):
        raise ConfigError(f"base config not found: {base}")
    if top is not None and (not epochs or search):
        raise ConfigError("--top K picks the best K of a screening run: give --epochs N too "
                          "(and a grid or variants file; a search prunes instead).")
    for flag, value in (('--epochs', epochs), ('--top', top)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{flag} {value!r}: give an int >= 1.")
    if grid:
        parsed = parse_grid(grid)
        variants, keys = grid_variants(parsed), list(parsed)
    elif variants_file:
        variants, keys = load_variants(variants_file), None
    else:
        from .search import parse_search
        variants, keys = [], list(parse_search(search))
    stem = os.path.splitext(os.path.basename(variants_file or base))[0]
    out_dir = out_dir or os.path.join('work_dirs', f"{'search' if search else 'sweep'}_{stem}")
    sweep = Sweep(base, variants, out_dir, cfg_options, keys, log)
    sweep.screen_epochs, sweep.top = epochs, top
    sweep.continue_full = not rerun
    for v in sweep.variants:
        sweep.prepare(v, epochs, 'screen' if epochs else 'full')
    return sweep
