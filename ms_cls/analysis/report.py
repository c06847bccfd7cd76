"""One self-contained HTML page per run, or per sweep (several work dirs): what the five PNGs,
the JSON log, the result file and the comparison table say, on one page, images embedded.

A run's page: what was trained (model, data, settings that differ from its config's ``_base_``
files, time, status), curves (loss, val top-1/top-5, lr, momentum), the per-class table worst
recall first with the class each is confused with, the confusion matrix and its 20 most-confused
pairs, the most confident mistakes with their Grad-CAMs, and the EDA summary when given.
Several work dirs: the ranked table, the curves overlaid and the settings that differ.

Every number comes from the module that owns its file: the log (engine/log.py), the result file
(evaluation/results.py: a run without one is evaluated once on its val split, and the file is
kept in the work dir), the EDA summary (analysis/eda.py), the comparison table (analysis/runs.py).
"""
import base64
import html
import io
import os
import time

import numpy as np

from ..config import Config, load_bases
from ..errors import ConfigError
from ..engine.log import TOP1, TOP5, load_json_log
from ..evaluation.metrics import confusion_matrix, per_class_table
from ..evaluation.results import confusion_figure, read_results, write_results
from ..fileio import write_text
from .logs import curves_figure, format_minutes
from .runs import HEADERS, _cell, compare_runs, find_config, find_log, run_row

REPORT_FILE = 'report.html'
RESULTS_FILE = 'val_results.json'
CHECKPOINTS = ('best.ckpt', 'latest.ckpt')
GALLERY = 12
#: On the demo shapes Grad-CAM++ peaks on the shape for 0.89 of ResNet-18's right answers,
#: plain Grad-CAM for 0.59 (tests/test_cam.py)
CAM_METHOD = 'gradcam++'
PAIRS = 20
SKIP_KEYS = ('work_dir',)   # set by the trainer, differs by construction
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.num{text-align:right}.note{color:#666;font-size:.85em}
.scroll{max-height:480px;overflow:auto;display:inline-block}
.matrix{max-width:100%;overflow:auto;max-height:900px}
.gallery{display:flex;flex-wrap:wrap;gap:8px}.gallery figure{margin:0;font-size:.75em}
.bad{color:#b00}.good{color:#070}
"""


def esc(value):
    return html.escape(str(value))


def png_tag(fig_or_bytes, alt, width=None):
    """An <img> with the PNG inline (a data: URI), so the page needs no other file."""
    if isinstance(fig_or_bytes, (bytes, bytearray)):
        data = bytes(fig_or_bytes)
    else:
        buffer = io.BytesIO()
        fig_or_bytes.savefig(buffer, format='png', dpi=100)
        data = buffer.getvalue()
    style = f' style="width:{width}px"' if width else ''
    return (f'<img alt="{esc(alt)}"{style} '
            f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">')


def pil_png(img):
    buffer = io.BytesIO()
    img.save(buffer, format='PNG')
    return buffer.getvalue()


def html_table(headers, rows, table_id=None, numeric=()):
    head = ''.join(f'<th>{esc(h)}</th>' for h in headers)
    body = ''.join('<tr>' + ''.join(
        f'<td class="num">{esc(v)}</td>' if i in numeric else f'<td>{esc(v)}</td>'
        for i, v in enumerate(row)) + '</tr>' for row in rows)
    ident = f' id="{table_id}"' if table_id else ''
    return f'<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def flatten(value, prefix=''):
    """{dotted key: value} of a config: dicts by key, lists of dicts by index (pipelines),
    other lists as one value."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f'{prefix}.{key}' if prefix else str(key)))
        return out
    if isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f'{prefix}.{i}'))
        return out
    return {prefix: list(value) if isinstance(value, tuple) else value}


def _shown(value):
    return '(not set)' if value is _MISSING else repr(value)


_MISSING = object()


def base_config_path(name):
    """The config a run started from, as its log names it (relative to where training ran):
    that path, else the same path under the ms_cls checkout, else None."""
    if not name:
        return None
    for candidate in (name, os.path.join(ROOT, name),
                      os.path.join(ROOT, 'configs', *os.path.normpath(name).split(os.sep)[-2:])):
        if os.path.isfile(candidate):
            return candidate
    return None


