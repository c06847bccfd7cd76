"""mmcls RandAugment: each op at a fixed magnitude, the magnitude sampling, the dataset op."""
import os

import numpy as np
import pytest
from PIL import Image, ImageOps

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
    assert padded[0, 0].tolist() == [3, 2, 1]          # pad_val is B, G, R as in mmcls


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


RAMP = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (2, 1, 3))    # every grey level
NOISE = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)


def once(policy, level, image, total=10, seed=0):
    """One image through RandAugment's own draws: the only policy, applied for sure."""
    aug = RandAugment([dict(policy, prob=1.0)], 1, level, magnitude_std=0, total_level=total,
                      seed=seed)
    return aug(image)


def test_fixed_magnitude_maps_linearly_onto_the_range_as_pillow_computes_it():
    """level / total_level * (high - low) + low, then the op: checked against Pillow itself."""
    img = Image.fromarray(RAMP)
    solar = once(dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0)), 6, RAMP)
    np.testing.assert_array_equal(solar, np.asarray(ImageOps.solarize(img, 256 - 0.6 * 256)))
    assert solar[0, 102, 0] == 102 and solar[0, 103, 0] == 255 - 103    # thr 102.4
    poster = once(dict(type='Posterize', magnitude_key='bits', magnitude_range=(4, 0)), 4, RAMP)
    np.testing.assert_array_equal(poster, np.asarray(ImageOps.posterize(img, 3)))  # ceil(2.4)
    rotate = dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30))
    turned = [once(rotate, 6, NOISE, seed=s) for s in range(40)]
    pil = Image.fromarray(NOISE)
    clockwise, counter = (np.asarray(pil.rotate(a, resample=Image.NEAREST, fillcolor=(128,) * 3))
                          for a in (-18, 18))
    signs = [np.array_equal(t, clockwise) - np.array_equal(t, counter) for t in turned]
    assert set(signs) == {1, -1}                        # 18 degrees, either way, nothing else


def test_the_sign_of_a_signed_magnitude_is_random_one_half():
    rotate = dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30), prob=1.0)
    aug = RandAugment([rotate], 1, 6, total_level=10, seed=0)
    clockwise = np.asarray(Image.fromarray(NOISE).rotate(-18, resample=Image.NEAREST,
                                                         fillcolor=(128,) * 3))
    share = np.mean([np.array_equal(aug(NOISE), clockwise) for _ in range(1000)])
    assert 0.45 < share < 0.55


def solarize_level(out, total=10):
    """The level a Solarize(thr 256 -> 0) output on RAMP was drawn at: the first inverted grey."""
    inverted = np.nonzero(out[0, :, 0] != RAMP[0, :, 0])[0]      # 255 - x != x for every x
    first = int(inverted[0]) if len(inverted) else 256
    return (256 - first) / 256 * total


def test_magnitude_is_drawn_per_image_around_the_level_and_clipped():
    """gauss(level, std) per application, clipped to [0, total_level], read back from the
    threshold Solarize really used."""
    policy = dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0), prob=1.0)
    aug = RandAugment([policy], 1, 5, magnitude_std=2, total_level=10, seed=0)
    levels = np.array([solarize_level(aug(RAMP)) for _ in range(2000)])
    assert abs(levels.mean() - 5) < 0.15 and abs(levels.std() - 2) < 0.15
    assert len(np.unique(levels)) > 50                  # drawn per image, not once
    wide = RandAugment([policy], 1, 5, magnitude_std=8, total_level=10, seed=0)
    levels = np.array([solarize_level(wide(RAMP)) for _ in range(500)])
    assert levels.min() == 0 and levels.max() == 10     # thr 256 (nothing) and 0 (all) inverted
    assert 0.15 < np.mean(levels == 0) < 0.4 and 0.15 < np.mean(levels == 10) < 0.4
    same = [RandAugment([policy], 1, 5, magnitude_std=2, total_level=10, seed=7)(RAMP)
            for _ in range(2)]
    np.testing.assert_array_equal(*same)                # a seed repeats its draws


MARKED = [dict(type='Invert'), dict(type='Solarize', thr=128), dict(type='Posterize', bits=2),
          dict(type='SolarizeAdd', magnitude=50), dict(type='Equalize')]


