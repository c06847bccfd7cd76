"""Batched prediction over a dataset: order, TTA views, ensembles (trained tiny checkpoint)."""
import os

import numpy as np
import pytest

from ms_cls.apis import inference_model
from ms_cls.errors import ConfigError
from ms_cls.data.datasets import CustomDataset
from ms_cls.evaluation.inference import ensemble_probs, load_models, predict_probs


def run_files(trained):
    cfg, work_dir, _ = trained
    return os.path.join(work_dir, 'resnet18_1xb64_demo-32px.py'), os.path.join(work_dir, 'best.ckpt')


def test_batched_rows_follow_the_dataset_and_match_single_image_inference(trained, tiny_demo):
    config, ckpt = run_files(trained)
    (model,) = load_models([config], [ckpt])
    test = CustomDataset(f'{tiny_demo}/test', with_label=False)
    probs = predict_probs(model, test, batch_size=7, workers=2)    # 20 images: a ragged batch
    assert probs.shape == (len(test), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    for row, (path, _) in zip(probs, test.samples):
        single = inference_model(model, path)
        assert single['pred_label'] == int(row.argmax())
        assert single['pred_score'] == pytest.approx(float(row.max()), rel=1e-4)


def test_tta_views_and_ensembles(trained, tiny_demo):
    config, ckpt = run_files(trained)
    models = load_models([config], [ckpt, ckpt])
    val = CustomDataset(f'{tiny_demo}/val')
    plain = predict_probs(models[0], val)
    flip = predict_probs(models[0], val, tta=['flip'])
    multi = predict_probs(models[0], val, tta=['flip', 'multi-scale'])
    assert flip.shape == multi.shape == plain.shape
    assert not np.allclose(flip, plain) and not np.allclose(multi, flip)
    same = ensemble_probs(models, lambda m: val, weights=[1, 3])
    np.testing.assert_allclose(same, plain, rtol=1e-5, atol=1e-6)   # one model twice
    with pytest.raises(ConfigError, match="--tta 'rotate'"):
        predict_probs(models[0], val, tta=['rotate'])
    with pytest.raises(ConfigError, match='one non-negative weight per checkpoint'):
        ensemble_probs(models, lambda m: val, weights=[1])
    with pytest.raises(ConfigError, match='2 configs for 3 checkpoints'):
        load_models([config, config], [ckpt] * 3)


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_flip_tta_is_the_mean_of_the_two_views_softmax(tiny_demo):
    """A tiny conv + dense net (not mirror-symmetric), its logits taken on the image and its
    horizontal mirror here, outside predict_probs: flip TTA must be their softmaxes' mean,
    which neither one view, the mean of the logits nor a vertical mirror reproduces."""
    import mindspore as ms
    import mindspore.nn as nn
    from ms_cls.data.datasets import load_rgb
    from ms_cls.data.pipeline import apply_pipeline, build_pipeline
    from ms_cls.models.classifier import ImageClassifier, LinearClsHead
    from conftest import tiny_cfg

    ms.set_seed(3)
    net = ImageClassifier(nn.Conv2d(3, 2, 4, stride=4, pad_mode='valid', has_bias=True),
                          nn.Flatten(), LinearClsHead(10, 2 * 8 * 8))
    net.head.classifier.weight.set_data(net.head.classifier.weight * 20)   # confident logits
    net.test_ops = build_pipeline(tiny_cfg(tiny_demo).data.val.pipeline)
    net.set_train(False)
    val = CustomDataset(f'{tiny_demo}/val')
    images = np.stack([apply_pipeline(net.test_ops, load_rgb(p)) for p, _ in val.samples])
    assert images.shape == (30, 3, 32, 32)

    def logits(batch):
        return net(ms.Tensor(np.ascontiguousarray(batch))).asnumpy().astype(np.float64)

    plain, mirror = logits(images), logits(images[..., ::-1])
    expected = (_softmax(plain) + _softmax(mirror)) / 2
    flip = predict_probs(net, val, batch_size=7, workers=1, tta=['flip'])
    np.testing.assert_allclose(flip, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_probs(net, val, batch_size=7, workers=1), _softmax(plain),
                               rtol=1e-5, atol=1e-6)
    for wrong in (_softmax(plain), _softmax((plain + mirror) / 2),
                  (_softmax(plain) + _softmax(logits(images[:, :, ::-1]))) / 2):
        assert np.abs(wrong - expected).max() > 0.05
