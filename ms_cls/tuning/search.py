"""A search instead of a grid: Optuna (an optional dependency, ``pip install optuna``) picks each
variant's settings from the results so far (TPE) and prunes a run whose per-epoch val top-1
falls below the median of the earlier runs at the same epoch (MedianPruner).

Every trial is a sweep variant (``ms_cls.tuning.sweep``): its own config and work dir named from
its settings, trained by scripts/train.py in a subprocess. The study lives in
``<out>/optuna.db`` (SQLite), so a restarted search goes on with the trials it has; a trial a
killed search left running is asked again with the same settings, which leads to the same work
dir, where training resumes. A pruned run is stopped with SIGTERM (its recovery checkpoint
stays) and listed with state 'pruned'.

Search space, one ``KEY=SPEC`` each: ``float:LOW:HIGH[:log]``, ``int:LOW:HIGH[:log]`` or
``choice:A,B,C`` (values parsed as --cfg-options values).
"""
import os

from ..config import parse_value, _split_top_level
from ..errors import ConfigError
from .sweep import TOP1, SweepInterrupted, Variant, best_top1, run_training, variant_name, \
    variant_state

KINDS = ('float', 'int', 'choice')


def parse_search(pairs):
    """['optimizer.lr=float:0.01:0.3:log', 'data.samples_per_gpu=choice:32,64'] ->
    {key: (kind, args, log)}."""
    space = {}
    for pair in pairs or []:
        key, sep, spec = pair.partition('=')
        kind, _, rest = spec.partition(':')
        if not sep or kind not in KINDS or not rest:
            raise ConfigError(f"--search {pair!r}: give KEY=float:LOW:HIGH[:log], "
                              "KEY=int:LOW:HIGH[:log] or KEY=choice:A,B,C.")
        if kind == 'choice':
            space[key] = ('choice', [parse_value(v) for v in _split_top_level(rest)], False)
            continue
        parts = rest.split(':')
        log = parts[2:] == ['log']
        try:
            low, high = (float(p) if kind == 'float' else int(p) for p in parts[:2])
        except ValueError:
            raise ConfigError(f"--search {pair!r}: LOW and HIGH must be {kind}s.") from None
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log) or not low < high \
                or (log and low <= 0):
            raise ConfigError(f"--search {pair!r}: expected {kind}:LOW:HIGH[:log] with LOW < HIGH "
                              "(and LOW > 0 for log).")
        space[key] = (kind, (low, high), log)
    if not space:
        raise ConfigError("--search needs at least one KEY=SPEC.")
    return space


def suggest(trial, space):
    """The trial's options, one per key of ``space``."""
    options = {}
    for key, (kind, args, log) in space.items():
        if kind == 'float':
            options[key] = trial.suggest_float(key, *args, log=log)
        elif kind == 'int':
            options[key] = trial.suggest_int(key, *args, log=log)
        else:
            options[key] = args[trial.suggest_categorical(key, list(range(len(args))))]
    return options


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("--search uses Optuna, an optional dependency: pip install optuna "
                          "(or sweep a --grid).") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _options_of(trial, space):
    """The options of a stored trial (choices are stored as their index)."""
    return {key: (space[key][1][trial.params[key]] if space[key][0] == 'choice'
                  else trial.params[key]) for key in space if key in trial.params}


def run_search(sweep, space, trials, seed=0):
    """Run ``trials`` trials in all (counting those the study already has) into ``sweep``'s
    out dir; the table and summary are rewritten after each."""
    optuna = _import_optuna()
    from optuna.trial import TrialState
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials {trials!r}: give an int >= 1.")
    os.makedirs(sweep.out_dir, exist_ok=True)
    study = optuna.create_study(
        study_name='sweep', direction='maximize', load_if_exists=True,
        storage=f"sqlite:///{os.path.abspath(os.path.join(sweep.out_dir, 'optuna.db'))}",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(stale.number, state=TrialState.FAIL)   # killed: ask its settings again
        study.enqueue_trial(stale.params)
    keys = list(space)
    sweep.swept_keys = keys
    sweep.variants = []
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    for old in study.get_trials(deepcopy=False, states=finished):
        _add(sweep, _options_of(old, space), keys, old.number, old.state == TrialState.PRUNED)
    done = len(sweep.variants)
    while done < trials:
        trial = study.ask()
        v = _add(sweep, suggest(trial, space), keys, trial.number)
        state = variant_state(v.work_dir, v.max_epochs)
        pruned = False
        if state not in ('done', 'diverged', 'failed'):
            v.cfg.dump(v.config_path)
            sweep.log(f"search: trial {trial.number}: {v.name} ({v.max_epochs} epochs in "
                      f"{v.work_dir})")
            reported = set()

            def poll(trial=trial, v=v, reported=reported):
                return _report(trial, v.work_dir, reported)
            code, received, pruned = run_training(v.config_path, v.work_dir, sweep.python,
                                                  poll=poll)
            if received:
                sweep.write_summary()
                raise SweepInterrupted(
                    f"search interrupted during trial {trial.number} ({v.name}); start the same "
                    "command again: it resumes this trial and goes on.",
                    code if code > 128 else 130)
            _report(trial, v.work_dir, reported)
        score = best_top1(v.work_dir)
        final = variant_state(v.work_dir, v.max_epochs)
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
            sweep.results[(v.phase, v.name)]['final_state'] = 'pruned'
            sweep.log(f"search: trial {trial.number} pruned (val top-1 {score or 0:.3f} below "
                      "the median of earlier trials at the same epoch)")
        elif final == 'done' and score is not None:
            study.tell(trial, score)
        else:
            study.tell(trial, state=TrialState.FAIL)
        sweep.write_summary()
        done += 1
    sweep.write_summary()
    best = study.best_trial if any(t.state == TrialState.COMPLETE for t in study.trials) \
        else None
    if best is not None:
        sweep.log(f"search: best trial {best.number}: val top-1 {best.value:.4f} with "
                  f"{_options_of(best, space)}")
    return sweep.summary()


def _add(sweep, options, keys, number, pruned=False):
    """The trial's variant, prepared and listed once (two trials with the same settings share
    a work dir: the second finds it done)."""
    name = variant_name(options, keys)
    for v in sweep.variants:
        if v.name == name:
            return v
    v = Variant(name, options, extra={'trial': number})
    sweep.prepare(v, sweep.screen_epochs, 'full')
    sweep.variants.append(v)
    record = sweep.results.setdefault((v.phase, v.name), {})
    if pruned:
        record['final_state'] = 'pruned'
    return v


def _report(trial, work_dir, reported):
    """Tell the trial the val top-1 of each epoch logged since the last call; True when the
    pruner says stop."""
    from ..analysis.runs import find_log
    from ..engine.log import load_json_log
    if not os.path.isdir(work_dir):
        return False
    path, _ = find_log(work_dir)
    if path is None:
        return False
    try:
        val = load_json_log(path).val
    except ConfigError:
        return False
    if not len(val) or TOP1 not in val:
        return False
    for epoch, top1 in zip(val['epoch'], val[TOP1]):
        if int(epoch) not in reported:
            reported.add(int(epoch))
            trial.report(float(top1), int(epoch))
    return trial.should_prune()
