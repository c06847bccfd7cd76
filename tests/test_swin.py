"""SwinTransformer backbone: MindCV names, shapes, freezing, graph-mode training, PyTorch parity."""
import re

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.errors import ConfigError
from ms_cls.models.builder import build_loss, build_model
from ms_cls.models.swin import (SwinTransformer, resize_pos_embed, swin_from_torch,
                                swin_param_names, unfold_to_concat)


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
    ('arch', 'huge', "arch='huge'"), ('arch', dict(embed_dims=16, depths=[2]), 'keys'),
    ('arch', dict(embed_dims=16, depths=[2, 2], num_heads=[3, 2]), 'multiple of num_heads'),
    ('img_size', 48, 'img_size=48'),
    ('img_size', (64, 40), r'img_size=\(64, 40\)'), ('out_indices', (2, 3), 'out_indices'),
    ('frozen_stages', 4, 'frozen_stages'), ('drop_path_rate', 1.5, 'drop_path_rate')])
def test_unsupported_settings_are_config_errors(arg, value, match):
    with pytest.raises(ConfigError, match=match):
        SwinTransformer(**{arg: value})


# ------------------------------------------------------------------ mmcls 0.25's keys

TINY_ARCH = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4])


def swin_block_params(dim, heads, window, hidden_ratio=4):
    """mmcls SwinBlock: norm1, qkv, bias table, proj, norm2, ffn (fc1, fc2)."""
    hidden = hidden_ratio * dim
    return (2 * dim + 3 * dim * dim + 3 * dim + (2 * window - 1) ** 2 * heads + dim * dim + dim
            + 2 * dim + dim * hidden + hidden + hidden * dim + dim)


def swin_backbone_params(embed_dims, depths, heads, window=7, patch=4):
    """The arch formula: patch embedding, blocks, PatchMergings (norm 4C, 4C -> 2C), norm3."""
    total = 3 * patch * patch * embed_dims + embed_dims + 2 * embed_dims
    for i, (depth, head) in enumerate(zip(depths, heads)):
        dim = embed_dims * 2 ** i
        total += depth * swin_block_params(dim, head, window)
        if i < len(depths) - 1:
            total += 2 * 4 * dim + 4 * dim * 2 * dim
    return total + 2 * embed_dims * 2 ** (len(depths) - 1)


@pytest.mark.parametrize('arch', ['large', 'l', 'L'])
def test_swin_large_has_mmcls_parameter_count(arch):
    """Built without drawing weights: 196.53 M with a 1000-class head, mmcls's model zoo
    figure for swin-large_16xb64_in1k (from the arch formula: 194,995,476 in the backbone)."""
    from mindspore.nn.utils import no_init_parameters
    with no_init_parameters():
        backbone = SwinTransformer(arch=arch, img_size=224)
    expected = swin_backbone_params(192, (2, 2, 18, 2), (6, 12, 24, 48))
    assert sum(p.size for p in backbone.get_parameters()) == expected == 194_995_476
    assert round((expected + 1536 * 1000 + 1000) / 1e6, 2) == 196.53
    assert backbone.arch_name == 'Swin-L' and backbone.out_channels == 1536
    assert sorted(p.name for p in backbone.get_parameters()) == sorted(
        n for n in swin_param_names('large') if not n.startswith('classifier.'))


def test_dict_arch_builds_its_stages():
    backbone = SwinTransformer(arch=dict(embed_dims=16, depths=[1, 1, 2], num_heads=[1, 2, 4]),
                               img_size=32, out_indices=(2,), frozen_stages=2)
    assert backbone.out_channels == 64 and backbone.size_divisor == 16
    assert [len(layer.blocks) for layer in backbone.layers] == [1, 1, 2]
    assert not backbone.trainable_params()
    backbone.set_train(False)
    assert backbone(ms.Tensor(images(1, 32))).shape == (1, 64, 2, 2)


def windows(backbone):
    """[(window, shift, padded map)] of every block, stage by stage."""
    return [[(b.window, b.shift, b.padded) for b in layer.blocks] for layer in backbone.layers]


