"""The run plan: the whole config checked and built once, before any image is read."""
import os

import pytest

import ms_cls.engine.trainer as trainer
import ms_cls.plan as plan_module
from ms_cls.config import Config
from ms_cls.data.builder import LoaderSpec, ScanSpec
from ms_cls.data.datasets import PILLOW_MAX_PIXELS
from ms_cls.errors import ConfigError
from ms_cls.plan import HOOK_ORDER, build_plan

from conftest import DEMO_CONFIG, tiny_cfg


def missing_data_cfg(tmp_path, **options):
    """The demo config pointed at folders that do not exist: the plan must not look."""
    return tiny_cfg(str(tmp_path / 'no-data'), **options)


def test_plan_reads_no_image_and_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = build_plan(missing_data_cfg(tmp_path), str(tmp_path / 'wd'))
    assert os.listdir(tmp_path) == []
    assert plan.hooks == ('position', 'monitor', 'checkpoint')
    assert plan.loaders['train'].batch_size == 16 and not plan.loaders['train'].drop_last
    assert not plan.loaders['val'].shuffle and not plan.loaders['val'].drop_last
    assert plan.optimizer.type == 'SGD' and plan.base_lr == pytest.approx(0.02)
    assert plan.lr.name == 'Step' and plan.precision.amp_level == 'O0'
    assert plan.net.head.num_classes == 10 and plan.batch_augments is None
    assert plan.scan == ScanSpec(skip_broken=True, cache=None, max_pixels=PILLOW_MAX_PIXELS)


def test_hooks_follow_the_stated_order(tmp_path):
    cfg = missing_data_cfg(tmp_path, **{
        'custom_hooks': [dict(type='EMAHook', momentum=0.01), dict(type='PreciseBNHook')],
        'optimizer.momentum': 0.95,
        'momentum_config': dict(policy='cyclic', target_ratio=(0.85 / 0.95, 1))})
    cfg.lr_config = dict(policy='cyclic')
    cfg.log_config.hooks = [dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]
    assert build_plan(cfg).hooks == HOOK_ORDER == ('position', 'momentum', 'ema', 'monitor',
                                                   'precise_bn', 'tensorboard', 'checkpoint')


