"""The same training step in peer toolkits: ms_cls's network vs MindCV's vs PyTorch (timm).

    python benchmarks/peers.py [--quick | --full] [--cases resnet50:64:32 ...] [--steps 3]
                               [--rounds 3]

Every side is a bare loop (one in-memory batch, SGD momentum 0.9, cross-entropy) in a process of
its own, the sides in turn each round: ms_cls's network in a TrainOneStepCell (graph mode),
MindCV 0.3.0's ``create_model`` in the same loop, and PyTorch eager on ``timm.create_model``
(or, when timm cannot be imported, the torchvision-layout model of _torch_resnet.py: the row
says which). Prints s/step, img/s and each peer's speed relative to ms_cls (> 1: the peer is
faster; best to best and the median of per-round ratios); a peer that is not installed or fails to import says so instead of a figure.
Peers are not requirements of ms_cls; install them with
``pip install mindcv==0.3.0 --no-deps tqdm`` and ``pip install timm --no-deps`` (timm needs a
torchvision built for the installed torch).
"""
import os

import _common as C

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_step_child.py')
SOURCES = ('ms_cls', 'mindcv', 'torch')
LABELS = {'ms_cls': 'ms_cls (MindSpore)', 'mindcv': 'MindCV (MindSpore)',
          'torch': 'PyTorch eager'}
QUICK = ('resnet18:32:64',)
FULL = ('resnet50:64:32',)


def run(arch, size, batch, steps, rounds):
    """-> table rows for one case, ms_cls first."""
    variants = [(source, dict(source=source, arch=arch, size=size, batch=batch, steps=steps), {})
                for source in SOURCES]
    results = C.child_rounds(CHILD, variants, rounds)
    seconds = C.round_medians(results)
    rows = []
    for source in SOURCES:
        name = f'{arch} {size}px b{batch}'
        if seconds[source] is None:
            rows.append([name, LABELS[source], 'cannot run: ' + C.error_of(results[source]),
                         '', '', ''])
            continue
        best, median = C.min_median(seconds[source])
        speed = C.ratios(seconds['ms_cls'], seconds[source]) if seconds['ms_cls'] else ''
        rows.append([name, LABELS[source], f'{best:.3f} / {median:.3f}', f'{batch / median:.1f}',
                     speed, results[source][0].get('note', '')])
    return rows


def main():
    parser = C.mode_parser(__doc__, quick=f'cases {" ".join(QUICK)}', full=f'cases {" ".join(FULL)}')
    parser.add_argument('--cases', nargs='+', help='ARCH:PX:BATCH ...')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    rows = []
    for case in args.cases or (FULL if args.full else QUICK):
        arch, size, batch = case.split(':')
        rows += run(arch, int(size), int(batch), args.steps, args.rounds)
    C.print_table(f'Peers: bare train step, same net and batch ({C.cpu_model()}; '
                  f'{args.rounds} rounds)',
                  ['case', 'toolkit', 's/step best / median', 'img/s (median)',
                   'speed vs ms_cls: best / pairs',
                   'versions'], rows, 'speed vs ms_cls > 1: the peer is faster')


if __name__ == '__main__':
    main()
