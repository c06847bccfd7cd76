"""scripts/export.py and export_model on the tiny trained run: MINDIR round trip, sidecar,
errors, ONNX as it stands on this machine."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import mindspore as ms
import mindspore.nn as nn

from ms_cls.apis import init_model
from ms_cls.errors import ConfigError
from ms_cls.evaluation import export
from ms_cls.errors import ExportCheckFailed
from ms_cls.evaluation.export import check_shape, export_model
from ms_cls.checkpoint import read_checkpoint, save_checkpoint
from ms_cls.fileio import current_umask

from conftest import ROOT

SHAPE = (1, 3, 32, 32)


def run_paths(trained):
    _, work_dir, _ = trained
    return (os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'),
            os.path.join(work_dir, 'best.ckpt'))


def test_mindir_round_trip_sidecar_and_atomic_write(trained, tmp_path):
    config, ckpt = run_paths(trained)
    result = export_model(config, ckpt, 'MINDIR', SHAPE, out=str(tmp_path / 'model'))
    assert result.path == str(tmp_path / 'model.mindir')
    assert result.max_diff <= 1e-4
    assert result.check.startswith('MINDIR check: max |diff| ')
    assert sorted(os.listdir(tmp_path)) == ['model.mindir', 'model.mindir.json']
    modes = {os.stat(p).st_mode & 0o777 for p in (result.path, result.sidecar)}
    assert modes == {0o666 & ~current_umask()}   # MindSpore's writer leaves -r--------

    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    exported = nn.GraphCell(ms.load(result.path))(ms.Tensor(x)).asnumpy()
    expected = init_model(config, ckpt)(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(exported, expected, atol=1e-4, rtol=0)

    with open(result.sidecar) as f:
        info = json.load(f)
    assert info['classes'] == read_checkpoint(ckpt)[1]['classes']
    assert len(info['classes']) == 10
    assert info['input'] == {'shape': list(SHAPE), 'dtype': 'float32', 'layout': 'NCHW',
                             'channel_order': 'RGB'}
    assert info['output'] == {'shape': [1, 10], 'kind': 'logits'}
    assert info['preprocess'] == [
        {'type': 'Resize', 'size': [32, 32], 'interpolation': 'bilinear'},
        {'type': 'Normalize', 'mean': [127.5] * 3, 'std': [64.0] * 3, 'to_rgb': True}]


def test_default_path_next_to_checkpoint_and_softmax(trained, tmp_path):
    config, ckpt = run_paths(trained)
    own = shutil.copy(ckpt, tmp_path / 'run.ckpt')
    result = export_model(config, own, 'mindir', (2, 3, 32, 32), softmax=True)
    assert result.path == str(tmp_path / 'run.mindir')
    assert sorted(os.listdir(tmp_path)) == ['run.ckpt', 'run.mindir', 'run.mindir.json']
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    probs = nn.GraphCell(ms.load(result.path))(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    with open(result.sidecar) as f:
        assert json.load(f)['output']['kind'] == 'probabilities'


def test_bad_format_shape_and_checkpoint_are_config_errors(trained, tmp_path):
    config, ckpt = run_paths(trained)
    with pytest.raises(ConfigError, match="--format 'TF' is not supported; use one of"):
        export_model(config, ckpt, 'TF', SHAPE, out=str(tmp_path / 'm'))
    with pytest.raises(ConfigError, match='give 4 positive ints N C H W'):
        export_model(config, ckpt, 'MINDIR', (3, 32, 32), out=str(tmp_path / 'm'))
    with pytest.raises(ConfigError, match='channel count, 3 for this model'):
        export_model(config, ckpt, 'MINDIR', (1, 1, 32, 32), out=str(tmp_path / 'm'))
    with pytest.raises(ConfigError, match='not found: give the .ckpt a training run wrote'):
        export_model(config, str(tmp_path / 'missing.ckpt'), 'MINDIR', SHAPE)
    with pytest.raises(ConfigError, match=r'Swin-T needs H and W multiples of 32 \(e\.g\. '
                                          r'--shape 1 3 64 64\)'):
        check_shape([1, 3, 48, 48], {'backbone': {'type': 'SwinTransformer'}})
    assert check_shape([1, 3, 64, 96], {'backbone': {'type': 'SwinTransformer'}}) == (1, 3, 64, 96)
    assert check_shape([1, 3, 33, 47], {'backbone': {'type': 'ResNet', 'depth': 18}}) == \
        (1, 3, 33, 47)
    assert os.listdir(tmp_path) == []


def test_swin_is_rebuilt_for_the_export_size(tmp_path):
    """Swin's masks are built for its img_size, so the export rebuilds it for --shape's H x W;
    32px weights do not fit a 64px Swin (larger windows), and the error says what to export."""
    config = os.path.join(ROOT, 'configs', 'swin', 'swin-tiny_1xb64_demo-32px.py')
    ckpt = str(tmp_path / 'swin32.ckpt')
    save_checkpoint(init_model(config), ckpt)
    with pytest.raises(ConfigError, match=r"does not fit Swin-T.* Swin-T's network follows the input "
                                          r"size: export at the config's img_size, --shape "
                                          r"1 3 32 32\."):
        export_model(config, ckpt, 'MINDIR', (1, 3, 64, 64), out=str(tmp_path / 'm'))
    assert os.listdir(tmp_path) == ['swin32.ckpt']


def test_failed_check_leaves_nothing(trained, tmp_path, monkeypatch):
    config, ckpt = run_paths(trained)
    run = export._run_exported
    monkeypatch.setattr(export, '_run_exported',
                        lambda tmp, fmt, x: (run(tmp, fmt, x)[0] + 1e-3, None))
    with pytest.raises(ExportCheckFailed, match=r'differ .* by 0\.001 \(> 0\.0001\)'):
        export_model(config, ckpt, 'MINDIR', SHAPE, out=str(tmp_path / 'model'))
    assert os.listdir(tmp_path) == []


def test_onnx_exports_or_says_clearly_why_not(trained, tmp_path):
    """MindSpore 2.10's ONNX exporter lacks the ResNet max-pool operator on this machine; should
    a later MindSpore export it, the file must be there and the check line must say whether
    it was run (onnxruntime installed) rather than pretend."""
    config, ckpt = run_paths(trained)
    try:
        result = export_model(config, ckpt, 'ONNX', SHAPE, out=str(tmp_path / 'model'))
    except ConfigError as err:
        assert 'cannot export this model to ONNX' in str(err)
        assert 'not yet supported' in str(err) and '--format MINDIR' in str(err)
        assert os.listdir(tmp_path) == []
    else:
        assert sorted(os.listdir(tmp_path)) == ['model.onnx', 'model.onnx.json']
        try:
            import onnxruntime  # noqa: F401
            assert result.max_diff <= 1e-4
        except ImportError:
            assert result.max_diff is None
            assert 'not run (onnxruntime is not installed)' in result.check


def test_script_prints_the_check_line(trained, tmp_path):
    config, ckpt = run_paths(trained)
    out = tmp_path / 'cli.mindir'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'export.py'), config, ckpt,
                           '--shape', '1', '3', '32', '32', '--out', str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out} and {out}.json" in proc.stdout
    assert 'MINDIR check: max |diff| ' in proc.stdout
    assert 'on a (1, 3, 32, 32) input' in proc.stdout
    bad = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'export.py'), config, ckpt,
                          '--shape', '1', '3', '32'], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert bad.stderr.startswith('ERROR: --shape [1, 3, 32]: give 4 positive ints')
