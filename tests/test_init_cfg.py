"""mmcv's init_cfg (initialisers and Pretrained), mmcls's heads and loss options."""
import numpy as np
import mindspore as ms
import pytest

from ms_cls.errors import ConfigError
from ms_cls.models.builder import PretrainedSpec, build_loss, build_model, pretrained_weights


def resnet18(**model):
    cfg = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=512))
    for part, extra in model.items():
        if isinstance(extra, dict) and isinstance(cfg.get(part), dict):
            cfg[part] = {**cfg[part], **extra}
        else:
            cfg[part] = extra
    return cfg


def tiny_swin(**model):
    cfg = dict(type='ImageClassifier',
               backbone=dict(type='SwinTransformer', arch='tiny', img_size=32, window_size=2),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=768, init_cfg=None))
    cfg.update(model)
    return cfg


def values(net, name):
    return {p.name: p for p in net.get_parameters()}[name].asnumpy()


def test_the_head_starts_as_mmcls_s_unless_its_init_cfg_says_otherwise():
    weight = values(build_model(resnet18()), 'classifier.weight')
    assert abs(weight.std() - 0.01) < 0.001
    assert not values(build_model(resnet18()), 'classifier.bias').any()
    # init_cfg=None: MindSpore's Dense initialisation (uniform, ~1/sqrt(512) wide)
    plain = values(build_model(resnet18(head=dict(init_cfg=None))), 'classifier.weight')
    assert plain.std() > 0.02
    # an override by mmcls's child name reaches this head's Dense
    override = build_model(resnet18(head=dict(init_cfg=dict(
        type='Constant', val=0.5, bias=0.25, override=dict(name='fc')))))
    assert np.all(values(override, 'classifier.weight') == 0.5)
    assert np.all(values(override, 'classifier.bias') == 0.25)


def test_model_initialisers_then_the_part_s_own_win():
    """Swin's mmcls init_cfg: TruncNormal on every Linear, Constant on every LayerNorm; the
    head's own init_cfg (applied after the model's) wins for the head."""
    net = build_model(tiny_swin(init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.)],
        head=dict(type='LinearClsHead', num_classes=10, in_channels=768,
                  init_cfg=dict(type='Constant', layer='Linear', val=0.125, bias=1.0))))
    params = {p.name: p.asnumpy() for p in net.get_parameters()}
    q = params['layers.3.blocks.1.attn.q.weight']
    assert abs(q.std() - 0.02) < 0.002 and not params['layers.3.blocks.1.attn.q.bias'].any()
    assert np.all(params['norm.gamma'] == 1) and not params['norm.beta'].any()
    assert np.all(params['classifier.weight'] == 0.125) and np.all(params['classifier.bias'] == 1)


@pytest.mark.parametrize('init, check', [
    (dict(type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='relu'),
     lambda w: abs(w.std() - np.sqrt(2 / (3 * 7 * 7))) < 0.1 * np.sqrt(2 / (3 * 7 * 7))),
    (dict(type='Xavier', layer='Conv2d', distribution='uniform'),
     lambda w: np.abs(w).max() <= np.sqrt(6 / (3 * 49 + 64 * 49)) + 1e-6),
    (dict(type='Uniform', layer='Conv2d', a=0.5, b=0.75),
     lambda w: w.min() >= 0.5 and w.max() <= 0.75),
    (dict(type='Normal', layer=['Conv2d'], mean=3.0, std=0.001), lambda w: abs(w.mean() - 3) < 0.01),
])
def test_initialisers_follow_mmcv(init, check):
    net = build_model(resnet18(backbone=dict(init_cfg=init)))
    assert check(values(net, 'conv1.weight'))


def test_batchnorm_constant_by_base_class_name():
    net = build_model(resnet18(backbone=dict(init_cfg=dict(type='Constant', val=0.5,
                                                           layer='_BatchNorm'))))
    assert np.all(values(net, 'layer1.0.bn1.gamma') == 0.5)


