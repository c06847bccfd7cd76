import pytest

from ms_cls.config import Config, check_top_level_names, parse_options, parse_value
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
    ('abc', 'abc'), ('[1,2]', [1, 2]), ('(0.8, 1.0)', (0.8, 1.0)),
    ('1,2', [1, 2]), ('[[1,2],[3]]', [[1, 2], [3]]), ('[]', []), ('()', ()),
    # the values mmcv 1.7.2's DictAction._parse_iterable gives (read off its rules: quotes at both
    # ends stripped, then (..) tuple / [..] list / a comma list split at bracket-balanced commas,
    # a trailing comma ending the list; items int -> float -> true/false -> 'None' -> text)
    ('1,', [1]), ('"[1,2]"', [1, 2]), ("'3'", 3), ('none', 'none'), ('NONE', 'NONE'),
    ('TRUE', True), ('[1,,2]', [1, '', 2]), ('(1,)', (1,)), ("[(1,2),'x']", [(1, 2), 'x']),
    # spaces are kept inside a value (mmcv removes them all: 'a b' -> 'ab')
    ('a b', 'a b'), ('[1, 2]', [1, 2]),
])
def test_parse_value_as_mmcv_dict_action(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_cfg_options_dotted_keys_list_indices_and_new_keys():
    cfg = Config.fromfile(DEMO_CONFIG, parse_options([
        'runner.max_epochs=3', 'data.samples_per_gpu=32', 'data.train.pipeline.2.flip_prob=0.0',
        'lr_config.step=[1,2]', 'model.backbone.out_indices=(3,)', 'work_dir=/tmp/x']))
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


@pytest.mark.parametrize('text, message', [
    ("[1,'a,b']", "comma inside quotes"),     # mmcv: [1, 'a', 'b']
    ('"abc', "unbalanced quote"),             # mmcv: 'abc'
    ('[1,2', "unbalanced brackets"),          # mmcv: AssertionError
    ('1,2]', "unbalanced brackets"),
    ('[1,2)', "unbalanced brackets"),
    ('[1],[2]', "more than one bracketed group"),   # mmcv: ['1]', '[2'] and the like
])
def test_cfg_options_values_mmcv_would_misread_are_errors(text, message):
    with pytest.raises(ConfigError, match=f"--cfg-options x={__import__('re').escape(text)}: "
                                          f".*{message}"):
        parse_options([f'x={text}'])


def test_cfg_options_indices_tuples_and_unknown_keys():
    """mmcv's merge_from_dict: only digit keys index a list (no negative index), a tuple cannot be
    indexed; here a key must also lead to a key ms_cls reads (issue 14: a typo is an error)."""
    with pytest.raises(ConfigError, match=r"'-1' is not a valid index into a list of 6 items "
                                          r"\(0 to 5; mmcv takes no negative index\)"):
        Config.fromfile(DEMO_CONFIG, parse_options(['data.train.pipeline.-1.flip_prob=0']))
    with pytest.raises(ConfigError, match=r"'model.head.topk' is the tuple \(1, 5\); give it "
                                          r"whole \(e.g. model.head.topk=\(1, 5\)\)"):
        Config.fromfile(DEMO_CONFIG, parse_options(['model.head.topk.0=2']))
    with pytest.raises(ConfigError, match="'optimiser' is not a config key ms_cls reads. "
                                          "Did you mean 'optimizer'"):
        Config.fromfile(DEMO_CONFIG, parse_options(['optimiser.lr=0.1']))
    cfg = Config.fromfile(DEMO_CONFIG, parse_options(['seed=3', 'test_pipeline=[]']))
    assert cfg.seed == 3 and cfg.test_pipeline == []


def test_cfg_options_on_a_helper_variable_is_an_error(write):
    path = write('h.py', "_base_ = '" + DEMO_CONFIG + "'\ntrain_pipeline = []\n")
    with pytest.raises(ConfigError, match=r"train_pipeline.0.x: 'train_pipeline' is a helper "
                                          r"variable of .*h\.py.*set the key that uses it"):
        Config.fromfile(path, {'train_pipeline.0.x': 1})


def test_cfg_options_typo_is_one_error_line():
    """Every script loads its config through cli.config_from_args (train.py too), so this stops
    a run before anything is built."""
    import subprocess
    import sys
    from conftest import ROOT
    run = subprocess.run([sys.executable, 'scripts/print_config.py', DEMO_CONFIG,
                          '--cfg-options', 'optimiser.lr=0.1'], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1 and run.stdout == ''
    assert "ERROR: --cfg-options optimiser.lr: 'optimiser' is not a config key" in run.stderr


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


def test_helper_names_allowed_but_an_unused_near_miss_is_an_error(write):
    """The rule: a top-level name close to a key ms_cls reads (difflib ratio >= 0.8) is a typo
    unless some file of the config reads it, by name or as {{_base_.name}}."""
    cfg = Config.fromfile(write('c.py', "train_pipeline = []\nimg_norm_cfg = dict()\n"
                                        "lr_confg = dict(policy='step', step=[1])\n"))
    with pytest.raises(ConfigError, match=r"Top-level name lr_confg \(set in .*c\.py\) looks "
                                          r"like a misspelt 'lr_config'"):
        check_top_level_names(cfg)
    used = Config.fromfile(write('d.py', "optimizer_cfg = dict(type='SGD', lr=0.1)\n"
                                         "optimizer = dict(optimizer_cfg, momentum=0.9)\n"))
    check_top_level_names(used)
    write('base/b.py', "lr_confg = dict(policy='step', step=[1])\n")
    child = Config.fromfile(write('e.py', "_base_ = 'base/b.py'\nlr_config = {{_base_.lr_confg}}\n"))
    check_top_level_names(child)
    assert child.lr_config == dict(policy='step', step=[1])
    check_top_level_names(Config.fromfile(write('f.py', "train_pipeline = []\nx = 1\n")))


def test_mmcv_predefined_variables_and_deprecation(write, tmp_path):
    path = write('sub/my_cfg.py', "work_dir = './work_dirs/{{ fileBasenameNoExtension }}'\n"
                                  "here = '{{fileDirname}}/{{ fileBasename }}'\n"
                                  "ext = '{{ fileExtname }}'\n"
                                  "_deprecation_ = dict(expected='new.py', reference='url')\n")
    with pytest.warns(FutureWarning, match=r"my_cfg\.py will be deprecated.*Please use new\.py"):
        cfg = Config.fromfile(path)
    assert cfg.work_dir == './work_dirs/my_cfg' and cfg.ext == '.py'
    assert cfg.here == str(tmp_path / 'sub' / 'my_cfg.py').replace('\\', '/')
    assert '_deprecation_' not in cfg


def test_dict_over_a_base_scalar_and_quoted_base_reference_are_errors(write):
    write('base/s.py', "model = dict(pretrained='a.ckpt', init=None)\nlr = 0.1\n")
    with pytest.raises(ConfigError, match=r"c\.py: model.pretrained is a dict here but 'a.ckpt' "
                                          r"in .*s\.py.*add _delete_=True"):
        Config.fromfile(write('c.py', "_base_ = 'base/s.py'\nmodel = dict(pretrained=dict(x=1))\n"))
    ok = Config.fromfile(write('d.py', "_base_ = 'base/s.py'\n"
                                       "model = dict(pretrained=dict(_delete_=True, x=1), "
                                       "init=dict(y=2))\n"))
    assert ok.model.pretrained == dict(x=1) and ok.model.init == dict(y=2)   # None: unset
    with pytest.raises(ConfigError, match=r"e\.py, line 2: \{\{_base_\.…\}\} inside a quoted string"):
        Config.fromfile(write('e.py', "_base_ = 'base/s.py'\nx = '{{_base_.lr}}'\n"))


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
