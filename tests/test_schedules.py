import numpy as np
import pytest

from ms_cls.errors import ConfigError
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
    with pytest.raises(ConfigError, match="Unknown lr_config policy 'Cosine'.*Did you mean"):
        build_lr_schedule(dict(policy='Cosine'), 0.1, 1, 1)
    with pytest.raises(ConfigError, match="'steps'.*Did you mean 'step'"):
        build_lr_schedule(dict(policy='step', steps=[1]), 0.1, 1, 1)
    with pytest.raises(ConfigError, match="warmup='cosine'"):
        build_lr_schedule(dict(policy='step', step=[1], warmup='cosine', warmup_iters=2), 0.1, 1, 4)


def cos_between(start, end, f):
    return end + 0.5 * (start - end) * (1 + np.cos(np.pi * f))


def test_policy_names_follow_mmcv_spelling():
    assert lr_at(dict(policy='fixed'), 55) == pytest.approx(0.1)
    assert lr_at(dict(policy='Step', step=[5]), 55) == pytest.approx(0.01)
    with pytest.raises(ConfigError, match="'Onecycle'"):   # mmcv title-cases 'onecycle' too
        build_lr_schedule(dict(policy='onecycle', max_lr=0.1), 0.1, 1, 10)


def test_exp_and_poly():
    assert lr_at(dict(policy='exp', gamma=0.5), 35) == pytest.approx(0.1 * 0.5 ** 3)
    assert lr_at(dict(policy='exp', gamma=0.99, by_epoch=False), 35) == pytest.approx(0.1 * 0.99 ** 35, rel=1e-5)
    poly = dict(policy='poly', power=2.0, min_lr=0.01)
    assert lr_at(poly, 40) == pytest.approx((0.1 - 0.01) * (1 - 4 / 10) ** 2 + 0.01)
    assert lr_at(dict(poly, by_epoch=False), 40) == pytest.approx((0.1 - 0.01) * (1 - 40 / 100) ** 2 + 0.01)


def test_cosine_annealing_end_value_and_ratio():
    cfg = dict(policy='CosineAnnealing', min_lr=0.001, by_epoch=False)
    lrs = build_lr_schedule(cfg, 0.1, 10, 10)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[50] == pytest.approx(cos_between(0.1, 0.001, 0.5))
    assert lrs[-1] == pytest.approx(cos_between(0.1, 0.001, 99 / 100), rel=1e-5)
    by_epoch = dict(policy='CosineAnnealing', min_lr_ratio=0.1)
    assert lr_at(by_epoch, 37) == pytest.approx(cos_between(0.1, 0.01, 3 / 10))
    with pytest.raises(ConfigError, match='exactly one of min_lr and min_lr_ratio'):
        build_lr_schedule(dict(policy='CosineAnnealing'), 0.1, 1, 1)


def test_seed_cosine_config_with_linear_warmup():
    """The seed's experiment 11: warmup 0.025 -> 0.1 over 1500 iterations, then cosine to 0."""
    cfg = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False, warmup='linear',
               warmup_iters=1500, warmup_ratio=0.25)
    lrs = build_lr_schedule(cfg, 0.1, 100, 100)
    total = 100 * 100
    assert lrs[0] == pytest.approx(0.025)
    assert lrs[750] == pytest.approx(cos_between(0.1, 0, 750 / total) * (1 - 0.5 * 0.75), rel=1e-6)
    assert lrs[1500] == pytest.approx(cos_between(0.1, 0, 1500 / total), rel=1e-6)
    assert lrs[-1] == pytest.approx(cos_between(0.1, 0, (total - 1) / total), abs=1e-8)


def test_flat_cosine_and_cosine_restart():
    flat = dict(policy='FlatCosineAnnealing', start_percent=0.5, min_lr=0)
    assert lr_at(flat, 49) == pytest.approx(0.1)
    assert lr_at(flat, 70) == pytest.approx(cos_between(0.1, 0, 2 / 5))
    restart = dict(policy='CosineRestart', periods=[4, 6], restart_weights=[1, 0.5], min_lr=0.0)
    assert lr_at(restart, 20) == pytest.approx(cos_between(0.1, 0, 2 / 4))
    # second cycle starts at epoch 4 and peaks at half the base lr
    assert lr_at(restart, 40) == pytest.approx(0.5 * 0.5 * 0.1 * 2)
    assert lr_at(restart, 70) == pytest.approx(0.5 * 0.1 * (1 + np.cos(np.pi * 3 / 6)) * 0.5)
    with pytest.raises(ConfigError, match='periods add up to 5'):
        build_lr_schedule(dict(restart, periods=[2, 3]), 0.1, 10, 10)


