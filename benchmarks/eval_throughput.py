"""Eval throughput of ms_cls's batched path vs a bare ``Model.predict`` loop on in-memory tensors.

    python benchmarks/eval_throughput.py [--config C] [--checkpoint K] [--batch 64] [--images N]
                                         [--workers W] [--repeats R]

ms_cls side: ``predict_probs`` over the config's val folder, i.e. what scripts/test.py runs
(Pillow decode + test pipeline in the dataset workers + network + softmax). Bare side:
``mindspore.train.Model(net).predict`` over the same images, pre-processed once and held in
memory, so the ratio ms_cls / bare is what reading and preparing the images costs (target
>= 0.9). A first (compiling, warming) round is excluded; each side's best of ``--repeats``
rounds counts, the sides alternating within a round. Without data/demo the demo set is drawn
into a temporary folder; without a checkpoint the weights are random (speed does not depend on
them). The third line times the loader alone, to show where the time goes.
"""
import argparse
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ms_cls  # noqa: E402,F401
import mindspore as ms  # noqa: E402
from mindspore.train import Model  # noqa: E402

from ms_cls.apis import init_model  # noqa: E402
from ms_cls.config import Config  # noqa: E402
from ms_cls.data.builder import build_dataloader, build_dataset  # noqa: E402
from ms_cls.data.demo import make_demo_data  # noqa: E402
from ms_cls.evaluation.inference import predict_probs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(ROOT, 'configs', 'resnet', 'resnet18_1xb64_demo-32px.py')


def load_dataset(cfg, images, tmp):
    """The config's val split (the demo set drawn into ``tmp`` if its folder is missing), its
    samples repeated or cut to ``images``."""
    if not os.path.isdir(cfg.data.val.data_prefix):
        per_class = math.ceil((images or 300) / 10)
        make_demo_data(os.path.join(tmp, 'demo'), per_class={'train': 0, 'val': per_class,
                                                              'test': 0})
        cfg.merge_from_dict({'data.val.data_prefix': os.path.join(tmp, 'demo', 'val')})
    dataset = build_dataset(cfg.data, 'val')
    n = images or len(dataset)
    dataset.samples = (dataset.samples * math.ceil(n / len(dataset)))[:n]
    return dataset


def best_times(fns, repeats):
    """Best wall time of each of ``fns`` over ``repeats`` rounds after a warm-up round; the
    sides alternate within a round so that a load spike from elsewhere hits them alike."""
    best = [math.inf] * len(fns)
    for round_ in range(repeats + 1):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            if round_:
                best[i] = min(best[i], time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument('--checkpoint')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--images', type=int, help='images per pass (default: the val split)')
    parser.add_argument('--workers', type=int,
                        help="dataset workers (default: the config's data.workers_per_gpu, as "
                             "scripts/test.py uses)")
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    workers = args.workers or cfg.data.get('workers_per_gpu', 2)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_dataset(cfg, args.images, tmp)
        model = init_model(cfg, args.checkpoint)
        n = len(dataset)

        def loader_batches():
            return [images for images, _ in build_dataloader(
                dataset, args.batch, workers, ops=model.test_ops).create_tuple_iterator(
                    output_numpy=True, num_epochs=1)]

        tensors = [ms.Tensor(b) for b in loader_batches()]
        bare_model = Model(model)
        bare, ours, loader = best_times(
            [lambda: [bare_model.predict(x).asnumpy() for x in tensors],
             lambda: predict_probs(model, dataset, args.batch, workers), loader_batches],
            args.repeats)
    shape = tuple(tensors[0].shape[1:])
    print(f"{os.path.basename(args.config)}: {n} images {shape}, batch {args.batch}, "
          f"{workers} workers, {os.cpu_count()} CPUs", flush=True)
    print(f"bare Model.predict (in memory) {n / bare:8.1f} img/s, ms_cls predict_probs "
          f"{n / ours:8.1f} img/s, ratio {bare / ours:.3f}")
    print(f"loader alone (decode + pipeline, no network) {n / loader:8.1f} img/s")


if __name__ == '__main__':
    main()