def setting_changes(cfg, config_name):
    """-> (rows [key, base value, run value, set by], note): the run's merged settings that
    differ from its config's ``_base_`` files; 'set by' tells the config file from overrides
    (--cfg-options, command-line flags)."""
    path = base_config_path(config_name)
    if path is None:
        return [], (f"the config the run started from ({config_name}) is not here, so its "
                    "_base_ files are unknown; every setting is in the dumped config")
    bases, own = flatten(load_bases(path).to_dict()), flatten(Config.fromfile(path).to_dict())
    run = flatten(cfg.to_dict())
    rows = []
    for key in sorted(set(run) | set(bases)):
        if key.split('.')[0] in SKIP_KEYS:
            continue
        before, after = bases.get(key, _MISSING), run.get(key, _MISSING)
        if before != after:
            by = path if own.get(key, _MISSING) == after else 'override (--cfg-options / flag)'
            rows.append([key, _shown(before), _shown(after), by])
    return rows, f"compared with the _base_ files of {os.path.relpath(path)}"


def differing_settings(configs):
    """{key: [value per run]} for the keys whose values differ between the runs."""
    flat = [flatten(cfg.to_dict()) for cfg in configs]
    keys = sorted(set().union(*flat)) if flat else []
    return {k: [f.get(k, _MISSING) for f in flat] for k in keys
            if k.split('.')[0] not in SKIP_KEYS
            and len({repr(f.get(k, _MISSING)) for f in flat}) > 1}


