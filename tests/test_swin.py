"""SwinTransformer backbone: MindCV names, shapes, freezing, graph-mode training, PyTorch parity."""
import re

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.errors import ConfigError
from ms_cls.models.builder import build_loss, build_model
from ms_cls.models.swin import SwinTransformer, swin_from_torch


def swin_cfg(img_size=224, num_classes=10, **backbone):
    backbone = dict(dict(type='SwinTransformer', arch='tiny', img_size=img_size,
                         drop_path_rate=0.2), **backbone)
    return dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=768))


def mindcv_swin_tiny_names():
    """Parameter names of MindCV's swin_tiny (mindcv/models/swintransformer.py), spelled out,
    less its two constant Parameters (relative_bias.index, attn_mask) that ms_cls keeps as
    plain Tensors."""
    names = ['patch_embed.proj.weight', 'patch_embed.proj.bias',
             'patch_embed.norm.gamma', 'patch_embed.norm.beta']
    for i, depth in enumerate((2, 2, 6, 2)):
        for j in range(depth):
            block = f'layers.{i}.blocks.{j}'
            names += [f'{block}.norm1.gamma', f'{block}.norm1.beta']
            for part in ('q', 'k', 'v', 'proj'):
                names += [f'{block}.attn.{part}.weight', f'{block}.attn.{part}.bias']
            names.append(f'{block}.attn.relative_bias.relative_position_bias_table')
            names += [f'{block}.norm2.gamma', f'{block}.norm2.beta']
            names += [f'{block}.mlp.{fc}.{p}' for fc in ('fc1', 'fc2') for p in ('weight', 'bias')]
        if i < 3:
            names += [f'layers.{i}.downsample.norm.gamma', f'layers.{i}.downsample.norm.beta',
                      f'layers.{i}.downsample.reduction.weight']
    return names + ['norm.gamma', 'norm.beta', 'classifier.weight', 'classifier.bias']


@pytest.fixture(scope='module')
def swin_t224():
    net = build_model(swin_cfg(224))
    net.set_train(False)
    return net


def images(batch, size, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


def trainable(net):
    return {p.name for p in net.trainable_params()}


def test_parameter_names_equal_mindcv(swin_t224):
    names = [p.name for p in swin_t224.get_parameters()]
    assert sorted(names) == sorted(mindcv_swin_tiny_names())
    assert len(names) == len(set(names))
    assert not [n for n in names if re.search('index|mask', n)]
    table = 'layers.3.blocks.1.attn.relative_bias.relative_position_bias_table'
    assert swin_t224.parameters_dict()[table].shape == (13 * 13, 24)
    assert sum(p.size for p in swin_t224.trainable_params()) == 27_527_044  # as torch's, 10 classes


def test_output_shape_224(swin_t224):
    x = ms.Tensor(images(1, 224))
    assert swin_t224.backbone(x).shape == (1, 768, 7, 7)
    assert swin_t224(x).shape == (1, 10)


@pytest.mark.parametrize('size, hw', [(32, 1), (64, 2)])
def test_output_shapes_small_images(size, hw):
    """32px: stage maps 8 (padded to 14, shifted), 4, 2, 1 (one window each)."""
    net = build_model(swin_cfg(size))
    net.set_train(False)
    assert trainable(net) == {p.name for p in net.get_parameters()}  # frozen_stages=-1
    x = ms.Tensor(images(2, size))
    feats = net.backbone(x)
    assert feats.shape == (2, 768, hw, hw)
    logits = net.head(net.neck(feats)).asnumpy()
    assert logits.shape == (2, 10) and np.isfinite(logits).all()


def test_frozen_stages():
    net = build_model(swin_cfg(32, frozen_stages=1))
    assert trainable(net) == {n for n in mindcv_swin_tiny_names()
                              if n.startswith(('layers.2.', 'layers.3.', 'norm.', 'classifier.'))}
    net = build_model(swin_cfg(32, frozen_stages=0, norm_eval=True))
    frozen = {p.name for p in net.get_parameters()} - trainable(net)
    assert frozen == {n for n in mindcv_swin_tiny_names()
                      if n.startswith(('patch_embed.', 'layers.0.'))}
    backbone = SwinTransformer(arch='t', img_size=(64, 32), frozen_stages=3)  # non-square too
    assert not backbone.trainable_params()
    backbone.set_train(False)
    assert backbone(ms.Tensor(np.zeros((1, 3, 64, 32), np.float32))).shape == (1, 768, 2, 1)


@pytest.mark.parametrize('arg, value, match', [
    ('arch', 'huge', "arch='huge'"), ('img_size', 48, 'img_size=48'),
    ('img_size', (64, 40), r'img_size=\(64, 40\)'), ('out_indices', (2, 3), 'out_indices'),
    ('frozen_stages', 4, 'frozen_stages'), ('drop_path_rate', 1.5, 'drop_path_rate')])
def test_unsupported_settings_are_config_errors(arg, value, match):
    with pytest.raises(ConfigError, match=match):
        SwinTransformer(**{arg: value})


@pytest.fixture
def graph_mode():
    previous = ms.get_context('mode')
    ms.set_context(mode=ms.GRAPH_MODE)
    yield
    ms.set_context(mode=previous)


def test_graph_mode_training_keeps_frozen_stages(graph_mode):
    cfg = swin_cfg(32, frozen_stages=1, drop_rate=0.1, attn_drop_rate=0.1)
    net = build_model(cfg)
    before = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    opt = nn.SGD(net.trainable_params(), learning_rate=0.1, momentum=0.9)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, build_loss(cfg)), opt)
    step.set_train(True)
    x = ms.Tensor(images(4, 32))
    y = ms.Tensor(np.array([0, 1, 2, 3], np.int32))
    losses = [float(step(x, y).asnumpy()) for _ in range(2)]
    assert np.isfinite(losses).all()
    after = {p.name: p.asnumpy() for p in net.get_parameters()}
    names = trainable(net)
    frozen = [n for n in after if n not in names]
    assert frozen and all(np.array_equal(before[n], after[n]) for n in frozen)
    # (layers.3 attends within 1-token windows at 32px: its q and k get no gradient there)
    for name in ('layers.2.blocks.0.attn.q.weight', 'layers.3.blocks.1.mlp.fc1.weight',
                 'norm.gamma', 'classifier.weight'):
        assert not np.array_equal(before[name], after[name]), name


