"""mmcls RandomErasing, ColorJitter and AutoAugment: each op's semantics, the config errors, and
each one built from a config dict running in a real ``mindspore.dataset`` pipeline."""
import os

import mindspore.dataset as ds
import numpy as np
import pytest

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.auto_augment import IMAGENET_POLICIES, AutoAugment, ColorJitter
from ms_cls.data.pipeline import build_pipeline
from ms_cls.data.random_erasing import RandomErasing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = np.random.default_rng(0).integers(0, 100, (32, 32, 3), dtype=np.uint8)
GRADIENT = np.tile(np.arange(0, 256, 8, dtype=np.uint8)[None, :, None], (32, 1, 3))


def changed_box(before, after):
    """(top, left, h, w) bounding the pixels that changed."""
    ys, xs = np.nonzero((before != after).any(-1))
    return ys.min(), xs.min(), ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


def test_random_erasing_const_fills_one_rectangle_of_the_drawn_size():
    fill, area = (200, 150, 250), NOISE.shape[0] * NOISE.shape[1]
    for seed in range(40):
        out = RandomErasing(1., 0.1, 0.3, fill_color=fill, seed=seed)(NOISE)
        top, left, h, w = changed_box(NOISE, out)
        assert (out[top:top + h, left:left + w] == fill[::-1]).all()   # fill_color is B, G, R
        outside = np.ones(NOISE.shape[:2], bool)
        outside[top:top + h, left:left + w] = False
        np.testing.assert_array_equal(out[outside], NOISE[outside])
        slack = (h + w) / 2 + 1                                  # h and w are rounded
        assert 0.1 * area - slack <= h * w <= 0.3 * area + slack
    for seed in range(10):                                       # a float aspect_range a: (a, 1/a)
        _, _, h, w = changed_box(NOISE, RandomErasing(1., 0.1, 0.3, 1., seed=seed)(NOISE))
        assert h == w


def test_random_erasing_from_an_mmcls_config_erases_with_mmcls_pixels():
    """mmcls writes fill_color=img_norm_cfg['mean'][::-1] (BGR); on the RGB image the erased
    pixels must be the RGB mean, as mmcls's BGR image gets its BGR mean."""
    (op,) = [o for o in build_pipeline([dict(type='RandomErasing', erase_prob=1.,
                                              fill_color=[103.53, 116.28, 123.675])])
             if isinstance(o, RandomErasing)]
    out = op(NOISE)
    top, left, h, w = changed_box(NOISE, out)
    assert out[top, left].tolist() == [123, 116, 103]          # cut to uint8, as mmcls


def test_random_erasing_probability():
    for _ in range(50):
        np.testing.assert_array_equal(RandomErasing(erase_prob=0., seed=1)(NOISE), NOISE)
    op = RandomErasing(erase_prob=0.5, fill_color=255, seed=0)
    erased = [not np.array_equal(op(NOISE), NOISE) for _ in range(400)]
    assert 0.4 < np.mean(erased) < 0.6


def rand_patch(**kwargs):
    """The erased patch, found from a twin op drawing the same region."""
    top, left, h, w = RandomErasing(1., 0.2, 0.4, mode='rand', seed=3, **kwargs).region(32, 32)
    black = np.zeros((32, 32, 3), np.uint8)
    out = RandomErasing(1., 0.2, 0.4, mode='rand', seed=3, **kwargs)(black)
    assert out.dtype == np.uint8 and out.sum() == out[top:top + h, left:left + w].sum()
    return out[top:top + h, left:left + w].reshape(-1, 3).astype(int)


def test_random_erasing_rand_mode():
    uniform = rand_patch()
    assert uniform.min() < 20 and uniform.max() > 235 and len(np.unique(uniform)) > 200
    normal = rand_patch(fill_color=(250, 128, 10), fill_std=(30, 5, 0))   # B, G, R as mmcls
    assert (normal[:, 0] == 10).all()
    assert abs(normal[:, 1].mean() - 127.5) < 1 and 4 < normal[:, 1].std() < 6
    assert normal[:, 2].min() > 100 and (normal[:, 2] == 255).mean() > 0.3   # clipped, not wrapped