def test_policies_are_drawn_uniformly_and_applied_with_probability_one_half():
    """num_policies=1 over five ops with told-apart outputs: each drawn ~1/5 of the time, and
    (at the default prob) applied to about half of the images it was drawn for."""
    image = (RAMP // 2 + 40).astype(np.uint8)           # Equalize changes it too
    sure = [dict(p, prob=1.0) for p in MARKED]
    outputs = [RandAugment([p], 1, 0, seed=0)(image).tobytes() for p in sure]
    assert len(set(outputs)) == 5 and image.tobytes() not in outputs
    aug = RandAugment(sure, 1, 0, seed=0)
    counts = np.bincount([outputs.index(aug(image).tobytes()) for _ in range(2500)], minlength=5)
    assert (np.abs(counts / 2500 - 0.2) < 0.03).all(), counts
    gated = RandAugment(MARKED, 1, 0, seed=1)
    hits = [gated(image).tobytes() for _ in range(2500)]
    assert 0.46 < np.mean([h != image.tobytes() for h in hits]) < 0.54
    drawn = np.bincount([outputs.index(h) for h in hits if h != image.tobytes()], minlength=5)
    assert (np.abs(drawn / drawn.sum() - 0.2) < 0.04).all(), drawn


def test_num_policies_ops_per_image_each_gated_alone():
    """SolarizeAdd(+20 below 128) three times per image: a black pixel shows how many of the
    three ran, Binomial(3, 0.5)."""
    add = dict(type='SolarizeAdd', magnitude_key='magnitude', magnitude_range=(0, 20))
    aug = RandAugment([add], 3, 10, total_level=10, seed=0)
    black = np.zeros((2, 2, 3), np.uint8)
    runs = np.array([aug(black)[0, 0, 0] // 20 for _ in range(2000)])
    np.testing.assert_allclose(np.bincount(runs, minlength=4) / 2000, [1 / 8, 3 / 8, 3 / 8, 1 / 8],
                               atol=0.04)
    assert RandAugment([dict(add, prob=1.0)], 3, 10, total_level=10)(black)[0, 0, 0] == 60
    np.testing.assert_array_equal(RandAugment([dict(add, prob=1.0)], 0, 10)(black), black)


def test_shear_keeps_cv2_pixel_centres():
    """mmcv's imshear (cv2.warpAffine, pixel centres at integers): output (x + m*y, y) shows
    input (x, y). A one-pixel column at x = 10 sheared by m = 0.3 (bicubic) has its row centroid
    at 10 + 0.3 * y; the old PIL matrix (centres at +0.5) put it at 10 + 0.3 * y + 0.15."""
    line = np.zeros((24, 32, 3), np.uint8)
    line[:, 10] = 200
    policy = dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3),
                  direction='horizontal', interpolation='bicubic')
    out = run(policy, level=10, image=line, pad_val=0)[:, :, 0].astype(float)
    rows = np.arange(2, 22)
    centroid = (out[rows] * np.arange(32)).sum(1) / out[rows].sum(1)
    np.testing.assert_allclose(centroid, 10 + 0.3 * rows, atol=0.05)
    # nearest: rows away from a half-pixel tie take input x - round(0.3 * y), e.g. row 8 -> x - 2
    ramp = np.tile(np.arange(0, 240, 10, dtype=np.uint8)[None, :, None], (12, 1, 3))
    out = run(dict(policy, interpolation='nearest'), level=10, image=ramp, pad_val=0)[:, :, 0]
    for y in (1, 2, 3, 4, 6, 7, 8, 9, 11):
        shift = int(np.floor(0.3 * y + 0.5))
        np.testing.assert_array_equal(out[y, shift:], ramp[y, :24 - shift, 0])


def test_color_transform_and_sharpness_round_as_mmcv_cv2():
    """Expected values from mmcv 1.7.2's formulas, worked by hand. ColorTransform (adjust_color,
    alpha = 1.3): cv2 grey of (200, 100, 50) = (200*4899 + 100*9617 + 50*1868 + 8192) >> 14 =
    124; R = 1.3*200 - 0.3*124 = 222.8 -> 223 (cv2.addWeighted rounds; Pillow gave 222), G 92.8
    -> 93, B 27.8 -> 28. Sharpness (adjust_sharpness, factor 1.3) of a black 4x4 image with 130
    at (0, 0): filter2D reflects the border (101), so the smoothed corner is 5 * 130 / 13 = 50
    and the output 1.3 * 130 - 0.3 * 50 = 154 (Pillow leaves the border pixel at 130)."""
    pixel = np.tile(np.array([200, 100, 50], np.uint8), (2, 2, 1))
    colour = run(dict(type='ColorTransform', magnitude_key='magnitude', magnitude_range=(0, 0.3)),
                 level=10, image=pixel)
    assert colour[0, 0].tolist() == [223, 93, 28]
    corner = np.zeros((4, 4, 3), np.uint8)
    corner[0, 0] = 130
    sharp = run(dict(type='Sharpness', magnitude_key='magnitude', magnitude_range=(0, 0.3)),
                level=10, image=corner)
    assert sharp[0, 0, 0] == 154 and not sharp[1:, 1:].any()


def test_solarize_add_clamps_an_int_magnitude_over_128():
    """mmcls adds an int magnitude in uint8, so 127 + 150 wraps to 21 there; ms_cls keeps the
    op's formula, min(x + magnitude, 255) (RandAugment's float magnitudes never wrap in mmcls)."""
    img = np.tile(np.array([127, 100, 200], np.uint8), (2, 2, 1))
    out = run(dict(type='SolarizeAdd', magnitude_key='magnitude', magnitude_range=(0, 150)),
              level=10, image=img)
    assert out[0, 0].tolist() == [255, 250, 200]


def test_an_mmcls_config_pads_with_mmcls_pixels(write):
    """mmcls configs give pad_val in BGR (img_norm_cfg['mean'][::-1] = [104, 116, 124]); the
    RGB image must be padded with the mean itself, (124, 116, 104)."""
    from ms_cls.data.pipeline import build_pipeline
    cfg = Config.fromfile(write('p.py', f"""
_base_ = '{os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}/configs/_base_/datasets/caltech256_bs64_randaug.py'
"""))
    (aug,) = [op for op in build_pipeline(cfg.data.train.pipeline) if isinstance(op, RandAugment)]
    assert aug.hparams['pad_val'] == (124, 116, 104)
    policy = dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.5),
                  direction='horizontal', random_negative_prob=0.0)
    out = np.asarray(aug.apply(Image.fromarray(GRADIENT), aug.policies[0] | policy, 10))
    assert out[0, 0].tolist() == [124, 116, 104]