def test_stage_cfgs_set_the_window_per_stage_and_block():
    """96 px: maps 24, 12, 6, 3. Window 12 (the 384-px configs' block_cfgs) splits the 24 map
    into 2x2 windows where the default 7 pads it to 28 (4x4 windows); at 12 the map is one
    window, not shifted; smaller maps get their own size (pad_small_map=False)."""
    default = SwinTransformer(arch=TINY_ARCH, img_size=96)
    assert windows(default)[0] == [(7, 0, (28, 28)), (7, 3, (28, 28))]
    w12 = SwinTransformer(arch=TINY_ARCH, img_size=96,
                          stage_cfgs=dict(block_cfgs=dict(window_size=12)))
    assert windows(w12) == [[(12, 0, (24, 24)), (12, 6, (24, 24))],
                            [(12, 0, (12, 12))] * 2, [(6, 0, (6, 6))] * 2, [(3, 0, (3, 3))] * 2]
    assert w12.layers[0].blocks[1].attn_mask.shape == (1, 4, 1, 144, 144)
    table = 'layers.0.blocks.0.attn.relative_bias.relative_position_bias_table'
    assert w12.parameters_dict()[table].shape == (23 * 23, 2)
    per_stage = SwinTransformer(arch=TINY_ARCH, img_size=96, window_size=4, stage_cfgs=[
        dict(window_size=12, block_cfgs=[dict(), dict(window_size=8, shift=False)]),
        dict(block_cfgs=dict(window_size=5)), dict(pad_small_map=True, window_size=8), dict()])
    assert windows(per_stage) == [[(12, 0, (24, 24)), (8, 0, (24, 24))],
                                  [(5, 0, (15, 15)), (5, 2, (15, 15))],
                                  [(8, 0, (8, 8)), (8, 4, (8, 8))], [(3, 0, (3, 3))] * 2]
    per_stage.set_train(False)
    assert np.isfinite(per_stage(ms.Tensor(images(1, 96))).asnumpy()).all()


def test_other_mmcls_keys():
    backbone = SwinTransformer(
        arch='t', img_size=32, drop_rate=0.1, use_abs_pos_embed=True, frozen_stages=0,
        out_after_downsample=True, with_cp=True, interpolate_mode='bilinear',
        norm_cfg=dict(type='LN', eps=1e-6), patch_cfg=dict(norm_cfg=None),
        stage_cfgs=dict(with_cp=True, downsample_cfg=dict(norm_cfg=dict(type='LN', eps=1e-4)),
                        block_cfgs=dict(ffn_ratio=2., attn_cfgs=dict(qk_scale=0.5,
                                                                     auto_pad=True))))
    names = {p.name for p in backbone.get_parameters()}
    assert 'absolute_pos_embed' in names and not any('patch_embed.norm' in n for n in names)
    assert backbone.absolute_pos_embed.shape == (1, 64, 96)
    assert 'absolute_pos_embed' in {p.name for p in backbone.trainable_params()}  # as mmcls
    assert backbone.norm.epsilon == 1e-6 and backbone.layers[0].downsample.norm.epsilon == 1e-4
    block = backbone.layers[0].blocks[0]
    assert block.mlp.fc1.weight.shape == (192, 96) and block.attn.scale == 0.5
    # mmcls's drop_rate: after the patch embedding only, not in the blocks
    assert isinstance(backbone.pos_drop, nn.Dropout) and isinstance(block.mlp.drop, nn.Identity)
    assert 'norm.gamma' not in {p.name for p in SwinTransformer(img_size=32, norm_cfg=None)
                                .get_parameters()}


@pytest.mark.parametrize('args, match', [
    (dict(stage_cfgs=dict(block_cfgs=dict(windowsize=12))),
     "block_cfgs.windowsize .*'window_size'"),
    (dict(stage_cfgs=[dict()] * 3), r'stage_cfgs=\[.*list of 4 dicts'),
    (dict(stage_cfgs=dict(block_cfgs=[dict()] * 3)), 'list of 2 dicts'),
    (dict(stage_cfgs=[{}, {}, dict(window_size=0), {}]), r'stage_cfgs\[2\]\.window_size=0'),
    (dict(stage_cfgs=dict(depth=3)), 'stage_cfgs.depth is not supported'),
    (dict(stage_cfgs=dict(block_cfgs=dict(attn_cfgs=dict(qkv_bias=False)))), 'qkv_bias=False'),
    (dict(stage_cfgs=dict(block_cfgs=dict(ffn_cfgs=dict(act_cfg=dict(type='ReLU'))))),
     'act_cfg'),
    (dict(stage_cfgs=dict(downsample_cfg=dict(out_channels=8))), 'out_channels=8'),
    (dict(norm_cfg=dict(type='BN')), 'norm_cfg'),
    (dict(interpolate_mode='area'), 'interpolate_mode'),
    (dict(patch_cfg=dict(kernel_size=4, stride=2)), 'stride=2'), (dict(with_cp=1), 'with_cp'),
    (dict(pad_small_map='yes'), 'pad_small_map')])
def test_unsupported_mmcls_values_are_config_errors(args, match):
    with pytest.raises(ConfigError, match=match):
        SwinTransformer(img_size=32, **args)


