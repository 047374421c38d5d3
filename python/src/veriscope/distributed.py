"""Distributed runs (torchrun / DDP / SLURM): who emits, what is reported, how ranks agree.

Owns:
- :class:`DistContext`: world size, rank, local rank, backend and whether a
  ``torch.distributed`` process group is up, from torch when it is initialized, else from
  the launch environment (``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; SLURM's
  ``SLURM_NTASKS``/``SLURM_PROCID``/``SLURM_LOCALID`` inside an ``srun`` task), and the
  hello ``distributed`` payload (contract_v1 §Distributed execution).
- :func:`reduce_snapshot`: ONE all-reduce per metric snapshot that turns every rank's
  measurements into the global sample rank 0 streams, and carries rank 0's stop flag (the
  wrapper's ``--on-fail stop`` decision) to every rank, so all ranks stop after the same
  step (field_survey §2.5: a stop that is not all-reduced hangs the other ranks). It also
  carries each rank's SIGTERM/SIGINT (:mod:`veriscope.interrupt`): a signal seen by any rank
  stops every rank at the same snapshot.
- :func:`inherited_fd`: the wrapper's pipe fds in a worker whose launcher closed them
  (torch elastic starts workers with ``close_fds=True``): reopened through the launcher's
  ``/proc/<pid>/fd/<n>``.

Chief = rank 0. Only the chief opens the metrics stream and the control channel.
"""

from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .interrupt import HANDLED_SIGNALS

MODES = ("single_process", "replicated_single_chief_emit", "ddp_wrapped")
#: Scalars averaged over ranks in a snapshot (order is the wire order of the all-reduce).
REDUCED_FIELDS = ("var_out_k", "eff_dim", "rankme", "cos_disp", "loss", "ewma_loss", "grad_norm")
#: Non-finite counters summed over ranks.
COUNTERS = ("loss", "grad", "hidden", "metrics")
#: Signals whose arrival on some rank is agreed in a snapshot (one slot each; the first
#: listed wins when ranks saw different ones): SIGTERM, SIGINT.
INTERRUPT_SIGNALS = HANDLED_SIGNALS


def _env_int(env: Mapping[str, str], key: str) -> Optional[int]:
    text = env.get(key, "").strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def env_world(env: Optional[Mapping[str, str]] = None) -> Tuple[int, int, Optional[int]]:
    """``(world_size, rank, local_rank)`` the launch environment announces.

    torchrun variables win; SLURM's are read only inside a task (``SLURM_PROCID`` set),
    since an ``salloc`` shell exports ``SLURM_NTASKS`` while running one process.
    """
    env = os.environ if env is None else env
    task = _env_int(env, "SLURM_PROCID") is not None
    slurm = (lambda k: _env_int(env, k)) if task else (lambda k: None)
    world = _env_int(env, "WORLD_SIZE")
    if world is None:
        world = slurm("SLURM_NTASKS") or slurm("SLURM_NPROCS") or 1
    rank = _env_int(env, "RANK")
    if rank is None:
        rank = slurm("SLURM_PROCID") or 0
    local = _env_int(env, "LOCAL_RANK")
    if local is None:
        local = slurm("SLURM_LOCALID")
    return max(1, world), rank, local


def env_rank(env: Optional[Mapping[str, str]] = None) -> int:
    """This process's rank per the launch environment (0 outside a distributed launch)."""
    return env_world(env)[1]


def _torch_dist() -> Any:
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    return dist if dist.is_available() and dist.is_initialized() else None


