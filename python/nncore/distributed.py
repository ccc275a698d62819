"""Data-parallel training over processes and machines, on MPI (``pip install "nncore[mpi]"``: mpi4py and the MPICH
runtime wheel; on a cluster, mpi4py built against the site's MPI).

Launch the script the way MPI programs are launched, one process ("rank") per core or per machine::

    mpiexec -n 4 python train.py               # one machine, 4 processes
    mpiexec -n 8 -hosts a,b python train.py    # two machines (MPICH; Open MPI: --host a:4,b:4)
    srun -n 8 python train.py                  # under SLURM

and opt in with one line before the model is built::

    import nncore
    nncore.distributed.init()
    model = ...; model.compile(...)
    model.fit(x_train, y_train, batch_size=32, epochs=10)   # every rank runs the same script

Then ``fit`` (on arrays) broadcasts rank 0's weights when it starts, gives each rank its part of every global batch
of ``size() * batch_size`` samples (one shuffled order, the same on every rank: ``x`` and ``y`` are the whole data
set on every rank), averages the gradients over the global batch at every step inside the C++ loop (one
allreduce of one contiguous buffer, before the optimizer's step), averages BatchNormalization's moving statistics,
and averages the epoch's losses, metrics and validation results (each rank evaluates its part of the validation
data) so every rank's History and callbacks (EarlyStopping, ReduceLROnPlateau) see the same numbers and stop
together. Progress is printed by rank 0; ``ModelCheckpoint``, ``BackupAndRestore``, ``CSVLogger``, ``TensorBoard``,
``model.save`` and ``save_weights`` write on rank 0 only.

``init(data="local")`` instead: each rank passes its own part of the data (loaded on its own) and shuffles it on
its own; an epoch lasts as many steps as the largest part needs (ranks whose part ran out take part with no
samples), and validation data is each rank's own too.

A global batch of ``size() * batch_size`` samples wants a larger learning rate: ``scaled_learning_rate`` gives the
rule of Goyal et al. (2017), the rate times ``size()`` reached by a linear warm-up; it is not applied silently.

If a rank dies, MPI's launcher ends the others (mpiexec reports the failed rank); a rank that waits in a collective
longer than ``timeout`` seconds (default 600, or ``NNCORE_DISTRIBUTED_TIMEOUT``) prints which and aborts the job
rather than hang. Checkpoints written by rank 0 stay whole (writes are atomic); resume with ``BackupAndRestore`` or
``initial_epoch``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Optional

import numpy as np

from . import _core

__all__ = ["init", "initialized", "rank", "size", "local_rank", "barrier", "is_main", "scaled_learning_rate",
           "shutdown"]

_state: Optional["_State"] = None


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as exc:  # no mpi4py, or mpi4py without an MPI library to load
        raise ImportError("nncore.distributed needs mpi4py and an MPI runtime: pip install \"nncore[mpi]\" (mpi4py "
                          f"and the MPICH wheel), or on a cluster mpi4py built against the site's MPI ({exc})") from exc
    return MPI


class _Watchdog:
    """Aborts the job when this rank has waited in one collective for longer than `timeout` seconds (a rank that
    stopped answering without MPI noticing), instead of hanging forever."""

    def __init__(self, comm: Any, timeout: float) -> None:
        self.comm, self.timeout = comm, timeout
        self.what: Optional[str] = None
        self.since = 0.0
        threading.Thread(target=self._watch, name="nncore-distributed-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            what, since = self.what, self.since
            if what is not None and time.monotonic() - since > self.timeout:
                sys.stderr.write(f"nncore.distributed: rank {self.comm.Get_rank()} waited {self.timeout:g} s in "
                                 f"{what} for the other ranks (one died or left fit early?); aborting the job\n")
                sys.stderr.flush()
                # MPI_Abort makes the launcher kill every process at once; a line still in the pipe to it is lost
                # (MPICH's mpiexec: ~1 run in 12 printed nothing). Give it a moment to pass the message on first.
                time.sleep(0.5)
                self.comm.Abort(1)

    def __call__(self, what: str) -> "_Watchdog":
        self.what, self.since = what, time.monotonic()
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        self.what = None


_watchdogs: dict = {}  # one per communicator, for the process's life (init may be called again)


class _MpiReducer(_core.GradientReducer):
    """nncore's GradientReducer over an MPI communicator: the C++ fit calls these with views of its buffers."""

    def __init__(self, comm: Any, timeout: float) -> None:
        super().__init__()
        self._MPI = _mpi()
        self.comm = comm
        self._rank, self._size = comm.Get_rank(), comm.Get_size()
        if id(comm) not in _watchdogs:
            _watchdogs[id(comm)] = _Watchdog(comm, timeout)
        self._watch = _watchdogs[id(comm)]
        self._watch.timeout = timeout
        self.seconds = 0.0  # time spent in allreduce (for benchmarks)
        self.calls = 0

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def allreduce(self, buf: np.ndarray) -> None:
        t0 = time.perf_counter()
        with self._watch("allreduce"):
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        self.seconds += time.perf_counter() - t0
        self.calls += 1

    def broadcast(self, buf: np.ndarray, root: int) -> None:
        with self._watch("broadcast"):
            self.comm.Bcast(buf, root=root)


