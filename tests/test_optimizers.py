"""cfg.optimizer: SGD / Adam / AdamW / RMSprop with torch's update rules, and mmcv's paramwise_cfg."""
import dataclasses

import numpy as np
import mindspore as ms
import mindspore.nn as nn
import pytest

from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.engine.optim import OptimizerSpec, ParamwiseSpec, build_optimizer, optimizer_spec
from ms_cls.engine.optim.spec import CustomKey
from ms_cls.models.builder import build_loss, build_model
from ms_cls.models.convert import model_cfg

SCHEDULE = np.array([0.1, 0.05, 0.02], np.float32)


def resnet18(**backbone):
    cfg = model_cfg('resnet18', 4)
    cfg['backbone'].update(backbone)
    return cfg, build_model(cfg)


def build(opt_cfg, params, *args, **kwargs):
    """build_optimizer(optimizer_spec(opt_cfg), ...): the config checked once, then built."""
    return build_optimizer(optimizer_spec(opt_cfg), params, *args, **kwargs)


def index_of(opt, param):
    return [id(p) for p in opt.parameters].index(id(param))


def group_lr(opt, param):
    """The per-step lr array the optimizer holds for ``param``."""
    return opt.get_lr_parameter(param).asnumpy()


def decay_of(opt, param):
    """The weight decay the optimizer applies to ``param`` (MindSpore's optimizers keep it
    multiplied by the loss scale, 1 here, and skip it where decay_flags is False)."""
    i = index_of(opt, param)
    if hasattr(opt, 'decay'):  # AdamW / RMSprop of ms_cls
        return float(opt.decay[i].asnumpy()) if opt.decay_on[i] else 0.0
    wd = opt.weight_decay[i] if isinstance(opt.weight_decay, tuple) else opt.weight_decay
    return float(wd.asnumpy()) if opt.decay_flags[i] else 0.0


# --- every type trains a ResNet-18 in graph mode -------------------------------------------------

@pytest.mark.parametrize('opt_cfg, cell', [
    (dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True), 'Momentum'),
    (dict(type='Adam', lr=1e-3, betas=(0.9, 0.99), weight_decay=1e-4), 'Adam'),
    (dict(type='AdamW', lr=1e-3, weight_decay=0.05,
          paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'head': dict(lr_mult=10.0)})),
     'AdamW'),
    (dict(type='RMSProp', lr=1e-3, alpha=0.9, momentum=0.9, eps=0.0316, weight_decay=1e-5),
     'RMSprop'),
])
def test_each_type_takes_a_graph_mode_step_on_resnet18(opt_cfg, cell):
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg, net = resnet18()
    opt = build(opt_cfg, net.trainable_params(), SCHEDULE, net=net)
    assert type(opt).__name__ == cell
    step = nn.TrainOneStepCell(nn.WithLossCell(net, build_loss(cfg)), opt)
    step.set_train(True)
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    labels = ms.Tensor(np.arange(4, dtype=np.int32))
    conv, fc = net.backbone.layer1[0].conv1.weight, net.head.classifier.weight
    before = conv.asnumpy().copy(), fc.asnumpy().copy()
    loss = float(step(images, labels).asnumpy())
    assert np.isfinite(loss)
    assert not np.array_equal(before[0], conv.asnumpy())
    assert not np.array_equal(before[1], fc.asnumpy())
    assert int(opt.global_step.asnumpy()[0]) == 1


# --- the update rules, checked against torch's formulas on one Dense layer ---------------------

X = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
Y = np.random.default_rng(2).standard_normal((6, 2)).astype(np.float32)
W0 = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
B0 = np.array([0.3, -0.2], np.float32)


def dense_grads(w, b):
    """d mean((X W^T + b - Y)^2) / d(W, b)."""
    dout = 2 * (X @ w.T + b - Y) / Y.size
    return dout.T @ X, dout.sum(0)


