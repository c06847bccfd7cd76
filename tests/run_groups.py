"""Run the test suite as a few pytest processes, one after another, and end with one pytest
summary line for all of them (the line CI reads).

MindSpore keeps part of the memory of every network it compiled and trained until its process
exits, even after ``ms_memory_recycle()`` (which tests/conftest.py calls after each test): in one
process the suite's resident memory climbs past 5 GB. The modules that train the largest networks
therefore run in processes of their own; the rest share one, and with it the session's trained
run.

    python tests/run_groups.py [pytest options]       # e.g. -x, -k NAME, -q; from any folder
"""
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Each list runs in a process of its own: Swin-T (1.9 GB for its 64-image training steps; the
#: Grad-CAM and report tests share its process for their trained ResNet-18 and Swin-T runs), the
#: ResNet-50 ones (twelve configs trained a step each, optimizers, weight conversion), and the
#: modules that train many small runs (end to end, resume, plan, disk faults).
ALONE = [['test_swin.py', 'test_cam.py', 'test_report.py'], ['test_seed_configs.py', 'test_optimizers.py', 'test_weights.py'],
         ['test_train_e2e.py', 'test_resume.py', 'test_plan.py', 'test_disk_safety.py',
          'test_runtime.py', 'test_distributed.py']]
#: pytest's order of the summary counts.
KINDS = ('failed', 'passed', 'skipped', 'deselected', 'xfailed', 'xpassed', 'warnings', 'errors')
COUNT = re.compile(r'(\d+) (failed|passed|skipped|deselected|xfailed|xpassed|warnings?|errors?)\b')
NO_TESTS = 5


def groups():
    """The test files in ALONE's groups (those that exist), then one group of all the others."""
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, 'test_*.py')))
    alone = [[f for f in group if f in files] for group in ALONE]
    rest = [f for f in files if not any(f in group for group in alone)]
    return [group for group in alone + [rest] if group]


def counts(line):
    """{'passed': 3, 'warnings': 1, ...} from a pytest summary line, or {} for another line."""
    if not re.search(r' in [\d.]+s\b', line):
        return {}
    found = {}
    for number, kind in COUNT.findall(line):
        kind = {'warning': 'warnings', 'error': 'errors'}.get(kind, kind)
        found[kind] = found.get(kind, 0) + int(number)
    return found


def run_group(files, args):
    """Run pytest on ``files``, echoing its output; -> (exit code, its summary counts)."""
    cmd = [sys.executable, '-m', 'pytest', *(os.path.join('tests', f) for f in files), *args]
    summary = {}
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            summary = counts(line) or summary
    return proc.returncode, summary


def summary_line(totals, seconds):
    parts = ', '.join(f'{totals[k]} {k}' for k in KINDS if totals.get(k))
    clock = f'{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}'
    return f' {parts or "no tests ran"} in {seconds:.2f}s ({clock}) '.center(80, '=')


def main(args):
    start, totals, code = time.time(), {}, 0
    for files in groups():
        print(f"\n>>> python -m pytest {' '.join(files)}", flush=True)
        rc, found = run_group(files, args)
        for kind, number in found.items():
            totals[kind] = totals.get(kind, 0) + number
        if rc not in (0, NO_TESTS):       # 5: this group's tests were all deselected
            code = max(code, rc)
    ran = sum(totals.get(k, 0) for k in ('failed', 'passed', 'skipped', 'xfailed', 'xpassed',
                                         'errors'))
    if not ran and not code:
        code = NO_TESTS
    print(summary_line(totals, time.time() - start), flush=True)
    return code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
