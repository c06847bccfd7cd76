"""mmcls's ResNet family (ResNetV1c, ResNetV1d, ResNet_CIFAR) and the ResNet keys of mmcls 0.25's
config files (norm_cfg, drop_path_rate, expansion, zero_init_residual...), with weight parity
against a PyTorch reference in mmcls's layout."""
import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.errors import ConfigError
from ms_cls.models.builder import BACKBONES, build_model
from ms_cls.models.layers import DropPath

from test_models import BN, mindcv_resnet_names

NUM_CLASSES = 10


def resnet_names(depth, deep_stem=False, pooled=()):
    """Our parameter names: MindCV's, with the deep stem ``stem.K.conv/bn`` for conv1/bn1 and
    ``down_sample.1/2`` (conv, bn) in the stages ``pooled`` whose shortcut average-pools."""
    names = mindcv_resnet_names(depth)
    if deep_stem:
        names = [n for n in names if not n.startswith(('conv1.', 'bn1.'))]
        names += [f'stem.{i}.conv.weight' for i in range(3)]
        names += [f'stem.{i}.bn.{p}' for i in range(3) for p in BN]
    for stage in pooled:
        prefix = f'layer{stage}.0.down_sample.'
        names = [n.replace(prefix + '1.', prefix + '2.').replace(prefix + '0.', prefix + '1.')
                 for n in names]
    return names


pytestmark = pytest.mark.usefixtures('pynative')   # conftest.py: PyNative mode


def classifier(backbone_type='ResNet', depth=18, **backbone):
    width = BACKBONES.get(backbone_type).spec(depth, **backbone).out_channels
    net = build_model(dict(backbone=dict(type=backbone_type, depth=depth, **backbone),
                           head=dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                                     in_channels=width)))
    net.set_train(False)
    return net


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize('backbone_type, depth, params', [
    ('ResNetV1c', 50, 25_576_264), ('ResNetV1d', 50, 25_576_264), ('ResNet_CIFAR', 18, 11_173_962)])
def test_parameter_counts_are_mmcls_metafiles(backbone_type, depth, params):
    """mmcls's model zoo: resnetv1c50 / resnetv1d50 25.58 M (1000 classes), resnet18_cifar
    11.17 M (10 classes)."""
    classes = 10 if backbone_type == 'ResNet_CIFAR' else 1000
    net = build_model(dict(backbone=dict(type=backbone_type, depth=depth), head=dict(
        type='LinearClsHead', num_classes=classes, in_channels=512 if depth < 50 else 2048)))
    assert sum(p.size for p in net.trainable_params()) == params
    pooled = (2, 3, 4) if backbone_type == 'ResNetV1d' else ()
    assert sorted(p.name for p in net.get_parameters()) == \
        sorted(resnet_names(depth, backbone_type != 'ResNet_CIFAR', pooled))


def test_cifar_stem_keeps_the_resolution():
    net = classifier('ResNet_CIFAR', 18, stem_channels=8, base_channels=8)
    assert net.backbone(ms.Tensor(images((2, 3, 20, 28)))).shape == (2, 64, 3, 4)
    assert net.backbone.stage_reductions == (1, 2, 4, 8)


# --- parity with PyTorch -------------------------------------------------------------------

PARITY = {
    'v1c50': ('ResNetV1c', 50, {}, dict(stem='deep'), (40, 56)),
    # odd maps at the pooled shortcuts (10x14 -> 5x7 -> 3x4 -> 2x2): ceil mode, padding not counted
    'v1d50': ('ResNetV1d', 50, {}, dict(stem='deep', avg_down=True), (40, 56)),
    'cifar18': ('ResNet_CIFAR', 18, {}, dict(stem='cifar'), (20, 28)),
    # wide-resnet50's keys at small widths, with caffe style and the plain stem pooling down
    'wide-caffe': ('ResNet', 50, dict(stem_channels=16, base_channels=32, expansion=2,
                                      style='caffe', avg_down=True),
                   dict(stem_channels=16, base_channels=32, expansion=2, style='caffe',
                        avg_down=True), (36, 36)),
}


@pytest.fixture(scope='module')
def torch():
    return pytest.importorskip('torch', reason='PyTorch is the parity reference '
                                               '(pip install torch==2.13.0)')


def mmcls_reference(torch, key):
    from torch_resnet_reference import randomized_mmcls_resnet
    _, depth, _, ref_args, _ = PARITY[key]
    ref = randomized_mmcls_resnet(depth, seed=1, num_classes=NUM_CLASSES, **ref_args)
    return ref, {k: v.numpy() for k, v in ref.state_dict().items()}


def load(net, params):
    not_loaded, unused = ms.load_param_into_net(
        net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in params.items()})
    assert not_loaded == [] and unused == []


