"""Runner side of the metrics stream protocol v1 (docs/metrics-stream.md).

Owns: encoding ``hello`` / ``sample`` / ``end`` lines and writing each with a single
``write`` to the wrapper's pipe (``VERISCOPE_METRICS_FD``) or, when that fd is not
open, appending to ``VERISCOPE_METRICS_PATH``; reading gate decisions from the
optional control pipe (``VERISCOPE_CONTROL_FD``) without blocking; the runner-side
loss EWMA the gate's gain channel expects.

Does not own: any gate logic. The gate runs in the wrapper (architecture.md,
"Processes"); a runner only reports what it measured.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional

from .distributed import env_rank, inherited_fd

PROTOCOL_VERSION = 1
#: Metrics the gate's window declaration uses (algorithm.md §3.1).
GATE_METRICS = ("var_out_k", "eff_dim", "rankme", "cos_disp")
#: The wrapper drops lines over 1 MiB (docs/metrics-stream.md §Errors).
MAX_LINE_BYTES = 1 << 20
#: EWMA weight of the newest loss (docs/metrics-stream.md, `ewma_loss`).
EWMA_ALPHA = 0.1

ENV_METRICS_FD = "VERISCOPE_METRICS_FD"
ENV_METRICS_PATH = "VERISCOPE_METRICS_PATH"
ENV_CONTROL_FD = "VERISCOPE_CONTROL_FD"
#: hello fields written even when ``None`` (``"resume": null`` means "did not resume").
HELLO_NULLABLE = frozenset({"resume"})


class StreamError(RuntimeError):
    """Raised when a line cannot be written or would break the protocol."""


def _plain(value: Any) -> Any:
    """Converts numpy / torch scalars and containers into plain JSON types."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, torch tensors
    if callable(tolist):
        return _plain(tolist())
    if isinstance(value, Iterable):
        return [_plain(v) for v in value]
    raise StreamError(f"value of type {type(value).__name__} is not JSON-serializable")


def finite_or_none(value: Any) -> Optional[float]:
    """Returns ``value`` as a float, or ``None`` when it is missing or non-finite."""
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StreamError(f"expected a number, got {type(value).__name__}")
    value = float(value)
    return value if math.isfinite(value) else None


def _is_nonfinite(value: Any) -> bool:
    value = _plain(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value)


