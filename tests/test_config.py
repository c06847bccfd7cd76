import pytest

from ms_cls.config import Config, parse_options, parse_value
from ms_cls.plan import near_misses
from ms_cls.errors import ConfigError
from ms_cls.models.builder import build_model
from ms_cls.engine.optim import optimizer_spec

from conftest import DEMO_CONFIG

BASE_MODEL = """
model = dict(type='ImageClassifier',
             backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3,)),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=10, in_channels=512, topk=(1, 5)))
"""


def test_base_merge_dicts_recursively_lists_and_scalars_replace(write):
    write('base/a.py', "x = dict(a=1, b=dict(c=2, d=[1, 2]), e=[dict(k=1)])\ny = 3\n")
    path = write('child.py', "_base_ = './base/a.py'\nx = dict(b=dict(d=[9]), e=[dict(k=5)])\n")
    cfg = Config.fromfile(path)
    assert cfg.x.a == 1 and cfg.x.b.c == 2
    assert cfg.x.b.d == [9] and cfg.x.e == [dict(k=5)]
    assert cfg.y == 3


def test_base_list_is_recursive_and_relative(write):
    write('b/inner/root.py', "z = 1\n")
    write('b/mid.py', "_base_ = ['inner/root.py']\nm = 2\n")
    cfg = Config.fromfile(write('c.py', "_base_ = ['b/mid.py']\n"))
    assert (cfg.z, cfg.m) == (1, 2)


def test_delete_replaces_whole_dict(write):
    write('base.py', "opt = dict(type='SGD', lr=0.1, momentum=0.9)\n")
    cfg = Config.fromfile(write('c.py', "_base_ = 'base.py'\n"
                                        "opt = dict(_delete_=True, type='AdamW', lr=1e-3)\n"))
    assert cfg.opt == dict(type='AdamW', lr=1e-3)


def test_two_bases_with_same_key_is_an_error(write):
    write('a.py', "k = 1\n")
    write('b.py', "k = 2\n")
    with pytest.raises(ConfigError, match=r"'k' is defined by two _base_ files.*a\.py.*b\.py"):
        Config.fromfile(write('c.py', "_base_ = ['a.py', 'b.py']\n"))


def test_missing_base_and_syntax_error_name_the_file(write):
    with pytest.raises(ConfigError, match="nope.py"):
        Config.fromfile(write('c.py', "_base_ = 'nope.py'\n"))
    with pytest.raises(ConfigError, match=r"Syntax error in config .*bad\.py, line 1"):
        Config.fromfile(write('bad.py', "x = dict(\n"))
    with pytest.raises(ConfigError, match="not found"):
        Config.fromfile('/nonexistent/cfg.py')
    with pytest.raises(ConfigError, match=r"run\.py failed to run: NameError: name 'undefined'"):
        Config.fromfile(write('run.py', "x = undefined + 1\n"))


