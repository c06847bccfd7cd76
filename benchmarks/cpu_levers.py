"""CPU speed levers of a MindSpore training step, each against ms_cls's default in the same run.

    python benchmarks/cpu_levers.py [--quick | --full] [--arch resnet50] [--size 64] [--batch 32]
                                    [--steps 3] [--rounds 3] [--levers NAME ...]

Each lever is a bare TrainOneStepCell loop (ms_cls's network, in-memory batch, graph mode) in a
process of its own, since oneDNN, OpenMP and MindSpore's thread pools read their settings once;
the default (ms_cls's environment as it is) and the levers take turns, one process each per
round. Prints s/step (best and median over the rounds; each round's figure is the median of
its steps after a compiling one) and the speed-up default / lever (best to best and the median
of the per-round ratios; > 1 is faster than the default). A lever the build rejects prints why. The loader's
share of the cores during training is measured by epoch_time.py (data wait vs compute).
"""
import os

import _common as C

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_step_child.py')
#: name -> (what it sets, MindSpore levers applied before the compile, environment variables)
LEVERS = {
    'default': ('ms_cls as it is (ONEDNN_MAX_CPU_ISA=AVX2)', {}, {}),
    'isa-avx512': ('ONEDNN_MAX_CPU_ISA=AVX512_CORE', {}, {'ONEDNN_MAX_CPU_ISA': 'AVX512_CORE'}),
    'isa-amx': ('ONEDNN_MAX_CPU_ISA=AVX512_CORE_AMX', {},
                {'ONEDNN_MAX_CPU_ISA': 'AVX512_CORE_AMX'}),
    'isa-all': ('ONEDNN_MAX_CPU_ISA=ALL (oneDNN default)', {}, {'ONEDNN_MAX_CPU_ISA': 'ALL'}),
    'omp-1': ('OMP_NUM_THREADS=1', {}, {'OMP_NUM_THREADS': '1'}),
    'omp-2': ('OMP_NUM_THREADS=2 (= cores)', {}, {'OMP_NUM_THREADS': '2'}),
    'op-threads-2': ('ms.device_context.cpu.op_tuning.threads_num(2) (default 25)',
                     {'op_threads': 2}, {}),
    'op-threads-1': ('ms.device_context.cpu.op_tuning.threads_num(1)', {'op_threads': 1}, {}),
    'dispatch-1': ('ms.runtime.dispatch_threads_num(1) (default 5)', {'dispatch_threads': 1}, {}),
    'affinity': ('ms.runtime.set_cpu_affinity(True)', {'affinity': True}, {}),
    'jit-O0': ("jit_config={'jit_level': 'O0'}", {'jit_level': 'O0'}, {}),
    'jit-O1': ("jit_config={'jit_level': 'O1'}", {'jit_level': 'O1'}, {}),
    'jit-O2': ("jit_config={'jit_level': 'O2'}", {'jit_level': 'O2'}, {}),
    'graph-kernel': ('enable_graph_kernel=True', {'graph_kernel': True}, {}),
    'nhwc': ("NHWC layout (nn.Conv2d(data_format='NHWC'))", {'nhwc': True}, {}),
}
#: --quick: one lever on ResNet-18 (32px, batch 64), to see that the machinery works
QUICK = ('default', 'op-threads-2')
#: --full: the levers that could plausibly help, and one ISA; --all: every lever
FULL = ('default', 'omp-1', 'op-threads-2', 'dispatch-1', 'affinity', 'jit-O1', 'graph-kernel',
        'nhwc', 'isa-avx512')
#: The oneDNN paths other than AVX2 are 10-100x slower here: one round of one step is enough.
SLOW = ('isa-avx512', 'isa-amx', 'isa-all')


def run(arch, size, batch, steps, rounds, names):
    """-> table rows, one per lever, the default first."""
    variants = [(name, dict(source='ms_cls', arch=arch, size=size, batch=batch,
                            steps=1 if name in SLOW else steps, levers=LEVERS[name][1]),
                 LEVERS[name][2]) for name in names if name not in SLOW]
    results = C.child_rounds(CHILD, variants, rounds)
    slow = [(name, dict(variants[0][1], steps=1, levers={}), LEVERS[name][2])
            for name in names if name in SLOW]
    results.update(C.child_rounds(CHILD, slow, 1))
    seconds = C.round_medians(results)
    base = seconds['default']
    rows = []
    for name in names:
        what = LEVERS[name][0]
        if seconds[name] is None:
            rows.append([name, what, 'could not run: ' + C.error_of(results[name]), '', ''])
            continue
        best, median = C.min_median(seconds[name])
        speed = (C.ratios(base, seconds[name]) if name not in SLOW
                 else f'{min(base) / seconds[name][0]:.3f} (1 round)')
        rows.append([name, what, f'{best:.3f} / {median:.3f}', f'{batch / median:.1f}', speed])
    return rows


def main():
    parser = C.mode_parser(__doc__, quick=f'levers {" ".join(QUICK)} on resnet18, 32px, batch 64',
                           full=f'levers {" ".join(FULL)}')
    parser.add_argument('--all', action='store_true', help='every lever')
    parser.add_argument('--arch', help='default: resnet50 (resnet18 with --quick)')
    parser.add_argument('--size', type=int, help='default: 64 (32 with --quick)')
    parser.add_argument('--batch', type=int, help='default: 32 (64 with --quick)')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--levers', nargs='+', choices=list(LEVERS))
    args = parser.parse_args()
    names = args.levers or list(LEVERS if args.all else FULL if args.full else QUICK)
    if 'default' not in names:
        names.insert(0, 'default')
    quick = args.quick or not (args.full or args.all or args.levers)
    args.arch = args.arch or ('resnet18' if quick else 'resnet50')
    args.size = args.size or (32 if quick else 64)
    args.batch = args.batch or (64 if quick else 32)
    rows = run(args.arch, args.size, args.batch, args.steps, args.rounds, names)
    slow = [name for name in names if name in SLOW]
    C.print_table(f'CPU levers: {args.arch} train step, {args.size}px, batch {args.batch} '
                  f'({C.cpu_model()}; {args.rounds} rounds'
                  + (f"; {', '.join(slow)}: 1 round of 1 step" if slow else '') + ')',
                  ['lever', 'setting', 's/step best / median', 'img/s (median)',
                   'speed vs default: best / pairs'],
                  rows, 'speed vs default > 1: faster than ms_cls as it is')


if __name__ == '__main__':
    main()
