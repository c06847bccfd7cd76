import numpy as np
import pytest
import mindspore.dataset as ds

from conftest import tiny_cfg
from ms_cls.config import Config
from ms_cls.errors import ConfigError
from ms_cls.data.builder import build_dataloader, build_sampler, sampler_spec
from ms_cls.data.samplers import ClassBalancedSampler, RepeatFactorSampler


@pytest.fixture
def seed():
    """Set the dataset seed for one test and put the previous one back."""
    previous = ds.config.get_seed()
    ds.config.set_seed(7)
    yield 7
    ds.config.set_seed(previous)


LABELS = np.array([0] * 900 + [1] * 100)   # 90/10 imbalance


def test_class_balanced_draws_each_class_equally_often(seed):
    sampler = ClassBalancedSampler(LABELS)
    epoch = list(sampler)
    assert len(epoch) == len(sampler) == len(LABELS)
    assert abs(np.mean(LABELS[epoch] == 1) - 0.5) < 0.05
    assert list(ClassBalancedSampler(LABELS)) == epoch        # seeded by the dataset seed
    assert list(sampler) != epoch                             # a new draw every epoch


def test_repeat_factor_repeats_rare_class_images(seed):
    sampler = RepeatFactorSampler(LABELS, repeat_thr=0.3)
    rare = np.sqrt(0.3 / 0.1)                                 # r = 1.732; the common class keeps 1
    np.testing.assert_allclose(sampler.repeat_factors, [1.0] * 900 + [rare] * 100)
    expected = 900 + 100 + round(100 * (rare - 1))            # 1073
    assert len(sampler) == expected
    totals = np.zeros(len(LABELS))
    for _ in range(20):
        epoch = np.asarray(list(sampler))
        assert len(epoch) == expected
        counts = np.bincount(epoch, minlength=len(LABELS))
        assert (counts[:900] == 1).all() and set(counts[900:]) <= {1, 2}
        totals += counts
    np.testing.assert_allclose(totals[900:].mean() / 20, rare, atol=0.01)


def test_repeat_factor_in_a_loader_reads_more_rows_than_images(seed):
    class Toy:
        labels = np.array([0] * 9 + [1])
        pipeline = []

        def __len__(self):
            return 10

        def __getitem__(self, i):
            return np.zeros((4, 4, 3), np.uint8), np.array(self.labels[i], np.int32)
    toy = Toy()
    sampler = build_sampler(dict(type='RepeatFactor', repeat_thr=0.5), toy)
    loader = build_dataloader(toy, 4, 1, sampler=sampler)
    rows = sum(len(labels) for _, labels in loader.create_tuple_iterator(output_numpy=True))
    assert rows == len(sampler) > 10


@pytest.mark.parametrize('sampler, match', [
    (dict(type='ClassBalance'), "Did you mean 'ClassBalanced'"),
    ('ClassBalanced', "must be a dict with a 'type' key"),
    (dict(type='RepeatFactor'), "data.sampler: .*repeat_thr"),
    (dict(type='RepeatFactor', repeat_thr=0), 'data.sampler.repeat_thr must be a positive'),
    (dict(type='RepeatFactor', repeat_th=0.1), "Did you mean 'repeat_thr'"),
])
def test_bad_sampler_config(sampler, match):
    cfg = Config.fromfile('configs/resnet/resnet18_1xb64_demo-32px.py',
                          {'data.sampler': sampler})
    with pytest.raises(ConfigError, match=match) as err:
        sampler_spec(cfg.data.get('sampler'))
    assert 'data.sampler' in str(err.value)


def test_bad_sampler_fails_before_any_data_is_read(tmp_path):
    from ms_cls.engine.trainer import train
    cfg = tiny_cfg(str(tmp_path / 'missing'), **{'data.sampler': dict(type='Balanced')})
    with pytest.raises(ConfigError, match="Unknown data.sampler type 'Balanced'"):
        train(cfg, str(tmp_path / 'work'))
    assert not (tmp_path / 'work').exists()


def test_sampler_needs_labels():
    with pytest.raises(ConfigError, match='labelled'):
        ClassBalancedSampler(np.array([-1, -1]))


def test_training_with_class_balanced_sampler(tiny_demo, tmp_path, monkeypatch):
    from ms_cls.engine.trainer import train
    epochs = []
    draw = ClassBalancedSampler.epoch
    monkeypatch.setattr(ClassBalancedSampler, 'epoch',
                        lambda self: epochs.append(draw(self)) or epochs[-1])
    cfg = tiny_cfg(tiny_demo, **{'data.sampler': dict(type='ClassBalanced'),
                                 'runner.max_epochs': 1})
    summary = train(cfg, str(tmp_path))
    assert summary['epochs'] == summary['best_epoch'] == 1
    assert (tmp_path / 'best.ckpt').is_file()
    assert epochs and len(epochs[0]) == 80                    # the sampler fed the train loader
