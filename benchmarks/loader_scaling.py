"""Training-loader throughput with 1 and 2 workers: the old loader against build_dataloader.

    python benchmarks/loader_scaling.py [--images 800] [--repeats 3] [--batch 32] [--dir DIR]

Images: ``--dir`` (a CustomDataset folder), or 200 JPEGs of 400x300 (noise and ellipses) drawn
into a temporary folder; nothing is downloaded. Their samples are repeated to ``--images`` per
pass. Pipelines: the training pipelines of configs/_base_/datasets/caltech256_bs32.py (decode +
RandomResizedCrop 224 + RandomFlip + Normalize) and caltech256_bs64_randaug.py (the same with the
seed's RandAugment: 2 policies, level 9 of 10, std 0.5), which the ResNet-50 Caltech configs use.
Batch 32, shuffled, as training reads them; the consumer only counts rows.

"old" is the earlier loader design: Pillow decode in the one source thread, the ops in a map
with ``workers`` threads. "new" is ``ms_cls.data.builder.build_dataloader``. After a warm-up
pass of each, every round times one pass of each (pipeline, loader, workers) in turn, so a load
spike from elsewhere hits them alike; the table gives the median, min and max img/s over rounds,
the CPU time per image (all threads of the process) and the 2-worker / 1-worker ratios of the
medians and of the maxima (the best round is the least disturbed one on a shared machine).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ms_cls  # noqa: E402,F401
import numpy as np  # noqa: E402
import mindspore.dataset as ds  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from ms_cls.config import Config  # noqa: E402
from ms_cls.data.builder import build_dataloader  # noqa: E402
from ms_cls.data.datasets import CustomDataset  # noqa: E402
from ms_cls.data.pipeline import build_pipeline  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = os.path.join(ROOT, 'configs', '_base_', 'datasets')
PIPELINES = {'plain': os.path.join(DATASETS, 'caltech256_bs32.py'),
             'randaug': os.path.join(DATASETS, 'caltech256_bs64_randaug.py')}


def draw_jpegs(folder, count=200, size=(400, 300), classes=4):
    """``count`` JPEGs (quality 90) of noise and coloured ellipses, in ``classes`` folders."""
    rng = np.random.default_rng(0)
    width, height = size
    for i in range(count):
        sub = os.path.join(folder, f'c{i % classes}')
        os.makedirs(sub, exist_ok=True)
        img = Image.fromarray(rng.integers(96, 160, (height, width, 3), dtype=np.uint8))
        pen = ImageDraw.Draw(img)
        for _ in range(6):
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            pen.ellipse([x, y, x + int(rng.integers(20, 150)), y + int(rng.integers(20, 150))],
                        fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img.save(os.path.join(sub, f'{i}.jpg'), quality=90)


def old_loader(dataset, batch, workers, ops):
    """build_dataloader as it was: Pillow decode in the source thread, ops in a thread map."""
    loader = ds.GeneratorDataset(dataset, column_names=['image', 'label'], shuffle=True,
                                 num_parallel_workers=1, python_multiprocessing=False)
    loader = loader.map(operations=ops, input_columns='image', num_parallel_workers=workers)
    return loader.batch(batch, drop_remainder=True)


def new_loader(dataset, batch, workers, ops):
    return build_dataloader(dataset, batch, workers, shuffle=True, drop_last=True, ops=ops)


LOADERS = {'old': old_loader, 'new': new_loader}


def one_pass(build):
    """(img/s, CPU ms per image) of one pass over a freshly built loader."""
    loader = build()
    start_cpu, start = os.times(), time.perf_counter()
    rows = sum(len(labels) for _, labels in loader.create_tuple_iterator(output_numpy=True,
                                                                          num_epochs=1))
    wall, end_cpu = time.perf_counter() - start, os.times()
    cpu = (end_cpu.user - start_cpu.user) + (end_cpu.system - start_cpu.system)
    return rows / wall, cpu / rows * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=800, help='images per pass')
    parser.add_argument('--repeats', type=int, default=3, help='timed rounds')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--dir', help='a CustomDataset folder (default: draw 200 JPEGs)')
    args = parser.parse_args()
    ds.config.set_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir
        if folder is None:
            folder = os.path.join(tmp, 'jpegs')
            draw_jpegs(folder)
        dataset = CustomDataset(folder)
        dataset.samples = (dataset.samples * -(-args.images // len(dataset.samples)))[:args.images]
        cases = [(pipe, name, workers) for pipe in PIPELINES for name in LOADERS
                 for workers in (1, 2)]
        ops = {pipe: build_pipeline(Config.fromfile(path).train_pipeline)
               for pipe, path in PIPELINES.items()}

        def build(case):
            pipe, name, workers = case
            return lambda: LOADERS[name](dataset, args.batch, workers, ops[pipe])
        for case in cases:
            one_pass(build(case))
        runs = {case: [] for case in cases}
        for _ in range(args.repeats):
            for case in cases:
                runs[case].append(one_pass(build(case)))
    print(f"{len(dataset)} images of {folder if args.dir else '400x300 JPEG'} per pass, batch "
          f"{args.batch}, {os.cpu_count()} CPUs, {args.repeats} rounds")
    print(f"{'pipeline':9}{'loader':7}{'workers':>8}{'median':>8}{'min':>6}{'max':>6}"
          f"{'CPU ms/img':>12}{'2w/1w median':>14}{'2w/1w max':>11}   (img/s)")
    for case in cases:
        pipe, name, workers = case
        speeds = [speed for speed, _ in runs[case]]
        cpu = statistics.median(c for _, c in runs[case])
        ratios = ''
        if workers == 2:
            alone = [speed for speed, _ in runs[(pipe, name, 1)]]
            ratios = (f"{statistics.median(speeds) / statistics.median(alone):>13.2f}x"
                      f"{max(speeds) / max(alone):>10.2f}x")
        print(f"{pipe:9}{name:7}{workers:>8}{statistics.median(speeds):>8.0f}{min(speeds):>6.0f}"
              f"{max(speeds):>6.0f}{cpu:>12.2f}{ratios}")

if __name__ == '__main__':
    main()