def test_one_cycle_two_and_three_phases():
    cfg = dict(policy='OneCycle', max_lr=0.1, pct_start=0.25, div_factor=10, final_div_factor=100)
    lrs = build_lr_schedule(cfg, 999.0, 10, 10)      # base lr is ignored, as in mmcv
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[24] == pytest.approx(0.1)              # end of phase 1 at 0.25 * 100 - 1
    assert lrs[99] == pytest.approx(0.01 / 100)
    assert lrs[12] == pytest.approx(cos_between(0.01, 0.1, 12 / 24), rel=1e-6)
    three = build_lr_schedule(dict(cfg, three_phase=True, anneal_strategy='linear'), 0.1, 10, 10)
    assert three[24] == pytest.approx(0.1) and three[48] == pytest.approx(0.01)
    assert three[36] == pytest.approx(0.1 + (0.01 - 0.1) * 12 / 24, rel=1e-6)
    with pytest.raises(ConfigError, match='works by iteration'):
        build_lr_schedule(dict(cfg, by_epoch=True), 0.1, 10, 10)


def test_cyclic_up_then_down_and_gamma():
    cfg = dict(policy='cyclic', target_ratio=(10, 1e-4), cyclic_times=2, step_ratio_up=0.4,
               gamma=0.5)
    lrs = build_lr_schedule(cfg, 0.01, 10, 10)        # 2 cycles of 50 iterations, 20 up
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[10] == pytest.approx(cos_between(0.01, 0.1, 0.5), rel=1e-6)
    assert lrs[20] == pytest.approx(0.1)
    assert lrs[35] == pytest.approx(cos_between(0.1, 1e-6, 15 / 30), rel=1e-6)
    # second cycle: the peak ratio is 1 - 0.5 + 10 * 0.5 = 5.5
    assert lrs[70] == pytest.approx(0.055, rel=1e-6)


def test_auto_scale_lr():
    from ms_cls.engine.schedules import scaled_lr
    auto = dict(base_batch_size=256, enable=True)
    lr, note = scaled_lr(0.1, auto, 64)
    assert lr == pytest.approx(0.025) and '64 / 256' in note
    assert scaled_lr(0.1, auto, 4 * 64)[0] == pytest.approx(0.1)
    assert scaled_lr(0.1, dict(auto, enable=False), 64) == (0.1, None)
    with pytest.raises(ConfigError, match='base_batch_size is required'):
        scaled_lr(0.1, dict(enable=True), 64)


