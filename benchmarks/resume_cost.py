"""What a resume costs: one epoch trained by a cold start vs one epoch trained by resuming.

    python benchmarks/resume_cost.py [--repeats 3] [--config CONFIG] [--data DIR]

Both are whole `scripts/train.py` processes that train exactly one epoch of the demo config:
the cold start from scratch (runner.max_epochs=1), the resume from an epoch-1 checkpoint of the
same run (runner.max_epochs=2, --resume auto). The difference is what a resume adds (reading the
checkpoint, restoring the optimizer and EMA state). A third case resumes from a recovery
checkpoint written mid-epoch, which redraws the batches it skips. Prints medians and ratios
measured in this run; writes only into a temporary folder it removes.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, 'configs', 'resnet', 'resnet18_1xb64_demo-32px.py')


def train_args(config, data, work_dir, *options):
    return [sys.executable, os.path.join(ROOT, 'scripts', 'train.py'), config, '--work-dir',
            work_dir, '--cfg-options', f'data.train.data_prefix={data}/train',
            f'data.val.data_prefix={data}/val', f'data.test.data_prefix={data}/test',
            'log_config.interval=1', *options]


def timed(args):
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def interrupted_run(args, after_step):
    """Run until the step line ``after_step`` of the second epoch, then SIGTERM."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    for line in proc.stdout:
        if line.startswith(f'Epoch:[  1/  2], step:[{after_step:5d}/'):
            proc.send_signal(signal.SIGTERM)
    proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--config', default=DEMO)
    parser.add_argument('--data', help='data root (default: the demo set, drawn into a temp dir)')
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix='ms_cls_resume_cost_')
    try:
        data = args.data
        if data is None:
            data = os.path.join(scratch, 'data')
            subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'make_demo_data.py'),
                            '--out', data], check=True, stdout=subprocess.DEVNULL)
        base = os.path.join(scratch, 'base')
        subprocess.run(train_args(args.config, data, base, 'runner.max_epochs=1'), cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        cold, resumed, mid = [], [], []
        for i in range(args.repeats):
            cold.append(timed(train_args(args.config, data, os.path.join(scratch, f'c{i}'),
                                         'runner.max_epochs=1')))
            work = os.path.join(scratch, f'r{i}')
            shutil.copytree(base, work)
            resumed.append(timed(train_args(args.config, data, work, 'runner.max_epochs=2',
                                            'resume_from=auto')))
            work = os.path.join(scratch, f'm{i}')
            shutil.copytree(base, work)
            interrupted_run(train_args(args.config, data, work, 'runner.max_epochs=2',
                                       'resume_from=auto'), after_step=8)
            mid.append(timed(train_args(args.config, data, work, 'runner.max_epochs=2',
                                        'resume_from=auto')))
        c, r, m = (statistics.median(x) for x in (cold, resumed, mid))
        print(f"one epoch, cold start:                     median {c:.2f} s  {cold}")
        print(f"one epoch, resumed from latest.ckpt:       median {r:.2f} s  ratio {r / c:.3f}")
        print(f"rest of an epoch, resumed from step 8:     median {m:.2f} s  ratio {m / c:.3f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    main()
