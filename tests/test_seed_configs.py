"""The seed's twelve Caltech-256 experiments: each config loads, means what the notes say, and
trains one step on tiny demo data (PyNative, 32px crops, no pretrained file)."""
import glob
import os

import pytest

from ms_cls.config import Config
from ms_cls.data.demo import make_demo_data
from ms_cls.engine.trainer import train

from conftest import ROOT

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'caltech256', 'exp*.py')))
# (frozen_stages, samples_per_gpu, lr, first milestone or policy, RandAugment) per the notes
EXPECTED = [(4, 256, 0.1, 30, False), (2, 256, 0.1, 20, False), (2, 64, 0.1, 30, False),
            (2, 64, 0.1, 20, False), (2, 64, 0.1, 20, True), (-1, 64, 0.025, 20, True),
            (1, 64, 0.025, 20, True), (1, 128, 0.1, 20, True), (2, 64, 0.2, 20, True),
            (2, 32, 0.1, 20, True), (2, 32, 0.1, 'CosineAnnealing', True),
            (2, 32, 0.1, 30, True)]


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
    cosine = Config.fromfile(CONFIGS[10]).lr_config
    assert cosine.to_dict() == dict(policy='CosineAnnealing', min_lr=0, by_epoch=False,
                                    warmup='linear', warmup_iters=1500, warmup_ratio=0.25)


@pytest.mark.parametrize('path', CONFIGS, ids=[os.path.basename(p)[:5] for p in CONFIGS])
def test_each_config_trains_one_step(path, micro_demo, tmp_path):
    cfg = Config.fromfile(path, {
        'model.pretrained': None, 'mode': 'pynative', 'runner.max_epochs': 1,
        'data.samples_per_gpu': 10, 'data.workers_per_gpu': 1,   # the 10 images: one batch
        'data.train.data_prefix': f'{micro_demo}/train', 'data.val.data_prefix': f'{micro_demo}/val',
        'data.train.pipeline.1.size': 32, 'data.val.pipeline.1.size': (36, -1),
        'data.val.pipeline.2.crop_size': 32, 'model.head.num_classes': 10})
    summary = train(cfg, str(tmp_path))
    assert summary['epochs'] == 1 and 0 <= summary['best_top1'] <= 1
    assert os.path.isfile(tmp_path / 'latest.ckpt')
