"""The contract every backbone keeps (ms_cls/models/contract.py) and ImageClassifier's timm-like
interface, checked for every backbone entry on tiny inputs (PyNative: no graph compiles)."""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import mindspore as ms
import pytest

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.models.builder import BACKBONES, backbone_spec, build_model

from conftest import DEMO_CONFIG
from test_models import mindcv_resnet_names
from test_resnet_variants import resnet_names
from test_swin import mindcv_swin_tiny_names

NUM_CLASSES = 5


def resnet_frozen(k):
    """mmcls: 0 freezes the stem, k also layer1..layerk."""
    return ('conv1.', 'bn1.') + tuple(f'layer{i}.' for i in range(1, k + 1))


def deep_stem_frozen(k):
    """mmcls: 0 freezes the whole deep stem (its three conv-BN layers), k also layer1..layerk."""
    return ('stem.',) + tuple(f'layer{i}.' for i in range(1, k + 1))


def swin_frozen(k):
    """mmcls: patch_embed and layers 0..k; the final norm too at k = 3 (out_indices=(3,))."""
    return ('patch_embed.',) + tuple(f'layers.{i}.' for i in range(k + 1)) + \
        (('norm.',) if k == 3 else ())


@dataclass
class Entry:
    backbone: dict
    width: int
    names: list
    sizes: tuple = ()        # two (h, w) to run; () = build only (slow to run here)
    frozen: object = None    # k -> frozen name prefixes, for k = 0..max_frozen
    max_frozen: int = -1
    size_divisor: int = 1
    fixed_size: bool = False  # built for one input size (img_size), so rebuilt per size


ENTRIES = {
    'resnet18': Entry(dict(type='ResNet', depth=18), 512, mindcv_resnet_names(18),
                      ((32, 32), (40, 56)), resnet_frozen, 4),
    'resnet34': Entry(dict(type='ResNet', depth=34), 512, mindcv_resnet_names(34),
                      ((32, 32), (40, 56))),
    'resnet50': Entry(dict(type='ResNet', depth=50), 2048, mindcv_resnet_names(50),
                      ((32, 32), (40, 56))),
    'resnet101': Entry(dict(type='ResNet', depth=101), 2048, mindcv_resnet_names(101)),
    'resnet152': Entry(dict(type='ResNet', depth=152), 2048, mindcv_resnet_names(152)),
    'resnetv1c50': Entry(dict(type='ResNetV1c', depth=50), 2048, resnet_names(50, True),
                         ((32, 32), (40, 56))),
    'resnetv1d50': Entry(dict(type='ResNetV1d', depth=50), 2048,
                         resnet_names(50, True, (2, 3, 4)), ((32, 32), (40, 56)),
                         deep_stem_frozen, 1),
    'resnet18-cifar': Entry(dict(type='ResNet_CIFAR', depth=18), 512, mindcv_resnet_names(18),
                            ((16, 16), (20, 28)), resnet_frozen, 1),
    'swin-tiny': Entry(dict(type='SwinTransformer', arch='tiny', img_size=32), 768,
                       mindcv_swin_tiny_names(), ((32, 32), (64, 32)), swin_frozen, 3,
                       size_divisor=32, fixed_size=True),
}
RUN = [k for k, e in ENTRIES.items() if e.sizes]
FREEZE = [(k, s) for k, e in ENTRIES.items() for s in range(e.max_frozen + 1)]


pytestmark = pytest.mark.usefixtures('pynative')   # conftest.py: PyNative mode


def build(entry, size=None, **backbone):
    backbone = dict(entry.backbone, **backbone)
    if size is not None and entry.fixed_size:
        backbone['img_size'] = size
    net = build_model(dict(backbone=backbone, head=dict(
        type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=entry.width)))
    net.set_train(False)
    return net


@lru_cache(maxsize=None)
def default_net(key):
    """The entry's model at its first size, shared by the tests that leave it as it was."""
    entry = ENTRIES[key]
    return build(entry, entry.sizes[0] if entry.sizes else None)


def images(size):
    return ms.Tensor(np.random.default_rng(0).standard_normal((2, 3) + tuple(size))
                     .astype(np.float32))