def train_dense(opt_cfg, steps=2, loss_scale=1.0):
    """``steps`` graph-mode steps on nn.Dense(3, 2) -> (weight, bias). With ``loss_scale`` the
    gradients come scaled (TrainOneStepCell's sens, as Model's fixed loss scale does)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    net = nn.Dense(3, 2, weight_init=ms.Tensor(W0), bias_init=ms.Tensor(B0))
    opt = build(opt_cfg, net.trainable_params(), SCHEDULE, loss_scale=loss_scale)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()), opt, sens=loss_scale)
    for _ in range(steps):
        step(ms.Tensor(X), ms.Tensor(Y))
    return net.weight.asnumpy(), net.bias.asnumpy()


def torch_adam(steps, lr, betas, eps, wd, decoupled):
    """torch.optim.Adam (L2: wd * w added to the gradient) or AdamW (w *= 1 - lr * wd)."""
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        grads = dense_grads(*params)
        for i, (p, g) in enumerate(zip(params, grads)):
            if decoupled:
                p = p * (1 - lr[t - 1] * wd)
            else:
                g = g + wd * p
            m[i] = betas[0] * m[i] + (1 - betas[0]) * g
            v[i] = betas[1] * v[i] + (1 - betas[1]) * g * g
            denom = np.sqrt(v[i]) / np.sqrt(1 - betas[1] ** t) + eps
            params[i] = p - lr[t - 1] / (1 - betas[0] ** t) * m[i] / denom
    return params


def torch_rmsprop(steps, lr, alpha, eps, wd, momentum, centered):
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    sq = [np.zeros_like(p) for p in params]
    avg = [np.zeros_like(p) for p in params]
    buf = [np.zeros_like(p) for p in params]
    for t in range(steps):
        grads = dense_grads(*params)
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + wd * p
            sq[i] = alpha * sq[i] + (1 - alpha) * g * g
            if centered:
                avg[i] = alpha * avg[i] + (1 - alpha) * g
                denom = np.sqrt(sq[i] - avg[i] ** 2) + eps
            else:
                denom = np.sqrt(sq[i]) + eps
            if momentum > 0:
                buf[i] = momentum * buf[i] + g / denom
                params[i] = p - lr[t] * buf[i]
            else:
                params[i] = p - lr[t] * g / denom
    return params


@pytest.mark.parametrize('loss_scale', [1.0, 8.0])
def test_adamw_is_torch_adamw_bias_corrected_with_decoupled_decay(loss_scale):
    got = train_dense(dict(type='AdamW', lr=0.1, weight_decay=0.5), loss_scale=loss_scale)
    want = torch_adam(2, SCHEDULE, (0.9, 0.999), 1e-8, 0.5, decoupled=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # the L2 form would have moved the weights elsewhere
    l2 = torch_adam(2, SCHEDULE, (0.9, 0.999), 1e-8, 0.5, decoupled=False)
    assert np.abs(got[0] - l2[0]).max() > 1e-3


def test_adam_weight_decay_is_l2_added_to_the_gradient():
    got = train_dense(dict(type='Adam', lr=0.1, betas=(0.8, 0.99), weight_decay=0.5))
    want = torch_adam(2, SCHEDULE, (0.8, 0.99), 1e-8, 0.5, decoupled=False)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    decoupled = torch_adam(2, SCHEDULE, (0.8, 0.99), 1e-8, 0.5, decoupled=True)
    assert np.abs(got[0] - decoupled[0]).max() > 1e-3


@pytest.mark.parametrize('momentum, centered, loss_scale', [(0.0, False, 1.0), (0.9, True, 8.0)])
def test_rmsprop_is_torch_rmsprop(momentum, centered, loss_scale):
    cfg = dict(type='RMSprop', lr=0.1, alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=momentum,
               centered=centered)
    got = train_dense(cfg, steps=3, loss_scale=loss_scale)
    want = torch_rmsprop(3, SCHEDULE, 0.9, 1e-3, 0.1, momentum, centered)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('opt_cfg', [dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.1),
                                     dict(type='Adam', lr=0.1, weight_decay=0.1)])
def test_fixed_loss_scale_is_divided_out(opt_cfg):
    plain, scaled = train_dense(opt_cfg), train_dense(opt_cfg, loss_scale=1024.0)
    for a, b in zip(plain, scaled):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert not np.allclose(a, W0 if a.ndim == 2 else B0)


# --- config mistakes ---------------------------------------------------------------------------

def test_misspelt_argument_names_key_file_and_suggestion(write):
    cfg = Config.fromfile(write('o.py', "optimizer = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),"
                                        " weight_decya=0.05)\n"))
    with pytest.raises(ConfigError, match=r"'weight_decya'.*o\.py.*Did you mean 'weight_decay'"):
        optimizer_spec(cfg.optimizer)


def test_unknown_type_lists_the_known_ones(write):
    cfg = Config.fromfile(write('o.py', "optimizer = dict(type='Adamw', lr=1e-3)\n"))
    with pytest.raises(ConfigError) as err:
        optimizer_spec(cfg.optimizer)
    msg = str(err.value)
    assert "'Adamw'" in msg and 'optimizer.type' in msg and 'o.py' in msg
    assert "Did you mean 'AdamW'" in msg and 'Adam, AdamW, Lamb, RMSprop, SGD' in msg


@pytest.mark.parametrize('text, match', [
    ("paramwise_cfg=dict(norm_decay_mul=0.0)", r"'norm_decay_mul'.*o\.py.*Did you mean 'norm_decay_mult'"),
    ("paramwise_cfg=dict(custom_keys={'head': dict(lr_mul=10)})",
     r"'lr_mul'.*custom_keys\['head'\].*o\.py.*Did you mean 'lr_mult'"),
    ("amsgrad=True", r"optimizer\.amsgrad.*o\.py.*amsgrad=False"),
    ("betas=0.9", r"optimizer\.betas.*o\.py.*two numbers"),
    ("eps=0", r"optimizer\.eps.*o\.py"),
])
def test_bad_values_and_paramwise_keys(write, text, match):
    cfg = Config.fromfile(write('o.py', f"optimizer = dict(type='AdamW', lr=1e-3, weight_decay=0.05, "
                                        f"{text})\n"))
    with pytest.raises(ConfigError, match=match):
        optimizer_spec(cfg.optimizer)


def test_spec_is_checked_once_into_plain_frozen_values(monkeypatch):
    """Building from a spec reads its values only: with every config check disabled, two builds
    from one spec give optimizers with the same hyper-parameters."""
    spec = optimizer_spec(dict(type='RMSProp', lr=0.1, momentum=0.9, centered=True),
                          grad_clip=dict(max_norm=2))
    assert isinstance(spec, OptimizerSpec) and spec == optimizer_spec(
        dict(type='RMSprop', lr=0.1, momentum=0.9, centered=True), grad_clip=dict(max_norm=2.0))
    assert spec.type == 'RMSprop' and spec.max_norm == 2.0 and spec.paramwise is None
    assert spec.values == (('lr', 0.1), ('alpha', 0.99), ('eps', 1e-8), ('weight_decay', 0.0),
                           ('momentum', 0.9), ('centered', True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.type = 'SGD'
    hash(spec)

    def no_check(*args, **kwargs):
        raise AssertionError('the config was checked again')
    for name in ('check_keys', 'number', 'flag', 'located'):
        monkeypatch.setattr(f'ms_cls.engine.optim.spec.{name}', no_check)
    net = nn.Dense(3, 2)
    opts = [build_optimizer(spec, None, SCHEDULE, loss_scale=4.0, net=net) for _ in range(2)]
    for opt in opts:
        assert type(opt).__name__ == 'RMSprop' and opt.centered and opt.clip_norm == 8.0
        assert (opt.alpha, float(opt.momentum.asnumpy()), float(opt.eps.asnumpy())) == \
            pytest.approx((0.99, 0.9, 1e-8))
        np.testing.assert_allclose(group_lr(opt, net.weight), SCHEDULE)
    with pytest.raises(TypeError, match='optimizer_spec'):
        build_optimizer(dict(type='SGD', lr=0.1), None, SCHEDULE, net=net)


def test_paramwise_cfg_is_resolved_in_the_spec():
    spec = optimizer_spec(dict(type='SGD', lr=0.1, weight_decay=1e-4, paramwise_cfg=dict(
        norm_decay_mult=0, custom_keys={'head': dict(lr_mult=10), 'backbone.layer1': {}})))
    assert spec.paramwise == ParamwiseSpec(
        custom_keys=(CustomKey('backbone.layer1'), CustomKey('head', lr_mult=10.0)),
        norm_decay_mult=0.0)
    assert optimizer_spec(dict(type='SGD', lr=0.1, paramwise_cfg={})).paramwise is None


def test_scheduled_momentum_is_sgd_momentum():
    """What a momentum_config scales is the optimizer's business: the spec answers it."""
    assert optimizer_spec(dict(type='SGD', lr=0.1, momentum=0.9)).scheduled_momentum('cyclic') \
        == 0.9
    no_momentum = optimizer_spec(dict(type='SGD', lr=0.1))
    assert no_momentum.scheduled_momentum('OneCycle') == 0.0   # OneCycle sets its own range
    with pytest.raises(ConfigError, match=r"needs optimizer\.momentum > 0"):
        no_momentum.scheduled_momentum('cyclic')
    with pytest.raises(ConfigError, match="schedules SGD's momentum; optimizer.type is 'AdamW'"):
        optimizer_spec(dict(type='AdamW', lr=0.1)).scheduled_momentum('cyclic')