@pytest.mark.parametrize('init_cfg, match', [
    (dict(type='Normall', layer='Linear'), "type = 'Normall'"),
    (dict(type='Normal', layer='Dense'), "names 'Dense'"),
    (dict(type='Normal', std=0.1, sigma=2), "Unknown key 'sigma'"),
    (dict(type='Kaiming', layer='Conv2d', mode='fan'), "mode = 'fan'"),
    (dict(type='Pretrained'), 'give the checkpoint as a path'),
    (dict(type='Normal', override=dict(std=1)), 'override must name the child'),
])
def test_init_cfg_mistakes_name_the_key(init_cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_model(resnet18(backbone=dict(init_cfg=init_cfg)))


def test_pretrained_entries_in_loading_order():
    cfg = resnet18(pretrained='a.ckpt', backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='https://host/r-1234abcd.pth', prefix='backbone')),
        head=dict(init_cfg=[dict(type='Normal', layer='Linear', std=0.01),
                            dict(type='Pretrained', checkpoint='h.ckpt')]))
    assert pretrained_weights(cfg) == [
        PretrainedSpec('model.pretrained', 'a.ckpt'),
        PretrainedSpec('model.backbone.init_cfg', 'https://host/r-1234abcd.pth', 'backbone',
                       'backbone'),
        PretrainedSpec('model.head.init_cfg', 'h.ckpt', 'head')]
    build_model(cfg)   # the Pretrained entries build nothing themselves


def logits_and_labels(n=4, c=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)).astype(np.float32)
    labels = rng.integers(0, c, n)
    return logits, labels


def test_sigmoid_cross_entropy_is_mmcls_s():
    """use_sigmoid: binary cross entropy with logits on one-hot targets, summed over classes and
    averaged over samples (mmcls's heads pass avg_factor = batch size)."""
    logits, labels = logits_and_labels()
    targets = np.eye(5, dtype=np.float32)[labels]
    loss_fn = build_loss(dict(head=dict(type='LinearClsHead', loss=dict(
        type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0))))
    got = float(loss_fn(ms.Tensor(logits), ms.Tensor(labels.astype(np.int32))).asnumpy())
    p = 1 / (1 + np.exp(-logits))
    want = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(axis=1).mean() * 2
    assert got == pytest.approx(want, rel=1e-5)


def test_multilabel_head_as_the_mixup_configs_use_it():
    """mmcls's mixup/cutmix configs: MultiLabelLinearClsHead with soft-label cross entropy, the
    same loss as LinearClsHead's on mixed labels; without a loss, mmcls's default sigmoid one."""
    logits, labels = logits_and_labels()
    soft = np.full((4, 5), 0.1, np.float32) + 0.5 * np.eye(5, dtype=np.float32)[labels]
    head = dict(type='MultiLabelLinearClsHead', num_classes=5, in_channels=512,
                loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True))
    multi = build_loss(dict(head=head))(ms.Tensor(logits), ms.Tensor(soft))
    plain = build_loss(dict(head=dict(type='LinearClsHead')))(ms.Tensor(logits), ms.Tensor(soft))
    assert float(multi.asnumpy()) == pytest.approx(float(plain.asnumpy()))
    assert build_loss(dict(head={**head, 'loss': None})).use_sigmoid
    net = build_model(resnet18(head={**head, 'num_classes': 10, 'cal_acc': True}))
    assert net.head.num_classes == 10 and abs(values(net, 'classifier.weight').std() - 0.01) < 1e-3


def test_sigmoid_and_soft_together_are_refused():
    with pytest.raises(ConfigError, match='use_sigmoid and use_soft'):
        build_loss(dict(head=dict(type='LinearClsHead', loss=dict(
            type='CrossEntropyLoss', use_sigmoid=True, use_soft=True))))


def test_the_plan_says_how_the_multilabel_head_is_trained_and_refuses_multilabel_data(tmp_path):
    from conftest import tiny_cfg
    from ms_cls.plan import build_plan
    cfg = tiny_cfg(str(tmp_path / 'no-data'), **{'model.head.type': 'MultiLabelLinearClsHead'})
    assert any('one label per image' in note for note in build_plan(cfg).notes)
    cfg = tiny_cfg(str(tmp_path / 'no-data'), **{'data.train.type': 'VOC'})
    with pytest.raises(ConfigError, match=r"data\.train\.type .*'VOC': data sets with several "
                                          "labels per image are not supported"):
        build_plan(cfg)