def test_vis_lr_script_writes_plot_and_csv(tmp_path):
    """The seed's cosine run: warmup 0.025 -> 0.1 over 1500 iterations, then cosine to 0."""
    import subprocess
    import sys
    import pandas as pd
    from conftest import ROOT
    cfg = tmp_path / 'seed11.py'
    cfg.write_text(f"_base_ = '{ROOT}/configs/resnet/resnet50_8xb32_caltech256.py'\n"
                   "data = dict(samples_per_gpu=64)\n"
                   "lr_config = dict(_delete_=True, policy='CosineAnnealing', min_lr=0, "
                   "by_epoch=False, warmup='linear', warmup_iters=1500, warmup_ratio=0.25)\n")
    png, csv = tmp_path / 'lr.png', tmp_path / 'lr.csv'
    res = subprocess.run([sys.executable, 'scripts/vis_lr.py', str(cfg), '--dataset-size', '24000',
                          '--save-path', str(png), '--save-csv', str(csv)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ['iter', 'lr', 'momentum'] and len(frame) == 375 * 100
    assert frame.lr[0] == pytest.approx(0.025) and frame.lr[1500] == pytest.approx(0.0996, abs=1e-4)
    assert frame.lr.iloc[-1] < 1e-8 and (frame.momentum == 0.9).all()
    bad = subprocess.run([sys.executable, 'scripts/vis_lr.py', str(cfg), '--dataset-size', '10',
                          '--cfg-options', 'data.train_dataloader.drop_last=True'],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and 'fewer than one batch' in bad.stderr


def test_cyclic_momentum_mirrors_the_cyclic_lr():
    """mmcv's pairing: momentum goes down to 0.85 while the lr rises, then back to 0.95."""
    from ms_cls.engine.schedules import build_momentum_schedule
    cfg = dict(policy='cyclic', target_ratio=(0.85 / 0.95, 1), cyclic_times=1, step_ratio_up=0.4)
    mom = build_momentum_schedule(cfg, 0.95, 10, 10)      # 100 iterations, 40 up
    assert mom[0] == pytest.approx(0.95)
    assert mom[20] == pytest.approx(cos_between(0.95, 0.85, 0.5), rel=1e-6)
    assert mom[40] == pytest.approx(0.85)
    assert mom[70] == pytest.approx(cos_between(0.85, 0.95, 0.5), rel=1e-6)
    assert mom.min() == pytest.approx(0.85) and mom.max() == pytest.approx(0.95)
    assert build_momentum_schedule(None, 0.9, 10, 10) is None


def test_step_cosine_and_one_cycle_momentum():
    from ms_cls.engine.schedules import build_momentum_schedule
    step = build_momentum_schedule(dict(policy='step', step=[2, 4]), 0.9, 6, 5)
    assert step[9] == pytest.approx(0.9) and step[10] == pytest.approx(0.45)   # gamma 0.5
    assert step[29] == pytest.approx(0.225)
    cos = build_momentum_schedule(dict(policy='CosineAnnealing', min_momentum_ratio=0.5,
                                       by_epoch=False), 0.9, 10, 10)
    assert cos[50] == pytest.approx(cos_between(0.9, 0.45, 0.5), rel=1e-6)
    one = build_momentum_schedule(dict(policy='OneCycle', pct_start=0.25), 0.0, 10, 10)
    assert one[0] == pytest.approx(0.95) and one[24] == pytest.approx(0.85)
    assert one[99] == pytest.approx(0.95)


def test_momentum_warmup_divides_by_the_lr_warmup_factor():
    """mmcv's MomentumUpdaterHook: momentum / (1 - (1 - t/W)(1 - r)) while t < W."""
    from ms_cls.engine.schedules import build_momentum_schedule
    mom = build_momentum_schedule(dict(policy='step', step=[100], warmup='linear',
                                       warmup_iters=10, warmup_ratio=0.9), 0.8, 2, 10)
    assert mom[0] == pytest.approx(0.8 / 0.9)
    assert mom[5] == pytest.approx(0.8 / (1 - 0.5 * 0.1))
    assert mom[10] == pytest.approx(0.8)


def test_bad_momentum_config_is_named():
    from ms_cls.engine.schedules import build_momentum_schedule
    with pytest.raises(ConfigError, match=r"Unknown momentum_config policy 'Poly'"):
        build_momentum_schedule(dict(policy='poly'), 0.9, 2, 2)
    with pytest.raises(ConfigError, match=r"momentum_config \(policy='Cyclic'\): step_ratio_up"):
        build_momentum_schedule(dict(policy='cyclic', step_ratio_up=1.5), 0.9, 2, 2)
    with pytest.raises(ConfigError, match="Unknown key 'min_lr' in momentum_config"):
        build_momentum_schedule(dict(policy='CosineAnnealing', min_lr=0), 0.9, 2, 2)


def test_schedule_frame_has_the_scheduled_momentum(write):
    from ms_cls.analysis.schedule import schedule_frame
    from ms_cls.config import Config
    cfg = Config.fromfile(write('cyc.py', """
optimizer = dict(type='SGD', lr=0.01, momentum=0.95)
data = dict(samples_per_gpu=10)
runner = dict(type='EpochBasedRunner', max_epochs=10)
lr_config = dict(policy='cyclic', target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4)
momentum_config = dict(policy='cyclic', target_ratio=(0.85 / 0.95, 1), cyclic_times=1,
                       step_ratio_up=0.4)
"""))
    frame = schedule_frame(cfg, dataset_size=100)
    assert len(frame) == 100
    assert frame.lr[40] == pytest.approx(0.1) and frame.momentum[40] == pytest.approx(0.85)
    assert frame.momentum[0] == pytest.approx(0.95) and frame.momentum[99] > 0.94
    cfg.merge_from_dict({'optimizer': dict(type='AdamW', lr=0.01)})
    with pytest.raises(ConfigError, match="momentum_config schedules SGD's momentum"):
        schedule_frame(cfg, dataset_size=100)


def test_base_momentum_takes_the_optimizer_spec():
    from ms_cls.engine.optim import optimizer_spec
    from ms_cls.engine.schedules import base_momentum
    sgd = optimizer_spec(dict(type='SGD', lr=0.1, momentum=0.9))
    assert base_momentum(None, sgd) is None
    assert base_momentum(dict(policy='cyclic'), sgd) == 0.9
    with pytest.raises(ConfigError, match="momentum_config must be a dict"):
        base_momentum('cyclic', sgd)
    with pytest.raises(ConfigError, match=r"needs optimizer\.momentum > 0"):
        base_momentum(dict(policy='step', step=[1]), optimizer_spec(dict(type='SGD', lr=0.1)))


def test_cyclic_corners_follow_mmcv():
    """Expected values worked out from mmcv 1.7.2's CyclicLrUpdaterHook: phases [0, up) and
    [up, per_cycle) of per_cycle = max_iters // cyclic_times; the phase starting at iteration 0
    has its end ratio scaled (1 - s + r * s, s = gamma ** cycle), the other its start ratio."""
    from ms_cls.engine.schedules import schedule_spec
    cfg = dict(policy='cyclic', target_ratio=(10, 1e-4), cyclic_times=2, step_ratio_up=0.0,
               gamma=0.5)
    lrs = build_lr_schedule(cfg, 0.1, 7, 13)          # 91 iterations: cycles of 45, no up phase
    assert lrs[0] == pytest.approx(1.0) and lrs[45] == pytest.approx(1.0)   # (ms_cls had 0.55)
    assert lrs[90] == pytest.approx(1.0)                                   # (ms_cls had 0.325)
    assert lrs[46] == pytest.approx(cos_between(1.0, 0.1 * (1 - 0.5 + 1e-4 * 0.5), 1 / 45),
                                    rel=1e-6)
    # a 1-tuple r is mmcv's (r, r / 1e5)
    one = build_lr_schedule(dict(policy='cyclic', target_ratio=(10.0,)), 0.1, 1, 10)
    assert one[4] == pytest.approx(1.0) and one[9] == pytest.approx(
        cos_between(1.0, 0.1 * 1e-4, 5 / 6), rel=1e-5)
    with pytest.raises(ConfigError, match=r"target_ratio=\(1, 2, 3\)"):
        build_lr_schedule(dict(policy='cyclic', target_ratio=(1, 2, 3)), 0.1, 1, 10)
    with pytest.raises(ConfigError, match=r"gamma=0 must be in \(0, 1\]"):
        build_lr_schedule(dict(cfg, gamma=0), 0.1, 1, 10)
    # more cycles than epochs is fine when the iterations allow it (checked before the data
    # with one step per epoch), and a clear error when they do not
    for section, momentum in (('lr_config', False), ('momentum_config', True)):
        spec = schedule_spec(section, dict(policy='cyclic', cyclic_times=20), momentum)
        spec.check(0.9, 10)
        assert len(spec.values(0.9, 10, 4)) == 40
        with pytest.raises(ConfigError, match=f"{section}.*cyclic_times=20 is more cycles than "
                                              "the 10 iterations"):
            spec.values(0.9, 10, 1)


def test_inv_and_linear_annealing_and_warmup_iters_zero():
    """mmcv 1.7.2: Inv = base * (1 + gamma * t) ** -power; LinearAnnealing = base + (target -
    base) * t / T (lr and momentum); a warmup type with warmup_iters=0 is rejected."""
    from ms_cls.engine.schedules import build_momentum_schedule
    inv = dict(policy='Inv', gamma=0.5, power=2)
    assert lr_at(inv, 30) == pytest.approx(0.1 * (1 + 0.5 * 3) ** -2)
    lin = dict(policy='LinearAnnealing', min_lr_ratio=0.1, by_epoch=False)
    assert lr_at(lin, 25) == pytest.approx(0.1 + (0.01 - 0.1) * 25 / 100)
    mom = build_momentum_schedule(dict(policy='LinearAnnealing', min_momentum=0.5), 0.9, 4, 10)
    assert mom[25] == pytest.approx(0.9 + (0.5 - 0.9) * 2 / 4)
    with pytest.raises(ConfigError, match="warmup_iters=0: warmup='linear' needs an int >= 1"):
        build_lr_schedule(dict(policy='step', step=[1], warmup='linear', warmup_iters=0),
                          0.1, 2, 2)