@dataclass(frozen=True)
class DistContext:
    """The distributed facts of this process."""

    world_size: int = 1
    rank: int = 0
    local_rank: Optional[int] = None
    backend: Optional[str] = None
    initialized: bool = False  # a torch.distributed process group is up

    @classmethod
    def detect(cls, env: Optional[Mapping[str, str]] = None) -> "DistContext":
        """From ``torch.distributed`` when a process group is initialized, else from env."""
        world, rank, local = env_world(env)
        dist = _torch_dist()
        if dist is None:
            return cls(world_size=world, rank=rank, local_rank=local)
        return cls(
            world_size=dist.get_world_size(),
            rank=dist.get_rank(),
            local_rank=local,
            backend=str(dist.get_backend()),
            initialized=True,
        )

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Collectives are usable (``ddp_is_active()``: initialized AND world > 1)."""
        return self.initialized and self.world_size > 1

    @property
    def mode(self) -> str:
        if self.world_size <= 1:
            return "single_process"
        return "ddp_wrapped" if self.active else "replicated_single_chief_emit"

    def payload(self) -> Dict[str, Any]:
        """The hello ``distributed`` object (``run_started_v1.payload.distributed``)."""
        return {
            "distributed_mode": self.mode,
            "world_size_observed": self.world_size,
            "backend": self.backend,
            "rank": self.rank,
            "local_rank": self.local_rank,
            "ddp_wrapped": self.active,
        }


def _finite(x: Any) -> Optional[float]:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@dataclass
class ReducedSnapshot:
    """The global view of one snapshot after the all-reduce."""

    values: Dict[str, Optional[float]]  # mean over ranks; None unless every rank had a finite value
    spread: Dict[str, Optional[float]]  # standard deviation over ranks (None when not all finite)
    counters: Dict[str, int]  # non-finite counts summed over ranks
    stop: bool  # some rank (the chief) asked to stop
    allreduce_ms: float
    interrupt: Optional[int] = None  # the signal some rank was interrupted by (SIGTERM wins)


def pack_snapshot(
    values: Mapping[str, Any], counters: Mapping[str, int], stop: bool, interrupt: Optional[int] = None
) -> List[float]:
    """This rank's contribution: per field (value, value², finite flag), counters, stop flag,
    then one flag per :data:`INTERRUPT_SIGNALS` (1 for the signal this rank was interrupted by)."""
    if interrupt is not None and interrupt not in INTERRUPT_SIGNALS:
        raise ValueError(f"interrupt signal {interrupt} is not one of {INTERRUPT_SIGNALS}")
    out: List[float] = []
    for name in REDUCED_FIELDS:
        v = _finite(values.get(name))
        out += [0.0, 0.0, 0.0] if v is None else [v, v * v, 1.0]
    out += [float(counters.get(k, 0)) for k in COUNTERS]
    out.append(1.0 if stop else 0.0)
    out += [1.0 if interrupt == sig else 0.0 for sig in INTERRUPT_SIGNALS]
    return out


def unpack_snapshot(summed: Sequence[float], world: int, ms: float = 0.0) -> ReducedSnapshot:
    """The global snapshot from the element-wise SUM of every rank's :func:`pack_snapshot`."""
    values: Dict[str, Optional[float]] = {}
    spread: Dict[str, Optional[float]] = {}
    for i, name in enumerate(REDUCED_FIELDS):
        total, squares, n = summed[3 * i], summed[3 * i + 1], int(round(summed[3 * i + 2]))
        if n == world:
            mean = total / world
            values[name] = mean
            spread[name] = math.sqrt(max(0.0, squares / world - mean * mean))
        else:  # a rank without a finite value: the gate must see "not measurable"
            values[name] = None
            spread[name] = None
    base = 3 * len(REDUCED_FIELDS)
    counts = {k: int(round(summed[base + j])) for j, k in enumerate(COUNTERS)}
    stop_at = base + len(COUNTERS)
    flags = summed[stop_at + 1 : stop_at + 1 + len(INTERRUPT_SIGNALS)]
    interrupt = next((sig for sig, n in zip(INTERRUPT_SIGNALS, flags) if n > 0.5), None)
    return ReducedSnapshot(values, spread, counts, summed[stop_at] > 0.5, ms, interrupt)