@pytest.mark.parametrize('key', list(PARITY))
def test_mmcls_weights_convert_to_the_same_logits(torch, key):
    backbone_type, depth, args, _, size = PARITY[key]
    ref, state = mmcls_reference(torch, key)
    params, unused = BACKBONES.get(backbone_type).from_torch(state, **args)
    assert unused == []
    net = classifier(backbone_type, depth, **args)
    load(net, params)
    x = images((2, 3) + size)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    diff = np.abs(net(ms.Tensor(x)).asnumpy() - expected).max()
    assert diff < 1e-4 * max(1.0, np.abs(expected).max()), diff


def test_timm_resnet_d_layout_converts_to_the_same_names(torch):
    """timm's resnet50d: the deep stem is conv1.{0,1,3,4,6} + bn1, every first block's shortcut
    is downsample.{1,2} (an Identity at 0 where it does not pool), the head fc."""
    _, state = mmcls_reference(torch, 'v1d50')
    timm_names = {'stem.0.conv': 'conv1.0', 'stem.0.bn': 'conv1.1', 'stem.1.conv': 'conv1.3',
                  'stem.1.bn': 'conv1.4', 'stem.2.conv': 'conv1.6', 'stem.2.bn': 'bn1',
                  'layer1.0.downsample.1': 'layer1.0.downsample.2',
                  'layer1.0.downsample.0': 'layer1.0.downsample.1'}
    timm = {}
    for key, value in state.items():
        name = key.replace('backbone.', '').replace('head.fc.', 'fc.')
        for ours, theirs in timm_names.items():
            if name.startswith(ours + '.'):
                name = theirs + name[len(ours):]
                break
        timm[name] = value
    from_mmcls, _ = BACKBONES.get('ResNetV1d').from_torch(state, depth=50)
    from_timm, unused = BACKBONES.get('ResNetV1d').from_torch(timm, depth=50)
    assert unused == [] and sorted(from_timm) == sorted(from_mmcls)
    assert all(np.array_equal(from_timm[k], from_mmcls[k]) for k in from_mmcls)


def test_every_resnet_type_converts_and_plain_resnet_keeps_its_converter():
    from ms_cls.models.resnet import resnet_from_torch
    state = {'conv1.weight': np.zeros((64, 3, 7, 7), np.float32),
             'bn1.running_var': np.ones(64, np.float32), 'fc.bias': np.zeros(3, np.float32),
             'layer2.0.downsample.1.weight': np.ones(128, np.float32)}
    expected = (['conv1.weight', 'bn1.moving_variance', 'classifier.bias',
                 'layer2.0.down_sample.1.gamma'], [])
    got = BACKBONES.get('ResNet').from_torch(state, depth=18)
    assert (list(got[0]), got[1]) == expected and list(resnet_from_torch(state)[0]) == expected[0]
    for name in ('ResNetV1c', 'ResNetV1d', 'ResNet_CIFAR'):
        assert callable(BACKBONES.get(name).from_torch)


# --- mmcls's arguments -----------------------------------------------------------------------

def test_norm_cfg_eps_momentum_and_syncbn_in_one_process():
    """torch momentum 0.1 is MindSpore's 0.9; SyncBN in one process (or on CPU) is a plain
    BatchNorm2d with the same parameter names."""
    bn = classifier('ResNetV1d', 18, norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01))
    sync = classifier('ResNetV1d', 18, norm_cfg=dict(type='SyncBN', requires_grad=True))
    norms = [c for _, c in bn.cells_and_names() if isinstance(c, nn.BatchNorm2d)]
    # BatchNorm2d(momentum=0.99) keeps 1 - 0.99 as .momentum: the new batch's weight, torch's
    assert norms and all(n.eps == pytest.approx(1e-3) and n.momentum == pytest.approx(0.01)
                         for n in norms)
    assert all(type(c) is not nn.SyncBatchNorm for _, c in sync.cells_and_names())
    assert [p.name for p in sync.get_parameters()] == [p.name for p in bn.get_parameters()]
    with pytest.raises(ConfigError, match=r"norm_cfg=\{'type': 'GN'.*BN, BN2d, SyncBN"):
        classifier('ResNet', 18, norm_cfg=dict(type='GN', num_groups=4))
    with pytest.raises(ConfigError, match="norm_cfg key 'affine' is not supported"):
        classifier('ResNet', 18, norm_cfg=dict(type='BN', affine=False))


def test_requires_grad_false_leaves_bn_affine_untrained():
    """(zero_init_residual off: with frozen gammas at 0 the blocks would stay the identity and
    their convs get no gradient, in mmcls too; that setting is for pretrained weights.)"""
    from test_freeze import snapshot, train_a_little
    cfg = dict(backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8, base_channels=8,
                             norm_cfg=dict(type='BN', requires_grad=False),
                             zero_init_residual=False),
               head=dict(type='LinearClsHead', num_classes=4, in_channels=64))
    net = build_model(cfg)
    assert not any(p.name.endswith(('.gamma', '.beta')) for p in net.trainable_params())
    before = snapshot(net)
    train_a_little(cfg, net)
    after = snapshot(net)
    affine = [n for n in before if n.endswith(('.gamma', '.beta'))]
    assert affine and all(np.array_equal(before[n], after[n]) for n in affine)
    assert not np.array_equal(before['bn1.moving_mean'], after['bn1.moving_mean'])
    assert not np.array_equal(before['layer1.0.conv1.weight'], after['layer1.0.conv1.weight'])


