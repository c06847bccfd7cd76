"""Model EMA (mmcv EMAHook semantics) and its checkpoints."""
import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.errors import ConfigError
from ms_cls.engine.ema import EMAHook, EMASpec, EMAWeights, ema_momentum, ema_spec


def test_mmcv_momentum_rule():
    # min(momentum ** interval, (1 + t) / (warm_up + t)); skipped steps give None
    assert ema_momentum(0.5, 1, 100, 0) == pytest.approx(1 / 100)
    assert ema_momentum(0.5, 1, 100, 98) == pytest.approx(0.5)
    assert ema_momentum(1e-4, 1, 100, 0) == pytest.approx(1e-4)
    assert ema_momentum(0.1, 2, 0, 4) == pytest.approx(0.01)
    assert ema_momentum(0.1, 2, 0, 3) is None


def test_update_in_graph_mode_and_swap():
    ms.set_context(mode=ms.GRAPH_MODE)
    net = nn.Dense(2, 2)
    start = net.weight.asnumpy().copy()
    ema = EMAWeights(net.trainable_params())
    net.weight.set_data(ms.Tensor(start + 1.0))
    ema(ms.Tensor(0.25, ms.float32))
    np.testing.assert_allclose(ema.averages[0].asnumpy(), start + 0.25, rtol=1e-6, atol=1e-6)
    ema(ms.Tensor(0.25, ms.float32))
    np.testing.assert_allclose(ema.averages[0].asnumpy(), start + 1 - 0.75 ** 2, rtol=1e-6, atol=1e-6)
    ema.swap()
    np.testing.assert_allclose(net.weight.asnumpy(), start + 1 - 0.75 ** 2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ema.averages[0].asnumpy(), start + 1.0, rtol=1e-6, atol=1e-6)
    assert ema.averages[0].name == 'ema.' + net.weight.name


def test_ema_over_model_train_swaps_the_average_in_at_epoch_end():
    """Over Model.train the hook averages every step and swaps the averages in at epoch end."""
    import mindspore.dataset as ds
    from mindspore.train import Model
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 3)).astype(np.float32)
    y = rng.normal(size=(4, 8, 2)).astype(np.float32)
    net = nn.Dense(3, 2)
    w0 = net.weight.asnumpy().copy()
    hook = EMAHook(net.trainable_params(), EMASpec(momentum=0.5, warm_up=0), steps_per_epoch=4)
    history = []

    class Record(ms.train.Callback):
        def on_train_step_end(self, run_context):
            if not hook.swapped:
                history.append(net.weight.asnumpy().copy())

    data = ds.NumpySlicesDataset({'x': x, 'y': y}, shuffle=False)
    opt = nn.Momentum(net.trainable_params(), 0.1, 0.9)
    Model(net, nn.MSELoss(), opt).train(1, data, callbacks=[hook, Record()],
                                        dataset_sink_mode=False)
    # t = 0: m = min(0.5, 1/0) -> 0.5 (warm_up 0); every step averages with 0.5
    expect = w0
    for t, raw in enumerate(history + [hook.raw_weights()['raw.' + net.weight.name].asnumpy()]):
        expect = 0.5 * expect + 0.5 * raw
    assert hook.swapped
    np.testing.assert_allclose(net.weight.asnumpy(), expect, rtol=1e-5, atol=1e-6)
    assert not np.allclose(net.weight.asnumpy(), hook.raw_weights()['raw.' + net.weight.name].asnumpy())


def test_custom_hooks_are_checked():
    assert ema_spec(None) is None and ema_spec([]) is None
    assert ema_spec([dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]) == \
        EMASpec(1e-4, 1, 100)
    with pytest.raises(ConfigError, match=r"custom_hooks\[0\] = 'MyHook'"):
        ema_spec([dict(type='MyHook')])
    with pytest.raises(ConfigError, match=r"momentum=2 must be in \(0, 1\)"):
        ema_spec([dict(type='EMAHook', momentum=2)])
    with pytest.raises(ConfigError, match=r"priority='LOW': ms_cls runs the EMA before"):
        ema_spec([dict(type='EMAHook', priority='LOW')])
    with pytest.raises(ConfigError, match="Unknown key 'momentun'"):
        ema_spec([dict(type='EMAHook', momentun=0.1)])


def test_hook_type_is_looked_up_with_a_suggestion(write):
    from ms_cls.config import Config
    cfg = Config.fromfile(write('h.py', "custom_hooks = [dict(type='EmaHook', momentum=1e-4)]\n"))
    with pytest.raises(ConfigError, match=r"custom_hooks\[0\] = 'EmaHook'.*h\.py.*"
                                          r"Did you mean 'EMAHook'"):
        ema_spec(cfg.custom_hooks)
    with pytest.raises(ConfigError, match=r"custom_hooks\[1\] = 'EMAHook': expected a dict"):
        ema_spec([dict(type='EMAHook'), 'EMAHook'])


def test_the_spec_is_frozen_plain_values():
    import dataclasses
    spec = ema_spec([dict(type='EMAHook', momentum=1e-3, interval=2, warm_up=0)])
    assert (spec.momentum, spec.interval, spec.warm_up) == (1e-3, 2, 0)
    assert EMASpec() == EMASpec(momentum=0.0002, interval=1, warm_up=100)   # mmcv's defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.momentum = 0.5
