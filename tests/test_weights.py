"""Loading and converting weights: MindCV names, torchvision/timm/mmcls layouts, parity."""
import json
import os
import subprocess
import sys

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.checkpoint import (META_KEY, load_weights, make_meta, read_checkpoint,
                               save_checkpoint)
from ms_cls.errors import ConfigError
from ms_cls.models.builder import build_model
from ms_cls.models.convert import convert, model_cfg, save_converted

from conftest import ROOT, tiny_cfg
from test_models import mindcv_resnet_names


def logits(net, x):
    net.set_train(False)
    return net(ms.Tensor(x)).asnumpy()


@pytest.fixture(scope='module')
def torch_resnet50():
    torch = pytest.importorskip('torch', reason='PyTorch is the parity reference (pip install torch==2.13.0)')
    from torch_resnet_reference import randomized_resnet50
    return torch, randomized_resnet50(seed=0)


def test_torchvision_resnet50_converts_to_identical_logits(torch_resnet50, tmp_path):
    torch, ref = torch_resnet50
    src = str(tmp_path / 'r50.pth')
    torch.save(ref.state_dict(), src)
    params, _, report = convert(src, 'resnet50')
    assert report[-1].startswith('267/267 parameters converted')
    dst = str(tmp_path / 'r50.ckpt')
    save_converted(params, dst, {})
    net = build_model(model_cfg('resnet50', 1000))
    lines = []
    load_weights(net, dst, log=lines.append)
    assert lines[0].startswith('Loaded 267/267') and 'missing' not in lines[0]
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    diff = np.abs(logits(net, x) - expected).max()
    assert diff < 1e-4, diff


def test_mmcls_and_safetensors_layouts(torch_resnet50, tmp_path):
    torch, ref = torch_resnet50
    from safetensors.numpy import save_file
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    mmcls = {('head.' + k if k.startswith('fc.') else 'backbone.' + k): v for k, v in state.items()}
    torch.save({'state_dict': {k: torch.from_numpy(v) for k, v in mmcls.items()}},
               str(tmp_path / 'mmcls.pth'))
    save_file(state, str(tmp_path / 'tv.safetensors'))
    a, _, _ = convert(str(tmp_path / 'mmcls.pth'), 'resnet50')
    b, _, _ = convert(str(tmp_path / 'tv.safetensors'), 'resnet50')
    assert sorted(a) == sorted(b) == sorted(mindcv_resnet_names(50))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_num_classes_drops_head_and_wrong_arch_is_explained(torch_resnet50, tmp_path):
    torch, ref = torch_resnet50
    src = str(tmp_path / 'r50.pth')
    torch.save(ref.state_dict(), src)
    params, _, report = convert(src, 'resnet50', num_classes=257)
    assert 'classifier.weight' not in params and 'head dropped: 1000 classes' in report[0]
    with pytest.raises(ConfigError, match='does not fit --arch resnet18'):
        convert(src, 'resnet18')


def test_mindcv_checkpoint_loads_with_no_missing_backbone_keys(tmp_path):
    """A checkpoint named as MindCV's resnet50 (plus optimizer and EMA entries) loads fully."""
    net = build_model(model_cfg('resnet50', 1000))
    entries = [{'name': p.name, 'data': p} for p in net.get_parameters()]
    entries += [{'name': 'moments.' + p.name, 'data': p} for p in net.trainable_params()[:3]]
    entries += [{'name': 'ema.' + p.name, 'data': ms.Tensor(p.asnumpy() + 1)}
                for p in net.get_parameters()]
    entries += [{'name': 'adam_m.' + p.name, 'data': p} for p in net.trainable_params()[:3]]
    entries.append({'name': 'global_step', 'data': ms.Tensor(np.array([7], np.int32))})
    path = str(tmp_path / 'mindcv_resnet50.ckpt')
    ms.save_checkpoint(entries, path)
    target = build_model(model_cfg('resnet50', 257))
    lines = []
    load_weights(target, path, log=lines.append, new_head=True)
    assert lines[0] == (f"Loaded 265/267 parameters from {path}; head classifier.* dropped: "
                        "checkpoint has 1000 classes, the model 257")
    load_weights(target, path, log=lines.append, use_ema=True, new_head=True)
    conv = net.parameters_dict()['conv1.weight'].asnumpy()
    np.testing.assert_allclose(target.parameters_dict()['conv1.weight'].asnumpy(), conv + 1)


def test_one_input_channel_sums_the_rgb_first_conv(tmp_path):
    net = build_model(model_cfg('resnet18', 10))
    path = str(tmp_path / 'rgb.ckpt')
    ms.save_checkpoint(net, path)
    cfg = model_cfg('resnet18', 10)
    cfg['backbone']['in_channels'] = 1
    grey = build_model(cfg)
    lines = []
    load_weights(grey, path, log=lines.append)
    assert 'conv1.weight summed over RGB' in lines[0]
    np.testing.assert_allclose(grey.parameters_dict()['conv1.weight'].asnumpy(),
                               net.parameters_dict()['conv1.weight'].asnumpy().sum(1, keepdims=True),
                               rtol=1e-6)


