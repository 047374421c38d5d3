"""Graceful preemption (docs/replay.md §3, veriscope.interrupt): the first SIGTERM/SIGINT is a
flag the loop honours after its step, the second ends the process at once; exit 128+signal."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import check_protocol, parse_stream
from veriscope import distributed as vd
from veriscope.interrupt import Interrupt, exit_code_for, interrupted_reason, signal_name
from veriscope.stream import MetricsStream
from veriscope.torch_loop import Monitor

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_names_and_exit_codes_match_the_gpt_trainer():
    # crates/veriscope-gpt/src/interrupt.rs and stream.rs (EndStatus::Interrupted).
    assert exit_code_for(signal.SIGTERM) == 143 and exit_code_for(signal.SIGINT) == 130
    assert signal_name(signal.SIGTERM) == "SIGTERM" and signal_name(signal.SIGINT) == "SIGINT"
    assert interrupted_reason(signal.SIGTERM) == "interrupted:SIGTERM"
    assert interrupted_reason(signal.SIGINT) == "interrupted:SIGINT"


def test_first_signal_sets_the_flag_and_arms_the_default_action():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with Interrupt.install() as it:
        assert it.requested is None
        signal.raise_signal(signal.SIGINT)  # a real signal; its Python handler runs before this returns
        assert it.requested == signal.SIGINT
        # No KeyboardInterrupt; the next SIGTERM or SIGINT takes the default action.
        assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        it.trigger(signal.SIGTERM)
        assert it.requested == signal.SIGINT, "the first signal wins"
    # After a signal the handlers stay at SIG_DFL; put pytest's back by hand.
    for s, h in before.items():
        signal.signal(s, h)
    with Interrupt.install():
        pass
    assert {s: signal.getsignal(s) for s in before} == before, "restored when no signal came"
    hup = signal.getsignal(signal.SIGHUP)
    with pytest.raises(ValueError, match="SIGTERM/SIGINT"):  # the DDP agreement carries only these
        Interrupt.install([signal.SIGTERM, signal.SIGHUP])
    assert signal.getsignal(signal.SIGHUP) == hup and signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]


def test_a_second_signal_ends_the_process_at_once():
    code = (
        "import sys, time\n"
        "from veriscope.interrupt import Interrupt\n"
        "it = Interrupt.install()\n"
        "print('ready', flush=True)\n"
        "while it.requested is None: time.sleep(0.01)\n"
        "print('flagged', it.requested, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout.readline().strip() == f"flagged {int(signal.SIGTERM)}"
        assert proc.poll() is None, "the first signal does not end the process"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == -signal.SIGINT  # killed by it: the shell shows 130
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_monitor_stops_and_ends_with_the_interrupted_reason(tmp_path):
    path = tmp_path / "m.jsonl"
    it = Interrupt()
    mon = Monitor(stream=MetricsStream(path=str(path)), metric_interval=2, env={}, interrupt=it)
    mon.hello(seed=1)
    assert mon.step(0, 3.0) is False and mon.step(1, 2.9) is False
    it.trigger(signal.SIGTERM)
    assert mon.step(2, 2.8) is True and mon.interrupted == signal.SIGTERM
    mon.finish()
    objs = parse_stream(path.read_text())
    check_protocol(objs)
    assert [o["iter"] for o in objs if o["type"] == "sample"] == [0, 2]
    assert objs[-1] == {**objs[-1], "type": "end", "iter": 2, "status": "error", "reason": "interrupted:SIGTERM"}


def test_an_interrupt_wins_over_a_gate_stop_in_the_end_line(tmp_path):
    class Stopped:
        stop_requested = True

        def poll(self):
            return None

    path = tmp_path / "m.jsonl"
    it = Interrupt()
    it.trigger(signal.SIGINT)
    mon = Monitor(stream=MetricsStream(path=str(path)), control=Stopped(), metric_interval=1, env={}, interrupt=it)
    assert mon.step(0, 1.0) is True
    mon.finish()
    end = parse_stream(path.read_text())[-1]
    assert (end["status"], end["reason"]) == ("error", "interrupted:SIGINT")  # as the gpt trainer


def test_snapshot_all_reduce_carries_every_ranks_signal():
    term, intr = int(signal.SIGTERM), int(signal.SIGINT)
    quiet = vd.pack_snapshot({"loss": 1.0}, {}, False)
    assert len(quiet) == 3 * len(vd.REDUCED_FIELDS) + len(vd.COUNTERS) + 1 + len(vd.INTERRUPT_SIGNALS) == 28
    a = vd.pack_snapshot({"loss": 1.0}, {}, True, interrupt=intr)
    b = vd.pack_snapshot({"loss": 3.0}, {}, False, interrupt=term)
    red = vd.unpack_snapshot([x + y for x, y in zip(a, b)], world=2)
    assert red.stop and red.interrupt == term and red.values["loss"] == 2.0  # SIGTERM wins
    red = vd.unpack_snapshot([x + y for x, y in zip(quiet, a)], world=2)
    assert red.interrupt == intr
    red = vd.unpack_snapshot([x + y for x, y in zip(quiet, quiet)], world=2)
    assert red.interrupt is None and not red.stop
    with pytest.raises(ValueError, match="not one of"):
        vd.pack_snapshot({}, {}, False, interrupt=int(signal.SIGHUP))
