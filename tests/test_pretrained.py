"""Pretrained weights named the way mmcls users name them: init_cfg Pretrained with an https URL
and prefix, model.pretrained, load_from, init_model; PyTorch files converted once and cached;
everything served by a loopback server (tests/loopback.py)."""
import hashlib
import os
import re

import numpy as np
import pytest

from ms_cls.checkpoint import load_weights, read_checkpoint
from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.models.builder import PretrainedSpec, build_model
from ms_cls.weights.sources import pretrained_params

from conftest import ROOT, tiny_cfg
from loopback import cache, server  # noqa: F401  (fixtures)

BN = {'gamma': 'weight', 'beta': 'bias', 'moving_mean': 'running_mean',
      'moving_variance': 'running_var'}


def mmcls_names(params):
    """This project's ResNet names -> mmcls's (``backbone.`` prefix, ``head.fc``, torch's BN)."""
    out = {}
    for name, value in params.items():
        if name.startswith('classifier.'):
            out['head.fc.' + name.split('.', 1)[1]] = value
            continue
        module, leaf = name.rsplit('.', 1)
        out['backbone.' + module.replace('down_sample', 'downsample') + '.'
            + BN.get(leaf, leaf)] = value
    return out


def resnet_cfg(depth=18, classes=7):
    return dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=depth),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=classes,
                          in_channels=512 if depth < 50 else 2048))