def momentum_figure(cfg, steps_per_epoch, done_steps):
    """For logs from before train records held momentum: the momentum of each step from
    the schedule of the dumped config (what the trainer applied), or None without one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from .schedule import schedule_frame
    try:
        frame = schedule_frame(cfg, steps=steps_per_epoch)
    except (ConfigError, AttributeError, TypeError, KeyError):
        return None
    frame = frame[frame['iter'] < max(done_steps, 1)]
    fig = Figure(figsize=(9, 2.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(frame['iter'] + 1, frame['momentum'], color='tab:orange')
    ax.set_xlabel('iteration')
    ax.set_ylabel('momentum')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def run_results(work_dir, cfg, results=None, log=print):
    """The run's val result file: ``results`` if given, else the work dir's RESULTS_FILE,
    else its best (or latest) checkpoint evaluated on the val split and written there.
    -> (ResultFile or None, checkpoint path or None, note or None)."""
    ckpt = next((os.path.join(work_dir, c) for c in CHECKPOINTS
                 if os.path.isfile(os.path.join(work_dir, c))), None)
    if results:
        return read_results(results), ckpt, None
    path = os.path.join(work_dir, RESULTS_FILE)
    if os.path.isfile(path):
        return read_results(path), ckpt, None
    if ckpt is None:
        return None, None, "no checkpoint in the work dir and no --results: no per-class table"
    if not (cfg.get('data') or {}).get('val'):
        return None, ckpt, "the config has no data.val: no per-class table"
    from ..evaluation.evaluate import evaluate_checkpoint
    from ..evaluation.results import prediction_frame
    log(f"report: evaluating {ckpt} on the val split for the per-class table")
    run = evaluate_checkpoint(cfg, ckpt, 'val', log=log)
    frame = prediction_frame(run.dataset, run.probs, run.model.classes)
    write_results(path, frame, run.probs, run.metrics,
                  items=['pred_label', 'pred_score', 'gt_label', 'class_scores'])
    return read_results(path), ckpt, None


def result_arrays(result):
    """(probs or one-hot predictions (N, C), labels (N,), classes) of the labelled rows."""
    rows = result.rows
    classes = result.classes or sorted(set(rows.get('gt_class', [])) | set(rows.get(
        'pred_class', [])))
    labelled = (rows['gt_label'] >= 0).to_numpy() if 'gt_label' in rows else None
    if labelled is None or not labelled.any():
        raise ConfigError("the result file has no ground-truth labels (gt_label): no per-class "
                          "table; give the result file of a labelled split.")
    if result.scores is not None:
        probs = result.scores[labelled]
    else:
        probs = np.eye(len(classes))[rows['pred_label'].to_numpy()[labelled]]
    return probs, rows['gt_label'].to_numpy()[labelled], list(classes)


def class_section(result):
    probs, labels, classes = result_arrays(result)
    table = per_class_table(probs, labels, classes)
    table = table.assign(_support=-table['support']).sort_values(
        ['recall', '_support'], kind='stable').drop(columns='_support')
    rows = [[name, int(r.support), int(r.correct), f"{r.recall:.3f}", f"{r.precision:.3f}",
             f"{r.f1_score:.3f}", r.most_confused_with or '-']
            for name, r in table.iterrows()]
    counts = confusion_matrix(probs.argmax(axis=1), labels, len(classes))
    off = counts.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind='stable')[:PAIRS]
    pairs = [[classes[i], classes[j], int(off[i, j]),
              f"{off[i, j] / max(counts[i].sum(), 1):.3f}"]
             for i, j in zip(*np.unravel_index(order, off.shape)) if off[i, j]]
    top1 = float((probs.argmax(axis=1) == labels).mean())
    parts = [f'<h2>Classes</h2><p>{len(labels)} labelled images, {len(classes)} classes, top-1 '
             f'<span id="results-top1">{top1:.4f}</span> on this result file; worst recall '
             'first (ties: the larger class first).</p>',
             '<div class="scroll">' + html_table(
                 ['class', 'images', 'right', 'recall', 'precision', 'f1', 'most confused with'],
                 rows, 'class-table', numeric=(1, 2, 3, 4, 5)) + '</div>',
             f'<h2>Confusion matrix</h2><p>The {PAIRS} most-confused pairs (true -> predicted, '
             'the count and its fraction of the true class):</p>',
             html_table(['true class', 'predicted as', 'images', 'fraction'], pairs, 'pairs',
                        numeric=(2, 3)) if pairs else '<p>No mistakes.</p>',
             '<p class="note">Rows: true class, colour: fraction of the row. With many classes '
             'the picture is large: scroll inside the box or open it on its own to zoom.</p>',
             '<div class="matrix">' + png_tag(confusion_figure(counts, classes),
                                             'confusion matrix') + '</div>']
    return '\n'.join(parts)


def gallery_section(result, cfg, ckpt, data_prefix, log=print):
    """The GALLERY most confident mistakes, each with its Grad-CAM for the predicted class."""
    rows = result.rows
    if 'gt_label' not in rows:
        return ''
    wrong = rows[(rows['gt_label'] >= 0) & (rows['pred_label'] != rows['gt_label'])]
    shown = wrong.sort_values('pred_score', ascending=False, kind='stable').head(GALLERY)
    head = (f'<h2>Most confident mistakes</h2><p>The {len(shown)} wrong predictions with the '
            f'highest score (of {len(wrong)}), each with its {CAM_METHOD} map for the predicted '
            'class: where the model looked to decide it.</p>')
    wrong = shown
    if not len(wrong):
        return head + '<p>No mistakes.</p>'
    if ckpt is None or not data_prefix:
        return head + '<p class="note">No checkpoint or image folder: no Grad-CAMs.</p>'
    from ..apis import init_model
    from .cam import image_cams, overlay
    model = init_model(cfg, ckpt)
    classes = result.classes or model.classes
    paths = [os.path.join(data_prefix, f) for f in wrong['filename']]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        return head + f'<p class="note">{len(missing)} images not found, e.g. {esc(missing[0])}.</p>'
    figures = []
    for item, gt in zip(image_cams(model, paths, method=CAM_METHOD), wrong['gt_label']):
        img = overlay(item, gt_class=classes[int(gt)])
        figures.append(f'<figure>{png_tag(pil_png(img), os.path.basename(item["path"]), 160)}'
                       f'<figcaption>{esc(os.path.relpath(item["path"], data_prefix))}'
                       '</figcaption></figure>')
    return head + '<div class="gallery">' + ''.join(figures) + '</div>'


def eda_section(eda_dir):
    from .eda import read_summary
    summary = read_summary(eda_dir)
    splits, dup = summary['splits'], summary.get('duplicates') or {}
    rows = [[n, s['images'], s.get('classes', '-'), s.get('min_per_class', '-'),
             s.get('median_per_class', '-'), s.get('max_per_class', '-'),
             s.get('imbalance_ratio', '-'), s.get('unreadable', 0),
             (dup.get('extra_copies') or {}).get(n, 0)] for n, s in splits.items()]
    parts = [f"<h2>Data (EDA)</h2><p>{esc(summary.get('source', ''))}: {summary['images']} "
             f"images, {summary.get('classes', '-')} classes, "
             f"{len(summary.get('unreadable', []))} unreadable, {dup.get('groups', 0)} groups "
             "of identical files.</p>",
             html_table(['split', 'images', 'classes', 'min/class', 'median/class', 'max/class',
                         'imbalance', 'unreadable', 'duplicate copies'], rows, 'eda-splits',
                        numeric=(1, 2, 3, 4, 5, 6, 7, 8))]
    stats = summary.get('pixel_stats')
    if stats:
        parts.append(f"<p>Pixel mean {stats['mean']}, std {stats['std']} ({stats['split']}, "
                     f"{stats['images']} images).</p>")
    if summary.get('suggestions'):
        parts.append('<ul>' + ''.join(f'<li>{esc(t)}</li>' for t in summary['suggestions'])
                     + '</ul>')
    for name in summary.get('figures') or {}:
        path = os.path.join(eda_dir, name)
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                parts.append(f'<div class="matrix">{png_tag(f.read(), name)}</div>')
    return '\n'.join(parts)


def _curve_keys(logs):
    present = {}
    for log in logs:
        present.update(log.keys())
    return [k for k in ('loss', TOP1, TOP5, 'lr', 'momentum') if k in present]


def _page(title, body):
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n'
            f'<h1>{esc(title)}</h1>\n{body}\n<p class="note">Written by ms_cls '
            f'(scripts/report.py) at {time.strftime("%Y-%m-%d %H:%M:%S")}.</p></body></html>\n')


def run_report(work_dir, out=None, results=None, eda=None, cams=True, log=print):
    """Write the HTML page of one run; returns its path (default ``work_dir/report.html``)."""
    path, note = find_log(work_dir)
    if path is None:
        raise ConfigError(f"{note}: nothing to report (give a work dir of scripts/train.py).")
    run_log = load_json_log(path)
    row, notes = run_row(work_dir)
    notes = ([note] if note else []) + notes
    config = find_config(work_dir, run_log.meta)
    if config is None:
        raise ConfigError(f"{work_dir}: no dumped config (.py) of the run; is this a work dir "
                          "of scripts/train.py?")
    cfg = Config.fromfile(config)
    data = cfg.get('data') or {}
    best = row.get(TOP1)
    summary = [
        ('run', row['run']), ('status', row['status']), ('model', row.get('model')),
        ('config', run_log.meta.get('config') or config),
        ('train data', (data.get('train') or {}).get('data_prefix')),
        ('val data', (data.get('val') or {}).get('data_prefix')),
        ('classes', run_log.meta.get('classes')),
        ('epochs', f"{row['epochs']} / {row.get('max_epochs')}"),
        ('batch', row.get('batch')), ('lr', row.get('lr')),
        ('lr schedule', row.get('lr_schedule')), ('augmentation', row.get('augmentation')),
        ('train time', _cell('train_min', row.get('train_min'))),
        ('device', f"{run_log.meta.get('device')}, MindSpore {run_log.meta.get('mindspore')}, "
                   f"amp {run_log.meta.get('amp_level')}, seed {run_log.meta.get('seed')}")]
    body = [f'<p>Best val top-1 <b id="best-top1">{_cell(TOP1, best)}</b>'
            + (f" at epoch {row['best_epoch']}" if best is not None else '')
            + (f", best top-5 {_cell(TOP5, row.get(TOP5))}" if row.get(TOP5) is not None else '')
            + f"; status <b>{esc(row['status'])}</b>.</p>",
            '<h2>What was trained</h2>',
            html_table(['', ''], [[k, '-' if v is None else v] for k, v in summary], 'run-info')]
    if run_log.failure or run_log.diverged:
        err = run_log.diverged or run_log.failure
        body.append(f'<p class="bad">{esc(err.get("message", err.get("kind")))}</p>')
    changes, change_note = setting_changes(cfg, run_log.meta.get('config'))
    body += ['<h2>Settings that differ from the base config</h2>',
             f'<p class="note">{esc(change_note)}</p>',
             html_table(['key', 'base', 'this run', 'set by'], changes, 'settings')
             if changes else '<p>None.</p>']
    keys = _curve_keys([run_log])
    body.append('<h2>Curves</h2>')
    if keys:
        fig, curve_notes = curves_figure([run_log], keys, title=row['run'])
        notes += curve_notes
        body.append(png_tag(fig, 'training curves'))
    else:
        body.append('<p>No train or val records yet.</p>')
    if 'momentum' not in keys:     # a log written before train records held momentum
        done = int(run_log.train['step'].max()) if len(run_log.train) else 0
        momentum = momentum_figure(cfg, run_log.steps_per_epoch, done)
        if momentum is not None:
            body.append(png_tag(momentum, 'momentum'))
    try:
        result, ckpt, result_note = run_results(work_dir, cfg, results, log)
    except ConfigError as err:
        result, ckpt, result_note = None, None, str(err)
    if result is not None:
        try:
            body.append(class_section(result))
            if cams:
                prefix = result.data_prefix or (data.get('val') or {}).get('data_prefix')
                body.append(gallery_section(result, cfg, ckpt, prefix, log))
        except ConfigError as err:
            notes.append(str(err))
    if result_note:
        notes.append(result_note)
    if eda:
        body.append(eda_section(eda))
    if notes:
        body.append('<h2>Notes</h2><ul>' + ''.join(f'<li>{esc(n)}</li>' for n in notes)
                    + '</ul>')
    out = out or os.path.join(work_dir, REPORT_FILE)
    write_text(out, _page(f"Run report: {row['run']}", '\n'.join(body)))
    return out


def sweep_report(work_dirs, out, eda=None):
    """Write the HTML page comparing several runs (any work dirs, e.g. a sweep's)."""
    frame, notes = compare_runs(work_dirs)
    columns = [c for c in frame.columns if c != 'max_epochs']
    rows = [[_cell(c, r[c]) if c != 'epochs' else f"{_cell(c, r[c])}/{_cell(c, r['max_epochs'])}"
             for c in columns] for _, r in frame.iterrows()]
    body = [f'<p>{len(frame)} runs, best val top-1 first. Best: <b id="best-top1">'
            f'{_cell(TOP1, frame[TOP1].iloc[0])}</b> ({esc(frame["run"].iloc[0])}).</p>',
            '<h2>Runs</h2>', html_table([HEADERS.get(c, c) for c in columns], rows, 'runs')]
    logs, configs, names = [], [], []
    for work_dir in work_dirs:
        path, _ = find_log(work_dir) if os.path.isdir(work_dir) else (None, None)
        if path is None:
            continue
        run_log = load_json_log(path)
        logs.append(run_log)
        names.append(os.path.basename(os.path.normpath(work_dir)))
        config = find_config(work_dir, run_log.meta)
        configs.append(Config.fromfile(config) if config else Config({}))
    keys = _curve_keys(logs)
    if keys:
        fig, curve_notes = curves_figure(logs, keys, legend=names)
        notes += curve_notes
        body += ['<h2>Curves</h2>', png_tag(fig, 'training curves, overlaid')]
    differing = differing_settings(configs)
    body.append('<h2>Settings that differ between runs</h2>')
    body.append(html_table(['key'] + names, [[k] + [_shown(v) for v in values]
                                              for k, values in differing.items()], 'differing')
                if differing else '<p>None: the runs share every setting.</p>')
    if eda:
        body.append(eda_section(eda))
    if notes:
        body.append('<h2>Notes</h2><ul>' + ''.join(f'<li>{esc(n)}</li>' for n in notes)
                    + '</ul>')
    write_text(out, _page(f"Sweep report: {len(frame)} runs", '\n'.join(body)))
    return out


def write_report(work_dirs, out=None, results=None, eda=None, cams=True, log=print):
    """scripts/report.py: one work dir -> its run page, several -> the comparison page."""
    if not work_dirs:
        raise ConfigError("give at least one work dir.")
    if len(work_dirs) == 1:
        return run_report(work_dirs[0], out, results, eda, cams, log)
    if results:
        raise ConfigError("--results belongs to one run; give one work dir with it.")
    if not out:
        raise ConfigError("several work dirs: name the page with --out report.html.")
    return sweep_report(work_dirs, out, eda)


def report_after_training(summary, log=print):
    """scripts/train.py's last step: the run's page in its work dir. The run is done by now,
    so a report that cannot be made is a warning, not a failed run. A data-parallel run's
    processes stop here (one process would evaluate inside the parallel context)."""
    from ..distributed import launched_by_msrun
    work_dir = summary['work_dir']
    if launched_by_msrun():
        log(f"report: not written in a data-parallel run; make it with "
            f"python scripts/report.py {work_dir}")
        return None
    started = time.time()
    try:
        path = run_report(work_dir, log=log)
    except ConfigError as err:
        log(f"WARNING: no report ({err}); python scripts/report.py {work_dir} retries")
        return None
    log(f"report: {path} ({format_minutes((time.time() - started) / 60)})")
    return path