@pytest.mark.parametrize('text, value', [
    ('3', 3), ('0.5', 0.5), ('1e-3', 1e-3), ('true', True), ('False', False), ('None', None),
    ('abc', 'abc'), ("'3'", '3'), ('[1,2]', [1, 2]), ('(0.8, 1.0)', (0.8, 1.0)),
    ('1,2', [1, 2]), ('[[1,2],[3]]', [[1, 2], [3]]), ('[]', []),
])
def test_parse_value_order_int_float_bool_none_str(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_cfg_options_dotted_keys_list_indices_and_new_keys():
    cfg = Config.fromfile(DEMO_CONFIG, parse_options([
        'runner.max_epochs=3', 'data.samples_per_gpu=32', 'data.train.pipeline.2.flip_prob=0.0',
        'lr_config.step=[1,2]', 'model.backbone.out_indices.0=3', 'work_dir=/tmp/x']))
    assert cfg.runner.max_epochs == 3
    assert cfg.data.samples_per_gpu == 32
    assert cfg.data.train.pipeline[2] == dict(type='RandomFlip', flip_prob=0.0,
                                               direction='horizontal')
    assert cfg.data.val.pipeline[2]['type'] == 'Normalize'
    assert cfg.lr_config.step == [1, 2]
    assert cfg.model.backbone.out_indices == (3,)
    assert cfg.work_dir == '/tmp/x'
    assert cfg.data.source_of('samples_per_gpu') == '--cfg-options'


def test_cfg_options_errors_are_clear():
    with pytest.raises(ConfigError, match='KEY=VALUE'):
        parse_options(['runner.max_epochs'])
    with pytest.raises(ConfigError, match="not a valid index into a list of 6"):
        Config.fromfile(DEMO_CONFIG, {'data.train.pipeline.9.flip_prob': 0.0})
    with pytest.raises(ConfigError, match="not a dict or list"):
        Config.fromfile(DEMO_CONFIG, {'runner.max_epochs.x': 1})


def test_attribute_access_and_missing_attribute_hint():
    cfg = Config.fromfile(DEMO_CONFIG)
    assert cfg.data.samples_per_gpu == cfg['data']['samples_per_gpu'] == 64
    with pytest.raises(AttributeError, match="Did you mean 'samples_per_gpu'"):
        cfg.data.sample_per_gpu  # noqa: B018


def test_dump_round_trips_to_an_equal_config(tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG, {'runner.max_epochs': 2})
    path = tmp_path / 'dumped.py'
    cfg.dump(str(path))
    again = Config.fromfile(str(path))
    assert again.to_dict() == cfg.to_dict()
    assert 'max_epochs=2' in cfg.pretty_text
    compile(cfg.pretty_text, 'dump', 'exec')


def test_a_failed_dump_keeps_the_old_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / 'dumped.py'
    Config.fromfile(DEMO_CONFIG).dump(str(path))
    before = path.read_text()
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({'custom': object()})     # not a literal: cannot be dumped
    with pytest.raises(SyntaxError):
        cfg.dump(str(path))
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ['dumped.py']


def test_misspelt_backbone_argument_names_key_file_and_suggestion(write):
    path = write('m.py', BASE_MODEL.replace('depth=18', 'deepth=18'))
    cfg = Config.fromfile(path)
    with pytest.raises(ConfigError) as err:
        build_model(cfg.model)
    msg = str(err.value)
    assert "'deepth'" in msg and 'm.py' in msg and "Did you mean 'depth'" in msg


def test_unknown_type_lists_closest(write):
    cfg = Config.fromfile(write('m.py', BASE_MODEL.replace("'ResNet'", "'ResNt'")))
    with pytest.raises(ConfigError, match=r"Unknown backbone type 'ResNt'.*m\.py.*Did you mean 'ResNet'"):
        build_model(cfg.model)


def test_misspelt_optimizer_argument(write):
    cfg = Config.fromfile(write('o.py', "optimizer = dict(type='SGD', lr=0.1, momentum=0.9, "
                                        "weight_decy=1e-4)\n"))
    with pytest.raises(ConfigError, match=r"'weight_decy'.*o\.py.*Did you mean 'weight_decay'"):
        optimizer_spec(cfg.optimizer)


def test_helper_names_allowed_but_near_miss_warns(write):
    cfg = Config.fromfile(write('c.py', "train_pipeline = []\nimg_norm_cfg = dict()\n"
                                        "lr_confg = dict(policy='step', step=[1])\n"))
    (miss,) = near_misses(cfg)
    assert "'lr_confg'" in miss and "c.py" in miss and "did you mean 'lr_config'" in miss


def test_base_references_with_mmcv_double_braces(write):
    write('base/aug.py', "policies = [dict(type='Invert'), dict(type='Equalize')]\n"
                         "norm = dict(mean=[1, 2, 3])\n")
    cfg = Config.fromfile(write('c.py', "_base_ = ['base/aug.py']\n"
                                        "pipeline = [dict(type='RandAugment', policies={{_base_.policies}}),\n"
                                        "            dict(type='Pad', value={{ _base_.norm.mean }}[::-1])]\n"))
    assert cfg.pipeline[0]['policies'] == [dict(type='Invert'), dict(type='Equalize')]
    assert cfg.pipeline[1]['value'] == [3, 2, 1]
    with pytest.raises(ConfigError, match=r"\{\{_base_\.nope\}\} is not defined"):
        Config.fromfile(write('d.py', "_base_ = 'base/aug.py'\nx = {{_base_.nope}}\n"))
