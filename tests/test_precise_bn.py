"""PreciseBNHook (mmcls 0.25 semantics): config checks, the recomputed statistics, a run."""
import glob
import os

import numpy as np
import mindspore as ms
import pytest

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.engine.precise_bn import PreciseBNSpec, precise_bn_spec, recompute_bn_stats
from ms_cls.models.builder import build_model
from ms_cls.models.freeze import BATCH_NORMS

from conftest import DEMO_CONFIG, tiny_cfg

HOOK = dict(type='PreciseBNHook', num_samples=8192, interval=1, priority='ABOVE_NORMAL')


def test_spec_reads_mmcls_hook_next_to_an_ema():
    assert precise_bn_spec(None) is None
    assert precise_bn_spec([dict(type='EMAHook')]) is None
    assert precise_bn_spec([dict(type='EMAHook'), HOOK]) == PreciseBNSpec(8192, 1)
    assert precise_bn_spec([dict(type='PreciseBNHook')]) == PreciseBNSpec()
    with pytest.raises(ConfigError, match=r"custom_hooks.0.num_samples = 0"):
        precise_bn_spec([dict(type='PreciseBNHook', num_samples=0)])
    with pytest.raises(ConfigError, match=r"custom_hooks\[0\].priority='LOW'"):
        precise_bn_spec([dict(type='PreciseBNHook', priority='LOW')])
    with pytest.raises(ConfigError, match="Did you mean 'num_samples'"):
        precise_bn_spec([dict(type='PreciseBNHook', num_sample=10)])
    with pytest.raises(ConfigError, match="two PreciseBNHooks"):
        precise_bn_spec([HOOK, HOOK])


def test_batches_follow_mmcls_count():
    spec = PreciseBNSpec(num_samples=100)
    assert spec.batches(16, 1, available=50) == 6       # 100 // 16
    assert spec.batches(16, 2, available=50) == 3       # each process: 100 // 32
    assert spec.batches(16, 1, available=4) == 4        # never more than the epoch
    assert spec.batches(256, 1, available=4) == 1       # mmcls would run none and divide by 0


def captured_bn_inputs(net, batches):
    """Per BatchNorm, its input on each batch: a PyNative forward in training mode with a
    pre-hook on every BatchNorm (batch statistics normalise, so the moving ones do not matter)."""
    norms = [cell for _, cell in net.cells_and_names() if isinstance(cell, BATCH_NORMS)]
    seen = {id(cell): [] for cell in norms}
    handles = [cell.register_forward_pre_hook(
        lambda cell, inputs: seen[id(cell)].append(inputs[0].asnumpy().astype(np.float64)))
        for cell in norms]
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        net.set_train(True)
        for images in batches:
            net(ms.Tensor(images))
    finally:
        for handle in handles:
            handle.remove()
        net.set_train(False)
        ms.set_context(mode=ms.GRAPH_MODE)
    return norms, [seen[id(cell)] for cell in norms]


def test_statistics_are_the_mean_of_numpy_batch_statistics_frozen_ones_kept():
    cfg = Config.fromfile(DEMO_CONFIG, {'model.backbone.frozen_stages': 1})
    net = build_model(cfg.model)
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, 1.0, (4, 3, 16, 16)).astype(np.float32) for loc in (0., .5, 1.)]
    norms, inputs = captured_bn_inputs(net, batches)
    before = [cell.moving_variance.asnumpy().copy() for cell in norms]
    assert recompute_bn_stats(net, iter(batches)) == (len(norms) - 5, 3)  # stem + layer1 frozen
    assert not net.training
    checked = 0
    for cell, seen, old in zip(norms, inputs, before):
        if cell.use_batch_statistics is False:
            np.testing.assert_array_equal(cell.moving_variance.asnumpy(), old)
            continue
        mean = np.mean([x.mean(axis=(0, 2, 3)) for x in seen], axis=0)
        var = np.mean([x.var(axis=(0, 2, 3), ddof=1) for x in seen], axis=0)   # unbiased
        np.testing.assert_allclose(cell.moving_mean.asnumpy(), mean, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(cell.moving_variance.asnumpy(), var, rtol=2e-5, atol=1e-6)
        checked += 1
    assert checked == 15


def test_run_recomputes_before_validation_and_saves_them(tiny_demo, tmp_path, monkeypatch):
    from ms_cls.checkpoint import read_checkpoint
    from ms_cls.engine import trainer
    recomputed = {}

    class Recording(trainer.PreciseBNHook):
        def on_train_step_end(self, run_context):
            super().on_train_step_end(run_context)
            recomputed.update({p.name: p.asnumpy().copy() for p in self.net.get_parameters()
                               if p.name.endswith('moving_variance')})

    monkeypatch.setattr(trainer, 'PreciseBNHook', Recording)
    work_dir = str(tmp_path / 'w')
    cfg = tiny_cfg(tiny_demo, **{'runner.max_epochs': 1, 'custom_hooks': [
        dict(type='PreciseBNHook', num_samples=32, interval=1, priority='ABOVE_NORMAL')]})
    trainer.train(cfg, work_dir)
    lines = open(glob.glob(os.path.join(work_dir, '*.log'))[0]).read().splitlines()
    hook = next(i for i, line in enumerate(lines) if line.startswith('PreciseBNHook:'))
    assert lines[hook] == ("PreciseBNHook: 20 BatchNorm layers recomputed over 2 batches of 16 "
                           "(num_samples 32) after epoch 1")
    assert lines[hook - 1].startswith('Epoch:[  0/  1], step:[    5/    5]')
    assert any(line.startswith('Epoch: [  1 /   1]') for line in lines[hook:])   # validated after
    params, _ = read_checkpoint(os.path.join(work_dir, 'latest.ckpt'))
    assert len(recomputed) == 20
    for name, value in recomputed.items():
        np.testing.assert_array_equal(params[name].asnumpy(), value)
