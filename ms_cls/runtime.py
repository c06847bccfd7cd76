"""Process-wide MindSpore setup: quiet logs, a fast oneDNN path on CPU, graph dumps kept out of
the current folder, device and mode choice.

``prepare_environment`` must run before MindSpore is imported (``ms_cls/__init__.py`` calls it),
because GLOG_v and ONEDNN_MAX_CPU_ISA are read once, at import or at the first convolution.
"""
import atexit
import contextlib
import os
import secrets
import shutil
import tempfile

from .errors import ConfigError

#: Set by prepare_environment() when ms_cls chose ONEDNN_MAX_CPU_ISA itself (reported once on CPU).
_ONEDNN_SET_BY_US = False

#: A graph that fails to compile makes MindSpore 2.10 write ``rank_0/om/analyze_fail.ir`` under
#: this variable's folder, the current one when unset (``save_graphs_path`` and
#: MS_DEV_SAVE_GRAPHS_PATH do not move it). It is read when the dump is written.
GRAPH_DUMPS = 'MS_OM_PATH'
_DUMPS_PREFIX = 'ms_cls-graphs-'
#: The user's own MS_OM_PATH (exported before ms_cls was imported), which ms_cls never changes.
_USER_GRAPH_DUMPS = None

ONEDNN_NOTE = ("ONEDNN_MAX_CPU_ISA=AVX2 set by ms_cls: oneDNN's default path made ResNet training "
               "steps 10-100x slower on AVX-512/AMX CPUs (benchmarks/onednn_isa.py). Export "
               "ONEDNN_MAX_CPU_ISA yourself (e.g. =ALL) to override.")


def prepare_environment():
    """Defaults a user can override by exporting the variable first."""
    global _ONEDNN_SET_BY_US
    os.environ.setdefault('GLOG_v', '3')             # MindSpore C++ logs: errors only
    os.environ.setdefault('GLOG_logtostderr', '1')
    os.environ.setdefault('MS_SUBMODULE_LOG_v', '{ME:3}')
    if 'ONEDNN_MAX_CPU_ISA' not in os.environ:
        os.environ['ONEDNN_MAX_CPU_ISA'] = 'AVX2'
        _ONEDNN_SET_BY_US = True
    _temporary_graph_dumps()


def _temporary_graph_dumps():
    """Unless the user exported MS_OM_PATH, compile-failure dumps go to a folder in the system
    temp dir, made only if MindSpore dumps and removed when the process exits: evaluation,
    prediction and export have no work dir, and the current folder is the user's. A value
    inherited from a parent ms_cls process is replaced by this process's own."""
    global _USER_GRAPH_DUMPS
    inherited = os.environ.get(GRAPH_DUMPS)
    if inherited and not os.path.basename(inherited).startswith(_DUMPS_PREFIX):
        _USER_GRAPH_DUMPS = inherited
        return
    folder = os.path.join(tempfile.gettempdir(), _DUMPS_PREFIX + secrets.token_hex(8))
    os.environ[GRAPH_DUMPS] = folder
    atexit.register(shutil.rmtree, folder, True)


@contextlib.contextmanager
def graph_dumps_in(folder):
    """Within the block, compile-failure dumps go to ``folder`` (a training run's work dir,
    where they are kept next to its log), unless the user exported MS_OM_PATH."""
    previous = os.environ.get(GRAPH_DUMPS)
    if _USER_GRAPH_DUMPS is None:
        os.environ[GRAPH_DUMPS] = os.path.abspath(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(GRAPH_DUMPS, None)
        else:
            os.environ[GRAPH_DUMPS] = previous


def onednn_note():
    """The one log line to print when training on CPU with the ISA chosen by ms_cls, else None."""
    return ONEDNN_NOTE if _ONEDNN_SET_BY_US else None


def available_device():
    """Ascend > GPU > CPU, whichever this MindSpore build can use."""
    import mindspore as ms
    for target in ('Ascend', 'GPU'):
        try:
            if ms.hal.is_available(target):
                return target
        except (RuntimeError, ValueError):
            continue
    return 'CPU'


def init_context(device_target='auto', mode='graph', seed=None, deterministic=False):
    """Select device and execution mode; returns the device target actually used.
    ``deterministic`` (mmcls's flag) makes MindSpore's kernels deterministic, slower."""
    import mindspore as ms
    modes = {'graph': ms.GRAPH_MODE, 'pynative': ms.PYNATIVE_MODE}
    if mode not in modes:
        raise ConfigError(f"mode={mode!r} is not valid; use 'graph' or 'pynative'.")
    targets = ('auto', 'Ascend', 'GPU', 'CPU')
    if device_target not in targets:
        raise ConfigError(f"device_target={device_target!r} is not valid; use one of {targets}.")
    target = available_device() if device_target == 'auto' else device_target
    ms.set_context(mode=modes[mode])
    try:
        ms.set_device(target)
    except RuntimeError:
        # the runtime is already up in this process (an earlier run or computation)
        current = ms.get_context('device_target')
        if current != target:
            raise ConfigError(f"MindSpore already runs on {current} in this process; "
                              f"device_target={target!r} must be chosen before the first "
                              "computation.") from None
    if not isinstance(deterministic, bool):
        raise ConfigError(f"deterministic={deterministic!r}: use True or False.")
    if deterministic:
        ms.set_deterministic(True)
    if seed is not None:
        ms.set_seed(seed)
        ms.dataset.config.set_seed(seed)
    return target


def resolve_amp_level(amp_level, device_target):
    """'auto' = O2 on Ascend/GPU; O0 on CPU, where mixed precision runs slower than fp32."""
    valid = ('auto', 'O0', 'O1', 'O2', 'O3')
    if amp_level not in valid:
        raise ConfigError(f"amp_level={amp_level!r} is not valid; use one of {valid}.")
    if amp_level == 'auto':
        return 'O0' if device_target == 'CPU' else 'O2'
    return amp_level