def test_resize_pos_embed_is_torch_interpolate():
    torch = pytest.importorskip('torch', reason='torch is the interpolation reference')
    grid = np.random.default_rng(0).standard_normal((1, 25, 3)).astype(np.float32)
    for mode in ('bicubic', 'bilinear', 'nearest'):
        for size in ((8, 6), (3, 4)):
            expected = torch.nn.functional.interpolate(
                torch.from_numpy(grid).reshape(1, 5, 5, 3).permute(0, 3, 1, 2), size=size,
                mode=mode, **({} if mode == 'nearest' else dict(align_corners=False)))
            expected = expected.flatten(2).transpose(1, 2).numpy()
            np.testing.assert_allclose(resize_pos_embed(grid, size, mode), expected, atol=1e-5)


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


# ------------------------------------------------------------------ mmcls's layout

def mmcls_reference(img_size, windows, seed=0, **options):
    torch = pytest.importorskip('torch', reason='the PyTorch parity test needs torch')
    from torch_swin_mmcls_reference import MmclsSwinReference
    torch.manual_seed(seed)
    ref = MmclsSwinReference(16, [2, 2, 2, 2], [2, 2, 4, 4], windows, img_size=img_size,
                             **options).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if 'norm' in name:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if name.endswith('weight') else 0.0))
            elif 'relative_position_bias_table' in name or 'absolute_pos_embed' in name:
                p.normal_(0, 1.0)
            elif name.endswith('bias'):
                p.normal_(0, 0.1)
    return torch, ref


def test_patch_merging_unfold_order():
    """mmcv's PatchMerging (F.unfold: channel c's 2x2 neighbours together) with its weights
    put in Microsoft's concat order by unfold_to_concat == Microsoft's PatchMerging."""
    torch = pytest.importorskip('torch', reason='the PyTorch parity test needs torch')
    from torch_swin_mmcls_reference import PatchMerging as UnfoldMerging
    from torch_swin_reference import PatchMerging as ConcatMerging
    torch.manual_seed(0)
    unfold, concat = UnfoldMerging(3), ConcatMerging(3, (4, 6))
    with torch.no_grad():
        for p in unfold.parameters():
            p.normal_()
    concat.load_state_dict({k: torch.from_numpy(unfold_to_concat(v.numpy()))
                            for k, v in unfold.state_dict().items()})
    x = torch.randn(2, 24, 3)
    with torch.no_grad():
        expected, shape = unfold(x, (4, 6))
        assert shape == (2, 3)
        np.testing.assert_allclose(concat(x).numpy(), expected.numpy(), atol=1e-5)
        unordered = ConcatMerging(3, (4, 6))
        unordered.load_state_dict(unfold.state_dict())  # the same weights, not reordered
        assert np.abs(unordered(x).numpy() - expected.numpy()).max() > 0.1


@pytest.mark.parametrize('ref_size, img_size, options', [
    (224, 224, {}),
    (64, 96, dict(stage_cfgs=dict(block_cfgs=dict(window_size=12)), pad_small_map=True,
                  use_abs_pos_embed=True))])
def test_mmcls_layout_converts_to_equal_logits(ref_size, img_size, options):
    """224 px, window 7: shifted windows in stages 0-2, stage 3's 7x7 map one window, unshifted.
    96 px, window 12 (stage_cfgs), pad_small_map: 24 -> 2x2 windows, 12 -> one window shifted,
    6 and 3 padded to 12 and shifted; the reference's 16x16 absolute_pos_embed is resized to
    24x24 by from_torch where mmcls's forward interpolates it (bicubic)."""
    window = 12 if 'stage_cfgs' in options else 7
    torch, ref = mmcls_reference(ref_size, [window] * 4,
                                 pad_small_map=options.get('pad_small_map', False),
                                 use_abs_pos_embed=options.get('use_abs_pos_embed', False))
    x = images(2, img_size, seed=1)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    state = {(k if k.startswith('head.') else 'backbone.' + k): v.numpy()
             for k, v in ref.state_dict().items()}
    assert 'backbone.stages.0.downsample.reduction.weight' in state
    assert 'backbone.norm3.weight' in state
    backbone = dict(type='SwinTransformer', arch=TINY_ARCH, img_size=img_size, **options)
    params, unused = SwinTransformer.from_torch(state, **backbone)
    assert unused == []
    net = build_model(dict(type='ImageClassifier', backbone=backbone,
                           head=dict(type='LinearClsHead', num_classes=10, in_channels=128)))
    net.set_train(False)
    not_loaded, _ = ms.load_param_into_net(
        net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in params.items()}, strict_load=True)
    assert not_loaded == [] and len(params) == len(list(net.get_parameters()))
    diff = np.abs(net(ms.Tensor(x)).asnumpy() - expected).max()
    print(f'mmcls layout, {img_size}px: max |logit diff| = {diff:.2e}')
    assert diff < 1e-4
    stripped = {k[len('backbone.'):] if k.startswith('backbone.') else k: v
                for k, v in state.items()}
    again, _ = SwinTransformer.from_torch(stripped, **backbone)
    assert all(np.array_equal(again[k], v) for k, v in params.items())