def test_decay_mult_without_weight_decay_is_an_error_as_in_mmcv():
    with pytest.raises(ConfigError, match=r"norm_decay_mult needs optimizer\.weight_decay"):
        optimizer_spec(dict(type='SGD', lr=0.1, paramwise_cfg=dict(norm_decay_mult=0.0)))


# --- paramwise_cfg -----------------------------------------------------------------------------

def test_without_paramwise_cfg_every_parameter_is_decayed_as_in_mmcls():
    _, net = resnet18()
    for opt_cfg in (dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
                    dict(type='AdamW', lr=0.1, weight_decay=1e-4)):
        opt = build(opt_cfg, net.trainable_params(), SCHEDULE)
        for param in (net.backbone.bn1.gamma, net.backbone.bn1.beta, net.head.classifier.bias,
                      net.backbone.conv1.weight):
            assert decay_of(opt, param) == pytest.approx(1e-4)
        assert not opt.is_group_lr


def test_norm_and_bias_decay_mult():
    _, net = resnet18()
    opt = build(dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4,
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0)),
                net.trainable_params(), SCHEDULE, net=net)
    names = {p.name: p for p in net.trainable_params()}
    assert 'layer2.0.down_sample.1.gamma' in names  # the downsample BN is a norm layer too
    for name, param in names.items():
        zero = name.endswith(('.gamma', '.beta')) or name == 'classifier.bias'
        assert decay_of(opt, param) == (0.0 if zero else pytest.approx(5e-4)), name
    assert not opt.is_group_lr  # no lr multiplier: one lr schedule for all
    np.testing.assert_allclose(group_lr(opt, names['conv1.weight']), SCHEDULE)


