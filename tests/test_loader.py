"""build_dataloader's parallel workers: the same pixels and errors as load_rgb, per-row random
draws that repeat with any number of workers, any MindSpore sampler, nothing left running."""
import gc
import multiprocessing
import os

import numpy as np
import pytest
import mindspore.dataset as ds
from PIL import Image

from ms_cls.data.builder import build_dataloader
from ms_cls.errors import ConfigError
from ms_cls.data.datasets import CustomDataset, image_load_error, load_rgb
from ms_cls.data.pipeline import build_pipeline
from ms_cls.data.seeding import epoch_seed, reseed

AS_DECODED = []        # no transform: TypeCast(float32) + HWC2CHW, so the pixels come back
RAND_AUG = dict(type='RandAugment', policies=[
    dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30)),
    dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0)),
    dict(type='Brightness', magnitude_key='magnitude', magnitude_range=(0, 0.9))],
    num_policies=2, total_level=10, magnitude_level=9, magnitude_std=0.5)


def rows(loader):
    return [(image, label) for batch, labels in loader.create_tuple_iterator(
        output_numpy=True, num_epochs=1) for image, label in zip(batch, labels)]


def odd_files(root):
    """One file per decode rule that load_rgb applies, each in its own class folder."""
    noise = np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    files = {}

    def put(name, save):
        path = os.path.join(root, name.split('.')[0], name)
        os.makedirs(os.path.dirname(path))
        save(path)
        files[name] = path
    put('cmyk.jpg', lambda p: Image.fromarray(noise).convert('CMYK').save(p, quality=95))
    put('deep.png', lambda p: Image.fromarray(noise[..., 0].astype(np.uint16) * 257).save(p))
    palette = Image.fromarray(noise).convert('P', palette=Image.ADAPTIVE, colors=16)
    put('palette.png', lambda p: palette.save(p, transparency=3))
    exif = Image.Exif()
    exif[0x0112] = 6                                  # rotate 90 degrees on display
    put('rotated.jpg', lambda p: Image.fromarray(noise).save(p, exif=exif, quality=95))
    frames = [Image.fromarray(noise), Image.fromarray(255 - noise)]
    put('anim.gif', lambda p: frames[0].save(p, save_all=True, append_images=frames[1:]))
    put('plain.jpg', lambda p: Image.fromarray(noise).save(p, quality=90))
    return files


def test_workers_decode_the_same_pixels_as_load_rgb(tmp_path):
    files = odd_files(str(tmp_path))
    dataset = CustomDataset(str(tmp_path))
    got = rows(build_dataloader(dataset, 1, 2, ops=build_pipeline(AS_DECODED)))
    assert len(got) == len(files)
    for (path, label), (image, got_label) in zip(dataset.samples, got):
        expected = load_rgb(path)
        assert got_label == label
        assert np.array_equal(image.transpose(1, 2, 0), expected), path
    assert got[[os.path.basename(p) for p, _ in dataset.samples].index('rotated.jpg')][0].shape \
        == (3, 14, 10)                                # EXIF orientation applied: H and W swap


def test_a_broken_image_mid_epoch_is_named(tmp_path):
    for i in range(8):
        os.makedirs(tmp_path / 'a', exist_ok=True)
        Image.new('RGB', (12, 10), (30 * i, 0, 0)).save(tmp_path / 'a' / f'{i}.png')
    (tmp_path / 'a' / '5.png').write_bytes(b'not an image')
    loader = build_dataloader(CustomDataset(str(tmp_path)), 2, 2,
                              ops=build_pipeline([dict(type='Resize', size=8)]))
    with pytest.raises(RuntimeError) as err:
        rows(loader)
    # the trainer, scripts/test.py and predict turn this into ImageLoadError(reason)
    assert image_load_error(str(err.value)).startswith(
        f"Cannot decode image {tmp_path / 'a' / '5.png'}: cannot identify image file")


@pytest.fixture
def same_picture(tmp_path):
    """32 copies of one picture: any difference between rows is a random draw."""
    noise = np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    os.makedirs(tmp_path / 'a')
    for i in range(32):
        Image.fromarray(noise).save(tmp_path / 'a' / f'{i}.png')
    return CustomDataset(str(tmp_path))


def epoch(dataset, ops, workers, seed):
    """One epoch's images as the trainer draws them: dataset seed and op generators from seed."""
    ds.config.set_seed(seed)
    reseed(ops, seed)
    return np.stack([image for image, _ in rows(
        build_dataloader(dataset, 8, workers, shuffle=True, ops=ops))])


def test_python_op_draws_are_per_row_and_repeat_with_any_workers(same_picture):
    ops = build_pipeline([RAND_AUG])
    one, two = epoch(same_picture, ops, 1, 7), epoch(same_picture, ops, 2, 7)
    assert np.array_equal(one, two)                   # draws depend on (seed, row), not workers
    assert len({image.tobytes() for image in two}) > 20   # ... and differ from row to row
    assert not np.array_equal(epoch(same_picture, ops, 2, 8), two)


