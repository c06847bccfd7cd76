"""Data-parallel runs: which process this is, and sums over all processes.

A run is data parallel when MindSpore's launcher ``msrun`` started this process (it exports
``MS_ROLE=MS_WORKER`` and ``MS_WORKER_NUM``; ``ms_cls.launch`` runs it). Then
``mindspore.communication.init()`` joins the group, ``DATA_PARALLEL`` with ``gradients_mean``
makes every step average the gradients of all processes, and :class:`Cluster` says which share
of the data is this process's. Rank 0 writes the run's files; the others write none.

The sums go through a compiled ``AllReduce``: ``comm_func.all_reduce`` fails on CPU in
MindSpore 2.10 ("Create kernelmod for op InnerCommAllReduce failed").
"""
import os
from dataclasses import dataclass

import numpy as np

#: The environment msrun gives the processes it starts: workers, and one scheduler that runs the
#: same script but only serves the group inside ``init()``.
ROLE = 'MS_ROLE'
WORKER, SCHEDULER = 'MS_WORKER', 'MS_SCHED'
MSRUN_WORKERS = 'MS_WORKER_NUM'

_SUM_CELL = None
_JOINED = None


def launched_by_msrun(environ=None):
    """Whether msrun started this process (as a worker or as the scheduler)."""
    environ = os.environ if environ is None else environ
    return environ.get(ROLE) in (WORKER, SCHEDULER) and MSRUN_WORKERS in environ


@dataclass(frozen=True)
class Cluster:
    """The processes of a run: ``size`` of them, this one is ``rank`` (0: the one that writes)."""
    rank: int = 0
    size: int = 1

    @property
    def main(self):
        return self.rank == 0

    @property
    def parallel(self):
        return self.size > 1

    def all_sum(self, values):
        """The element-wise sum of ``values`` over all processes (float64 out; exact for counts
        below 2**24, which AllReduce's float32 keeps)."""
        values = np.asarray(values, dtype=np.float64)
        if not self.parallel or values.size == 0:
            return values
        import mindspore as ms
        return _sum_cell()(ms.Tensor(values.astype(np.float32))).asnumpy().astype(np.float64)

    def barrier(self):
        """Return only once every process got here (a sum waits for all)."""
        self.all_sum(np.zeros(1))

    def shard(self, items):
        """This process's share of ``items`` when each is handled by one process only
        (interleaved, so shares differ in length by one at most)."""
        return items[self.rank::self.size]


def _sum_cell():
    global _SUM_CELL
    if _SUM_CELL is None:
        from mindspore import nn, ops

        class AllSum(nn.Cell):
            def __init__(self):
                super().__init__()
                self.reduce = ops.AllReduce()

            def construct(self, x):
                return self.reduce(x)

        _SUM_CELL = AllSum()
    return _SUM_CELL


def join_cluster():
    """-> the Cluster of this process: under msrun, join the group and switch MindSpore to data
    parallel (gradients averaged over processes); otherwise a single process. Runs once per
    process (a second run in the same process keeps the group)."""
    global _JOINED
    if _JOINED is not None:
        return _JOINED
    if not launched_by_msrun():
        return Cluster()
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init
    init()
    if os.environ[ROLE] == SCHEDULER:   # the group has ended; the scheduler trains nothing
        raise SystemExit(0)
    size = get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL,
                                 gradients_mean=True, device_num=size)
    _JOINED = Cluster(rank=get_rank(), size=size)
    return _JOINED
