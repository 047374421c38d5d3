"""Graceful preemption: SIGTERM / SIGINT finish the step, checkpoint, say ``end``, exit 128+signal.

Owns: the runner side of docs/replay.md §3 ("On SIGTERM/SIGINT the runner saves a checkpoint
at the current iteration and exits 128+signal, so a preempted run loses nothing"), the same
contract as the built-in trainer's ``crates/veriscope-gpt/src/interrupt.rs``:

- the FIRST SIGTERM or SIGINT only records which signal came (:attr:`Interrupt.requested`);
  the training loop polls it after each step, finishes that step, saves a checkpoint, writes
  ``end`` with status ``error`` and reason ``interrupted:SIGTERM`` / ``interrupted:SIGINT``
  (:func:`interrupted_reason`) and exits :func:`exit_code_for` (143 / 130);
- a SECOND one (of either kind) takes the default action at once: both handlers are reset to
  ``SIG_DFL`` by the first, so the process ends by the signal (a shell shows 143 / 130), even
  while the main thread is inside a long C call.

:class:`veriscope.torch_loop.Monitor` (``interrupt=``) and :class:`veriscope.hf.VeriscopeCallback`
consume it; under DDP the stop is agreed across ranks in the snapshot all-reduce
(:func:`veriscope.distributed.reduce_snapshot`), so no rank stops alone.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable, Dict, Iterable, Optional, Union

#: The signals a runner honours gracefully, in the order they win an agreement (DDP).
HANDLED_SIGNALS = (int(signal.SIGTERM), int(signal.SIGINT))

_Handler = Union[Callable[[int, Any], Any], int, None]


def signal_name(signo: int) -> str:
    """``SIGTERM`` / ``SIGINT`` (the names of the gpt trainer's ``end`` reason), else ``signal N``."""
    if signo == signal.SIGTERM:
        return "SIGTERM"
    if signo == signal.SIGINT:
        return "SIGINT"
    return f"signal {signo}"


def exit_code_for(signo: int) -> int:
    """Exit code of a run that ends because of ``signo``: 128+signal (143 SIGTERM, 130 SIGINT)."""
    return min(128 + int(signo), 255)


def interrupted_reason(signo: int) -> str:
    """The ``end`` line's reason: ``interrupted:SIGTERM`` / ``interrupted:SIGINT``."""
    return f"interrupted:{signal_name(signo)}"


def _checked(signo: int) -> int:
    """``signo`` as an int when it is one of :data:`HANDLED_SIGNALS` (the only ones the DDP
    agreement carries), else ``ValueError``."""
    if int(signo) not in HANDLED_SIGNALS:
        raise ValueError(f"signal {int(signo)} is not one of SIGTERM/SIGINT {HANDLED_SIGNALS}")
    return int(signo)


class Interrupt:
    """Whether, and by which signal, the run was asked to stop.

    ``Interrupt()`` is never interrupted until :meth:`trigger` (library use, tests);
    :meth:`install` puts the handlers in place (main thread only). Use it as a context
    manager, or call :meth:`restore`, to put the previous handlers back.
    """

    def __init__(self) -> None:
        self._signo: Optional[int] = None
        self._previous: Dict[int, _Handler] = {}

    @classmethod
    def install(cls, signals: Iterable[int] = HANDLED_SIGNALS) -> "Interrupt":
        """Installs the handlers for ``signals`` in this process (from the main thread)."""
        signals = [_checked(sig) for sig in signals]
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        it = cls()
        for sig in signals:
            it._previous[sig] = signal.signal(sig, it._handle)
        return it

    @property
    def requested(self) -> Optional[int]:
        """The signal number of the first signal, or ``None``."""
        return self._signo

    def trigger(self, signo: int = int(signal.SIGTERM)) -> None:
        """Behaves as if ``signo`` arrived (a deterministic stand-in for tests and callers)."""
        signo = _checked(signo)
        if self._signo is None:
            self._signo = signo

    def restore(self) -> None:
        """Puts back the handlers :meth:`install` replaced. After a signal the handlers stay
        at ``SIG_DFL``, so a later signal still ends the process at once."""
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def __enter__(self) -> "Interrupt":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()

    def _handle(self, signo: int, frame: Any) -> None:
        # Python runs this in the main thread between bytecodes: no I/O here.
        for sig in self._previous:
            signal.signal(sig, signal.SIG_DFL)  # the next one ends the process at once
        if self._signo is None:
            self._signo = int(signo)
            return
        # A second signal that was already pending when the first was handled.
        os.kill(os.getpid(), signo)
