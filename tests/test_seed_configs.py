"""The seed's twelve Caltech-256 experiments load and mean what the notes say; every runnable
config under configs/ goes through print_config, vis_lr and one training step on tiny demo
data (PyNative, 32px crops, no pretrained file)."""
import glob
import os

import pytest

from ms_cls.analysis.schedule import steps_per_epoch, visualize_schedule
from ms_cls.config import Config
from ms_cls.data.demo import make_demo_data
from ms_cls.engine.trainer import train
from ms_cls.models.builder import PretrainedSpec, pretrained_weights

from conftest import ROOT

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'caltech256', 'exp*.py')))
# (frozen_stages, samples_per_gpu, lr, first milestone or policy, RandAugment) per the notes
EXPECTED = [(4, 256, 0.1, 30, False), (2, 256, 0.1, 20, False), (2, 64, 0.1, 30, False),
            (2, 64, 0.1, 20, False), (2, 64, 0.1, 20, True), (-1, 64, 0.025, 20, True),
            (1, 64, 0.025, 20, True), (1, 128, 0.1, 20, True), (2, 64, 0.2, 20, True),
            (2, 32, 0.1, 20, True), (2, 32, 0.1, 'CosineAnnealing', True),
            (2, 32, 0.1, 30, True)]
#: mmcls's ImageNet-1k ResNet-50, which the twelve configs start from
MMCLS_RESNET50 = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
                  'resnet50_8xb32_in1k_20210831-ea4938fc.pth')


@pytest.fixture(scope='module')
def micro_demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('micro') / 'demo')
    make_demo_data(root, size=40, per_class={'train': 1, 'val': 1, 'test': 1})
    return root


def test_twelve_configs_say_what_the_notes_say():
    assert len(CONFIGS) == 12
    for path, (frozen, batch, lr, first, randaug) in zip(CONFIGS, EXPECTED):
        cfg = Config.fromfile(path)
        assert cfg.model.backbone.frozen_stages == frozen, path
        assert cfg.data.samples_per_gpu == batch and cfg.optimizer.lr == pytest.approx(lr), path
        policy = cfg.lr_config.policy
        assert (policy == first) if isinstance(first, str) else cfg.lr_config.step[0] == first
        names = [t['type'] for t in cfg.data.train.pipeline]
        assert ('RandAugment' in names) == randaug, path
        assert pretrained_weights(cfg.model) == [PretrainedSpec(
            'model.backbone.init_cfg', MMCLS_RESNET50, 'backbone', 'backbone')], path
    cosine = Config.fromfile(CONFIGS[10]).lr_config
    assert cosine.to_dict() == dict(policy='CosineAnnealing', min_lr=0, by_epoch=False,
                                    warmup='linear', warmup_iters=1500, warmup_ratio=0.25)


#: Every config a user can run: all under configs/ but the _base_ fragments.
RUNNABLE = sorted(p for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'),
                                       recursive=True)
                  if '_base_' not in os.path.relpath(p, ROOT).split(os.sep)
                  and not p.endswith('_variants.py'))     # sweep variants (scripts/sweep.py)


def shrunk(cfg, data_root):
    """``cfg`` made cheap: the micro demo data, 32px inputs, one step (the 10 images as one
    batch), PyNative, no ImageNet weights (configs name them by URL; tests stay offline)."""
    for key in ('pretrained',):
        if cfg.model.get(key) and not os.path.isfile(cfg.model[key]):
            cfg.model[key] = None
    if cfg.get('load_from') and not os.path.isfile(cfg.load_from):
        cfg.load_from = None
    for part in ('backbone', 'head'):   # ImageNet weights named by URL: tests stay offline
        if (cfg.model[part].get('init_cfg') or {}).get('type') == 'Pretrained':
            cfg.model[part].init_cfg = None
    if cfg.model.backbone.type == 'SwinTransformer':
        cfg.model.backbone.img_size = 32
    for split in ('train', 'val', 'test'):
        cfg.data[split].data_prefix = f'{data_root}/{split}'
        for t in cfg.data[split].pipeline:
            if t['type'] == 'RandomResizedCrop':
                t['size'] = 32
            elif t['type'] == 'Resize':
                t['size'] = (36, -1) if isinstance(t['size'], (list, tuple)) and \
                    t['size'][-1] == -1 else 32
            elif t['type'] == 'CenterCrop':
                t['crop_size'] = 32
    cfg.merge_from_dict({'mode': 'pynative', 'runner.max_epochs': 1, 'data.samples_per_gpu': 10,
                         'data.workers_per_gpu': 1, 'model.head.num_classes': 10})
    return cfg


@pytest.mark.parametrize('path', RUNNABLE, ids=[os.path.basename(p)[:-3] for p in RUNNABLE])
def test_each_runnable_config_prints_plots_its_lr_and_trains_one_step(path, micro_demo,
                                                                      tmp_path):
    """What a newcomer tries first on a config: print_config, vis_lr, a training step."""
    cfg = Config.fromfile(path)
    dumped = tmp_path / 'dumped.py'
    dumped.write_text(cfg.pretty_text)                        # scripts/print_config.py
    assert Config.fromfile(str(dumped)).to_dict() == cfg.to_dict()
    line = visualize_schedule(cfg, 1000, save_path=str(tmp_path / 'lr.png'),
                              title=os.path.basename(path))   # scripts/vis_lr.py
    assert line.startswith(f"{cfg.runner.max_epochs * steps_per_epoch(cfg, 1000)} iterations")
    summary = train(shrunk(cfg, micro_demo), str(tmp_path / 'work'))
    assert summary['epochs'] == 1 and 0 <= summary['best_top1'] <= 1
    assert os.path.isfile(tmp_path / 'work' / 'latest.ckpt')