def encode_line(obj: Mapping[str, Any]) -> bytes:
    """Encodes one protocol object as UTF-8 JSON plus ``\\n``; NaN is refused."""
    try:
        text = json.dumps(_plain(obj), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # allow_nan=False: a NaN slipped past sanitizing
        raise StreamError(f"non-finite number in stream line: {exc}") from exc
    data = (text + "\n").encode("utf-8")
    if len(data) > MAX_LINE_BYTES:
        raise StreamError(f"stream line is {len(data)} bytes, over the 1 MiB limit")
    return data


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class LossEwma:
    """Runner-side EWMA of the per-iteration loss (alpha 0.1, seeded by the first loss).

    Update it every iteration, not only at snapshots (algorithm.md §2.6). Non-finite
    losses are counted and leave the average unchanged, so one NaN step cannot poison
    every later ``ewma_loss``.
    """

    def __init__(self, alpha: float = EWMA_ALPHA) -> None:
        self.alpha = alpha
        self.value: Optional[float] = None
        self.nonfinite = 0

    def update(self, loss: Any) -> Optional[float]:
        loss = finite_or_none(loss)
        if loss is None:
            self.nonfinite += 1
        elif self.value is None:
            self.value = loss
        else:
            self.value = self.alpha * loss + (1.0 - self.alpha) * self.value
        return self.value


class MetricsStream:
    """Writes protocol v1 lines, one ``write`` each, to an fd or an append-only file.

    Build it with :meth:`from_env` inside a ``veriscope run`` child, or with an explicit
    ``fd`` / ``path``. ``sample`` enforces a strictly increasing ``iter`` and turns
    non-finite numbers into ``null`` with counts under ``nonfinite``.
    """

    def __init__(self, fd: Optional[int] = None, path: Optional[str] = None) -> None:
        if fd is None and path is None:
            raise StreamError("MetricsStream needs an fd or a path")
        self._owns_fd = False
        if fd is not None and _fd_is_open(fd):
            self._fd = fd
            self.target = f"fd:{fd}"
        elif path is not None:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._owns_fd = True
            self.target = path
        else:
            raise StreamError(f"metrics fd {fd} is not open and no fallback path was given")
        self._last_iter: Optional[int] = None
        self._hello_sent = False
        self._ended = False
        self.broken = False
        self.lines_written = 0

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, chief_only: bool = True) -> Optional["MetricsStream"]:
        """Opens the stream the wrapper announced, or returns ``None`` outside a wrapper.

        With ``chief_only`` (default) a process whose launch rank (``RANK`` /
        ``SLURM_PROCID``) is not 0 gets ``None``: one stream per run, from the chief. In a
        torchrun worker, whose launcher closed the inherited fd, the launcher's copy of the
        pipe is reopened (:func:`veriscope.distributed.inherited_fd`); failing that the
        stream appends to ``VERISCOPE_METRICS_PATH``.
        """
        env = os.environ if env is None else env
        fd_text = env.get(ENV_METRICS_FD, "").strip()
        path = env.get(ENV_METRICS_PATH, "").strip() or None
        fd: Optional[int] = None
        if fd_text:
            try:
                fd = int(fd_text)
            except ValueError:
                raise StreamError(f"{ENV_METRICS_FD}={fd_text!r} is not a decimal fd") from None
        if fd is None and path is None:
            return None
        if chief_only and env_rank(env) != 0:
            return None  # only rank 0 writes the stream (docs/distributed.md)
        if fd is not None:
            # A torchrun worker lost the inherited fd: reopen the launcher's copy.
            resolved = inherited_fd(fd, write=True, env=env)
            if resolved is None and path is None:
                raise StreamError(f"metrics fd {fd} is not open and no fallback path was given")
            stream = cls(fd=resolved, path=path) if resolved is not None else cls(path=path)
            if resolved is not None and resolved != fd:
                stream._owns_fd = True
            return stream
        return cls(fd=fd, path=path)

    # -- protocol lines -------------------------------------------------------------

    def hello(
        self,
        runner: str,
        runner_version: str = "",
        metrics: Iterable[str] = GATE_METRICS,
        metric_interval: Optional[int] = None,
        seed: Optional[int] = None,
        **extra: Any,
    ) -> None:
        """Writes the ``hello`` line (once, first). ``extra`` carries distributed/injection/model."""
        if self._hello_sent:
            raise StreamError("hello was already written")
        if self.lines_written:
            raise StreamError("hello must be the first line of the stream")
        obj: Dict[str, Any] = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "runner": runner,
            "runner_version": runner_version,
            "metrics": list(metrics),
        }
        if metric_interval is not None:
            obj["metric_interval"] = int(metric_interval)
        if seed is not None:
            obj["seed"] = int(seed)
        obj.update({k: v for k, v in extra.items() if v is not None or k in HELLO_NULLABLE})
        self._write(obj)
        self._hello_sent = True

    def sample(
        self,
        iter: int,
        metrics: Optional[Mapping[str, Any]] = None,
        loss: Any = None,
        ewma_loss: Any = None,
        grad_norm: Any = None,
        lr: Any = None,
        nonfinite: Optional[Mapping[str, int]] = None,
        injection_active: Optional[bool] = None,
        timing: Optional[Mapping[str, Any]] = None,
        **extra: Any,
    ) -> None:
        """Writes one ``sample`` line; ``iter`` must exceed the previous sample's."""
        it = self._check_iter(iter)
        counts: Dict[str, int] = {k: int(v) for k, v in (nonfinite or {}).items()}
        clean_metrics: Dict[str, Optional[float]] = {}
        for name, value in (metrics or {}).items():
            if _is_nonfinite(value):
                counts["metrics"] = counts.get("metrics", 0) + 1
            clean_metrics[name] = finite_or_none(value)
        # `loss` is always present (null = not measured or non-finite); the optional
        # scalars only when given.
        obj: Dict[str, Any] = {"type": "sample", "iter": it, "metrics": clean_metrics, "loss": None}
        for key, value, count_key in (
            ("loss", loss, "loss"),
            ("ewma_loss", ewma_loss, None),
            ("grad_norm", grad_norm, "grad"),
            ("lr", lr, None),
        ):
            if value is None:
                continue
            if count_key and _is_nonfinite(value):
                counts[count_key] = counts.get(count_key, 0) + 1
            obj[key] = finite_or_none(value)
        if counts:
            obj["nonfinite"] = counts
        if injection_active is not None:
            obj["injection_active"] = bool(injection_active)
        if timing:
            obj["timing"] = {k: finite_or_none(v) for k, v in timing.items()}
        obj.update({k: v for k, v in extra.items() if v is not None})
        self._write(obj)
        self._last_iter = it

    def end(
        self,
        iter: Optional[int] = None,
        status: str = "completed",
        reason: Optional[str] = None,
        wall_s: Optional[float] = None,
    ) -> None:
        """Writes the ``end`` line (status completed | stopped_on_fail | error)."""
        if status not in ("completed", "stopped_on_fail", "error"):
            raise StreamError(f"unknown end status {status!r}")
        if self._ended:
            return
        obj: Dict[str, Any] = {
            "type": "end",
            "iter": iter if iter is not None else self._last_iter,
            "status": status,
            "reason": reason,
        }
        if wall_s is not None:
            obj["wall_s"] = finite_or_none(wall_s)
        self._write(obj)
        self._ended = True

    @property
    def last_iter(self) -> Optional[int]:
        """The ``iter`` of the last sample written, if any."""
        return self._last_iter

    def close(self) -> None:
        """Closes the file this stream opened (an inherited pipe fd stays open)."""
        if self._owns_fd:
            os.close(self._fd)
            self._owns_fd = False

    def __enter__(self) -> "MetricsStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _check_iter(self, iter: Any) -> int:
        iter = _plain(iter)
        if isinstance(iter, bool) or not isinstance(iter, int) or iter < 0:
            raise StreamError(f"sample iter must be a non-negative integer, got {iter!r}")
        if self._last_iter is not None and iter <= self._last_iter:
            raise StreamError(f"sample iter {iter} is not above the previous {self._last_iter}")
        return iter

    def _write(self, obj: Mapping[str, Any]) -> None:
        data = encode_line(obj)
        if self.broken:
            return
        try:
            written = os.write(self._fd, data)
        except BrokenPipeError:
            # The wrapper went away; training goes on, the wrapper's finalization
            # decides the run status. Warn once instead of crashing the job.
            self.broken = True
            print("[veriscope] metrics stream closed by the wrapper; no more samples", file=sys.stderr)
            return
        if written != len(data):  # regular files and blocking pipes write whole lines
            raise StreamError(f"short write on {self.target}: {written} of {len(data)} bytes")
        self.lines_written += 1


