"""mmcls's RepeatAugSampler and the top-level ``sampler`` key of mmcls 0.25 configs."""
import glob
import math

import numpy as np
import pytest

from conftest import DEMO_CONFIG, tiny_cfg
from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.samplers import EpochOrder, RepeatAugSampler
from ms_cls.data.seeding import reseed
from ms_cls.plan import build_plan


def mmcls_rank_indices(perm, rank, world, num_repeats=3, selected_round=256, selected_ratio=0):
    """What mmcls 0.25's RepeatAugSampler yields on ``rank`` of ``world`` for the permutation
    ``perm``, written from its rules: repeat each index, pad with the start to a multiple of
    ``world``, take every ``world``-th from ``rank``, keep the first num_selected."""
    size = len(perm)
    num_samples = math.ceil(size * num_repeats / world)
    repeated = [i for i in perm for _ in range(num_repeats)]
    repeated += repeated[:num_samples * world - len(repeated)]
    ratio = selected_ratio or world
    selected = (math.floor(size // selected_round * selected_round / ratio) if selected_round
                else math.ceil(size / ratio))
    return repeated[rank::world][:selected]


def shards(size, world, **args):
    """Every rank's EpochOrder over one RepeatAugSampler draw (seeded alike, as the trainer
    seeds them), and the permutation they drew."""
    orders = []
    for rank in range(world):
        order = EpochOrder(size, base=RepeatAugSampler(np.zeros(size), **args),
                           num_shards=world, shard_id=rank)
        reseed([order, order.base], 11)
        orders.append(order)
    reseed([probe := RepeatAugSampler(np.zeros(size), **args)], 11)
    return orders, probe.rng.permutation(size).tolist()


@pytest.mark.parametrize('size, world, args', [
    (600, 1, {}), (600, 2, {}), (1000, 3, {}), (1000, 8, {}),
    (1000, 8, dict(num_repeats=2, selected_round=0)),
    (300, 4, dict(selected_round=0, selected_ratio=1)),     # mmcls says 300, yields only 225
    (700, 2, dict(num_repeats=1, selected_round=100, selected_ratio=1.5)),
])
def test_each_rank_gets_mmcls_indices(size, world, args):
    orders, perm = shards(size, world, **args)
    for rank, order in enumerate(orders):
        expected = mmcls_rank_indices(perm, rank, world, **args)
        assert list(order) == expected
        assert len(order) == len(expected)            # the step count uses this length


def test_copies_of_an_image_go_to_different_ranks_in_one_epoch():
    orders, perm = shards(1024, 3)
    epochs = [list(order) for order in orders]
    assert len(epochs[0]) == 1024 // 256 * 256 // 3 == 341
    for position in range(len(epochs[0])):
        assert epochs[0][position] == epochs[1][position] == epochs[2][position]
    one, _ = shards(1024, 1)
    one = list(one[0])                                # one process: all 3 copies in a row
    assert len(one) == 1024 and one[:6] == [perm[0]] * 3 + [perm[1]] * 3


def test_the_order_follows_the_seed_and_changes_each_epoch():
    orders, _ = shards(600, 2)
    first = list(orders[0])
    assert list(orders[0]) != first                   # the next epoch draws anew
    reseed([orders[0], orders[0].base], 11)
    assert list(orders[0]) == first                   # resumed: the same (seed, epoch) order


@pytest.mark.parametrize('args, match', [
    (dict(num_repeats=0), r"num_repeats=0 must be an int >= 1"),
    (dict(selected_round=-1), r"selected_round=-1 must be an int >= 0"),
    (dict(selected_ratio='x'), r"selected_ratio='x' must be a number >= 0"),
    (dict(num_repeat=2), r"Did you mean 'num_repeats'"),
])
def test_bad_arguments_stop_the_plan(tiny_demo, args, match):
    cfg = tiny_cfg(tiny_demo, sampler=dict(type='RepeatAugSampler', **args))
    with pytest.raises(ConfigError, match=match):
        build_plan(cfg)


def test_top_level_and_data_sampler_together_are_refused(write):
    path = write('both.py', f"_base_ = ['{DEMO_CONFIG}']\nsampler = dict(type='RepeatAugSampler')\n"
                            "data = dict(sampler=dict(type='ClassBalanced'))\n")
    with pytest.raises(ConfigError, match=r"sampler \(set in .*both.py\) and data.sampler "
                                          r"\(set in .*both.py\) both set"):
        build_plan(Config.fromfile(path))


def test_top_level_sampler_is_read(tiny_demo):
    plan = build_plan(tiny_cfg(tiny_demo, sampler=dict(type='RepeatAugSampler', num_repeats=2)))
    assert plan.sampler.name == 'RepeatAugSampler' and dict(plan.sampler.args) == {
        'num_repeats': 2}
    with pytest.raises(ConfigError, match=r"sampler decides the training order"):
        build_plan(tiny_cfg(tiny_demo, sampler=dict(type='RepeatAugSampler'),
                            **{'data.shuffle': True}))


def test_too_few_images_for_selected_round_stop_before_anything_is_written(tiny_demo,
                                                                             tmp_path):
    from ms_cls.engine.trainer import train
    cfg = tiny_cfg(tiny_demo, sampler=dict(type='RepeatAugSampler'))
    with pytest.raises(ConfigError, match=r"80 training images give no image per epoch and "
                                          r"process \(selected_round=256"):
        train(cfg, str(tmp_path / 'work'))
    assert not (tmp_path / 'work').exists()


def test_training_with_the_top_level_sampler(tiny_demo, tmp_path, monkeypatch):
    """80 images, one process, selected_round=0: 80 of the 240 repeated indices per epoch,
    so 5 steps of 16."""
    from ms_cls.engine.trainer import train
    drawn = []
    draw = RepeatAugSampler.epoch
    monkeypatch.setattr(RepeatAugSampler, 'epoch',
                        lambda self: drawn.append(draw(self)) or drawn[-1])
    cfg = tiny_cfg(tiny_demo, sampler=dict(type='RepeatAugSampler', selected_round=0),
                   **{'runner.max_epochs': 1})
    summary = train(cfg, str(tmp_path))
    assert summary['epochs'] == 1 and len(drawn[0]) == 240
    log, = glob.glob(str(tmp_path / '*.log'))
    assert 'train loader: 5 iterations per epoch of 16 images' in open(log).read()
