"""Training-loader img/s per worker count vs the img/s the training step consumes.

    python benchmarks/loader_throughput.py [--quick | --full] [--workers 1 2] [--rounds 3]
                                           [--train-json TRAIN_STEP_JSON]

Generated JPEGs (the demo shapes, written into a temporary folder) go through
``ms_cls.data.builder.build_dataloader`` with a config's training pipeline, shuffled, as the
trainer builds it: decode + augmentations + batching, no network. The loader is looked up when
it is called, so this measures whatever ``build_dataloader`` is at the time; ``loader_rate``
takes another builder (``build=``) to compare a rewrite against it. Worker counts alternate
within each round. Consumption is the ms_cls side of train_step.py for the matching net and size
(``--train-json`` from ``train_step.py --json``; else not shown); target: loader >= 3x it.
"""
import json
import os
import tempfile
import time

import _common as C

#: case -> (config, JPEG side, images per class, the train_step case whose rate it must feed)
CASES = {
    'demo-32px': ('configs/resnet/resnet18_1xb64_demo-32px.py', 64, 100, 'resnet18:32:64'),
    'imagenet-224px': ('configs/resnet/resnet50_8xb32_caltech256.py', 320, 12, 'resnet50:224:8'),
}
QUICK = ('demo-32px',)
FULL = ('demo-32px', 'imagenet-224px')


def jpeg_dataset(config, folder, side, per_class):
    """(the config's training dataset over freshly drawn JPEGs in ``folder``, its batch size)."""
    from ms_cls.config import Config
    from ms_cls.data.builder import build_dataset
    from ms_cls.data.demo import make_demo_data
    make_demo_data(folder, size=side, per_class={'train': per_class, 'val': 0, 'test': 0})
    cfg = Config.fromfile(os.path.join(C.ROOT, config))
    cfg.merge_from_dict({'data.train.data_prefix': os.path.join(folder, 'train')})
    return build_dataset(cfg.data, 'train'), cfg.data.samples_per_gpu


def loader_rate(dataset, batch, workers, build=None):
    """-> a callable that reads one shuffled epoch of ``dataset`` through ``build`` (default:
    ms_cls's build_dataloader at call time) and returns the images read."""
    def epoch():
        builder = build
        if builder is None:
            from ms_cls.data import builder as module
            builder = module.build_dataloader
        loader = builder(dataset, batch, workers, shuffle=True, drop_last=True, where='data.train')
        return sum(len(images) for images, _ in loader.create_tuple_iterator(
            output_numpy=True, num_epochs=1))
    return epoch


def consumption(train_json):
    """{'arch:px:batch': ms_cls img/s median} from ``train_step.py --json``, or {}."""
    if not train_json or not os.path.exists(train_json):
        return {}
    with open(train_json) as f:
        return {f"{r['arch']}:{r['size']}:{r['batch']}": r['ms_cls'][1] for r in json.load(f)}


def run(case, workers_list, rounds, needs, folder):
    config, side, per_class, step_case = CASES[case]
    dataset, batch = jpeg_dataset(config, os.path.join(folder, case), side, per_class)
    epochs = [loader_rate(dataset, batch, w) for w in workers_list]
    counts = [fn() for fn in epochs]   # warm the page cache and the pipeline's first build
    times = C.interleaved(epochs, rounds, warmup=0)
    rows = []
    need = needs.get(step_case)
    for workers, count, seconds in zip(workers_list, counts, times):
        best, median = C.rate(count, seconds)
        rows.append([case, f'{side}px JPEG -> {os.path.basename(config)}', batch, workers,
                     f'{best:.0f} / {median:.0f}',
                     f'{need:.1f} ({step_case})' if need else 'n/a',
                     f'{median / need:.1f}x' if need else ''])
    return rows


def main():
    parser = C.mode_parser(__doc__, quick=f'cases {" ".join(QUICK)}', full=f'cases {" ".join(FULL)}')
    parser.add_argument('--cases', nargs='+', choices=list(CASES))
    parser.add_argument('--workers', nargs='+', type=int,
                        default=sorted({1, 2, os.cpu_count() or 1}))
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--train-json', help="train_step.py --json output: the consumption")
    args = parser.parse_args()
    needs = consumption(args.train_json)
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for case in args.cases or (FULL if args.full else QUICK):
            rows += run(case, args.workers, args.rounds, needs, folder)
    C.print_table(f'Loader: build_dataloader img/s per worker count vs train-step consumption '
                  f'({C.cpu_model()}; {args.rounds} rounds, {time.perf_counter() - start:.0f} s)',
                  ['case', 'images -> pipeline', 'batch', 'workers', 'img/s best / median',
                   'train step consumes img/s', 'loader / consumption'], rows,
                  'target: loader / consumption >= 3x')


if __name__ == '__main__':
    main()