def test_convert_script_writes_a_loadable_ckpt(torch_resnet50, tmp_path):
    torch, ref = torch_resnet50
    src = str(tmp_path / 'r50.pth')
    torch.save(ref.state_dict(), src)
    dst = str(tmp_path / 'out.ckpt')
    res = subprocess.run([sys.executable, 'scripts/convert_weights.py', src, dst, '--arch',
                          'resnet50', '--num-classes', '10'], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert 'head dropped' in res.stdout and f'wrote {dst}' in res.stdout
    params, _ = read_checkpoint(dst)
    assert len(params) == 265
    bad = subprocess.run([sys.executable, 'scripts/convert_weights.py', src + '.missing', dst,
                          '--arch', 'resnet50'], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and 'Source weights not found' in bad.stderr


def test_bias_table_crop_keeps_the_relative_offsets():
    """Row r of a w-window table holds offset (r // (2w-1) - (w-1), r % (2w-1) - (w-1))."""
    from ms_cls.checkpoint import _crop_bias_table
    big, small = 7, 3
    rows = np.arange((2 * big - 1) ** 2)
    offsets = np.stack([rows // (2 * big - 1) - (big - 1), rows % (2 * big - 1) - (big - 1)], 1)
    cropped = _crop_bias_table(offsets.astype(np.float32), ((2 * small - 1) ** 2, 2))
    rows = np.arange((2 * small - 1) ** 2)
    expected = np.stack([rows // (2 * small - 1) - (small - 1), rows % (2 * small - 1) - (small - 1)], 1)
    np.testing.assert_array_equal(cropped, expected)


def test_swin_224_weights_load_into_a_small_input_model(tmp_path):
    """The bias tables are cropped; MindCV's constant Parameters (relative_bias.index,
    attn_mask) are no weights and are ignored."""
    src = build_model(model_cfg('swin-tiny', 10))
    path = str(tmp_path / 'swin224.ckpt')
    mindcv_constants = {'layers.0.blocks.0.attn.relative_bias.index': ms.Tensor(np.zeros(9)),
                        'layers.0.blocks.1.attn_mask': ms.Tensor(np.zeros(4))}
    ms.save_checkpoint(src, path, append_dict=mindcv_constants)
    cfg = model_cfg('swin-tiny', 10)
    cfg['backbone']['img_size'] = 32
    small = build_model(cfg)
    lines = []
    load_weights(small, path, log=lines.append)
    count = len(list(small.get_parameters()))
    assert lines[0].startswith(f'Loaded {count}/{count} parameters')
    assert 'missing' not in lines[0] and 'cropped to the smaller window' in lines[0]


@pytest.fixture(scope='module')
def swin_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('swin') / 'swin_tiny.ckpt')
    ms.save_checkpoint(build_model(model_cfg('swin-tiny', 1000)), path)
    return path


def test_another_networks_checkpoint_is_an_error_not_a_fresh_start(swin_ckpt):
    """A Swin checkpoint as load_from for ResNet-18 used to load 0/102 parameters and train
    from scratch with exit 0."""
    with pytest.raises(ConfigError) as err:
        load_weights(build_model(model_cfg('resnet18', 10)), swin_ckpt, new_head=True,
                     source='load_from')
    message = str(err.value)
    assert message.startswith(f"load_from {swin_ckpt} does not fit ResNet-18: 0 of 100 backbone "
                              "parameters match (not in the checkpoint: conv1.weight,")
    assert "named like MindCV's Swin-T (model.backbone=dict(type='SwinTransformer', " \
           "arch='tiny'))" in message
    assert message.endswith("scripts/convert_weights.py SRC DST --arch resnet18.")


def test_a_deeper_resnet_is_not_loaded_in_part(tmp_path):
    """Every ResNet-18 parameter is in a ResNet-34 checkpoint with its shape; the blocks left
    over would be silently dropped."""
    path = str(tmp_path / 'r34.ckpt')
    ms.save_checkpoint(build_model(model_cfg('resnet34', 10)), path)
    with pytest.raises(ConfigError, match=r"100 of 100 backbone parameters match \(80 weights the "
                       r"model has no place for: layer1\.2\.conv1\.weight.*MindCV's ResNet-34"):
        load_weights(build_model(model_cfg('resnet18', 10)), path, new_head=True)


def test_a_checkpoint_without_head_starts_training_but_cannot_predict(tmp_path):
    net = build_model(model_cfg('resnet18', 10))
    path = str(tmp_path / 'backbone.ckpt')
    save_checkpoint([{'name': p.name, 'data': p} for p in net.get_parameters()
                     if not p.name.startswith('classifier.')], path)
    lines = []
    load_weights(build_model(model_cfg('resnet18', 10)), path, log=lines.append, new_head=True)
    assert lines == [f"Loaded 100/102 parameters from {path}; head classifier.* newly "
                     "initialised: classifier.weight not in the checkpoint"]
    with pytest.raises(ConfigError, match=r"^checkpoint .*backbone\.ckpt: its head \(classifier\.\*\) "
                       "does not fit: classifier.weight not in the checkpoint"):
        load_weights(build_model(model_cfg('resnet18', 10)), path)


def test_eval_refuses_a_checkpoint_that_does_not_fit_the_config(swin_ckpt, tmp_path, write):
    """init_model (test.py, predict.py, export.py): the head must load as well."""
    from ms_cls.apis import init_model
    path = str(tmp_path / 'r18_7.ckpt')
    save_checkpoint(build_model(model_cfg('resnet18', 7)), path, make_meta(classes=list('abcdefg')))
    config = write('m.py', f"model = {model_cfg('resnet18', 10)!r}\n")
    with pytest.raises(ConfigError, match="its head .* checkpoint has 7 classes, the model 10. "
                       "Predicting needs the head the checkpoint was trained with"):
        init_model(config, path)
    with pytest.raises(ConfigError, match=r"^checkpoint .*swin_tiny\.ckpt does not fit ResNet-18"):
        init_model(config, swin_ckpt)


def test_train_with_a_mismatched_load_from_stops_before_the_work_dir(tiny_demo, swin_ckpt,
                                                                     tmp_path):
    from ms_cls.engine.trainer import train
    with pytest.raises(ConfigError, match=r"^load_from .* does not fit ResNet-18: 0 of 100"):
        train(tiny_cfg(tiny_demo, load_from=swin_ckpt), str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_checkpoint_loads_when_free_pages_are_low_but_memory_is_available(tmp_path, monkeypatch):
    """MindSpore checks a .ckpt against free pages only; a full page cache made a ResNet-50
    checkpoint 'too large' mid-suite. ms_cls checks against MemAvailable instead."""
    net = build_model(model_cfg('resnet18', 10))
    path = str(tmp_path / 'r18.ckpt')
    ms.save_checkpoint(net, path)
    real = os.sysconf
    monkeypatch.setattr(os, 'sysconf', lambda name: 1 if name == 'SC_AVPHYS_PAGES' else real(name))
    params, _ = read_checkpoint(path)
    assert len(params) == len(list(net.get_parameters()))


def test_meta_round_trips_with_its_schema_and_defaults(tmp_path):
    path = str(tmp_path / 'run.ckpt')
    meta = make_meta(classes=['cat', 'dog'], epoch=3, ema=True, metrics={'accuracy_top-1': 0.5})
    save_checkpoint(nn.Dense(2, 2), path, meta)
    assert read_checkpoint(path)[1] == {'classes': ['cat', 'dog'], 'epoch': 3, 'ema': True,
                                        'metrics': {'accuracy_top-1': 0.5}, 'step': None,
                                        'best': None, 'seed': None}
    mindcv = str(tmp_path / 'mindcv.ckpt')
    ms.save_checkpoint(nn.Dense(2, 2), mindcv)
    assert read_checkpoint(mindcv)[1] == make_meta() == {'classes': None, 'epoch': None,
                                                         'ema': False, 'metrics': {},
                                                         'step': None, 'best': None,
                                                         'seed': None}
    flat = str(tmp_path / 'flat.ckpt')  # written before the schema: metrics at the top level
    ms.save_checkpoint(nn.Dense(2, 2), flat, append_dict={META_KEY: json.dumps(
        {'classes': ['a'], 'epoch': 2, 'ema': False, 'accuracy_top-1': 0.25})})
    assert read_checkpoint(flat)[1]['metrics'] == {'accuracy_top-1': 0.25}
    bad = str(tmp_path / 'bad.ckpt')
    ms.save_checkpoint(nn.Dense(2, 2), bad, append_dict={META_KEY: '[1, 2'})
    with pytest.raises(ConfigError, match=f"bad.ckpt: its '{META_KEY}' entry is not ms_cls meta"):
        read_checkpoint(bad)


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary_files(tmp_path):
    """MindSpore writes <name>.tmp before renaming; a save that fails mid-write (here: an entry
    name protobuf cannot encode) must leave neither that nor ms_cls's own temporary name."""
    path = str(tmp_path / 'latest.ckpt')
    save_checkpoint(nn.Dense(2, 2), path, make_meta(epoch=1))
    with pytest.raises(ValueError, match='valid unicode'):
        save_checkpoint(nn.Dense(2, 2), path, make_meta(epoch=2),
                        extra={'\udc80': ms.Tensor(np.zeros(1, np.float32))})
    assert os.listdir(tmp_path) == ['latest.ckpt']
    assert read_checkpoint(path)[1]['epoch'] == 1
    with pytest.raises(ConfigError, match=r"must end in \.ckpt .* e\.g\. .*latest\.ckpt"):
        save_checkpoint(nn.Dense(2, 2), str(tmp_path / 'latest'))


def test_models_do_not_import_engine():
    """ms_cls.engine uses ms_cls.models (and both use ms_cls.checkpoint), never the reverse."""
    code = ("import sys, ms_cls.models.builder, ms_cls.models.convert, ms_cls.models.summary; "
            "print(sorted(m for m in sys.modules if m.startswith('ms_cls.engine')))")
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == '[]'