def test_color_jitter_brightness_factor():
    grey = np.full((8, 8, 3), 100, np.uint8)
    op = ColorJitter(brightness=0.4, seed=0)
    factors = [op(grey).mean() / 100 for _ in range(300)]
    assert 0.6 - 0.01 <= min(factors) < 0.7 and 1.3 < max(factors) <= 1.4 + 0.01
    assert abs(np.mean(factors) - 1) < 0.05
    wide = ColorJitter(brightness=1.5, seed=0)                   # factors in [-0.5, 2.5], not >= 0
    assert 0.1 < np.mean([wide(grey).max() == 0 for _ in range(300)]) < 0.25
    np.testing.assert_array_equal(ColorJitter(seed=0)(NOISE), NOISE)
    np.testing.assert_array_equal(ColorJitter(contrast=0.5, saturation=0.5, seed=0)(grey), grey)


def test_auto_augment_sub_policies():
    invert = [[dict(type='Invert', prob=1.)]]
    np.testing.assert_array_equal(AutoAugment(invert, seed=0)(GRADIENT), 255 - GRADIENT)
    never = [[dict(type='Invert', prob=0.), dict(type='Rotate', angle=30., prob=0.)]]
    np.testing.assert_array_equal(AutoAugment(never, seed=0)(GRADIENT), GRADIENT)
    ordered = [[dict(type='Posterize', bits=1, prob=1.), dict(type='Invert', prob=1.)]]
    np.testing.assert_array_equal(AutoAugment(ordered, seed=0)(GRADIENT), 255 - (GRADIENT & 128))
    one_of_two = AutoAugment(invert + [[dict(type='Equalize', prob=0.)]], seed=0)
    inverted = [np.array_equal(one_of_two(GRADIENT), 255 - GRADIENT) for _ in range(400)]
    assert 0.4 < np.mean(inverted) < 0.6


def test_auto_augment_magnitudes_and_hparams():
    marker = np.zeros((8, 8, 3), np.uint8)
    marker[3, 4] = 255
    left = AutoAugment([[dict(type='Translate', magnitude=0.25, prob=1., random_negative_prob=1.,
                              pad_val=0)]], seed=0)(marker)
    assert list(zip(*np.nonzero(left[:, :, 0]))) == [(3, 2)]
    rotate = [[dict(type='Rotate', angle=45., prob=1.)]]
    assert AutoAugment(rotate, seed=0)(GRADIENT)[0, 0].tolist() == [128] * 3
    padded = AutoAugment(rotate, dict(pad_val=[1, 2, 3]), seed=0)(GRADIENT)
    assert padded[0, 0].tolist() == [3, 2, 1]                   # pad_val is B, G, R
    own = [[dict(type='Rotate', angle=45., prob=1., pad_val=7)]]
    assert AutoAugment(own, dict(pad_val=[1, 2, 3]), seed=0)(GRADIENT)[0, 0].tolist() == [7] * 3


def test_imagenet_policy(write):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/_base_/datasets/pipelines/auto_aug.py'))
    assert cfg.policy_imagenet == IMAGENET_POLICIES and len(IMAGENET_POLICIES) == 25
    op = AutoAugment('imagenet', seed=0)
    assert all(op(NOISE).shape == NOISE.shape for _ in range(50))
    cfg = Config.fromfile(write('p.py', f"_base_ = '{ROOT}/configs/_base_/datasets/pipelines/"
                                        "auto_aug.py'\npipeline = [dict(type='AutoAugment', "
                                        "policies={{_base_.policy_imagenet}})]\n"))
    assert len(build_pipeline(cfg.pipeline)[0].policies) == 25


