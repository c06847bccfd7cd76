"""frozen_stages / norm_eval: frozen weights and BN statistics must not move under Model.train."""
import numpy as np
import mindspore as ms
import mindspore.dataset as ds
import pytest
from mindspore.train import Model

from ms_cls.errors import ConfigError
from ms_cls.engine.optim import build_optimizer, optimizer_spec
from ms_cls.models.builder import build_loss, build_model
from ms_cls.models.convert import model_cfg


def resnet18(**backbone):
    cfg = model_cfg('resnet18', 4)
    cfg['backbone'].update(backbone)
    return cfg, build_model(cfg)


def snapshot(net):
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


def train_a_little(cfg, net):
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    data = ds.NumpySlicesDataset({'image': rng.standard_normal((16, 3, 32, 32)).astype(np.float32),
                                  'label': rng.integers(0, 4, 16).astype(np.int32)},
                                 shuffle=False).batch(8)
    opt = build_optimizer(optimizer_spec(dict(type='SGD', lr=0.1, momentum=0.9)),
                          net.trainable_params(), np.full(2, 0.1, np.float32))
    Model(net, build_loss(cfg), opt).train(1, data, dataset_sink_mode=False)


def test_frozen_weights_and_bn_statistics_do_not_move_in_training():
    cfg, net = resnet18(frozen_stages=1)
    before = snapshot(net)
    train_a_little(cfg, net)
    after = snapshot(net)
    for name in before:
        same = np.array_equal(before[name], after[name])
        if name.startswith(('conv1.', 'bn1.', 'layer1.')):
            assert same, f'{name} moved although frozen'
    assert not np.array_equal(before['layer2.0.bn1.moving_mean'], after['layer2.0.bn1.moving_mean'])
    assert not np.array_equal(before['layer2.0.conv1.weight'], after['layer2.0.conv1.weight'])


def test_norm_eval_keeps_every_bn_statistic():
    cfg, net = resnet18(norm_eval=True)
    before = snapshot(net)
    train_a_little(cfg, net)
    after = snapshot(net)
    stats = [n for n in before if 'moving_' in n]
    assert stats and all(np.array_equal(before[n], after[n]) for n in stats)
    assert not np.array_equal(before['layer4.1.conv2.weight'], after['layer4.1.conv2.weight'])


def test_bad_frozen_stages():
    with pytest.raises(ConfigError, match='frozen_stages=5'):
        resnet18(frozen_stages=5)
