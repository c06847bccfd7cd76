import numpy as np
import mindspore as ms
import pytest

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.models.builder import build_loss, build_model
from ms_cls.checkpoint import load_weights

from conftest import DEMO_CONFIG

BN = ('gamma', 'beta', 'moving_mean', 'moving_variance')


RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3),
                 152: (3, 8, 36, 3)}


def mindcv_resnet_names(depth):
    """Parameter names of MindCV's resnet{depth} (mindcv/models/resnet.py), spelled out."""
    convs = (1, 2) if depth < 50 else (1, 2, 3)   # BasicBlock / Bottleneck
    names = ['conv1.weight'] + [f'bn1.{p}' for p in BN]
    for stage, blocks in enumerate(RESNET_BLOCKS[depth], start=1):
        for i in range(blocks):
            for j in convs:
                names.append(f'layer{stage}.{i}.conv{j}.weight')
                names += [f'layer{stage}.{i}.bn{j}.{p}' for p in BN]
        if stage > 1 or depth >= 50:  # a BasicBlock layer1 keeps 64 channels at stride 1
            names.append(f'layer{stage}.0.down_sample.0.weight')
            names += [f'layer{stage}.0.down_sample.1.{p}' for p in BN]
    return names + ['classifier.weight', 'classifier.bias']


def model_cfg(depth, num_classes=10):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({'model.backbone.depth': depth, 'model.head.num_classes': num_classes,
                         'model.head.in_channels': 512 if depth < 50 else 2048})
    return cfg.model


@pytest.mark.parametrize('depth, params', [(18, 11_181_642), (50, 23_528_522)])
def test_output_shapes_and_sizes(depth, params):
    net = build_model(model_cfg(depth))
    net.set_train(False)
    out = net(ms.Tensor(np.random.rand(2, 3, 64, 64).astype(np.float32)))
    assert out.shape == (2, 10)
    assert sum(p.size for p in net.trainable_params()) == params


def test_num_classes_must_match_dataset():
    with pytest.raises(ConfigError, match=r'num_classes.* is 10 but the dataset has 3'):
        build_model(model_cfg(18), classes=['a', 'b', 'c'])


def test_unsupported_resnet_settings_are_errors():
    cfg = model_cfg(18)
    cfg.backbone.depth = 20
    with pytest.raises(ConfigError, match='depth=20'):
        build_model(cfg)
    cfg.backbone.depth = 18
    cfg.backbone.out_indices = (0, 1, 2, 3)
    with pytest.raises(ConfigError, match='out_indices'):
        build_model(cfg)


def test_loss_is_weighted_cross_entropy():
    cfg = model_cfg(18)
    cfg.head.loss = dict(type='CrossEntropyLoss', loss_weight=2.0)
    loss = build_loss(cfg)
    logits = ms.Tensor(np.array([[2.0, 0.0, 0.0]], np.float32))
    expected = 2.0 * -np.log(np.exp(2) / (np.exp(2) + 2))
    assert float(loss(logits, ms.Tensor(np.array([0], np.int32))).asnumpy()) == pytest.approx(expected, rel=1e-4)


def test_load_from_drops_a_differently_shaped_head_and_reports(tmp_path):
    src = build_model(model_cfg(18, num_classes=7))
    path = str(tmp_path / 'src.ckpt')
    ms.save_checkpoint(src, path)
    dst = build_model(model_cfg(18, num_classes=10))
    lines = []
    load_weights(dst, path, log=lines.append, new_head=True)
    assert lines[0] == (f"Loaded 100/102 parameters from {path}; head classifier.* dropped: "
                        "checkpoint has 7 classes, the model 10")
    np.testing.assert_array_equal(dst.parameters_dict()['conv1.weight'].asnumpy(),
                                  src.parameters_dict()['conv1.weight'].asnumpy())


def test_load_from_wrong_backbone_is_explained(tmp_path):
    src = build_model(model_cfg(50))
    path = str(tmp_path / 'r50.ckpt')
    ms.save_checkpoint(src, path)
    with pytest.raises(ConfigError, match=r"does not fit ResNet-18: 77 of 100 backbone parameters "
                       r"match \(other shape: layer1\.0\.conv1\.weight \(64, 64, 1, 1\) vs "
                       r"\(64, 64, 3, 3\)"):
        load_weights(build_model(model_cfg(18)), path, log=lambda *_: None, new_head=True)
    with pytest.raises(ConfigError, match='Checkpoint not found'):
        load_weights(build_model(model_cfg(18)), str(tmp_path / 'none.ckpt'))


def test_pretrained_must_name_a_checkpoint():
    cfg = model_cfg(18)
    cfg.pretrained = True
    with pytest.raises(ConfigError, match=r'pretrained=True: give a checkpoint as a path, an '
                                          r'https:// URL, torchvision://NAME or mindcv://NAME'):
        build_model(cfg)


def test_missing_pretrained_file_fails_before_training(tiny_demo, tmp_path):
    from ms_cls.engine.trainer import train
    cfg = Config.fromfile(DEMO_CONFIG, {'model.pretrained': str(tmp_path / 'nope.ckpt')})
    with pytest.raises(ConfigError, match=r'model\.pretrained: checkpoint not found'):
        train(cfg, str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_summary_counts_params_and_multiply_adds():
    from ms_cls.models.convert import model_cfg as arch_cfg
    from ms_cls.models.summary import summarize
    ms.set_context(mode=ms.PYNATIVE_MODE)
    r18 = summarize(build_model(arch_cfg('resnet18', 1000)), (224, 224))
    assert r18['params'] == 11_689_512                     # torchvision's resnet18
    assert r18['macs'] == pytest.approx(1.814e9, rel=2e-3)
    swin = summarize(build_model(arch_cfg('swin-tiny', 1000)), (224, 224))
    assert swin['params'] == 28_288_354                    # timm's swin_tiny_patch4_window7_224
    assert swin['macs'] == pytest.approx(4.49e9, rel=5e-3)  # attention matmuls included