def test_crops_flips_and_rand_augment_repeat_with_any_number_of_workers(same_picture):
    """Issue 23 case 8: every random op ms_cls runs (the crop boxes and flips too, once
    MindSpore's own ops, which drew per worker thread) draws from (seed, epoch, row position),
    so two epochs come out the same with 1 or 2 workers (MindSpore allows at most one per core,
    2 here), and the same again."""
    ops = build_pipeline([dict(type='RandomResizedCrop', size=16, scale=(0.3, 1.0)),
                          dict(type='RandomFlip', flip_prob=0.5),
                          dict(type='RandomFlip', flip_prob=0.5, direction='vertical'),
                          dict(type='RandomCrop', size=14, padding=2), RAND_AUG])

    def two_epochs(workers):
        return np.stack([epoch(same_picture, ops, workers, epoch_seed(3, e)) for e in (0, 1)])
    one = two_epochs(1)
    assert np.array_equal(one, two_epochs(2)) and np.array_equal(one, two_epochs(2))
    assert not np.array_equal(one[0], one[1])         # each epoch draws anew
    assert len({image.tobytes() for image in one[0]}) == len(one[0])


def test_any_mindspore_sampler_chooses_the_rows(same_picture):
    labels_of = {path: i for i, (path, _) in enumerate(same_picture.samples)}
    same_picture.samples = [(path, i) for path, i in labels_of.items()]   # label = index
    ops = build_pipeline([dict(type='Resize', size=4)])
    shards = [[int(label) for _, label in rows(build_dataloader(
        same_picture, 4, 2, ops=ops, sampler=ds.DistributedSampler(2, shard, shuffle=False)))]
        for shard in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(32)) and len(shards[0]) == 16
    picked = [5, 5, 0, 31, 2, 5]
    got = rows(build_dataloader(same_picture, 3, 2, ops=ops, sampler=ds.IterSampler(picked)))
    assert [int(label) for _, label in got] == picked


def test_no_worker_is_left_after_the_loaders_are_dropped(same_picture):
    def running():
        return (len(multiprocessing.active_children()), len(os.listdir('/proc/self/task')))
    rows(build_dataloader(same_picture, 8, 2, ops=build_pipeline([RAND_AUG])))
    gc.collect()
    before = running()
    for _ in range(4):
        loader = build_dataloader(same_picture, 8, 2, ops=build_pipeline([RAND_AUG]))
        next(loader.create_tuple_iterator(output_numpy=True, num_epochs=1))   # left mid-epoch
        del loader
    gc.collect()
    assert running() == before and before[0] == 0


def test_iterations_per_epoch_as_mmcls_50_images_batch_4(tmp_path):
    """mmcls's train loader keeps the last partial batch: 50 images at batch 4 = 13 iterations
    (12 of 4 and one of 2); drop_last=True (data.drop_last or data.train_dataloader) gives 12;
    a last batch of a single image (49 images) is left out, since MindSpore's BatchNorm turns a
    1-image 1x1 batch into a NaN running variance. vis_lr's schedule has the same length."""
    from ms_cls.analysis.schedule import schedule_frame
    from ms_cls.config import Config
    from ms_cls.data.builder import loader_spec
    from conftest import DEMO_CONFIG

    def spec(**options):
        cfg = Config.fromfile(DEMO_CONFIG, {'data.samples_per_gpu': 4, **options})
        return cfg, loader_spec(cfg.data, 'train')

    cfg, keep = spec()
    assert keep.steps(50, 'data.train') == 13 and not keep.drop_last
    assert keep.describe(50).endswith("the last holds 2 (as mmcls; its shape compiles a second "
                                      "graph once; data.train_dataloader=dict(drop_last=True) "
                                      "drops it)")
    assert len(schedule_frame(cfg, 50)) == 13 * cfg.runner.max_epochs
    for options in ({'data.drop_last': True}, {'data.train_dataloader': dict(drop_last=True)}):
        cfg, drop = spec(**options)
        assert drop.steps(50, 'data.train') == 12
        assert len(schedule_frame(cfg, 50)) == 12 * cfg.runner.max_epochs
    assert keep.steps(49, 'data.train') == 12 and 'one image left over' in keep.describe(49)
    images = [(np.zeros((4, 4, 3), np.uint8), 0)] * 49
    loader = build_dataloader(images, 4, 1, drop_last=keep.drops_remainder(49),
                              ops=build_pipeline(AS_DECODED))
    sizes = [len(b['label']) for b in loader.create_dict_iterator(output_numpy=True)]
    assert sizes == [4] * 12
    with pytest.raises(ConfigError, match="fewer than one batch"):
        keep.steps(1, 'data.train')