@dataclass
class Decision:
    """One wrapper -> runner ``decision`` line (docs/metrics-stream.md, control channel)."""

    iter: Optional[int]
    decision: str
    action: str
    reason: Optional[str]
    raw: Dict[str, Any] = field(default_factory=dict)

    @property
    def stop(self) -> bool:
        return self.action == "stop"


class ControlChannel:
    """Non-blocking reader of gate decisions from ``VERISCOPE_CONTROL_FD``.

    Call :meth:`poll` between steps; it drains whatever arrived and returns the latest
    decision. ``stop_requested`` stays true once a ``stop`` action was seen.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)
        self._buffer = b""
        self.decisions: List[Decision] = []
        self.stop_requested = False
        self.closed = False
        self.malformed = 0

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, chief_only: bool = True) -> Optional["ControlChannel"]:
        """Opens the announced control fd, or returns ``None`` when none is usable (or, with
        ``chief_only``, on a rank other than 0: the chief broadcasts the decision)."""
        env = os.environ if env is None else env
        text = env.get(ENV_CONTROL_FD, "").strip()
        if not text:
            return None
        try:
            fd = int(text)
        except ValueError:
            raise StreamError(f"{ENV_CONTROL_FD}={text!r} is not a decimal fd") from None
        if chief_only and env_rank(env) != 0:
            return None
        resolved = inherited_fd(fd, write=False, env=env)
        return cls(resolved) if resolved is not None else None

    @property
    def latest(self) -> Optional[Decision]:
        """The newest decision received so far."""
        return self.decisions[-1] if self.decisions else None

    def poll(self) -> Optional[Decision]:
        """Reads every complete line available now; never blocks."""
        while not self.closed:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self._buffer += chunk
        self._consume_lines()
        return self.latest

    def _consume_lines(self) -> None:
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._accept(line)

    def _accept(self, line: bytes) -> None:
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.malformed += 1
            return
        if not isinstance(obj, dict) or obj.get("type") != "decision":
            self.malformed += not isinstance(obj, dict)
            return  # unknown line types are ignored, as on the wrapper side
        decision = Decision(
            iter=obj.get("iter"),
            decision=str(obj.get("decision", "")),
            action=str(obj.get("action", "continue")),
            reason=obj.get("reason"),
            raw=obj,
        )
        self.decisions.append(decision)
        self.stop_requested = self.stop_requested or decision.stop