@pytest.mark.parametrize('step, message', [
    (dict(type='RandomErasing', erase_prob=1.5),
     r"pipeline\[1\] RandomErasing: erase_prob=1.5 must be"),
    (dict(type='RandomErasing', min_area_ratio=0.5, max_area_ratio=0.2),
     r"RandomErasing: min_area_ratio=0.5 must not exceed max_area_ratio=0.2"),
    (dict(type='RandomErasing', aspect_range=(3, 1)), r"RandomErasing: aspect_range=\(3, 1\)"),
    (dict(type='RandomErasing', mode='random'), r"RandomErasing: mode='random'; use 'const'"),
    (dict(type='RandomErasing', fill_color=(0, 300, 0)), r"RandomErasing: fill_color=\(0, 300"),
    (dict(type='RandomErasing', erase_prb=0.5), r"erase_prb.*Did you mean 'erase_prob'"),
    (dict(type='ColorJitter', brightness=-0.1), r"ColorJitter: brightness=-0.1 must be"),
    (dict(type='AutoAugment', policies='imagent'), r"AutoAugment: policies='imagent'; use one of"),
    (dict(type='AutoAugment', policies=[dict(type='Invert')]),
     r"policies\[0\] must be a non-empty"),
    (dict(type='AutoAugment', policies=[[dict(type='Invrt')]]),
     r"AutoAugment: policies\[0\]\[0\]: type 'Invrt' is not one of AutoContrast, Equalize, Invert"),
    (dict(type='AutoAugment', policies=[[dict(type='Rotate', angel=30.)]]),
     r"policies\[0\]\[0\] \(Rotate\): unknown keys \['angel'\]; valid: type, prob, "
     r"random_negative_prob, angle, pad_val, interpolation"),
    (dict(type='AutoAugment', policies=[[dict(type='Rotate', prob=0.5)]]),
     r"\(Rotate\): needs angle"),
    (dict(type='AutoAugment', policies=[[dict(type='Shear', magnitude=0.1, direction='up')]]),
     r"\(Shear\): direction='up'"),
    (dict(type='AutoAugment', policies=[[dict(type='Invert', prob=2)]]),
     r"\(Invert\): prob=2 must"),
    (dict(type='AutoAugment', policies='imagenet', hparams=dict(pad=0)), r"hparams: unknown keys"),
])
def test_bad_arguments_are_config_errors(step, message):
    with pytest.raises(ConfigError, match=message):
        build_pipeline([dict(type='Resize', size=8), step])


def test_uint8_ops_must_come_before_normalize():
    with pytest.raises(ConfigError, match=r"\[1\] RandomErasing works on the uint8 image"):
        build_pipeline([dict(type='Normalize', mean=[0] * 3, std=[1] * 3),
                        dict(type='RandomErasing')])


IMAGES = [np.random.default_rng(i).integers(0, 256, (24, 20, 3), dtype=np.uint8) for i in range(3)]


def run_dataset(pipeline):
    ops = build_pipeline(pipeline)
    data = ds.GeneratorDataset(lambda: ((img,) for img in IMAGES), ['image'], shuffle=False)
    data = data.map(operations=ops, input_columns='image', num_parallel_workers=1)
    return [row['image'] for row in data.create_dict_iterator(output_numpy=True)]


STEPS = [dict(type='RandomErasing', erase_prob=1., mode='rand'),
         dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
         dict(type='AutoAugment', policies=[[dict(type='Invert', prob=1.)]]),
         dict(type='AutoAugment', policies='imagenet')]
NORMALIZE = dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])


@pytest.mark.parametrize('step', STEPS, ids=lambda step: step['type'])
def test_runs_in_a_dataset_pipeline(step):
    plain = run_dataset([NORMALIZE])
    out = run_dataset([step, NORMALIZE])
    assert [o.shape for o in out] == [(3, 24, 20)] * 3 and all(o.dtype == np.float32 for o in out)
    if step.get('policies') != 'imagenet':                  # the imagenet policy may skip all
        assert not any(np.allclose(o, p) for o, p in zip(out, plain))


def test_seeded_runs_are_reproducible():
    pipeline = [dict(type='RandomErasing', erase_prob=0.5, mode='rand'),
                dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
                dict(type='AutoAugment', policies='imagenet')]
    seed = ds.config.get_seed()
    try:
        ds.config.set_seed(7)
        first, again = run_dataset(pipeline), run_dataset(pipeline)
        ds.config.set_seed(8)
        other = run_dataset(pipeline)
    finally:
        ds.config.set_seed(seed)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