def test_every_backbone_type_has_an_entry():
    assert {e.backbone['type'] for e in ENTRIES.values()} == set(BACKBONES)


@pytest.mark.parametrize('key', RUN)
def test_two_input_sizes_and_the_feature_width(key):
    """ResNet runs any size with one network; Swin is built for its img_size (its masks are
    constants), so each size gets its own network."""
    entry = ENTRIES[key]
    net = default_net(key)
    for size in entry.sizes:
        if entry.fixed_size and net.backbone.img_size != size:
            net = build(entry, size)
        assert net.backbone.img_size == (size if entry.fixed_size else None)
        feats = net.forward_features(images(size))
        logits = net.head(feats).asnumpy()
        assert feats.shape == (2, entry.width) and logits.shape == (2, NUM_CLASSES)
        assert np.isfinite(logits).all()
    spec = backbone_spec(entry.backbone)
    assert entry.width == spec.out_channels == net.backbone.out_channels == net.num_features \
        == net.head.classifier.in_channels
    assert spec.size_divisor == net.backbone.size_divisor == entry.size_divisor
    assert net.num_classes == NUM_CLASSES
    # the default (frozen_stages=-1) trains everything but BatchNorm statistics
    assert {p.name for p in net.trainable_params()} == \
        {n for n in entry.names if 'moving_' not in n}


@pytest.mark.parametrize('key', list(ENTRIES))
def test_names_equal_mindcv_and_reset_classifier_keeps_them(key):
    entry = ENTRIES[key]
    net = default_net(key)
    names = [p.name for p in net.get_parameters()]
    assert sorted(names) == sorted(entry.names) and len(names) == len(set(names))
    assert net.backbone.out_channels == backbone_spec(entry.backbone).out_channels == entry.width
    net.classes = [str(i) for i in range(NUM_CLASSES)]
    net.reset_classifier(3)
    assert [p.name for p in net.get_parameters()] == names
    assert net.num_classes == net.head.num_classes == 3 and net.classes is None
    assert net.parameters_dict()['classifier.weight'].shape == (3, entry.width)
    if entry.sizes:
        assert net(images(entry.sizes[0])).shape == (2, 3)
    net.reset_classifier(NUM_CLASSES)  # the shared model back to its width
    assert [p.name for p in net.get_parameters()] == names and net.num_classes == NUM_CLASSES


@pytest.mark.parametrize('key, frozen', FREEZE)
def test_frozen_stages(key, frozen):
    """Frozen parameters have requires_grad False and are not given to the optimizer; all
    others (but BatchNorm statistics, never trained) are."""
    entry = ENTRIES[key]
    net = build(entry, entry.sizes[0], frozen_stages=frozen)
    prefixes = entry.frozen(frozen)
    params = list(net.get_parameters())
    frozen_names = {p.name for p in params if p.name.startswith(prefixes)}
    assert frozen_names and all(not p.requires_grad for p in params if p.name in frozen_names)
    trained = {n for n in entry.names if n not in frozen_names and 'moving_' not in n}
    assert {p.name for p in net.trainable_params()} == trained
    assert all(p.requires_grad for p in params if p.name in trained)


def test_head_width_mismatch_fails_at_build_naming_key_file_and_fix(write):
    """Before this check ResNet-18 with in_channels=2048 failed inside MatMul at the first
    forward; now build_model stops, naming the file that set the value."""
    path = write('r18_wide.py', f"_base_ = [{DEMO_CONFIG!r}]\n"
                                "model = dict(head=dict(in_channels=2048))\n")
    cfg = Config.fromfile(path)
    with pytest.raises(ConfigError, match=r"model\.head\.in_channels \(set in \S*r18_wide\.py\) "
                                          r"is 2048: ResNet-18 outputs 512 channels; set "
                                          r"model\.head\.in_channels=512\."):
        build_model(cfg.model)
    del cfg.model.head['in_channels']
    with pytest.raises(ConfigError, match=r'^model\.head\.in_channels is missing: ResNet-18 '
                                          r'outputs 512 channels'):
        build_model(cfg.model)
