"""Start a data-parallel run with MindSpore's launcher: ``scripts/train.py CONFIG --msrun N``.

This process runs ``msrun`` with N workers on this machine (``NNODES`` machines: N on each),
each worker running ``scripts/train.py`` with the same arguments; ``ms_cls.distributed`` makes
them one data-parallel run. msrun's and every worker's console output go to
``<work_dir>/msrun_<time>/`` (a new folder per launch, so an earlier launch's logs are kept);
rank 0's is also shown here.

Ctrl-C or SIGTERM here is passed to the workers as SIGTERM: rank 0 stops after its step and
writes ``recovery.ckpt`` (the other ranks let the signal pass, see ``engine.resume``). msrun
itself is started in its own session, because on SIGINT it SIGKILLs every worker at once.
"""
import os
import signal
import socket
import subprocess
import sys
import time

from .errors import ConfigError, UserError
from .workdir import check_free, check_work_dir

#: Multi-node settings, read from the environment as torch's and mmcls's launchers do.
NODE_VARS = ('NNODES', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT')
LOG_PREFIX = 'msrun_'


class LaunchFailed(UserError):
    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


def free_port():
    """A TCP port free on this machine now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _int_var(environ, name, default, low):
    value = environ.get(name, str(default))
    if not value.isdigit() or int(value) < low:
        raise ConfigError(f"environment variable {name}={value!r}: expected an integer >= {low}.")
    return int(value)


def msrun_command(workers, worker_argv, log_dir, environ):
    """The msrun command line for ``workers`` processes on this machine, each running
    ``worker_argv``. NNODES > 1 needs MASTER_ADDR and MASTER_PORT (the machine with
    NODE_RANK=0, where msrun's scheduler listens) on every machine."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--msrun {workers!r}: give the number of worker processes on this "
                          "machine (one per GPU or NPU), e.g. --msrun 8.")
    nodes = _int_var(environ, 'NNODES', 1, 1)
    node_rank = _int_var(environ, 'NODE_RANK', 0, 0)
    if node_rank >= nodes:
        raise ConfigError(f"NODE_RANK={node_rank} with NNODES={nodes}: use 0..{nodes - 1}.")
    if nodes > 1 and not (environ.get('MASTER_ADDR') and environ.get('MASTER_PORT')):
        raise ConfigError(f"NNODES={nodes}: set MASTER_ADDR and MASTER_PORT to the address and a "
                          "free port of the NODE_RANK=0 machine, the same on every machine.")
    port = _int_var(environ, 'MASTER_PORT', 0, 1) if environ.get('MASTER_PORT') else free_port()
    command = [sys.executable, '-m', 'mindspore.parallel.cluster.run',
               f'--worker_num={workers * nodes}', f'--local_worker_num={workers}',
               f"--master_addr={environ.get('MASTER_ADDR', '127.0.0.1')}",
               f'--master_port={port}', f'--node_rank={node_rank}', f'--log_dir={log_dir}',
               '--join=True']
    if node_rank == 0:
        command.append('--tail_worker_log=0')   # rank 0's lines here; the others' in log_dir
    return command + list(worker_argv)


def without_option(argv, option):
    """``argv`` without ``option`` and its value (``--opt N`` or ``--opt=N``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + '='):
            out.append(arg)
    return out


def _workers_of(pid):
    """The pids of msrun's worker processes (its children with MS_ROLE=MS_WORKER)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', encoding='utf-8') as f:
                parent = int(f.read().rsplit(')', 1)[1].split()[1])
            if parent != pid:
                continue
            with open(f'/proc/{entry}/environ', 'rb') as f:
                if b'MS_ROLE=MS_WORKER' in f.read().split(b'\0'):
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def launch(workers, script, argv, work_dir, environ=None):
    """Run ``script argv`` in ``workers`` data-parallel processes under msrun; a failure or a
    signal raises LaunchFailed with the exit code to end with."""
    check_work_dir(work_dir)
    check_free(work_dir)   # rank 0 locks it; a held work dir gets no msrun_ folder
    environ = dict(os.environ if environ is None else environ)
    log_dir = os.path.join(work_dir, LOG_PREFIX + time.strftime('%Y%m%d_%H%M%S'))
    while os.path.exists(log_dir):
        log_dir += '_'
    # msrun starts workers as `python SCRIPT ...` (any other first word is run with `python`
    # too): the PATH makes that this interpreter
    environ['PATH'] = os.pathsep.join([os.path.dirname(sys.executable), environ.get('PATH', '')])
    command = msrun_command(workers, ['python', script] + without_option(argv, '--msrun'),
                            log_dir, environ)
    os.makedirs(log_dir)
    print(f"msrun: {workers} worker(s) on this machine; logs in {log_dir}", flush=True)
    with open(os.path.join(log_dir, 'msrun.log'), 'w', encoding='utf-8') as msrun_log:
        process = subprocess.Popen(command, env=environ, stderr=msrun_log,
                                   start_new_session=True)
        signals = []

        def stop(signum, _frame):
            signals.append(signum)
            if len(signals) == 1:
                print(f"\nmsrun: {signal.Signals(signum).name}: asking the workers to stop after "
                      "this step (again to kill them now)", flush=True)
                for pid in _workers_of(process.pid):
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            else:
                process.send_signal(signal.SIGINT)   # msrun then kills every worker

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if code == 0:
        return
    said = rank0_error(log_dir)
    said = f"rank 0: {said}\n" if said else ''
    if signals:
        raise LaunchFailed(f"{said}stopped by {signal.Signals(signals[0]).name}; every worker's "
                           f"log is in {log_dir}.", 128 + signals[0])
    raise LaunchFailed(f"{said}the data-parallel run failed (msrun exit code {code}); every "
                       f"worker's log is in {log_dir} (worker_<rank>.log, msrun's own in "
                       "msrun.log).", code)


def rank0_error(log_dir):
    """Rank 0's last 'ERROR: ...' line (what ms_cls told the user), or None. msrun stops
    showing rank 0's log as soon as a worker fails, often before that line."""
    path = os.path.join(log_dir, 'worker_0.log')
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            found = [line.strip() for line in f if line.startswith('ERROR: ')]
    except OSError:
        return None
    return found[-1][len('ERROR: '):] if found else None
