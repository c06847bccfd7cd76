import numpy as np
import mindspore as ms
import pytest

from ms_cls.errors import ConfigError
from ms_cls.models.builder import build_loss

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], np.float32)
LABELS = np.array([0, 1], np.int32)


def log_softmax(x):
    x = x - x.max(1, keepdims=True)
    return x - np.log(np.exp(x).sum(1, keepdims=True))


def loss_of(loss_cfg, labels=LABELS, mode=ms.GRAPH_MODE):
    ms.set_context(mode=mode)
    loss = build_loss(dict(head=dict(num_classes=3, loss=loss_cfg)))
    return float(loss(ms.Tensor(LOGITS), ms.Tensor(labels)).asnumpy())


@pytest.mark.parametrize('mode', [ms.GRAPH_MODE, ms.PYNATIVE_MODE])
def test_cross_entropy_weight_and_class_weight_mean_over_samples(mode):
    ce = -log_softmax(LOGITS)[[0, 1], LABELS]
    assert loss_of(dict(type='CrossEntropyLoss', loss_weight=0.5), mode=mode) == pytest.approx(0.5 * ce.mean(), rel=1e-5)
    weighted = loss_of(dict(type='CrossEntropyLoss', class_weight=[1.0, 3.0, 1.0]), mode=mode)
    assert weighted == pytest.approx((ce[0] * 1 + ce[1] * 3) / 2, rel=1e-5)    # mmcls: / N, not / sum(w)
    assert loss_of(dict(type='CrossEntropyLoss', reduction='sum'), mode=mode) == pytest.approx(ce.sum(), rel=1e-5)


def test_soft_targets_sum_to_the_same_as_hard_ones():
    soft = np.eye(3, dtype=np.float32)[LABELS]
    assert loss_of(dict(type='CrossEntropyLoss'), soft) == pytest.approx(loss_of(dict(type='CrossEntropyLoss')), rel=1e-6)
    mixed = np.array([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]], np.float32)
    expected = -(mixed * log_softmax(LOGITS)).sum(1).mean()
    assert loss_of(dict(type='CrossEntropyLoss', use_soft=True), mixed) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('mode, target', [
    ('original', lambda onehot, e: onehot * (1 - e) + e / 3),
    ('classy_vision', lambda onehot, e: (onehot + e / 3) / (1 + e)),
])
def test_label_smoothing_modes(mode, target):
    smooth = target(np.eye(3, dtype=np.float32)[LABELS], 0.1)
    expected = -(smooth * log_softmax(LOGITS)).sum(1).mean()
    got = loss_of(dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode=mode))
    assert got == pytest.approx(expected, rel=1e-5)


def test_bad_loss_settings():
    with pytest.raises(ConfigError, match='label_smooth_val=1.5'):
        loss_of(dict(type='LabelSmoothLoss', label_smooth_val=1.5))
    with pytest.raises(ConfigError, match="Did you mean 'label_smooth_val'"):
        loss_of(dict(type='LabelSmoothLoss', label_smoth_val=0.1))