class _State:
    def __init__(self, comm: Any, data: str, timeout: float) -> None:
        MPI = _mpi()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        self.data = data
        self.reducer = _MpiReducer(comm, timeout) if self.size > 1 else None


def init(data: str = "global", timeout: Optional[float] = None, comm: Any = None) -> None:
    """Joins the MPI job (``mpi4py`` initializes MPI) and turns on data-parallel ``fit``. ``data``: ``"global"``
    (every rank passes the whole arrays; fit shards them) or ``"local"`` (each rank passes its own part).
    ``timeout``: seconds a rank may wait in one collective before it aborts the job (default 600, or the
    environment's ``NNCORE_DISTRIBUTED_TIMEOUT``). ``comm``: an mpi4py communicator (default ``COMM_WORLD``).
    Calling it again changes the settings. Under one process (no mpiexec) everything runs as before."""
    global _state
    if data not in ("global", "local"):
        raise ValueError(f"nncore.distributed.init: data must be 'global' (the whole arrays on every rank) or "
                         f"'local' (each rank's own part), got {data!r}")
    if timeout is None:
        timeout = float(os.environ.get("NNCORE_DISTRIBUTED_TIMEOUT", "600"))
    if not timeout > 0:
        raise ValueError(f"nncore.distributed.init: timeout must be > 0 seconds, got {timeout!r}")
    MPI = _mpi()
    _state = _State(comm if comm is not None else MPI.COMM_WORLD, data, float(timeout))


def initialized() -> bool:
    return _state is not None


def shutdown() -> None:
    """Turns data-parallel fit off again (the MPI job itself ends with the process)."""
    global _state
    _state = None


def rank() -> int:
    """This process's rank (0 without init)."""
    return _state.rank if _state is not None else 0


def size() -> int:
    """The number of ranks (1 without init)."""
    return _state.size if _state is not None else 1


def local_rank() -> int:
    """This process's rank among those on its machine (0 without init)."""
    return _state.local_rank if _state is not None else 0


def is_main() -> bool:
    """Whether this is rank 0, the one that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    """Waits until every rank gets here."""
    if _state is not None:
        _state.comm.Barrier()


def scaled_learning_rate(learning_rate: float, warmup_steps: int = 0, decay_steps: Optional[int] = None) -> Any:
    """Goyal et al. (2017)'s rule for a global batch ``size()`` times larger: ``learning_rate * size()``, reached
    from ``learning_rate`` by a linear warm-up over ``warmup_steps`` optimizer steps (they warm up over 5 epochs:
    ``5 * steps_per_epoch``), then constant, or decayed to 0 by a cosine over ``decay_steps``. Returns a float
    (no warm-up) or a schedule to pass as the optimizer's ``learning_rate``::

        steps = math.ceil(len(x) / (32 * nncore.distributed.size()))
        opt = nncore.optimizers.SGD(nncore.distributed.scaled_learning_rate(0.1, warmup_steps=5 * steps))
    """
    lr = float(learning_rate)
    if not lr > 0:
        raise ValueError(f"scaled_learning_rate: learning_rate must be > 0, got {learning_rate!r}")
    target = lr * size()
    if warmup_steps < 0 or (decay_steps is not None and decay_steps < 1):
        raise ValueError(f"scaled_learning_rate: warmup_steps must be >= 0 and decay_steps >= 1, got {warmup_steps}, "
                         f"{decay_steps}")
    if warmup_steps == 0 and decay_steps is None:
        return target
    from .schedules import CosineDecay
    return CosineDecay(lr, decay_steps=decay_steps or 1, alpha=0.0 if decay_steps else 1.0,
                       warmup_target=target if warmup_steps else None, warmup_steps=int(warmup_steps))


def _fit_args() -> dict:
    """What fit passes the C++ loop: the reducer (None when alone) and the sharding."""
    if _state is None or _state.reducer is None:
        return {}
    return {"reducer": _state.reducer, "local_data": _state.data == "local"}


def _writes() -> bool:
    """Whether this process writes files (saves, checkpoints, logs): rank 0, or any process without init."""
    return is_main()