# ------------------------------------------------------------------ parity with PyTorch

def torch_reference(img_size, seed=0):
    torch = pytest.importorskip('torch', reason='the PyTorch parity test needs torch')
    from torch_swin_reference import SwinReference
    torch.manual_seed(seed)
    ref = SwinReference('tiny', img_size=img_size, num_classes=10).eval()
    with torch.no_grad():  # non-trivial norms and bias tables, so a swapped name shows
        for name, p in ref.named_parameters():
            if 'norm' in name:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if name.endswith('weight') else 0.0))
            elif 'relative_position_bias_table' in name:
                p.normal_(0, 1.0)
            elif name.endswith('bias'):
                p.normal_(0, 0.1)
    return torch, ref


def ms_logits(net, state_dict, x):
    """Load a converted PyTorch state dict into ``net`` (every parameter) -> logits of ``x``."""
    params, unexpected = swin_from_torch(state_dict, arch='tiny')
    assert unexpected == []
    not_loaded, _ = ms.load_param_into_net(
        net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in params.items()}, strict_load=True)
    assert not_loaded == [] and len(params) == len(list(net.get_parameters()))
    return net(ms.Tensor(x)).asnumpy()


def timm09_layout(state_dict):
    """timm >= 0.9 keys: PatchMerging at the start of the next stage, head.fc."""
    out = {}
    for key, value in state_dict.items():
        m = re.match(r'layers\.(\d)\.downsample\.(.*)', key)
        key = f'layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}' if m else key
        out[re.sub(r'^head\.', 'head.fc.', key)] = value
    return out


@pytest.mark.parametrize('img_size', [224, 64])
def test_logits_equal_pytorch_reference(img_size, swin_t224):
    """224px: shifted windows in stages 0-2, one 7x7 window in stage 3. 64px: padded maps
    (16 -> 21, 8 -> 14) in stages 0-1, clamped windows (4, 2) in stages 2-3."""
    torch, ref = torch_reference(img_size)
    x = images(2, img_size, seed=1)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    state = ref.state_dict()
    assert any(k.endswith('attn.qkv.weight') for k in state)
    if img_size == 224:
        net = swin_t224
    else:
        net = build_model(swin_cfg(img_size))
        net.set_train(False)
    diff = np.abs(ms_logits(net, state, x) - expected).max()
    print(f'Swin-T {img_size}px: max |logit diff| = {diff:.2e} (logits up to '
          f'{np.abs(expected).max():.2f})')
    assert diff < 1e-4
    if img_size == 64:  # the timm >= 0.9 layout gives the same network
        timm09 = timm09_layout(state)
        assert 'layers.3.downsample.reduction.weight' in timm09 and 'head.fc.weight' in timm09
        diff09 = np.abs(ms_logits(net, timm09, x) - expected).max()
        print(f'Swin-T {img_size}px, timm>=0.9 keys: max |logit diff| = {diff09:.2e}')
        assert diff09 < 1e-4


def test_conversion_reports_unexpected_keys_and_accepts_numpy():
    pytest.importorskip('torch', reason='the conversion test reads a PyTorch state dict')
    _, ref = torch_reference(64)
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    state['layers.1.blocks.5.norm1.weight'] = np.ones(192, np.float32)  # no block 5 in Swin-T
    state['pos_embed'] = np.zeros((1, 4), np.float32)
    params, unexpected = swin_from_torch({'model': state}, arch='t')
    assert unexpected == ['layers.1.blocks.5.norm1.weight', 'pos_embed']
    q, k, v = (params[f'layers.0.blocks.1.attn.{n}.weight'] for n in 'qkv')
    np.testing.assert_array_equal(np.concatenate([q, k, v]),
                                  state['layers.0.blocks.1.attn.qkv.weight'])
    assert 'layers.2.downsample.norm.gamma' in params and 'classifier.bias' in params


def test_swin_demo_config_trains_through_the_trainer_with_sane_losses(swin_demo_run):
    """The padded small-map path (32px: 8x8 padded to 14x14) once used ops.pad, whose CPU
    backward in graph mode corrupted training (losses of 0.000, -3279, then NaN within a few
    steps). The Grad-CAM test's run (the demo config at 32 px, every stage trained): its first
    epoch's losses stay a plausible cross entropy and training brings them down."""
    import math
    from ms_cls.analysis.runs import find_log
    from ms_cls.engine.log import load_json_log
    _, work_dir, summary = swin_demo_run
    train = load_json_log(find_log(work_dir)[0]).train
    first = train.loc[train['epoch'] == 1, 'loss'].tolist()
    assert len(first) == 2 and all(0.5 < loss < 10 for loss in first), first
    assert all(math.isfinite(loss) and loss > 0 for loss in train['loss'])
    assert train['loss_avg'].iloc[-1] < 0.5 * train['loss_avg'].iloc[0]
    assert summary['best_top1'] >= 0.5
