"""Every throughput benchmark in turn, each printing its table and the ratios measured in its
own run (never run in CI: it takes the machine's cores for minutes).

    python benchmarks/run_all.py --quick    # ~3 min on 2 cores
    python benchmarks/run_all.py --full     # ~12 min on 2 cores
    python benchmarks/run_all.py --quick --only train_step loader_throughput

Each benchmark is its own process (one's graphs and thread pools do not weigh on the next);
the loader benchmark compares with the train-step rates of the same run. On a shared machine
wrap the call in ``flock /tmp/bench.lock`` so that no other timing runs at the same time.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: in order: train_step first, as the loader benchmark reads its rates
BENCHMARKS = ('train_step', 'loader_throughput', 'loader_scaling', 'eval_throughput',
              'epoch_time', 'peers', 'cpu_levers')
#: benchmarks with their own flags instead of --quick/--full
OWN_FLAGS = {'loader_scaling': {'--quick': ['--repeats', '2', '--images', '400'],
                                '--full': ['--repeats', '3']}}


def header():
    import _common as C
    import mindspore as ms
    return (f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{C.cpu_model()}, Python {platform.python_version()}, MindSpore {ms.__version__}, "
            f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--quick', action='store_true')
    group.add_argument('--full', action='store_true')
    parser.add_argument('--only', nargs='+', choices=BENCHMARKS)
    args = parser.parse_args()
    mode = '--full' if args.full else '--quick'
    print(header(), flush=True)
    failed = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        train_json = os.path.join(tmp, 'train_step.json')
        extra = {'train_step': ['--json', train_json],
                 'loader_throughput': ['--train-json', train_json]}
        for name in args.only or BENCHMARKS:
            flags = OWN_FLAGS[name][mode] if name in OWN_FLAGS else [mode]
            command = [sys.executable, os.path.join(HERE, f'{name}.py'), *flags,
                       *extra.get(name, [])]
            print(f"\n## {name}: python benchmarks/{name}.py {' '.join(flags)}", flush=True)
            began = time.perf_counter()
            code = subprocess.run(command, env=dict(os.environ, GLOG_v='3')).returncode
            print(f"({name}: {time.perf_counter() - began:.0f} s"
                  + (f", exit {code})" if code else ")"), flush=True)
            if code:
                failed.append(name)
    print(f"\nall: {time.perf_counter() - start:.0f} s" + (f"; failed: {' '.join(failed)}"
                                                           if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
