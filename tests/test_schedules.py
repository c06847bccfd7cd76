import numpy as np
import pytest

from ms_cls.config import ConfigError
from ms_cls.engine.schedules import build_lr_schedule


def lr_at(lr_config, it, base=0.1, epochs=10, steps=10):
    return float(build_lr_schedule(lr_config, base, epochs, steps)[it])


def test_step_milestones_by_epoch():
    cfg = dict(policy='step', step=[3, 6])
    lrs = build_lr_schedule(cfg, 0.1, 8, 5)
    assert len(lrs) == 40 and lrs.dtype == np.float32
    assert np.allclose(lrs[:15], 0.1) and np.allclose(lrs[15:30], 0.01)
    assert np.allclose(lrs[30:], 0.001)


def test_step_int_gamma_and_min_lr():
    cfg = dict(policy='step', step=2, gamma=0.5, min_lr=0.03)
    assert [lr_at(cfg, e * 10) for e in range(6)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.03, 0.03])


def test_step_by_iter():
    cfg = dict(policy='step', step=[15], by_epoch=False)
    assert lr_at(cfg, 14) == pytest.approx(0.1) and lr_at(cfg, 15) == pytest.approx(0.01)


@pytest.mark.parametrize('warmup, it, expected', [
    ('constant', 0, 0.1 * 0.25), ('constant', 9, 0.1 * 0.25), ('constant', 10, 0.1),
    ('linear', 0, 0.1 * 0.25), ('linear', 5, 0.1 * (1 - 0.5 * 0.75)), ('linear', 10, 0.1),
    ('exp', 0, 0.1 * 0.25), ('exp', 5, 0.1 * 0.25 ** 0.5), ('exp', 10, 0.1),
])
def test_warmup_by_iter(warmup, it, expected):
    cfg = dict(policy='step', step=[100], warmup=warmup, warmup_iters=10, warmup_ratio=0.25)
    assert lr_at(cfg, it) == pytest.approx(expected, rel=1e-6)


def test_warmup_by_epoch_multiplies_the_scheduled_value():
    cfg = dict(policy='step', step=[1], warmup='linear', warmup_iters=2, warmup_by_epoch=True,
               warmup_ratio=0.1)
    # 10 steps/epoch: warmup covers iters 0..19; the epoch-1 milestone already applies at iter 10
    assert lr_at(cfg, 10) == pytest.approx(0.01 * (1 - (1 - 10 / 20) * 0.9), rel=1e-6)
    assert lr_at(cfg, 20) == pytest.approx(0.01)


def test_bad_lr_config_is_explained():
    with pytest.raises(ConfigError, match="policy='Cosine'"):
        build_lr_schedule(dict(policy='Cosine'), 0.1, 1, 1)
    with pytest.raises(ConfigError, match="'steps'.*Did you mean 'step'"):
        build_lr_schedule(dict(policy='step', steps=[1]), 0.1, 1, 1)
    with pytest.raises(ConfigError, match="warmup='cosine'"):
        build_lr_schedule(dict(policy='step', step=[1], warmup='cosine', warmup_iters=2), 0.1, 1, 4)
