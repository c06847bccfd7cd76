"""Training-step throughput of ms_cls (Model + its callbacks) vs a bare TrainOneStepCell loop.

    python benchmarks/train_step.py [--quick | --full] [--cases resnet50:64:32 ...]
                                    [--steps N] [--rounds 3] [--json OUT]

Both sides train the same network (one instance each, same weights' shapes) on the same
in-memory random batches in graph mode: the bare side as tensors through a TrainOneStepCell,
the ms_cls side through ``mindspore.train.Model`` with ms_cls's TrainMonitor and a
``mindspore.dataset`` pipeline over the arrays, as ms_cls's trainer does. A first (compiling)
pass is excluded; then the sides alternate, one pass each per round. Prints img/s (best and
median over the rounds) and the ratio ms_cls / bare, best pass to best pass and the median of
the per-round ratios (target >= 0.95). A case is ARCH:PX:BATCH.
"""
import json

import _common as C

QUICK = ('resnet18:32:64', 'resnet50:64:32')
FULL = QUICK + ('resnet50:224:8', 'swin-tiny:224:8')


def parse_case(case):
    arch, size, batch = case.split(':')
    return arch, int(size), int(batch)


def measure(arch, size, batch, steps, rounds):
    """-> dict of the case's per-pass seconds on both sides and its img/s figures."""
    from ms_cls.models.builder import build_loss
    batches = C.random_batches(batch, size, steps)
    loops = []
    for loop in (C.bare_loop, C.ms_cls_loop):
        cfg, net = C.make_net(arch, size)
        loops.append(loop(net, build_loss(cfg), C.sgd(net.trainable_params()), batches))
    bare, ours = C.interleaved(loops, rounds)
    images = batch * steps
    return dict(arch=arch, size=size, batch=batch, bare=C.rate(images, bare),
                ms_cls=C.rate(images, ours), ratio=C.ratios(bare, ours))


def main():
    parser = C.mode_parser(__doc__, quick=f'cases {" ".join(QUICK)}', full=f'cases {" ".join(FULL)}')
    parser.add_argument('--cases', nargs='+', help='ARCH:PX:BATCH ...')
    parser.add_argument('--steps', type=int, help='steps per pass (default 3)')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', help='also write the results here (run_all.py reads them)')
    args = parser.parse_args()
    import mindspore as ms
    ms.set_context(mode=ms.GRAPH_MODE)
    cases = args.cases or (FULL if args.full else QUICK)
    args.steps = args.steps or 3
    results, rows = [], []
    for case in cases:
        arch, size, batch = parse_case(case)
        r = measure(arch, size, batch, args.steps, args.rounds)
        results.append(r)
        rows.append([arch, f'{size}px', batch, C.fmt_rate(r['bare']), C.fmt_rate(r['ms_cls']),
                     r['ratio']])
    C.print_table(f'Train step: ms_cls (Model + callbacks) vs bare TrainOneStepCell '
                  f'({C.cpu_model()}; {args.steps} steps x {args.rounds} rounds)',
                  ['net', 'input', 'batch', 'bare img/s best / median',
                   'ms_cls img/s best / median', 'ms_cls / bare: best / pairs'], rows,
                  'target: ms_cls / bare >= 0.95')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f)


if __name__ == '__main__':
    main()
