"""mmcls batch augments (model.train_cfg.augments): mixing rules, the per-batch choice, seeding,
config errors and the op inside a mindspore.dataset pipeline."""
import numpy as np
import mindspore.dataset as ds
import pytest

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.batch_augments import BatchAugments, build_batch_augments, resize

N, C = 6, 10
LABELS = np.arange(N, dtype=np.int32)


def images(seed=0, n=N, size=8):
    """Random float images: every pixel value is distinct, so its source image is known."""
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def only(type_, seed=0, **kwargs):
    return build_batch_augments(dict(augments=dict(type=type_, prob=1.0, **kwargs)), C, seed=seed)


def partner(row, i):
    """The other image a mixed label row points to (itself when perm[i] == i) and its weight."""
    others = [j for j in np.flatnonzero(row) if j != i]
    return (others[0], row[others[0]]) if others else (i, 0.0)


@pytest.mark.parametrize('type_, kwargs', [('BatchMixup', dict(alpha=0.8)),
                                           ('BatchCutMix', dict(alpha=1.0)),
                                           ('BatchResizeMix', dict(alpha=1.0))])
def test_label_rows_sum_to_one(type_, kwargs):
    op = only(type_, **kwargs)
    for step in range(5):
        out, labels = op(images(step), LABELS)
        assert out.shape == (N, 3, 8, 8) and out.dtype == np.float32
        assert labels.shape == (N, C) and labels.dtype == np.float32
        np.testing.assert_allclose(labels.sum(axis=1), 1, atol=1e-6)
        assert op.last_applied == type_


def test_mixup_image_is_the_label_weighted_mix():
    op = only('BatchMixup', alpha=0.8)
    for step in range(5):
        src = images(step)
        out, labels = op(src, LABELS)
        for i in range(N):
            j, other = partner(labels[i], i)
            lam = 1 - other
            np.testing.assert_allclose(out[i], lam * src[i] + (1 - lam) * src[j], atol=1e-5)


def test_cutmix_pasted_fraction_equals_the_label_weight():
    op = only('BatchCutMix', alpha=1.0)
    pasted_any = False
    for step in range(20):
        src = images(step)
        out, labels = op(src, LABELS)
        boxes = set()
        for i in range(N):
            j, other = partner(labels[i], i)
            taken = (out[i] != src[i]).all(axis=0)
            assert taken.mean() == pytest.approx(other, abs=1e-6)
            np.testing.assert_array_equal(out[i][:, taken], src[j][:, taken])
            np.testing.assert_array_equal(out[i][:, ~taken], src[i][:, ~taken])
            if j != i:
                boxes.add(taken.tobytes())
                pasted_any |= bool(taken.any())
        assert len(boxes) <= 1      # one box for the whole batch
    assert pasted_any


def test_cutmix_minmax_box_sides_and_uncorrected_lam():
    op = only('BatchCutMix', alpha=1.0, cutmix_minmax=(0.25, 0.75))
    for step in range(10):
        src = images(step, size=16)
        out, labels = op(src, LABELS)
        for i in range(N):
            j, other = partner(labels[i], i)
            if j != i:
                rows, cols = np.nonzero((out[i] != src[i]).all(axis=0))
                assert 4 <= rows.ptp() + 1 < 12 and 4 <= cols.ptp() + 1 < 12
                assert other == pytest.approx(rows.size / 256, abs=1e-6)
    op = only('BatchCutMix', alpha=1.0, correct_lam=False)
    gaps = []
    for step in range(10):
        src = images(step)
        out, labels = op(src, LABELS)
        j, other = partner(labels[0], 0)
        if j != 0:      # the raw Beta draw, not the (border-clipped) box area
            gaps.append(abs(other - (out[0] != src[0]).all(axis=0).mean()))
    assert max(gaps) > 0.01


