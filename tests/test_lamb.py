"""optimizer type='Lamb' (mmcls's, i.e. timm's) against a numpy reference of its update rule."""
import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.errors import ConfigError
from ms_cls.engine.optim import build_optimizer, optimizer_spec
from ms_cls.models.builder import build_loss, build_model
from ms_cls.models.convert import model_cfg

from test_optimizers import B0, W0, X, Y, dense_grads  # the same Dense problem

SCHEDULE = np.array([0.1, 0.05, 0.02], np.float32)


def reference_lamb(steps, lr, decays, betas=(0.9, 0.999), eps=1e-6, bias_correction=True,
                   grad_averaging=True, max_grad_norm=1.0, trust_clip=False,
                   always_adapt=False):
    """mmcls 0.25's Lamb step by step, in float64; ``decays``: the weight decay of W and b."""
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        grads = dense_grads(*params)
        norm = np.sqrt(sum((g ** 2).sum() for g in grads))
        if max_grad_norm is not None and norm > max_grad_norm:
            grads = [g / (norm / max_grad_norm) for g in grads]
        bias1 = 1 - betas[0] ** t if bias_correction else 1.0
        bias2 = 1 - betas[1] ** t if bias_correction else 1.0
        for i, (p, g, wd) in enumerate(zip(params, grads, decays)):
            m[i] = betas[0] * m[i] + (1 - betas[0] if grad_averaging else 1.0) * g
            v[i] = betas[1] * v[i] + (1 - betas[1]) * g * g
            update = m[i] / bias1 / (np.sqrt(v[i]) / np.sqrt(bias2) + eps) + wd * p
            ratio = 1.0
            if wd != 0 or always_adapt:
                w_norm, u_norm = np.linalg.norm(p), np.linalg.norm(update)
                ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
                ratio = min(ratio, 1.0) if trust_clip else ratio
            params[i] = p - lr[t - 1] * ratio * update
    return params


def train_dense(opt_cfg, steps=3, loss_scale=1.0):
    """``steps`` graph-mode steps on nn.Dense(3, 2) -> (weight, bias); the module is the whole
    net, so paramwise_cfg sees its bias as a bias."""
    ms.set_context(mode=ms.GRAPH_MODE)
    net = nn.Dense(3, 2, weight_init=ms.Tensor(W0), bias_init=ms.Tensor(B0))
    opt = build_optimizer(optimizer_spec(opt_cfg), net.trainable_params(), SCHEDULE,
                          loss_scale=loss_scale, net=net)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()), opt, sens=loss_scale)
    for _ in range(steps):
        step(ms.Tensor(X), ms.Tensor(Y))
    return net.weight.asnumpy(), net.bias.asnumpy()


CASES = [
    (dict(weight_decay=0.02), {}),                                   # the RSB schedule's
    (dict(weight_decay=0.02, max_grad_norm=0.05), dict(max_grad_norm=0.05)),   # clipped
    (dict(weight_decay=0.5, trust_clip=True, betas=(0.8, 0.99), eps=1e-3),
     dict(trust_clip=True, betas=(0.8, 0.99), eps=1e-3)),
    (dict(weight_decay=0.1, bias_correction=False, grad_averaging=False, max_grad_norm=None),
     dict(bias_correction=False, grad_averaging=False, max_grad_norm=None)),
]


@pytest.mark.parametrize('opt_args, ref_args', CASES)
def test_lamb_is_mmcls_lamb(opt_args, ref_args):
    got = train_dense(dict(type='Lamb', lr=0.1, **opt_args))
    want = reference_lamb(3, SCHEDULE, (opt_args['weight_decay'],) * 2, **ref_args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('always_adapt', [False, True])
def test_bias_decay_mult_0_skips_the_trust_ratio_unless_always_adapt(always_adapt):
    """The RSB configs' paramwise_cfg(bias_decay_mult=0.): the bias is neither decayed nor
    adapted; with a fixed loss scale of 8 divided out."""
    got = train_dense(dict(type='Lamb', lr=0.1, weight_decay=0.02, always_adapt=always_adapt,
                           paramwise_cfg=dict(bias_decay_mult=0.)), loss_scale=8.0)
    want = reference_lamb(3, SCHEDULE, (0.02, 0.0), always_adapt=always_adapt)
    other = reference_lamb(3, SCHEDULE, (0.02, 0.0), always_adapt=not always_adapt)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert np.abs(got[1] - other[1]).max() > 1e-3


def test_rsb_optimizer_trains_resnet18_with_norm_and_bias_decay_mult_0():
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = model_cfg('resnet18', 4)
    net = build_model(cfg)
    spec = optimizer_spec(dict(type='Lamb', lr=0.005, weight_decay=0.01,
                               paramwise_cfg=dict(bias_decay_mult=0., norm_decay_mult=0.)))
    opt = build_optimizer(spec, net.trainable_params(), SCHEDULE, net=net)
    adapted = {p.name: on for p, on in zip(opt.parameters, opt.adapt)}
    for name, on in adapted.items():
        assert on == (not name.endswith(('.gamma', '.beta', '.bias'))), name
    step = nn.TrainOneStepCell(nn.WithLossCell(net, build_loss(cfg)), opt)
    step.set_train(True)
    images = ms.Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)), ms.float32)
    before = net.head.classifier.weight.asnumpy().copy()
    loss = float(step(images, ms.Tensor(np.arange(4, dtype=np.int32))).asnumpy())
    assert np.isfinite(loss) and not np.array_equal(before, net.head.classifier.weight.asnumpy())


@pytest.mark.parametrize('args, match', [
    (dict(max_grad_norm=0), r"optimizer.max_grad_norm = 0: expected a number in \(0, inf\)"),
    (dict(trust_clip='yes'), r"optimizer.trust_clip"),
    (dict(betas=(0.9, 1.0)), r"optimizer.betas = \(0.9, 1.0\): expected two numbers in \[0, 1\)"),
    (dict(grad_averageing=False), r"Did you mean 'grad_averaging'"),
])
def test_bad_lamb_arguments(args, match):
    with pytest.raises(ConfigError, match=match):
        optimizer_spec(dict(type='Lamb', lr=0.005, **args))