def test_custom_keys_give_the_head_a_10x_lr_schedule():
    _, net = resnet18()
    opt = build(dict(type='AdamW', lr=0.1, weight_decay=0.05,
                     paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)})),
                net.trainable_params(), SCHEDULE, net=net)
    assert opt.is_group_lr
    for param in (net.head.classifier.weight, net.head.classifier.bias):
        np.testing.assert_allclose(group_lr(opt, param), SCHEDULE * 10, rtol=1e-6)
        assert decay_of(opt, param) == pytest.approx(0.05)
    for param in (net.backbone.conv1.weight, net.backbone.layer4[1].bn2.gamma):
        np.testing.assert_allclose(group_lr(opt, param), SCHEDULE)
    # the network's parameter order is kept for the update
    assert [p.name for p in opt.parameters] == [p.name for p in net.trainable_params()]


def test_longest_custom_key_wins():
    _, net = resnet18()
    custom = {'backbone': dict(lr_mult=0.5), 'backbone.layer1': dict(lr_mult=0.1, decay_mult=0.0)}
    opt = build(dict(type='SGD', lr=0.1, weight_decay=1e-4,
                     paramwise_cfg=dict(norm_decay_mult=2.0, custom_keys=custom)),
                net.trainable_params(), SCHEDULE, net=net)
    for param in net.backbone.layer1.trainable_params():
        np.testing.assert_allclose(group_lr(opt, param), SCHEDULE * 0.1, rtol=1e-6)
        assert decay_of(opt, param) == 0.0
    # custom keys take precedence over norm_decay_mult
    for param in (net.backbone.layer2[0].conv1.weight, net.backbone.bn1.gamma):
        np.testing.assert_allclose(group_lr(opt, param), SCHEDULE * 0.5, rtol=1e-6)
        assert decay_of(opt, param) == pytest.approx(1e-4)
    np.testing.assert_allclose(group_lr(opt, net.head.classifier.weight), SCHEDULE)