def test_zero_init_residual_is_mmcls_default():
    def last_gammas(net):
        return [c.bn3.gamma.asnumpy() for _, c in net.cells_and_names() if hasattr(c, 'bn3')]

    default = last_gammas(classifier('ResNetV1c', 50, base_channels=8, stem_channels=8))
    assert len(default) == 16 and all((g == 0).all() for g in default)
    off = last_gammas(classifier('ResNetV1c', 50, base_channels=8, stem_channels=8,
                                 zero_init_residual=False))
    assert all((g == 1).all() for g in off)


def test_drop_path_rate_reaches_every_block_with_the_same_rate():
    """mmcls gives every block drop_path_rate (it does not grow with depth); <= 1e-5 builds none."""
    net = classifier('ResNetV1d', 50, base_channels=8, stem_channels=8, drop_path_rate=0.05)
    paths = [c.drop_path for _, c in net.cells_and_names() if hasattr(c, 'drop_path')]
    assert len(paths) == 16 and all(isinstance(p, DropPath) for p in paths)
    assert all(p.dropout.p == pytest.approx(0.05) for p in paths)
    none = classifier('ResNet', 18, drop_path_rate=1e-6)
    assert not any(isinstance(c, DropPath) for _, c in none.cells_and_names())
    drop = DropPath(0.5)
    drop.set_train(True)
    out = drop(ms.Tensor(np.ones((64, 2, 3, 3), np.float32))).asnumpy()
    per_sample = out.reshape(64, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert all(len(set(row)) == 1 for row in per_sample)  # the whole map, per sample
    drop.set_train(False)
    assert (drop(ms.Tensor(np.ones((4, 2, 3, 3), np.float32))).asnumpy() == 1).all()


@pytest.mark.parametrize('backbone_type, args, message', [
    ('ResNet_CIFAR', dict(deep_stem=True), 'ResNet_CIFAR has no deep stem'),
    ('ResNetV1c', dict(avg_down=True), r'ResNetV1c sets avg_down=False itself'),
    ('ResNet', dict(conv_cfg=dict(type='DCNv2')), 'conv_cfg=.*plain convolutions only'),
    ('ResNet', dict(drop_path_rate=1.0), r'drop_path_rate must be in \[0, 1\)'),
    ('ResNet', dict(expansion=2), 'expansion=2.*1 for depth 18'),
    ('ResNet', dict(strides=(1, 2, 2)), r'strides=\(1, 2, 2\): give 4 positive ints'),
])
def test_what_cannot_be_honoured_is_a_config_error(backbone_type, args, message):
    with pytest.raises(ConfigError, match=message):
        build_model(dict(backbone=dict(type=backbone_type, depth=18, **args),
                         head=dict(type='LinearClsHead', num_classes=2, in_channels=512)))


def test_accepted_no_ops_and_mmcls_defaults():
    """with_cp (torch's activation checkpointing) and conv_cfg=None change nothing here."""
    net = classifier('ResNetV1c', 18, with_cp=True, conv_cfg=None, dilations=(1, 1, 1, 2),
                     strides=(1, 2, 2, 1))
    assert net.backbone(ms.Tensor(images((1, 3, 32, 32)))).shape == (1, 512, 2, 2)
    assert net.backbone.stage_reductions == (4, 8, 16, 16)


def test_grad_cam_default_layer_and_flops():
    """Grad-CAM's default is layer4 when its map is 7+ cells a side, else the deepest stage
    whose map is (the CIFAR stem keeps 4x the resolution); MACs within 1 % of mmcls's model
    zoo (resnetv1d50: 4.36 G at 224 px, resnet18_cifar 0.56 G at 32 px: mmcv also counts BN,
    ReLU and pooling, 0.8 % of them, as for resnet50's 4.12 G against our 4.09 G)."""
    from ms_cls.analysis.cam import default_target_layer
    from ms_cls.models.summary import count_macs
    cifar = classifier('ResNet_CIFAR', 18)
    v1d = classifier('ResNetV1d', 50)
    assert default_target_layer(cifar, (32, 32)) == 'backbone.layer3'
    assert default_target_layer(cifar, (56, 56)) == 'backbone.layer4'
    assert default_target_layer(v1d, (32, 32)) == 'backbone.layer1'
    assert default_target_layer(v1d, (224, 224)) == 'backbone.layer4'
    assert count_macs(cifar, (32, 32)) == pytest.approx(0.56e9, rel=1e-2)
    assert count_macs(v1d, (224, 224)) == pytest.approx(4.36e9, rel=1e-2)
