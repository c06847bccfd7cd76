"""Run the test suite as a few pytest processes, two at a time, and end with one pytest
summary line for all of them (the line CI reads).

MindSpore keeps part of the memory of every network it compiled and trained until its process
exits, even after ``ms_memory_recycle()`` (which tests/conftest.py calls after each test): in one
process the suite's resident memory climbs past 5 GB. The modules that train the largest networks
therefore run in processes of their own; the rest share one, and with it the session's trained
run. One pytest process keeps about 1.1 of this machine's 2 cores busy (graph compiles, process
starts and file work are single-threaded), so two run side by side (``--lanes``). Each group's
output is printed in one block when it ends; the line ``started: ...`` says what is running.

    python tests/run_groups.py [--lanes N] [pytest options]   # e.g. -x, -k NAME, -q
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Each list runs in a process of its own: Swin-T (4.1 GB for training the Grad-CAM test's run;
#: the Grad-CAM and report tests share its process for their ResNet-18 and Swin-T runs), the
#: ResNet-50 ones (twelve configs trained a step each, optimizers, weight conversion), and the
#: modules that train many small runs (end to end, resume, plan, disk faults).
ALONE = [['test_swin.py', 'test_cam.py', 'test_report.py'], ['test_seed_configs.py', 'test_optimizers.py', 'test_weights.py',
          'test_pretrained.py', 'test_resnet_variants.py'],
         ['test_train_e2e.py', 'test_resume.py', 'test_plan.py', 'test_disk_safety.py',
          'test_runtime.py', 'test_distributed.py']]
#: pytest's order of the summary counts.
KINDS = ('failed', 'passed', 'skipped', 'deselected', 'xfailed', 'xpassed', 'warnings', 'errors')
COUNT = re.compile(r'(\d+) (failed|passed|skipped|deselected|xfailed|xpassed|warnings?|errors?)\b')
NO_TESTS = 5


def groups():
    """The test files in ALONE's groups (those that exist) and one group of all the others,
    longest first, so that two lanes end close together: the Swin-T group, the rest, the
    small runs, the ResNet-50 configs (measured alone: about 8, 4.5, 4.5 and 2 minutes)."""
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, 'test_*.py')))
    alone = [[f for f in group if f in files] for group in ALONE]
    rest = [f for f in files if not any(f in group for group in alone)]
    return [group for group in (alone[0], rest, alone[2], alone[1]) if group]


def counts(line):
    """{'passed': 3, 'warnings': 1, ...} from a pytest summary line, or {} for another line."""
    if not re.search(r' in [\d.]+s\b', line):
        return {}
    found = {}
    for number, kind in COUNT.findall(line):
        kind = {'warning': 'warnings', 'error': 'errors'}.get(kind, kind)
        found[kind] = found.get(kind, 0) + int(number)
    return found


def run_group(files, args, basetemp):
    """Run pytest on ``files`` with its temp files under ``basetemp``; -> (exit code, its
    output, its summary counts)."""
    cmd = [sys.executable, '-m', 'pytest', *(os.path.join('tests', f) for f in files),
           f'--basetemp={basetemp}', *args]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    summary = {}
    for line in proc.stdout.splitlines():
        summary = counts(line) or summary
    return proc.returncode, proc.stdout, summary


def summary_line(totals, seconds):
    parts = ', '.join(f'{totals[k]} {k}' for k in KINDS if totals.get(k))
    clock = f'{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}'
    return f' {parts or "no tests ran"} in {seconds:.2f}s ({clock}) '.center(80, '=')


def lanes_option(argv):
    """-> (lanes, pytest's args): ``--lanes N`` (default 2) is ours, the rest pytest's."""
    parser = argparse.ArgumentParser(prog='run_groups.py', allow_abbrev=False, add_help=False)
    parser.add_argument('--lanes', type=int, default=2, help='pytest processes at a time')
    ours, args = parser.parse_known_args(argv)
    if ours.lanes < 1:
        parser.error(f"--lanes {ours.lanes}: give a number of processes >= 1")
    return ours.lanes, args


def main(argv):
    lanes, args = lanes_option(argv)
    start, totals, code = time.time(), {}, 0
    pending, lock = list(enumerate(groups(), 1)), threading.Lock()
    temp = tempfile.mkdtemp(prefix='ms_cls-tests-')

    def lane():
        nonlocal code
        while True:
            with lock:
                if not pending:
                    return
                number, files = pending.pop(0)
                print(f"started: group {number}: {' '.join(files)[:70]}", flush=True)
            rc, output, found = run_group(files, args, os.path.join(temp, f'group{number}'))
            with lock:
                print(f"\n>>> python -m pytest {' '.join(files)}", flush=True)
                sys.stdout.write(output)
                sys.stdout.flush()
                for kind, count in found.items():
                    totals[kind] = totals.get(kind, 0) + count
                if rc not in (0, NO_TESTS):       # 5: this group's tests were all deselected
                    code = max(code, rc)

    threads = [threading.Thread(target=lane) for _ in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if code in (0, NO_TESTS):
        shutil.rmtree(temp, ignore_errors=True)
    else:       # pytest keeps the temp folders of failed tests (tmp_path_retention_policy)
        print(f"the failed tests' temp folders are under {temp}", flush=True)
    ran = sum(totals.get(k, 0) for k in ('failed', 'passed', 'skipped', 'xfailed', 'xpassed',
                                         'errors'))
    if not ran and not code:
        code = NO_TESTS
    print(summary_line(totals, time.time() - start), flush=True)
    return code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