def test_frozen_parameters_are_in_no_group():
    _, net = resnet18(frozen_stages=1)
    frozen = {id(p) for p in net.get_parameters() if not p.requires_grad}
    spec = optimizer_spec(dict(type='SGD', lr=0.1, weight_decay=1e-4, paramwise_cfg=dict(
        norm_decay_mult=0.0, custom_keys={'backbone.layer1': dict(lr_mult=2.0),
                                          'head': dict(lr_mult=10.0)})))
    for params in (net.trainable_params(), list(net.get_parameters())):
        opt = build_optimizer(spec, params, SCHEDULE, net=net)
        names = [p.name for p in opt.parameters]
        assert names == [p.name for p in net.trainable_params()]
        assert not frozen & {id(p) for p in opt.parameters}
        assert not [n for n in names if n.startswith(('conv1.', 'bn1.', 'layer1.'))]
    # the trainer's call, parameters taken from the network
    opt = build_optimizer(spec, None, SCHEDULE, net=net)
    assert [p.name for p in opt.parameters] == [p.name for p in net.trainable_params()]


def test_mmcls_swin_adamw_schedule_on_swin_tiny():
    """configs/_base_/schedules/imagenet_bs1024_adamw_swin.py of mmcls 0.x, as it is."""
    cfg = model_cfg('swin-tiny', 4)
    cfg['backbone'].update(img_size=32)
    net = build_model(cfg)
    paramwise_cfg = dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                         custom_keys={'.absolute_pos_embed': dict(decay_mult=0.0),
                                      '.relative_position_bias_table': dict(decay_mult=0.0)})
    opt = build(dict(type='AdamW', lr=5e-4 * 1024 / 512, weight_decay=0.05, eps=1e-8,
                     betas=(0.9, 0.999), paramwise_cfg=paramwise_cfg),
                net.trainable_params(), SCHEDULE, net=net)
    decayed = [p.name for p in opt.parameters if decay_of(opt, p) > 0]
    tables = [p.name for p in opt.parameters if p.name.endswith('relative_position_bias_table')]
    assert tables and not set(tables) & set(decayed)
    assert decayed == [p.name for p in opt.parameters if p.name.endswith('.weight')]
    assert sorted({round(decay_of(opt, p), 6) for p in opt.parameters}) == [0.0, 0.05]


class DepthwiseNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, group=4, has_bias=True)
        self.pw = nn.Conv2d(4, 8, 1, has_bias=True)
        self.norm = nn.LayerNorm((8,))
        self.fc = nn.Dense(8, 2)
        self.tied = nn.Dense(8, 2)
        self.tied.weight = self.fc.weight

    def construct(self, x):
        return x


def test_dwconv_decay_bias_lr_torch_norm_names_and_shared_parameters():
    net = DepthwiseNet()
    paramwise = dict(dwconv_decay_mult=0.5, bias_lr_mult=2.0, bias_decay_mult=0.0,
                     custom_keys={'norm.weight': dict(lr_mult=3.0)})
    cfg = dict(type='SGD', lr=0.1, weight_decay=0.1, paramwise_cfg=paramwise)
    with pytest.raises(ConfigError, match=r"fc\.weight is shared by fc\.weight and tied\.weight.*"
                                          r"bypass_duplicate=True"):
        build(cfg, net.trainable_params(), SCHEDULE, net=net)
    paramwise['bypass_duplicate'] = True
    opt = build(cfg, net.trainable_params(), SCHEDULE, net=net)
    expect = {  # name: (lr_mult, weight decay)
        'dw.weight': (1, 0.05), 'dw.bias': (2, 0.05),  # a depthwise conv's bias takes dwconv's
        'pw.weight': (1, 0.1), 'pw.bias': (2, 0.0),
        'norm.gamma': (3, 0.1),  # 'norm.weight' is torch's name of LayerNorm's gamma
        'norm.beta': (1, 0.1),
        'fc.weight': (1, 0.1), 'fc.bias': (2, 0.0), 'tied.bias': (2, 0.0)}
    assert sorted(p.name for p in opt.parameters) == sorted(expect)
    for param in opt.parameters:
        lr_mult, decay = expect[param.name]
        np.testing.assert_allclose(group_lr(opt, param), SCHEDULE * lr_mult, rtol=1e-6)
        assert decay_of(opt, param) == pytest.approx(decay), param.name


def test_paramwise_cfg_needs_the_network():
    _, net = resnet18()
    with pytest.raises(ValueError, match='net=net'):
        build(dict(type='SGD', lr=0.1, paramwise_cfg=dict(bias_lr_mult=2.0)),
              net.trainable_params(), SCHEDULE)


