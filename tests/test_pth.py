"""ms_cls.weights.pth: PyTorch checkpoints read with numpy alone, equal to torch.load, and a
pickle that asks for anything else refused before it runs."""
import collections
import os
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from ms_cls.errors import ConfigError
from ms_cls.weights.pth import read_pth, read_state_dict

from conftest import ROOT

torch = pytest.importorskip('torch', reason='PyTorch writes the reference files '
                                             '(pip install torch==2.13.0)')

FORMATS = {'zip': {}, 'legacy': {'_use_new_zipfile_serialization': False}}


def save(obj, path, fmt):
    torch.save(obj, str(path), **FORMATS[fmt])
    return str(path)


def sample_state():
    """Every kind of tensor a checkpoint holds, including views that share one storage."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=g)
    return collections.OrderedDict([
        ('conv.weight', torch.randn(4, 3, 3, 3, generator=g)),
        ('fc.weight_t', base.t()),                       # non-contiguous, shares base's storage
        ('fc.slice', base[2:, 1:4]),                     # offset and strides into that storage
        ('fc.base', base),
        ('half', torch.randn(3, 2, generator=g).half()),
        ('bf16', torch.randn(7, generator=g).bfloat16()),
        ('bn.num_batches_tracked', torch.tensor(17)),   # 0-d int64
        ('index', torch.arange(-3, 9).reshape(3, 4)),
        ('mask', torch.tensor([True, False, True])),
        ('empty', torch.zeros(0, 4)),
        ('param', torch.nn.Parameter(torch.randn(2, 3, generator=g))),
    ])


def expected_array(tensor):
    """What the reader must give for ``tensor``: bfloat16 as float32, any other dtype kept."""
    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def assert_same(ours, theirs):
    if isinstance(theirs, torch.Tensor):
        expected = expected_array(theirs)
        assert isinstance(ours, np.ndarray) and ours.dtype == expected.dtype
        assert ours.shape == expected.shape and ours.flags['C_CONTIGUOUS']
        np.testing.assert_array_equal(ours, expected)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    else:
        assert ours == theirs


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_both_formats_equal_torch_load(tmp_path, fmt):
    blob = {'state_dict': sample_state(),
            'meta': {'epoch': 12, 'CLASSES': ('cat', 'dog'), 'lr': [0.1, 0.01], 'note': None}}
    path = save(blob, tmp_path / 'ckpt.pth', fmt)
    ours = read_pth(path)
    assert_same(ours, torch.load(path, map_location='cpu', weights_only=True))
    assert ours['state_dict']['half'].dtype == np.float16
    assert ours['state_dict']['bf16'].dtype == np.float32
    assert ours['state_dict']['bn.num_batches_tracked'].shape == ()


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_read_state_dict_unwraps_and_keeps_only_tensors(tmp_path, fmt):
    weights = collections.OrderedDict([('module.backbone.w', torch.ones(2)),
                                       ('head.b', torch.zeros(3, dtype=torch.float64)),
                                       ('version', 2)])
    for wrapper in ('state_dict', 'model', 'module'):
        path = save({wrapper: weights, 'optimizer': {'lr': 0.1}}, tmp_path / f'{wrapper}.pth', fmt)
        state = read_state_dict(path)
        assert sorted(state) == ['backbone.w', 'head.b'], wrapper
        assert state['head.b'].dtype == np.float64
    plain = read_state_dict(save(weights, tmp_path / 'plain.pth', fmt))
    assert sorted(plain) == ['backbone.w', 'head.b']


def test_big_endian_zip_is_byteswapped(tmp_path):
    """The zip format keeps storages in the writer's byte order, named in its byteorder record."""
    src = save({'w': torch.arange(6.0).reshape(2, 3), 'v': torch.tensor([1.5, -2.0])},
               tmp_path / 'little.pth', 'zip')
    dst = str(tmp_path / 'big.pth')
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith('/byteorder'):
                data = b'big'
            elif '/data/' in name:
                data = np.frombuffer(data, '<f4').astype('>f4').tobytes()
            zout.writestr(name, data)
    state = read_pth(dst)
    np.testing.assert_array_equal(state['w'], np.arange(6.0, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(state['v'], [1.5, -2.0])
    assert state['w'].dtype.isnative


class RunsCommand:
    """Unpickling this runs ``os.system(command)``: what a malicious checkpoint does."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class EvalsCode(RunsCommand):
    def __reduce__(self):
        return eval, (f"__import__('os').system({self.command!r})",)


def raw_zip(path, obj):
    """A zip laid out as torch's, whose data.pkl is a plain pickle of ``obj``."""
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('evil/data.pkl', pickle.dumps(obj, protocol=2))
        archive.writestr('evil/version', '3\n')
        archive.writestr('evil/byteorder', 'little')
    return str(path)


@pytest.mark.parametrize('gadget, name', [(RunsCommand, f'{os.system.__module__}.system'),
                                          (EvalsCode, 'builtins.eval')])
@pytest.mark.parametrize('how', ['zip', 'legacy', 'raw zip'])
def test_a_pickle_asking_for_code_is_refused_before_it_runs(tmp_path, gadget, name, how):
    marker = tmp_path / 'pwned'
    blob = {'state_dict': {'w': torch.ones(2)}, 'meta': gadget(f'touch {marker}')}
    path = (raw_zip(tmp_path / 'evil.pth', blob['meta']) if how == 'raw zip'
            else save(blob, tmp_path / 'evil.pth', how))
    for read in (read_pth, read_state_dict):
        with pytest.raises(ConfigError) as err:
            read(path)
        message = str(err.value)
        assert path in message and name in message and 'refused' in message
        assert '\n' not in message
    assert not marker.exists()


def test_a_pickle_cannot_change_the_stand_ins_for_later_files(tmp_path):
    """BUILD on torch.FloatStorage's stand-in: the next file still reads its floats as floats."""
    poison = (b'\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x05\x00\x00\x00int64sb.')
    path = tmp_path / 'poison.pth'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('poison/data.pkl', poison)
    assert read_pth(str(path)).dtype == 'int64'
    good = read_pth(save({'w': torch.tensor([1.5, 2.5])}, tmp_path / 'good.pth', 'zip'))
    np.testing.assert_array_equal(good['w'], np.array([1.5, 2.5], np.float32))


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_truncated_or_corrupt_file_is_one_clear_line(tmp_path, fmt):
    path = save({'state_dict': sample_state()}, tmp_path / 'full.pth', fmt)
    data = open(path, 'rb').read()
    cut = tmp_path / 'cut.pth'
    for damaged in (data[:len(data) // 2], data[:len(data) - 100], data[:40]):
        cut.write_bytes(damaged)
        with pytest.raises(ConfigError, match='truncated or corrupt') as err:
            read_pth(str(cut))
        assert str(cut) in str(err.value) and 'download again' in str(err.value)
        assert '\n' not in str(err.value)
    if fmt == 'zip':   # the bytes of a storage changed: zip's CRC notices
        flipped = bytearray(data)
        flipped[data.index(b'data/0') + 200] ^= 0xFF
        cut.write_bytes(bytes(flipped))
        with pytest.raises(ConfigError, match='truncated or corrupt'):
            read_pth(str(cut))


def test_other_files_are_named_for_what_they_are(tmp_path):
    cases = {'page.pth': (b'<!DOCTYPE html><html>Sign in</html>', 'HTML'),
             'empty.pth': (b'', 'empty'),
             'lfs.pth': (b'version https://git-lfs.github.com/spec/v1\noid sha256:ab', 'Git LFS'),
             'plain.pth': (pickle.dumps({'w': [1.0]}, protocol=2), 'magic number'),
             'other.zip.pth': (None, 'zip archive'),
             'scripted.pt': ('jit', 'TorchScript')}
    for name, (data, words) in cases.items():
        path = tmp_path / name
        if data == 'jit':
            with warnings.catch_warnings():   # torch 2.13 deprecates TorchScript
                warnings.simplefilter('ignore', DeprecationWarning)
                torch.jit.save(torch.jit.script(torch.nn.Linear(2, 1)), str(path))
        elif data is None:
            with zipfile.ZipFile(path, 'w') as archive:
                archive.writestr('readme.txt', 'hello')
        else:
            path.write_bytes(data)
        with pytest.raises(ConfigError, match='is not a PyTorch checkpoint') as err:
            read_pth(str(path))
        assert words in str(err.value), name
    with pytest.raises(ConfigError, match='not a file'):
        read_pth(str(tmp_path))


def torchvision_resnet18_state(num_classes):
    """Random weights named and shaped as torchvision's resnet18.state_dict()."""
    g = torch.Generator().manual_seed(0)
    state = collections.OrderedDict()

    def conv(name, cin, cout, k):
        state[name + '.weight'] = torch.randn(cout, cin, k, k, generator=g) * 0.05

    def bn(name, c):
        state[name + '.weight'] = torch.rand(c, generator=g) + 0.5
        state[name + '.bias'] = torch.randn(c, generator=g) * 0.1
        state[name + '.running_mean'] = torch.randn(c, generator=g) * 0.1
        state[name + '.running_var'] = torch.rand(c, generator=g) + 0.5
        state[name + '.num_batches_tracked'] = torch.tensor(0)

    conv('conv1', 3, 64, 7)
    bn('bn1', 64)
    cin = 64
    for layer, cout in enumerate((64, 128, 256, 512), 1):
        for block in range(2):
            prefix = f'layer{layer}.{block}'
            conv(prefix + '.conv1', cin, cout, 3)
            bn(prefix + '.bn1', cout)
            conv(prefix + '.conv2', cout, cout, 3)
            bn(prefix + '.bn2', cout)
            if block == 0 and cin != cout:
                conv(prefix + '.downsample.0', cin, cout, 1)
                bn(prefix + '.downsample.1', cout)
            cin = cout
    state['fc.weight'] = torch.randn(num_classes, 512, generator=g) * 0.05
    state['fc.bias'] = torch.zeros(num_classes)
    return state


def test_convert_reads_pth_without_torch(tmp_path, monkeypatch):
    from ms_cls.models.convert import convert
    state = torchvision_resnet18_state(num_classes=10)
    path = save({'state_dict': state}, tmp_path / 'r18.pth', 'legacy')
    monkeypatch.setitem(sys.modules, 'torch', None)   # `import torch` now raises ImportError
    params, _, report = convert(path, 'resnet18')
    assert report[-1].startswith('102/102 parameters converted'), report
    np.testing.assert_array_equal(params['classifier.weight'], state['fc.weight'].numpy())


def test_convert_script_reports_a_truncated_pth_in_one_line(tmp_path):
    path = save({'w': torch.ones(100)}, tmp_path / 'r18.pth', 'zip')
    with open(path, 'r+b') as f:
        f.truncate(300)
    res = subprocess.run([sys.executable, 'scripts/convert_weights.py', path,
                          str(tmp_path / 'out.ckpt'), '--arch', 'resnet18'],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and 'Traceback' not in res.stderr
    assert res.stderr.startswith(f'ERROR: {path}: truncated or corrupt')
    assert not (tmp_path / 'out.ckpt').exists()
