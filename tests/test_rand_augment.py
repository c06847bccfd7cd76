"""mmcls RandAugment: each op at a fixed magnitude, the magnitude sampling, the dataset op."""
import os

import numpy as np
import pytest
from PIL import Image

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.builder import build_dataloader, build_dataset
from ms_cls.data.rand_augment import TIMM_INCREASING, RandAugment

GRADIENT = np.tile(np.arange(0, 256, 32, dtype=np.uint8)[None, :, None], (8, 1, 3))  # 8x8, 0..224


def run(policy, level=10, image=GRADIENT, total=10, **hparams):
    aug = RandAugment([policy], 1, 0, total_level=total, hparams=hparams or None, seed=0)
    policy = dict(policy, random_negative_prob=0.0)
    return np.asarray(aug.apply(Image.fromarray(image), policy, level))


def test_pixel_ops_at_fixed_magnitude():
    np.testing.assert_array_equal(run(dict(type='Invert')), 255 - GRADIENT)
    solar = run(dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0)), level=5)
    np.testing.assert_array_equal(solar, np.where(GRADIENT >= 128, 255 - GRADIENT, GRADIENT))
    poster = run(dict(type='Posterize', magnitude_key='bits', magnitude_range=(4, 0)), level=5)
    np.testing.assert_array_equal(poster, (GRADIENT >> 6) << 6)          # bits = ceil(2.0)
    assert not run(dict(type='Posterize', magnitude_key='bits', magnitude_range=(4, 0))).any()
    add = run(dict(type='SolarizeAdd', magnitude_key='magnitude', magnitude_range=(0, 110)), level=5)
    np.testing.assert_array_equal(add, np.where(GRADIENT < 128, GRADIENT + 55, GRADIENT))
    bright = run(dict(type='Brightness', magnitude_key='magnitude', magnitude_range=(0, 0.9)), level=5)
    np.testing.assert_allclose(bright, np.clip(GRADIENT * 1.45, 0, 255), atol=1)
    auto = run(dict(type='AutoContrast'), image=(GRADIENT // 2 + 10).astype(np.uint8))
    assert auto.min() == 0 and auto.max() == 255


def marker(y, x):
    img = np.zeros((8, 8, 3), np.uint8)
    img[y, x] = 255
    return img


def where(img):
    ys, xs = np.nonzero(img[:, :, 0] > 128)
    return list(zip(ys.tolist(), xs.tolist()))


def test_geometric_ops_follow_mmcv_directions():
    right = run(dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.5),
                     direction='horizontal'), level=5, image=marker(3, 2), pad_val=0)
    assert where(right) == [(3, 4)]                                      # 0.25 * 8 = 2 px right
    down = run(dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.5),
                    direction='vertical'), level=5, image=marker(3, 2), pad_val=0)
    assert where(down) == [(5, 2)]
    sheared = run(dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.5),
                       direction='horizontal'), level=10, image=marker(4, 0), pad_val=0)
    assert where(sheared) == [(4, 2)]                                    # x + 0.5 * y
    rotated = run(dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 90)), level=10,
                  image=marker(0, 0), pad_val=0)
    assert where(rotated) == [(0, 7)]                                    # clockwise
    padded = run(dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.5),
                      direction='horizontal'), level=5, pad_val=[1, 2, 3])
    assert padded[0, 0].tolist() == [1, 2, 3]


def test_magnitude_sampling():
    fixed = RandAugment('timm_increasing', 2, 9, magnitude_std=0, total_level=10, seed=0)
    assert fixed.magnitude() == 9
    uniform = RandAugment('timm_increasing', 2, 9, magnitude_std='inf', total_level=10, seed=0)
    draws = [uniform.magnitude() for _ in range(2000)]
    assert 0 <= min(draws) < 0.5 and 8.5 < max(draws) <= 9 and abs(np.mean(draws) - 4.5) < 0.3
    wide = RandAugment('timm_increasing', 2, 9, magnitude_std=5, total_level=10, seed=0)
    draws = [wide.magnitude() for _ in range(2000)]
    assert min(draws) == 0 and max(draws) == 10                          # clipped
    policy = dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30))
    assert fixed.value(policy, 9) == pytest.approx(27)
    assert fixed.value(dict(type='Posterize', magnitude_range=(4, 0)), 9) == pytest.approx(0.4)


def test_each_policy_applies_with_probability_one_half():
    aug = RandAugment([dict(type='Invert')], 1, 0, seed=0)
    changed = [not np.array_equal(aug(GRADIENT), GRADIENT) for _ in range(1000)]
    assert 0.45 < np.mean(changed) < 0.55
    assert len(TIMM_INCREASING) == 15


def test_bad_policies_are_explained(tmp_path, write):
    with pytest.raises(ValueError, match="type 'Blur' is not one of"):
        RandAugment([dict(type='Blur')], 1, 5)
    with pytest.raises(ValueError, match="unknown keys \\['magnitude'\\]"):
        RandAugment([dict(type='Rotate', magnitude=3)], 1, 5)
    os.makedirs(tmp_path / 'd' / 'a')
    Image.new('RGB', (8, 8)).save(tmp_path / 'd' / 'a' / '0.png')
    cfg = Config.fromfile(write('p.py', f"data = dict(samples_per_gpu=1, train=dict(type='CustomDataset', "
                                        f"data_prefix='{tmp_path}/d', pipeline=[dict(type='RandAugment', "
                                        "policies='timm', num_policies=2, magnitude_level=9)]))\n"))
    with pytest.raises(ConfigError, match=r"pipeline\[0\] RandAugment: policies must be"):
        build_dataloader(build_dataset(cfg.data, 'train'), 1, where='data.train')


def test_rand_augment_runs_in_the_dataset_pipeline(tiny_demo, write):
    cfg = Config.fromfile(write('p.py', f"""
_base_ = '{os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}/configs/_base_/datasets/pipelines/rand_aug.py'
data = dict(samples_per_gpu=8, workers_per_gpu=2, train=dict(
    type='CustomDataset', data_prefix='{tiny_demo}/train',
    pipeline=[dict(type='RandAugment', policies={{{{_base_.rand_increasing_policies}}}},
                   num_policies=2, total_level=10, magnitude_level=9, magnitude_std=0.5,
                   hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
              dict(type='Resize', size=32)]))
"""))
    loader = build_dataloader(build_dataset(cfg.data, 'train'), 8, 2, shuffle=True)
    batch = next(loader.create_dict_iterator(output_numpy=True))
    assert batch['image'].shape == (8, 3, 32, 32) and batch['image'].dtype == np.float32
