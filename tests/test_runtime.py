"""Nothing written outside the work dir: MindSpore's compile-failure dump (rank_0/om/analyze_fail.ir,
in the current folder by default) goes to the training run's work dir, or to a temporary folder
removed at exit. Each case runs in a fresh process whose current folder is a test folder."""
import json
import os
import subprocess
import sys

from conftest import ROOT

#: A Dense of input width 7 fed 5 features: the graph fails to compile (in MindSpore itself, so
#: no check of ms_cls's stands in the way).
FAILING_GRAPH = """
import json, os, sys
sys.path.insert(0, {root!r})
import ms_cls
import numpy as np
import mindspore as ms
from mindspore import nn
from ms_cls.runtime import graph_dumps_in
ms.set_context(mode=ms.GRAPH_MODE)

def fail():
    try:
        nn.Dense(7, 2)(ms.Tensor(np.zeros((2, 5), np.float32)))
    except (ValueError, RuntimeError, TypeError) as err:
        return str(err)
    raise AssertionError('the graph compiled')

{body}
"""


def run_failing(tmp_path, body, env=None):
    """Run FAILING_GRAPH + body with cwd=tmp_path/cwd; -> (the JSON the body prints, cwd)."""
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    res = subprocess.run([sys.executable, '-c', FAILING_GRAPH.format(root=ROOT, body=body)],
                         cwd=str(cwd), capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, **(env or {})))
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1]), cwd


def test_eval_side_dump_goes_to_a_temp_folder_removed_at_exit(tmp_path):
    out, cwd = run_failing(tmp_path, "message = fail()\nfolder = os.environ['MS_OM_PATH']\n"
                                     "print(json.dumps([folder, message]))")
    folder, message = out
    assert f"{folder}/rank_0/om/analyze_fail.ir" in message
    assert os.listdir(cwd) == []
    assert not os.path.exists(folder)


def test_training_dump_goes_to_the_work_dir(tmp_path):
    work_dir = tmp_path / 'wd'
    out, cwd = run_failing(tmp_path, f"with graph_dumps_in({str(work_dir)!r}):\n"
                                     "    message = fail()\n"
                                     "print(json.dumps([message, os.environ['MS_OM_PATH']]))")
    message, after = out
    assert os.path.isfile(work_dir / 'rank_0' / 'om' / 'analyze_fail.ir')
    assert f"{work_dir}/rank_0/om/analyze_fail.ir" in message
    assert after != str(work_dir) and os.listdir(cwd) == []


def test_a_training_run_whose_graph_fails_dumps_into_its_work_dir(tiny_demo, tmp_path):
    """The head's width forced past the plan's check: Model.fit fails to compile."""
    work_dir = tmp_path / 'wd'
    body = f"""
from conftest import tiny_cfg
from ms_cls.engine.trainer import run
from ms_cls.plan import build_plan
plan = build_plan(tiny_cfg({tiny_demo!r}, **{{'runner.max_epochs': 1}}), {str(work_dir)!r})
plan.net.head.in_channels = 7
plan.net.head.reset(plan.net.head.num_classes)
try:
    run(plan)
except (ValueError, RuntimeError, TypeError) as err:
    print(json.dumps(str(err)))
"""
    body = f"sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})\n" + body
    message, cwd = run_failing(tmp_path, body)
    assert f"{work_dir}/rank_0/om/analyze_fail.ir" in message
    assert os.path.isfile(work_dir / 'rank_0' / 'om' / 'analyze_fail.ir')
    assert os.listdir(cwd) == []


def test_an_exported_ms_om_path_is_the_users_choice(tmp_path):
    mine = tmp_path / 'mine'
    out, cwd = run_failing(tmp_path, f"with graph_dumps_in({str(tmp_path / 'wd')!r}):\n"
                                     "    fail()\nprint(json.dumps(os.environ['MS_OM_PATH']))",
                           env={'MS_OM_PATH': str(mine)})
    assert out == str(mine) and os.path.isfile(mine / 'rank_0' / 'om' / 'analyze_fail.ir')
    assert not (tmp_path / 'wd').exists() and os.listdir(cwd) == []