def test_resizemix_pastes_the_whole_partner_image_resized():
    op = only('BatchResizeMix', alpha=1.0, lam_min=0.1, lam_max=0.2, interpolation='nearest')
    pasted = 0
    for step in range(5):
        src = images(step, size=16)
        out, labels = op(src, LABELS)
        for i in range(N):
            j, other = partner(labels[i], i)
            rows, cols = np.nonzero((out[i] != src[i]).all(axis=0))
            if j != i and rows.size:
                pasted += 1
                box = out[i][:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
                np.testing.assert_array_equal(box, resize(src[j:j + 1], *box.shape[1:],
                                                          'nearest')[0])
                assert other == pytest.approx(rows.size / 256, abs=1e-6)
    assert pasted


def test_resize_matches_torch_interpolate_rules():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(resize(x, 2, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(resize(x, 2, 2, 'nearest')[0, 0], [[0, 2], [8, 10]])
    np.testing.assert_array_equal(resize(x, 4, 4), x)
    torch = pytest.importorskip('torch')
    y = np.random.default_rng(0).random((2, 3, 7, 9)).astype(np.float32)
    for mode in ('bilinear', 'nearest'):
        ref = torch.nn.functional.interpolate(torch.from_numpy(y), size=(5, 4), mode=mode)
        np.testing.assert_allclose(resize(y, 5, 4, mode), ref.numpy(), atol=1e-5)


def test_zero_prob_augments_are_identity_with_one_hot_labels():
    op = build_batch_augments(dict(augments=[dict(type='BatchMixup', alpha=0.8, prob=0.0),
                                             dict(type='BatchCutMix', alpha=1.0, prob=0.0)]), C)
    src = images()
    for _ in range(5):
        out, labels = op(src, LABELS)
        assert op.last_applied == 'Identity'
        np.testing.assert_array_equal(out, src)
        np.testing.assert_array_equal(labels, np.eye(C, dtype=np.float32)[LABELS])


def test_choice_frequencies_follow_the_probs():
    op = build_batch_augments(dict(augments=[dict(type='BatchMixup', alpha=0.8, prob=0.5),
                                             dict(type='BatchCutMix', alpha=1.0, prob=0.3)]),
                              C, seed=7)
    src, counts = images(n=2, size=2), {}
    for _ in range(2000):
        op(src, LABELS[:2])
        counts[op.last_applied] = counts.get(op.last_applied, 0) + 1
    assert counts['BatchMixup'] / 2000 == pytest.approx(0.5, abs=0.04)
    assert counts['BatchCutMix'] / 2000 == pytest.approx(0.3, abs=0.04)
    assert counts['Identity'] / 2000 == pytest.approx(0.2, abs=0.04)


def test_same_seed_same_batches_and_dataset_seed_is_the_default():
    cfg = dict(augments=[dict(type='BatchMixup', alpha=0.8, prob=0.5),
                         dict(type='BatchCutMix', alpha=1.0, prob=0.5)])
    runs = []
    for _ in range(2):
        op = build_batch_augments(cfg, C, seed=3)
        runs.append([op(images(step), LABELS) for step in range(6)])
    for (img_a, lab_a), (img_b, lab_b) in zip(*runs):
        np.testing.assert_array_equal(img_a, img_b)
        np.testing.assert_array_equal(lab_a, lab_b)
    other = build_batch_augments(cfg, C, seed=4)
    assert any(not np.array_equal(other(images(step), LABELS)[1], lab)
               for step, (_, lab) in enumerate(runs[0]))
    old = ds.config.get_seed()
    try:
        ds.config.set_seed(123)
        assert build_batch_augments(cfg, C).seed == 123
    finally:
        ds.config.set_seed(old)


def test_no_augments_means_no_op():
    assert build_batch_augments(None, C) is None
    assert build_batch_augments(dict(), C) is None
    assert isinstance(build_batch_augments(dict(augments=dict(type='BatchMixup', alpha=1.0)), C),
                      BatchAugments)


@pytest.mark.parametrize('train_cfg, match', [
    (dict(augments=[dict(type='BatchMixUp', alpha=0.8)]),
     r"Unknown batch augment type 'BatchMixUp' in model\.train_cfg\.augments\.0\.type\. "
     r"Did you mean 'BatchMixup'\? Known types: BatchCutMix, BatchMixup, BatchResizeMix, Identity"),
    (dict(augments=[dict(type='BatchMixup', alpha=0.0)]),
     r"model\.train_cfg\.augments\.0\.alpha is 0\.0; it must be a number > 0"),
    (dict(augments=[dict(type='BatchCutMix', alpha=-1)]), r"augments\.0\.alpha is -1"),
    (dict(augments=[dict(type='BatchCutMix')]), r"augments\.0 \(BatchCutMix\) needs alpha"),
    (dict(augments=[dict(type='BatchMixup', alpha=1.0, prob=1.5)]),
     r"augments\.0\.prob is 1\.5; it must be a number in \[0, 1\]"),
    (dict(augments=[dict(type='BatchMixup', alpha=0.8, prob=0.7),
                    dict(type='BatchCutMix', alpha=1.0, prob=0.5)]),
     r"model\.train_cfg\.augments: the prob values sum to 1\.2 \(BatchMixup 0\.7 \+ "
     r"BatchCutMix 0\.5\), more than 1"),
    (dict(augments=[dict(type='BatchMixup', alpha=0.8, num_classes=5)]),
     r"augments\.0\.num_classes is 5 but model\.head\.num_classes is 10; remove num_classes"),
    (dict(augments=[dict(type='BatchMixup', alpha=0.8, lam_min=0.1)]),
     r"Unknown key 'lam_min' in augment 'BatchMixup': model\.train_cfg\.augments\.0\.lam_min"),
    (dict(augments=[dict(type='BatchCutMix', alpha=1.0, cutmix_minmax=(0.8, 0.2))]),
     r"augments\.0\.cutmix_minmax is \(0\.8, 0\.2\); it must be None or \(min, max\)"),
    (dict(augments=[dict(type='BatchResizeMix', alpha=1.0, interpolation='bicubic')]),
     r"augments\.0\.interpolation is 'bicubic'; it must be one of"),
    (dict(augments=[dict(type='Identity', prob=0.5), dict(type='BatchMixup', alpha=1., prob=0.3)]),
     r"with an explicit Identity the probs must sum to 1"),
    (dict(augments=[]), r"model\.train_cfg\.augments must be a dict or a non-empty list"),
    (dict(augment=[dict(type='BatchMixup', alpha=0.8)]),
     r"Unknown key 'augment' in model\.train_cfg.*Did you mean 'augments'\?"),
    (dict(mixup=dict(alpha=0.2)), r"train_cfg\.mixup is the old mmcls spelling"),
    ([dict(type='BatchMixup', alpha=0.8)], r"model\.train_cfg must be a dict"),
])
def test_config_mistakes_name_the_key(train_cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_batch_augments(train_cfg, C)


def test_errors_name_the_config_file(write):
    cfg = Config.fromfile(write('mix.py', "model = dict(train_cfg=dict(augments=[\n"
                                          "    dict(type='BatchMixup', alpha=0.8, prob=0.5),\n"
                                          "    dict(type='BatchCutMix', alpha=0, prob=0.5)]))\n"))
    with pytest.raises(ConfigError, match=r"model\.train_cfg\.augments\.1\.alpha \(set in "
                                          r".*mix\.py\) is 0"):
        build_batch_augments(cfg.model.get('train_cfg'), C)


def test_op_in_a_mindspore_dataset_pipeline():
    op = build_batch_augments(dict(augments=[dict(type='BatchMixup', alpha=0.8, prob=0.5),
                                             dict(type='BatchCutMix', alpha=1.0, prob=0.5)]),
                              C, seed=0)
    data = ds.NumpySlicesDataset({'image': images(n=8), 'label': np.arange(8, dtype=np.int32)},
                                 shuffle=False)
    data = data.batch(4, drop_remainder=True).map(operations=op, input_columns=['image', 'label'])
    batches = list(data.create_dict_iterator(output_numpy=True, num_epochs=1))
    assert len(batches) == 2
    for batch in batches:
        assert batch['image'].shape == (4, 3, 8, 8) and batch['image'].dtype == np.float32
        assert batch['label'].shape == (4, C) and batch['label'].dtype == np.float32
        np.testing.assert_allclose(batch['label'].sum(axis=1), 1, atol=1e-6)


def test_build_dataloader_maps_batch_ops_after_batching(tiny_demo):
    from ms_cls.data.builder import build_dataloader
    from ms_cls.data.datasets import CustomDataset
    dataset = CustomDataset(f'{tiny_demo}/train', pipeline=[dict(type='Resize', size=16)])
    op = build_batch_augments(dict(augments=dict(type='BatchCutMix', alpha=1.0)), C, seed=0)
    loader = build_dataloader(dataset, 4, 1, drop_last=True, batch_ops=op)
    batch = next(loader.create_dict_iterator(output_numpy=True, num_epochs=1))
    assert batch['image'].shape == (4, 3, 16, 16) and batch['image'].dtype == np.float32
    assert batch['label'].shape == (4, C) and batch['label'].dtype == np.float32