@pytest.mark.parametrize('options, match', [
    ({'model.train_cfg': dict(augments=dict(type='BatchCutMix', alpha=1.0, prob=1.5))},
     r'model\.train_cfg\.augments\.prob .*is 1\.5'),
    ({'model.train_cfg': dict(augments=[dict(type='BatchMixup', alpha=0.8, num_classes=100)])},
     r'augments\.0\.num_classes .*is 100 but model\.head'),
    ({'data.sampler': dict(type='RepeatFactor', repeat_thr=-1)}, 'repeat_thr must be a positive'),
    ({'lr_config.min_lr': 0.0, 'lr_config.policy': 'CosineAnnealing', 'lr_config.step': None},
     "Unknown key 'step'"),
    ({'custom_hooks': [dict(type='EMAHok')]}, "Did you mean 'EMAHook'"),
    ({'optimizer.type': 'sgd'}, "Did you mean 'SGD'"),
    ({'amp_level': 'O5'}, "amp_level='O5'"),
    ({'data.val_dataloader': dict(drop_last=True)}, 'leave images of data.val unscored'),
    ({'data.train_dataloader': dict(samples_per_gpu=0)}, r'samples_per_gpu.*expected an int'),
    ({'data.shuffle': False, 'data.sampler': dict(type='ClassBalanced')}, 'remove shuffle'),
    ({'data.skip_broken': 'yes'}, r"data\.skip_broken .*= 'yes': expected True or False"),
    ({'data.max_image_pixels': 0}, r'data\.max_image_pixels .*= 0: expected a number of pixels'),
    ({'data.decode_cache': 5}, r'data\.decode_cache .*= 5: give a file path'),
    ({'data.skip_brokn': False}, "Did you mean 'skip_broken'"),
    ({'log_config.hooks': [dict(type='WandbLoggerHook')]}, 'WandbLoggerHook'),
    ({'log_config.hooks': [dict(type='TensorboardLoggerHook', log_dir=3)]}, r'hooks\[0\]\.log_dir=3'),
    ({'checkpoint_config.by_epoch': 'no'}, "checkpoint_config.by_epoch='no'"),
    ({'checkpoint_config.max_keep_ckpts': 0}, 'max_keep_ckpts=0'),
    ({'evaluation.save_best': 'loss'}, "save_best='loss'"),
    ({'train_cfg': dict(augments=[])}, "does not use 'train_cfg'"),
    ({'workflow': [('train', 1), ('val', 1)]}, r"workflow=\[\('train', 1\)\]"),
    ({'deterministic': 'yes'}, "deterministic='yes'"),
])
def test_config_mistakes_fail_at_plan_time(tmp_path, options, match):
    with pytest.raises(ConfigError, match=match):
        trainer.train(missing_data_cfg(tmp_path, **options), str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_mmcls_runtime_boilerplate_is_accepted_and_named_once(tmp_path):
    """What every mmcls config inherits from its default_runtime.py, and torch loader options:
    they cannot change a result here, so the plan accepts them and says so in one line."""
    cfg = missing_data_cfg(tmp_path, **{
        'dist_params': dict(backend='nccl'), 'log_level': 'INFO', 'gpu_ids': [0],
        'cudnn_benchmark': True, 'opencv_num_threads': 0, 'mp_start_method': 'fork',
        'data.pin_memory': True, 'data.train_dataloader': dict(persistent_workers=True)})
    plan = build_plan(cfg)
    assert len(plan.notes) == 1
    for name in ('dist_params', 'log_level', 'gpu_ids', 'cudnn_benchmark', 'opencv_num_threads',
                 'mp_start_method', 'data.pin_memory', 'data.train_dataloader.persistent_workers'):
        assert name in plan.notes[0]
    assert build_plan(missing_data_cfg(tmp_path)).notes == []


def test_head_width_must_match_the_backbone_before_any_data_is_read(tmp_path):
    cfg = missing_data_cfg(tmp_path, **{'model.head.in_channels': 2048})
    with pytest.raises(ConfigError, match=r'in_channels.*512'):
        trainer.train(cfg, str(tmp_path / 'wd'))
    assert not (tmp_path / 'wd').exists()


def test_loader_keys_per_split_are_honoured(tmp_path):
    cfg = missing_data_cfg(tmp_path, **{
        'data.shuffle': False, 'data.train_dataloader': dict(samples_per_gpu=8, drop_last=False),
        'data.val_dataloader': dict(samples_per_gpu=4, workers_per_gpu=1)})
    loaders = build_plan(cfg).loaders
    assert loaders['train'] == LoaderSpec(8, 2, False, False)
    assert loaders['val'] == LoaderSpec(4, 1, False, False)


def test_the_incomplete_batch_is_trained_by_default(tiny_demo, tmp_path):
    """80 images in batches of 24: 3 full + a last batch of 8, as mmcls's loader (which does not
    drop it); the log says so."""
    cfg = tiny_cfg(tiny_demo, **{'data.train_dataloader': dict(samples_per_gpu=24),
                                 'runner.max_epochs': 1, 'data.val': None})
    trainer.train(cfg, str(tmp_path))
    (log,) = [f for f in os.listdir(tmp_path) if f.endswith('.log')]
    text = open(tmp_path / log).read()
    steps = [line for line in text.splitlines() if line.startswith('Epoch:[')]
    assert steps[-1].startswith('Epoch:[  0/  1], step:[    4/    4]')
    assert "train loader: 4 iterations per epoch of 24 images; the last holds 8 (as mmcls" in text


def test_every_part_is_built_once_in_a_run(tiny_demo, tmp_path, monkeypatch):
    """Count the builders while a real (one-epoch) run goes through plan and trainer."""
    calls = {}

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    for name in ('build_model', 'build_loss', 'build_pipeline', 'build_batch_augments',
                 'optimizer_spec', 'ema_spec', 'sampler_spec', 'lr_schedule_spec',
                 'precision_for'):
        counted(plan_module, name)
    for name in ('dataset_from', 'build_dataloader', 'build_optimizer', 'EMAHook'):
        counted(trainer, name)
    cfg = tiny_cfg(tiny_demo, **{
        'runner.max_epochs': 1, 'custom_hooks': [dict(type='EMAHook', momentum=0.1)],
        'data.sampler': dict(type='ClassBalanced'),
        'model.train_cfg': dict(augments=dict(type='BatchMixup', alpha=0.8, prob=0.5))})
    trainer.train(cfg, str(tmp_path))
    assert calls == {'build_model': 1, 'build_loss': 1, 'build_pipeline': 2,   # train, val
                     'build_batch_augments': 1, 'optimizer_spec': 1, 'ema_spec': 1,
                     'sampler_spec': 1, 'lr_schedule_spec': 1, 'precision_for': 1,
                     'dataset_from': 2, 'build_dataloader': 2, 'build_optimizer': 1,
                     'EMAHook': 1}


def test_near_miss_top_level_name_stops_the_plan(write):
    cfg = Config.fromfile(write('c.py', f"_base_ = '{DEMO_CONFIG}'\n"
                                        "lr_confg = dict(policy='step', step=[1])\n"))
    with pytest.raises(ConfigError, match="looks like a misspelt 'lr_config'"):
        build_plan(cfg)