def train_dense_clipped(opt_cfg, max_norm, loss_scale=1.0):
    """One step with grad_clip -> (weight change, bias change, unclipped gradients)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    net = nn.Dense(3, 2, weight_init=ms.Tensor(W0), bias_init=ms.Tensor(B0))
    opt = build_optimizer(optimizer_spec(opt_cfg, grad_clip=dict(max_norm=max_norm)),
                          net.trainable_params(), SCHEDULE, loss_scale=loss_scale)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()), opt, sens=loss_scale)
    step(ms.Tensor(X), ms.Tensor(Y))
    return net.weight.asnumpy() - W0, net.bias.asnumpy() - B0, dense_grads(W0, B0)


@pytest.mark.parametrize('loss_scale', [1.0, 8.0])
def test_grad_clip_rescales_to_max_norm_before_weight_decay(loss_scale):
    """torch: clip_grad_norm_ over all trained parameters, then the SGD step (decay after)."""
    gw, gb = dense_grads(W0, B0)
    norm = np.sqrt((gw ** 2).sum() + (gb ** 2).sum())
    max_norm = norm / 4
    dw, db, _ = train_dense_clipped(dict(type='SGD', lr=0.1, weight_decay=0.5), max_norm,
                                    loss_scale)
    coef = max_norm / norm
    np.testing.assert_allclose(dw, -0.1 * (gw * coef + 0.5 * W0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(db, -0.1 * (gb * coef + 0.5 * B0), rtol=1e-4, atol=1e-6)
    # a max_norm above the gradient norm changes nothing
    dw, _, _ = train_dense_clipped(dict(type='SGD', lr=0.1), norm * 10, loss_scale)
    np.testing.assert_allclose(dw, -0.1 * gw, rtol=1e-4, atol=1e-6)


def test_grad_clip_works_with_every_optimizer_and_is_checked():
    for opt_cfg in (dict(type='AdamW', lr=0.1), dict(type='Adam', lr=0.1),
                    dict(type='RMSprop', lr=0.1, momentum=0.9), dict(type='SGD', lr=0.1, momentum=0.9)):
        dw, _, _ = train_dense_clipped(opt_cfg, 1e-3)
        assert np.isfinite(dw).all() and np.abs(dw).max() > 0, opt_cfg
    with pytest.raises(ConfigError, match='needs max_norm'):
        optimizer_spec(dict(type='SGD', lr=0.1), grad_clip=dict(norm_type=2))
    with pytest.raises(ConfigError, match='L2 norm only'):
        optimizer_spec(dict(type='SGD', lr=0.1), grad_clip=dict(max_norm=1, norm_type=1))
    with pytest.raises(ConfigError, match=r"max_norm = -1: expected a number in \(0, inf\)"):
        optimizer_spec(dict(type='SGD', lr=0.1), grad_clip=dict(max_norm=-1))


def test_momentum_schedule_reaches_the_compiled_update():
    """Model.train with MomentumSchedule: the weights follow SGD with the scheduled momentum
    (buf = m_t * buf + g; w -= lr * buf), read back from the network after each step."""
    import mindspore.dataset as ds
    from mindspore.train import Callback, Model
    from ms_cls.engine.callbacks import MomentumSchedule
    ms.set_context(mode=ms.GRAPH_MODE)
    net = nn.Dense(3, 2, weight_init=ms.Tensor(W0), bias_init=ms.Tensor(B0))
    opt = build(dict(type='SGD', lr=0.1, momentum=0.9), None, SCHEDULE, net=net)
    momenta = np.array([0.9, 0.5, 0.1], np.float32)
    seen = []

    class Record(Callback):
        def on_train_step_end(self, run_context):
            seen.append((float(opt.momentum.asnumpy()), net.weight.asnumpy().copy()))

    data = ds.NumpySlicesDataset({'x': np.stack([X] * 3), 'y': np.stack([Y] * 3)}, shuffle=False)
    Model(net, nn.MSELoss(), opt).train(1, data, callbacks=[MomentumSchedule(opt, momenta),
                                                            Record()], dataset_sink_mode=False)
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    buf = [np.zeros_like(w), np.zeros_like(b)]
    for t, (momentum, weight) in enumerate(seen):
        grads = dense_grads(w, b)
        buf = [momenta[t] * m + g for m, g in zip(buf, grads)]
        w, b = w - SCHEDULE[t] * buf[0], b - SCHEDULE[t] * buf[1]
        assert momentum == pytest.approx(momenta[t])
        np.testing.assert_allclose(weight, w, rtol=1e-5, atol=1e-6)
