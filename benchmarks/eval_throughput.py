"""Eval throughput of ms_cls's batched path vs a bare forward loop on in-memory tensors, and
where the difference goes.

    python benchmarks/eval_throughput.py [--quick | --full] [--config C] [--checkpoint K]
                                         [--batch 64] [--images N] [--workers W] [--rounds R]

ms_cls side: ``predict_probs`` over the config's val folder, i.e. what scripts/test.py runs
(Pillow decode + test pipeline in the dataset workers + network + softmax). Bare side:
``mindspore.train.Model(net).predict`` over the same images, pre-processed once and held in
memory. Between the two, rows that add one part at a time: the network called as ms_cls calls
it (``_softmax_views``: the Cell, then softmax and the mean over views as separate ops, then
``asnumpy``) on the in-memory tensors, the loader alone, and the bare loop fed by that loader
(what reading the images costs on these cores, with nothing of ms_cls's own). The last column
is the process's CPU seconds per pass (all threads) next to its wall seconds: what the loader
adds to the cores the network already keeps busy. Ratios are bare / row time,
best to best and the median of per-round ratios (target for predict_probs >= 0.95), all rows
alternating within a round after a first (compiling, warming) round. Without data/demo the demo set is drawn into a
temporary folder; without a checkpoint the weights are random (speed does not depend on them).
"""
import math
import os
import statistics
import tempfile
import time

import _common as C

import mindspore as ms  # noqa: E402
from mindspore.train import Model  # noqa: E402

from ms_cls.apis import init_model  # noqa: E402
from ms_cls.config import Config  # noqa: E402
from ms_cls.data.builder import build_dataloader, build_dataset  # noqa: E402
from ms_cls.data.demo import make_demo_data  # noqa: E402
from ms_cls.evaluation import inference  # noqa: E402


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


def measure(cfg, checkpoint, batch, images, workers, rounds):
    """-> (rows, header line) of the table."""
    with tempfile.TemporaryDirectory() as tmp:
        dataset = load_dataset(cfg, images, tmp)
        model = init_model(cfg, checkpoint)
        model.set_train(False)
        n = len(dataset)

        def loaded():
            return (x for x, _ in build_dataloader(
                dataset, batch, workers, ops=model.test_ops).create_tuple_iterator(
                    output_numpy=True, num_epochs=1))

        def loader_batches():
            return list(loaded())

        tensors = [ms.Tensor(b) for b in loader_batches()]
        bare_model = Model(model)
        parts = [
            ('bare Model.predict, in-memory tensors',
             lambda: [bare_model.predict(x).asnumpy() for x in tensors]),
            ('net(x).asnumpy(), in-memory tensors', lambda: [model(x).asnumpy() for x in tensors]),
            ('ms_cls _softmax_views (net + softmax + mean), in-memory',
             lambda: [inference._softmax_views(model, x, ()) for x in tensors]),
            ('loader alone (decode + pipeline, no network)', loader_batches),
            ('bare Model.predict fed by the same loader',
             lambda: [bare_model.predict(ms.Tensor(x)).asnumpy() for x in loaded()]),
            ('ms_cls predict_probs (loader + network), scripts/test.py',
             lambda: inference.predict_probs(model, dataset, batch, workers)),
        ]
        cpu = [[] for _ in parts]

        def on_cpu(i, fn):
            def run():
                start = time.process_time()
                fn()
                cpu[i].append(time.process_time() - start)
            return run
        times = C.interleaved([on_cpu(i, fn) for i, (_, fn) in enumerate(parts)], rounds)
    rows = []
    for (label, _), seconds, cpu_s in zip(parts, times, cpu):
        rows.append([label, C.fmt_rate(C.rate(n, seconds)), C.ratios(times[0], seconds),
                     f'{statistics.median(cpu_s):.2f} / {statistics.median(seconds):.2f}'])
    shape = tuple(tensors[0].shape[1:])
    header = (f"{os.path.basename(cfg.filename)}: {n} images {shape}, batch {batch}, {workers} "
              f"workers, {rounds} rounds, {C.cpu_model()}")
    return rows, header


def main():
    parser = C.mode_parser(__doc__, quick='640 images, 3 rounds (default)', full='1280 images, 4 rounds')
    parser.add_argument('--config', default=C.DEMO_CONFIG)
    parser.add_argument('--checkpoint')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--images', type=int, help='images per pass (default: the val split)')
    parser.add_argument('--workers', type=int,
                        help="dataset workers (default: the config's data.workers_per_gpu, as "
                             "scripts/test.py uses)")
    parser.add_argument('--rounds', type=int)
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = Config.fromfile(args.config)
    workers = args.workers or cfg.data.get('workers_per_gpu', 2)
    images = args.images or (1280 if args.full else 640)
    rows, header = measure(cfg, args.checkpoint, args.batch, images, workers,
                           args.rounds or (4 if args.full else 3))
    C.print_table(f'Eval: ms_cls predict vs a bare forward loop ({header})',
                  ['what runs', 'img/s best / median', 'bare / this: best / pairs',
                   'CPU s / wall s per pass (median)'], rows,
                  'target: predict_probs >= 0.95 of the bare loop')


if __name__ == '__main__':
    main()