def mmcls_checkpoint(tmp_path, depth=18, classes=7, seed=0):
    """An mmcls-layout ResNet .pth in torch's legacy format (as mmcls publishes), named with its
    SHA-256 prefix as mmcls names its files -> (bytes, name, {our name: array})."""
    torch = pytest.importorskip('torch', reason='torch writes the .pth files of these tests')
    net = build_model(resnet_cfg(depth, classes))
    rng = np.random.default_rng(seed)
    ours = {p.name: (0.02 * rng.standard_normal(p.shape)).astype(np.float32)
            for p in net.get_parameters()}   # small: a 50-layer stack of them stays finite
    for name in ours:
        if name.endswith(('gamma', 'moving_variance')):
            ours[name] = 1 + np.abs(ours[name])
    state = {k: torch.from_numpy(v) for k, v in mmcls_names(ours).items()}
    path = tmp_path / 'upload.pth'
    torch.save({'meta': {'epoch': 100}, 'state_dict': state}, str(path),
               _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    name = f'resnet{depth}_8xb32_in1k_20210831-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    return data, name, ours


def test_init_cfg_with_prefix_loads_the_backbone_and_caches_the_conversion(server, cache,
                                                                            tmp_path):
    data, name, ours = mmcls_checkpoint(tmp_path)
    url = server.add(f'/mmclassification/v0/resnet/{name}', data)
    spec = PretrainedSpec('model.backbone.init_cfg', url, 'backbone', 'backbone')
    backbone = dict(type='ResNet', depth=18)
    lines = []
    params, path, _ = pretrained_params(spec, backbone, log=lines.append)
    assert path == str(cache / name) and not any(k.startswith('classifier') for k in params)
    converted = [f for f in os.listdir(cache) if f.endswith('.ckpt')]
    assert converted and any('converted' in line for line in lines)
    net = build_model(resnet_cfg(classes=10))
    log = []
    load_weights(net, path, log=log.append, new_head=True, source=spec.source, params=params)
    assert log[0].startswith('Loaded 100/102') and 'head classifier.* newly initialised' in log[0]
    got = {p.name: p.asnumpy() for p in net.get_parameters()}
    for key in ('conv1.weight', 'layer4.1.bn2.moving_variance', 'layer2.0.down_sample.0.weight'):
        np.testing.assert_array_equal(got[key], ours[key])
    # the second use: no request, no conversion
    before = len(server.requests)
    lines.clear()
    again, _, _ = pretrained_params(spec, backbone, log=lines.append)
    assert len(server.requests) == before and not any('convert' in line for line in lines)
    np.testing.assert_array_equal(again['conv1.weight'].asnumpy(), ours['conv1.weight'])


def test_a_whole_model_checkpoint_loads_its_head_too(tmp_path):
    """model.pretrained (mmcls: the whole model) from a local .pth: the head comes along."""
    data, name, ours = mmcls_checkpoint(tmp_path)
    local = tmp_path / name
    local.write_bytes(data)
    params, _, _ = pretrained_params(PretrainedSpec('model.pretrained', str(local)),
                                     dict(type='ResNet', depth=18))
    np.testing.assert_array_equal(params['classifier.weight'].asnumpy(), ours['classifier.weight'])
    assert os.listdir(tmp_path) == ['upload.pth', name] or sorted(os.listdir(tmp_path)) == sorted(
        ['upload.pth', name])   # nothing written beside a user's own file


def test_a_prefix_the_checkpoint_lacks_is_one_line(tmp_path):
    data, name, _ = mmcls_checkpoint(tmp_path)
    (tmp_path / name).write_bytes(data)
    spec = PretrainedSpec('model.backbone.init_cfg', str(tmp_path / name), 'backbone', 'neck')
    with pytest.raises(ConfigError, match=r"no key of .* starts with 'neck\.'.*backbone\.conv1"):
        pretrained_params(spec, dict(type='ResNet', depth=18))


def test_plan_checks_references_without_fetching(tmp_path):
    cfg = tiny_cfg(str(tmp_path / 'no-data'), **{
        'model.backbone.init_cfg': dict(type='Pretrained', checkpoint='mindcv://resnet19')})
    from ms_cls.plan import build_plan
    with pytest.raises(ConfigError, match='resnet19'):
        build_plan(cfg)
    cfg = tiny_cfg(str(tmp_path / 'no-data'), load_from=str(tmp_path / 'nope.pth'))
    with pytest.raises(ConfigError, match='load_from: checkpoint not found'):
        build_plan(cfg)


FINE_TUNING_CONFIG = os.path.join(ROOT, 'configs', 'resnet', 'resnet50_8xb32_caltech256.py')


def test_readme_fine_tuning_example_trains_and_a_second_run_makes_no_request(
        server, cache, tmp_path, tiny_demo, monkeypatch):
    """The README's fine-tuning config (the shipped file, quoted whole) on the demo data at
    32 px, its weights' host mirrored to the loopback server (MS_CLS_MIRROR). The published
    file's bytes cannot be made here, so it is served under the name its own hash gives. Every
    backbone stage is frozen for the test, so the checkpoint written after training still
    holds the served weights: they are the ones that were loaded."""
    text = open(FINE_TUNING_CONFIG, encoding='utf-8').read()
    assert text in open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    url = re.search(r"checkpoint = '(https://download.openmmlab.com/[^']+)'", text).group(1)
    data, _, ours = mmcls_checkpoint(tmp_path, depth=50, classes=1000)
    ours_url = url.rsplit('-', 1)[0] + '-' + hashlib.sha256(data).hexdigest()[:8] + '.pth'
    server.add(ours_url.split('download.openmmlab.com', 1)[1], data)
    monkeypatch.setenv('MS_CLS_MIRROR', server.base)
    options = {'data.train.data_prefix': f'{tiny_demo}/train',
               'data.val.data_prefix': f'{tiny_demo}/val',
               'data.test.data_prefix': f'{tiny_demo}/test', 'model.head.num_classes': 10,
               'model.backbone.init_cfg.checkpoint': ours_url,
               'model.backbone.frozen_stages': 4, 'runner.max_epochs': 1,
               'data.samples_per_gpu': 40, 'data.workers_per_gpu': 1,
               'data.train.pipeline.1.size': 32, 'data.val.pipeline.1.size': (36, -1),
               'data.val.pipeline.2.crop_size': 32}
    from ms_cls.engine.trainer import train
    train(Config.fromfile(FINE_TUNING_CONFIG, options), str(tmp_path / 'run1'))
    assert len(server.requests) == 1
    log = open(next((tmp_path / 'run1').glob('*.log'))).read()
    assert 'downloading' in log and 'Loaded 265/267 parameters' in log
    params, _ = read_checkpoint(str(tmp_path / 'run1' / 'latest.ckpt'))
    for key in ('conv1.weight', 'layer3.5.conv2.weight', 'layer4.2.bn3.moving_mean'):
        np.testing.assert_array_equal(params[key].asnumpy(), ours[key])
    train(Config.fromfile(FINE_TUNING_CONFIG, options), str(tmp_path / 'run2'))
    assert len(server.requests) == 1
    log = open(next((tmp_path / 'run2').glob('*.log'))).read()
    assert 'downloading' not in log and 'Loaded 265/267 parameters' in log