def reduce_snapshot(
    values: Mapping[str, Any],
    counters: Mapping[str, int],
    stop: bool,
    device: Any = None,
    interrupt: Optional[int] = None,
) -> ReducedSnapshot:
    """ONE all-reduce (SUM, float64, 3·F+C+1+S = 28 numbers) over the default process group:
    every rank must call it at the same step. Means, across-rank standard deviations,
    non-finite counts, the stop flag and the interrupt flags (``interrupt``: the signal this
    rank saw, if any) all come out of the same collective."""
    import torch
    import torch.distributed as dist

    world = dist.get_world_size()
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t0 = time.perf_counter()
    buf = torch.tensor(pack_snapshot(values, counters, stop, interrupt), dtype=torch.float64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    summed = buf.tolist()
    return unpack_snapshot(summed, world, (time.perf_counter() - t0) * 1e3)


def broadcast_flag(flag: bool, src: int = 0) -> bool:
    """Rank ``src``'s boolean on every rank (one tiny broadcast)."""
    import torch
    import torch.distributed as dist

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.broadcast(t, src=src)
    return bool(t.item())


# -- the wrapper's pipes in a launcher's worker ------------------------------------------


def teardown_process_group() -> None:
    """Destroys the default process group once every rank has reached this point.

    Ranks leave training after the same step (stops are agreed in the snapshot all-reduce)
    but arrive here at different moments. With gloo, a rank that destroys its group while
    its peer is still finishing was seen to abort inside gloo's teardown (SIGABRT,
    "terminate called without an active exception", about 1 run in 16 of the stop test under
    load), which turns a completed run into a failed torchrun. A barrier first lines the
    ranks up. If a peer is gone the barrier raises; the group is then left to process exit.
    """
    dist = _torch_dist()
    if dist is None:
        return
    try:
        dist.barrier()
    except Exception:  # noqa: BLE001 - a dead peer: nothing left to line up with
        return
    dist.destroy_process_group()


def exit_process(code: int) -> None:
    """Ends a launcher's worker with ``code`` without Python's interpreter teardown.

    After :func:`teardown_process_group` everything the run owes (stream ``end`` line,
    checkpoints, reports) is written; what is left is finalization, where gloo's background
    threads have been seen to abort a finished worker ("terminate called without an active
    exception", SIGABRT) and so fail a completed torchrun. Outside a launcher (world size
    1) this is a plain ``sys.exit``.
    """
    import sys

    if env_world()[0] <= 1:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _proc_environ(pid: int) -> Dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return {}
    out: Dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def _launcher_ancestors(env: Mapping[str, str], limit: int = 8) -> Sequence[int]:
    """Ancestor pids, nearest first, that were started by the same wrapper for the same
    run: their environment carries our ``VERISCOPE_RUN_ID`` and fd announcements. The walk
    stops at the first one that does not (the wrapper itself, whose fd numbers mean
    something else)."""
    want = {k: env.get(k) for k in ("VERISCOPE_RUN_ID", "VERISCOPE_METRICS_FD", "VERISCOPE_CONTROL_FD")}
    pids, pid = [], os.getppid()
    while pid > 1 and len(pids) < limit:
        theirs = _proc_environ(pid)
        if not theirs or any(theirs.get(k) != v for k, v in want.items()):
            break
        pids.append(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                pid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _fifo_mode_ok(st_mode: int, flags: int, write: bool) -> bool:
    acc = flags & os.O_ACCMODE
    return stat.S_ISFIFO(st_mode) and (acc in (os.O_WRONLY, os.O_RDWR) if write else acc in (os.O_RDONLY, os.O_RDWR))


def _own_fd_ok(fd: int, write: bool) -> bool:
    import fcntl

    try:
        st = os.fstat(fd)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return False
    return _fifo_mode_ok(st.st_mode, flags, write)


def _proc_fd_flags(pid: int, fd: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def launched_by_elastic(env: Optional[Mapping[str, str]] = None) -> bool:
    """A torch elastic (torchrun) worker: its launcher closed every inherited fd."""
    env = os.environ if env is None else env
    return any(k.startswith("TORCHELASTIC_") for k in env)


def inherited_fd(fd: int, write: bool, env: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """An fd on the wrapper's pipe announced as ``fd``, or ``None``.

    A direct child of the wrapper inherited ``fd`` itself (it must be a FIFO open for the
    right direction). A torch elastic worker did not (torchrun starts workers with
    ``close_fds=True``, so its own ``fd`` is absent or something else): the launcher
    process, an ancestor, still holds the wrapper's pipe under that number, and Linux lets
    a process of the same user reopen it through ``/proc/<pid>/fd/<fd>``. Only ancestors
    the same wrapper started for the same run are searched (:func:`_launcher_ancestors`).
    """
    env = os.environ if env is None else env
    if not launched_by_elastic(env) and _own_fd_ok(fd, write):
        return fd
    for pid in _launcher_ancestors(env):
        flags = _proc_fd_flags(pid, fd)
        if flags is None:
            continue
        path = f"/proc/{pid}/fd/{fd}"
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not _fifo_mode_ok(st.st_mode, flags, write):
            continue
        try:
            return os.open(path, (os.O_WRONLY if write else os.O_RDONLY | os.O_NONBLOCK) | os.O_CLOEXEC)
        except OSError:
            continue
    return None
