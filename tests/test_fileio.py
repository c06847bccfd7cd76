"""The atomic writers of ms_cls/fileio.py, and that every writer in ms_cls and scripts uses them."""
import ast
import glob
import os

import numpy as np
import pandas as pd
import pytest

from ms_cls.fileio import save_figure, save_npy, write_csv, write_lines, write_text

from conftest import ROOT


class Unprintable:
    def __str__(self):
        raise RuntimeError('cannot format')

    __repr__ = __str__

    def __reduce__(self):
        raise RuntimeError('cannot pickle')


def figure(broken=False):
    """A small figure; ``broken`` adds an artist that fails while the file is being written."""
    from matplotlib.artist import Artist
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    class Broken(Artist):
        def draw(self, renderer):
            raise RuntimeError('draw failed')
    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [1, 0])
    if broken:
        fig.add_artist(Broken())
    return fig


def test_each_writer_writes_the_target_and_nothing_else(tmp_path):
    write_lines(tmp_path / 'classes.txt', ['a', 'b'])
    assert (tmp_path / 'classes.txt').read_text() == 'a\nb\n'
    write_csv(tmp_path / 't.csv', pd.DataFrame({'iter': [0, 1], 'lr': [0.1, 0.05]}))
    assert (tmp_path / 't.csv').read_text() == 'iter,lr\n0,0.1\n1,0.05\n'
    save_figure(tmp_path / 'f.png', figure(), dpi=50)
    assert (tmp_path / 'f.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'   # format from the name
    save_npy(tmp_path / 'probs.bin', np.eye(3, dtype=np.float32))   # np.save would add .npy
    assert np.array_equal(np.load(tmp_path / 'probs.bin'), np.eye(3))
    assert sorted(os.listdir(tmp_path)) == ['classes.txt', 'f.png', 'probs.bin', 't.csv']


@pytest.mark.parametrize('fail', ['csv', 'figure', 'npy', 'lines'])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, fail):
    path = tmp_path / {'csv': 'x.csv', 'figure': 'x.svg', 'npy': 'x.npy', 'lines': 'x.txt'}[fail]
    write_text(path, 'old')

    def lines():
        yield 'first'
        raise RuntimeError('generator broke')
    with pytest.raises(RuntimeError):
        if fail == 'csv':   # fails on the second row, after the header went out
            write_csv(path, pd.DataFrame({'a': [1, 2], 'b': ['x', Unprintable()]}))
        elif fail == 'figure':
            save_figure(path, figure(broken=True))   # the SVG header is out by then
        elif fail == 'npy':
            save_npy(path, np.array([1, Unprintable()], dtype=object))
        else:
            write_lines(path, lines())
    assert path.read_text() == 'old' and os.listdir(tmp_path) == [path.name]


# Calls that write a file. A writer is fine when one of its arguments is ``tmp``: the temporary
# name fileio.atomic_path/atomic_write hand out (checkpoints, MINDIR export, Pillow images), or
# ``buffer``: an in-memory io.BytesIO (the report's embedded images).
WRITE_METHODS = {'to_csv', 'savefig', 'save', 'export'}
# MindSpore's save_checkpoint; ms_cls.checkpoint.save_checkpoint (called bare) is atomic
MODULE_WRITERS = {('os', 'replace'), ('json', 'dump'), ('np', 'save'), ('shutil', 'copyfile'),
                  ('shutil', 'copy'), ('ms', 'save_checkpoint'), ('mindspore', 'save_checkpoint')}
# file -> (number of direct writes, why they are not atomic)
NOT_ATOMIC = {
    'ms_cls/engine/log.py': (2, 'the run logs are appended and flushed line by line'),
    'ms_cls/data/demo.py': (3, 'writes inside a temporary folder renamed over the data set'),
    'ms_cls/tuning/sweep.py': (1, 'renames a run folder that has no checkpoint aside (no write)'),
    'ms_cls/launch.py': (1, "msrun's own output, streamed into a new folder per launch"),
    'ms_cls/engine/resume.py': (1, "moves an abandoned timeline's checkpoints aside (a rename, "
                                   'no write)'),
    'ms_cls/weights/download.py': (2, 'a download is appended to <name>.part (resumable) and '
                                      'renamed only once verified'),
}


def direct_writes(source):
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', None)
        if name == 'open':
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == 'mode'), None)
            if not (isinstance(mode, ast.Constant) and set(str(mode.value)) & set('wax')):
                continue
        elif not (name in WRITE_METHODS or (isinstance(f, ast.Attribute)
                                            and isinstance(f.value, ast.Name)
                                            and (f.value.id, name) in MODULE_WRITERS)):
            continue
        arguments = list(node.args) + [k.value for k in node.keywords]
        if not any(isinstance(a, ast.Name) and a.id in ('tmp', 'buffer') for a in arguments):
            yield f"line {node.lineno}: {ast.unparse(node)[:70]}"


def test_every_file_is_written_through_fileio():
    found = {}
    for path in glob.glob(os.path.join(ROOT, 'ms_cls', '**', '*.py'), recursive=True) + \
            glob.glob(os.path.join(ROOT, 'scripts', '*.py')):
        rel = os.path.relpath(path, ROOT).replace(os.sep, '/')
        with open(path, encoding='utf-8') as f:
            writes = list(direct_writes(f.read()))
        if writes and rel != 'ms_cls/fileio.py':
            found[rel] = writes
    unexpected = {rel: w for rel, w in found.items()
                  if len(w) != NOT_ATOMIC.get(rel, (0,))[0]}
    stale = sorted(set(NOT_ATOMIC) - set(found))
    assert not unexpected and not stale, (
        f"write through ms_cls.fileio (write_text, write_lines, write_csv, save_figure, save_npy, "
        f"atomic_path): {unexpected}; entries of NOT_ATOMIC to remove: {stale}")


def normal_mode(tmp_path):
    """The mode a plain open() gives a new file in this process (0666 less the umask)."""
    probe = tmp_path / 'probe.txt'
    probe.write_text('x')
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    return mode


def test_atomic_files_get_the_umask_mode_not_the_writers(tmp_path):
    """A writer that leaves its file read-only (MindSpore's checkpoint and MINDIR writers do:
    -r--------) must not hand that mode to the target."""
    from ms_cls.fileio import atomic_write
    old = os.umask(0o027)
    try:
        def read_only(tmp):
            with open(tmp, 'w') as f:
                f.write('weights')
            os.chmod(tmp, 0o400)
        atomic_write(tmp_path / 'latest.ckpt', read_only)
        write_text(tmp_path / 'notes.txt', 'x')
        assert (tmp_path / 'latest.ckpt').stat().st_mode & 0o777 == 0o640
        assert (tmp_path / 'notes.txt').stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_trained_run_s_files_all_have_the_normal_mode(trained, tmp_path):
    _, work_dir, _ = trained
    expected = normal_mode(tmp_path)
    modes = {name: oct(os.stat(os.path.join(work_dir, name)).st_mode & 0o777)
             for name in os.listdir(work_dir) if os.path.isfile(os.path.join(work_dir, name))}
    assert {'latest.ckpt', 'best.ckpt', 'epoch_2.ckpt'} <= set(modes)
    assert set(modes.values()) == {oct(expected)}, modes
