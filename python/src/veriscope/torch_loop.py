"""Snapshot bookkeeping for a training loop, plus the helper for plain PyTorch loops.

Owns: the per-iteration duties of a runner (docs/metrics-stream.md): update the loss
EWMA every iteration, take a metric snapshot every ``metric_interval`` iterations (a
no-grad probe forward on a fixed batch), write the ``sample`` line with timings and
non-finite counts, poll the control channel, and write ``end``. The Hugging Face
callback (:mod:`veriscope.hf`) is a thin adapter over :class:`Monitor`.

Typical plain-PyTorch use::

    mon = Monitor.from_env(runner="my_trainer")       # inert outside `veriscope run`
    mon.hello(seed=seed)
    for it in range(max_iters):
        loss = train_step(...)
        if mon.step(it, loss, model_fn=hidden_of, batch=probe_batch, lr=lr):
            break                                      # gate said stop (--on-fail stop)
    mon.finish()

``model_fn(batch)`` returns the hidden states to measure, shape (..., D).

Distributed (torchrun / DDP, docs/distributed.md): create the monitor on EVERY rank and
call ``step`` on every rank at every iteration. Once a ``torch.distributed`` process group
is up (world > 1), each snapshot is all-reduced (:func:`veriscope.distributed.reduce_snapshot`):
every rank measures, rank 0 streams ONE global sample (means over ranks), and rank 0's
view of the wrapper's stop decision reaches every rank in the same collective, so ``step``
returns True on all ranks at the same iteration. Only rank 0 opens the stream and the
control channel.

Preemption (docs/replay.md §3): give the monitor an :class:`veriscope.interrupt.Interrupt`
(``Monitor.from_env(interrupt=Interrupt.install())``); after a SIGTERM/SIGINT ``step``
returns True (under DDP: at the next snapshot, on every rank), :attr:`Monitor.interrupted`
names the signal, and ``finish()`` writes ``end`` with status ``error`` and reason
``interrupted:SIGTERM``. Save a checkpoint, then exit with
:func:`veriscope.interrupt.exit_code_for` (143 / 130).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

from . import __version__
from .distributed import DistContext, env_rank, reduce_snapshot
from .interrupt import interrupted_reason
from .metrics import METRIC_NAMES, MetricConfig, MetricState, MetricValues
from .repro import derived_seeds, env_run_seed
from .stream import ControlChannel, LossEwma, MetricsStream, finite_or_none

DEFAULT_METRIC_INTERVAL = 5  # tuned_v0's metric_interval (algorithm.md §1)
ENV_METRIC_INTERVAL = "VERISCOPE_METRIC_INTERVAL"
#: Samples kept in memory for inspection (`Monitor.history`); older ones are dropped.
HISTORY_LIMIT = 100_000


def resolve_metric_interval(explicit: Optional[int], env: Mapping[str, str]) -> int:
    """``explicit`` > ``$VERISCOPE_METRIC_INTERVAL`` (set by the wrapper) > 5."""
    if explicit is not None:
        value, source = explicit, "metric_interval"
    elif env.get(ENV_METRIC_INTERVAL, "").strip():
        text = env[ENV_METRIC_INTERVAL].strip()
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{ENV_METRIC_INTERVAL}={text!r} is not an integer") from None
        source = ENV_METRIC_INTERVAL
    else:
        return DEFAULT_METRIC_INTERVAL
    if value < 1:
        raise ValueError(f"{source} must be >= 1, got {value}")
    return value


@contextmanager
def probe_mode(module: Any) -> Iterator[None]:
    """``torch.no_grad`` plus eval mode for ``module`` (when it is one), restored after."""
    import torch

    was_training = getattr(module, "training", None)
    if was_training:
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            module.train()


def first_tensor(output: Any) -> Any:
    """The hidden-state tensor of a module output: itself, or the first element of a tuple."""
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


class Monitor:
    """Runner-side state of one training run: EWMA, snapshots, stream, control.

    ``stream`` / ``control`` may be ``None`` (e.g. outside a wrapper): the monitor still
    computes metrics and keeps :attr:`history`, so it is usable in notebooks and tests.
    """

    def __init__(
        self,
        stream: Optional[MetricsStream] = None,
        control: Optional[ControlChannel] = None,
        metric_interval: Optional[int] = None,
        config: Optional[MetricConfig] = None,
        runner: str = "veriscope.torch_loop",
        env: Optional[Mapping[str, str]] = None,
        interrupt: Any = None,
    ) -> None:
        env = os.environ if env is None else env
        self.stream = stream
        self.control = control
        #: A :class:`veriscope.interrupt.Interrupt` (anything with ``requested``), or None.
        self.interrupt = interrupt
        #: The signal the run stopped for (agreed across ranks under DDP), once ``step`` saw it.
        self.interrupted: Optional[int] = None
        self.metric_interval = resolve_metric_interval(metric_interval, env)
        self.metrics = MetricState(config)
        self.runner = runner
        self.ewma = LossEwma()
        self.history: List[Dict[str, Any]] = []
        self.status: Optional[str] = None
        self._pending: Dict[int, MetricValues] = {}
        self._pending_timing: Dict[str, float] = {}
        self._nonfinite = {"loss": 0, "grad": 0, "hidden": 0}
        self._step_ms: List[float] = []
        self._last_step_t: Optional[float] = None
        self._last_iter: Optional[int] = None  # last sampled iteration
        self._last_seen_iter: Optional[int] = None  # last iteration passed to step()
        self._hello_done = False
        self._t0 = time.monotonic()
        self._env = env
        #: Rank per the launch env; the process group (once up) has the last word.
        self.rank = env_rank(env)
        self._dist: Optional[DistContext] = None
        self._dist_stop = False
        self._dist_interrupt: Optional[int] = None
        #: Across-rank spread (max - min) of each reduced field at the last snapshot.
        self.last_spread: Dict[str, Optional[float]] = {}

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **kwargs: Any) -> "Monitor":
        """A monitor on the wrapper's stream and control fds (both optional)."""
        env = os.environ if env is None else env
        if env_rank(env) != 0:  # only the chief talks to the wrapper
            return cls(stream=None, control=None, env=env, **kwargs)
        return cls(stream=MetricsStream.from_env(env), control=ControlChannel.from_env(env), env=env, **kwargs)

    # -- distribution ----------------------------------------------------------------------

    def dist(self) -> DistContext:
        """The distributed context; fixed once a process group is seen (or at the first sample)."""
        if self._dist is None or not self._dist.initialized:
            ctx = DistContext.detect(self._env)
            if ctx.initialized or self._hello_done:
                self._dist = ctx
            if ctx.initialized:
                self.rank = ctx.rank
            return ctx
        return self._dist

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    # -- protocol ------------------------------------------------------------------------

    def hello(self, seed: Optional[int] = None, **extra: Any) -> None:
        """Writes ``hello`` once; later calls are no-ops (``step`` calls it lazily).

        Filled in unless given: ``distributed`` (:meth:`dist`), ``seed`` and ``seeds`` from
        ``$VERISCOPE_SEED`` (derived as contracts::seeds derives them), ``resume: null``.
        Call it after ``init_process_group`` so ``distributed`` sees the process group.
        """
        if self._hello_done:
            return
        extra.setdefault("distributed", self.dist().payload())
        self._hello_done = True
        if seed is None:
            seed = env_run_seed(self._env)
        if seed is not None and "seeds" not in extra:
            extra["seeds"] = {"run_seed": int(seed), **derived_seeds(int(seed))}
        extra.setdefault("resume", None)
        if self.stream is not None and self.is_chief:
            self.stream.hello(
                runner=self.runner,
                runner_version=__version__,
                metrics=METRIC_NAMES,
                metric_interval=self.metric_interval,
                seed=seed,
                **extra,
            )

    def is_probe_iter(self, iter: int) -> bool:
        """Whether ``iter`` takes a metric snapshot (``iter % metric_interval == 0``, §2.1)."""
        return iter % self.metric_interval == 0

    def probe(self, model_fn: Callable[[Any], Any], batch: Any, iter: int) -> MetricValues:
        """Runs ``model_fn(batch)`` without gradients (eval mode when it is a module) and
        measures the hidden states it returns; the result feeds ``step(iter, ...)``."""
        t_probe = time.perf_counter()
        with probe_mode(model_fn):
            hidden = first_tensor(model_fn(batch))
        probe_ms = (time.perf_counter() - t_probe) * 1e3
        return self.observe_hidden(hidden, iter, probe_ms=probe_ms)

    def observe_hidden(self, hidden: Any, iter: int, probe_ms: Optional[float] = None) -> MetricValues:
        """Measures already-captured hidden states for the snapshot at ``iter``."""
        t_metric = time.perf_counter()
        values = self.metrics.snapshot(hidden, iter)
        self._pending_timing = {"metric_ms": (time.perf_counter() - t_metric) * 1e3}
        if probe_ms is not None:
            self._pending_timing["probe_ms"] = probe_ms
        self._nonfinite["hidden"] += values.nonfinite_inputs
        self._pending[iter] = values
        return values

    def step(
        self,
        iter: int,
        loss: Any,
        grad_norm: Any = None,
        lr: Any = None,
        model_fn: Optional[Callable[[Any], Any]] = None,
        batch: Any = None,
        **extra: Any,
    ) -> bool:
        """Records iteration ``iter`` (call it every iteration, after the optimizer step).

        On snapshot iterations it probes (when ``model_fn``/``batch`` are given and no
        :meth:`probe` result for ``iter`` is pending) and writes a ``sample``; metrics of a
        snapshot iteration that was never probed go out as ``null``. Returns True once
        the wrapper asked the run to stop, or once a SIGTERM/SIGINT was seen
        (:meth:`poll_interrupt`; then :attr:`interrupted` is set).
        """
        now = time.perf_counter()
        self._last_seen_iter = iter
        if self._last_step_t is not None:
            self._step_ms.append((now - self._last_step_t) * 1e3)
        loss_value = _scalar(loss)
        if finite_or_none(loss_value) is None and loss_value is not None:
            self._nonfinite["loss"] += 1
        ewma = self.ewma.update(loss_value) if loss_value is not None else self.ewma.value
        grad_value = _scalar(grad_norm)
        if grad_value is not None and finite_or_none(grad_value) is None:
            self._nonfinite["grad"] += 1
        if self.is_probe_iter(iter) and (self._last_iter is None or iter > self._last_iter):
            if iter not in self._pending and model_fn is not None and batch is not None:
                self.probe(model_fn, batch, iter)
            self._write_sample(iter, loss_value, ewma, grad_value, _scalar(lr), extra)
        self._last_step_t = time.perf_counter()
        stop = self.poll_stop()
        return self.poll_interrupt() is not None or stop

    def poll_stop(self) -> bool:
        """Drains the control channel; True once a ``stop`` action arrived.

        Distributed (process group up, world > 1): True once a snapshot's all-reduce
        carried the chief's stop, identical on every rank; the chief's channel is read only
        at snapshots, so a decision takes effect at the next snapshot on all ranks at once.
        """
        if self._dist is not None and self._dist.active:
            if self._dist_stop and self.status is None:
                self.status = "stopped_on_fail"
            return self._dist_stop
        if self.control is None:
            return False
        self.control.poll()
        if self.control.stop_requested and self.status is None:
            self.status = "stopped_on_fail"
        return self.control.stop_requested

    def poll_interrupt(self) -> Optional[int]:
        """The signal the run must stop for, or ``None``; once not ``None`` it stays set in
        :attr:`interrupted`.

        Single process: the :attr:`interrupt`'s signal as soon as it arrived. Distributed
        (process group up, world > 1): only what a snapshot all-reduce agreed (some rank saw
        a signal), identical on every rank, so no rank leaves the others in a collective.
        """
        if self.interrupted is not None:
            return self.interrupted
        if self._dist_interrupt is not None:
            self.interrupted = self._dist_interrupt
            return self.interrupted
        local = getattr(self.interrupt, "requested", None) if self.interrupt is not None else None
        if local is None or self.dist().active:
            return None  # under DDP a signal waits for the next snapshot's agreement
        self.interrupted = int(local)
        return self.interrupted

    @property
    def stop_requested(self) -> bool:
        if self._dist is not None and self._dist.active:
            return self._dist_stop
        return self.control is not None and self.control.stop_requested

    def finish(self, status: Optional[str] = None, reason: Optional[str] = None) -> None:
        """Writes ``end``. Default status: ``error`` with reason ``interrupted:<SIGNAL>`` after
        a stop for a signal (:attr:`interrupted`), stopped_on_fail after a gate stop, else
        completed."""
        if status is None and self.interrupted is not None:
            status, reason = "error", reason or interrupted_reason(self.interrupted)
        if status is None:
            status = self.status or "completed"
        self.status = status
        if self.stream is not None and self.is_chief:
            self.hello()
            self.stream.end(iter=self._last_seen_iter, status=status, reason=reason, wall_s=time.monotonic() - self._t0)

    # -- internals ---------------------------------------------------------------------

    def _write_sample(
        self, iter: int, loss: Any, ewma: Optional[float], grad: Any, lr: Any, extra: Dict[str, Any]
    ) -> None:
        values = self._pending.pop(iter, None)
        self._pending.clear()  # snapshots of other iterations can no longer be written
        metrics = values.to_map() if values else {name: None for name in METRIC_NAMES}
        timing = dict(self._pending_timing) if values else {}
        if self._step_ms:
            timing["step_ms"] = sum(self._step_ms) / len(self._step_ms)
        # Non-finite loss/grad were counted in step(); send them as null here so the
        # stream does not count them a second time.
        nonfinite = dict(self._nonfinite)
        if not self._hello_done:
            self.hello()
        ctx = self.dist()
        if ctx.active:
            metrics, loss, ewma, grad, nonfinite = self._all_reduce(metrics, loss, ewma, grad, nonfinite, timing)
        sample = {
            "iter": iter,
            "metrics": metrics,
            "loss": finite_or_none(loss),
            "ewma_loss": ewma,
            "grad_norm": finite_or_none(grad),
            "lr": finite_or_none(lr),
            "nonfinite": nonfinite,
            "timing": timing or None,
            **extra,
        }
        if self.stream is not None and self.is_chief:
            self.stream.sample(**sample)
        self.history.append(sample)
        del self.history[:-HISTORY_LIMIT]
        self._last_iter = iter
        self._step_ms.clear()
        self._pending_timing = {}
        self._nonfinite = {"loss": 0, "grad": 0, "hidden": 0}

    def _all_reduce(
        self,
        metrics: Dict[str, Any],
        loss: Any,
        ewma: Optional[float],
        grad: Any,
        nonfinite: Dict[str, int],
        timing: Dict[str, float],
    ) -> "tuple[Dict[str, Any], Any, Optional[float], Any, Dict[str, int]]":
        """The global snapshot: every rank's values averaged, counts summed, stop agreed."""
        local_stop = False
        if self.is_chief and self.control is not None:
            self.control.poll()
            local_stop = self.control.stop_requested
        local_interrupt = getattr(self.interrupt, "requested", None) if self.interrupt is not None else None
        values = dict(metrics)
        values.update({"loss": finite_or_none(loss), "ewma_loss": ewma, "grad_norm": finite_or_none(grad)})
        counters = dict(nonfinite)
        red = reduce_snapshot(values, counters, local_stop, interrupt=local_interrupt)
        self._dist_stop = self._dist_stop or red.stop
        if self._dist_interrupt is None:
            self._dist_interrupt = red.interrupt
        self.last_spread = red.spread
        timing["allreduce_ms"] = red.allreduce_ms
        out_metrics = {name: red.values[name] for name in METRIC_NAMES}
        counts = {k: red.counters.get(k, 0) for k in ("loss", "grad", "hidden")}
        return out_metrics, red.values["loss"], red.values["ewma_loss"], red.values["grad_norm"], counts


def _scalar(x: Any) -> Optional[float]:
    """Python float of a number / numpy scalar / one-element tensor; None stays None."""
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach()
        if x.numel() != 1:
            x = x.float().mean()
        return float(x.item())
    return float(x)
