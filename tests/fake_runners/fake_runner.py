#!/usr/bin/env python3
"""Fake training runner for `veriscope run` tests: speaks docs/metrics-stream.md v1.

Every behaviour the wrapper must survive is a flag: crash, segfault, ignoring SIGTERM,
flooding stdout, malformed lines, a line cut mid-way, honouring or ignoring stop decisions.
"""
import argparse
import json
import os
import random
import select
import signal
import sys
import time


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--describe", action="store_true")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--interval", type=int, default=1)
    p.add_argument("--step-sleep", type=float, default=0.0)
    p.add_argument("--sleep-after", type=float, default=0.0)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--segv", action="store_true")
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--flood", type=int, default=0)
    p.add_argument("--malformed", action="store_true")
    p.add_argument("--cut-mid-line", action="store_true")
    p.add_argument("--use-path", action="store_true")
    p.add_argument("--shift-at", type=int, default=-1, help="metrics jump at this iter (drives a FAIL)")
    p.add_argument("--honour-stop", action="store_true")
    p.add_argument("--no-end", action="store_true")
    p.add_argument("--print-env", default="", help="comma-separated env keys to print (not secrets)")
    p.add_argument("--gate-window", type=int, default=10)
    p.add_argument("--gate-warmup", type=int, default=10)
    return p.parse_known_args()[0]


class Stream:
    def __init__(self, use_path):
        self.fd = None
        if not use_path and os.environ.get("VERISCOPE_METRICS_FD"):
            self.fd = int(os.environ["VERISCOPE_METRICS_FD"])
        self.path = os.environ.get("VERISCOPE_METRICS_PATH")

    def raw(self, data: bytes):
        if self.fd is not None:
            os.write(self.fd, data)
        elif self.path:
            with open(self.path, "ab") as f:
                f.write(data)

    def line(self, obj):
        self.raw((json.dumps(obj) + "\n").encode())


def control_stop_requested():
    fd = os.environ.get("VERISCOPE_CONTROL_FD")
    if not fd:
        return False
    fd = int(fd)
    r, _, _ = select.select([fd], [], [], 0)
    if not r:
        return False
    data = os.read(fd, 65536).decode()
    return any(json.loads(l).get("action") == "stop" for l in data.splitlines() if l.strip())


def main():
    a = parse()
    if a.describe:
        print(json.dumps({"runner": "fake", "device": "cpu",
                          "gate_cadence": {"gate_window": a.gate_window, "gate_warmup_iters": a.gate_warmup,
                                           "metric_interval": a.interval}}))
        return 0
    if a.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for key in filter(None, a.print_env.split(",")):
        print(f"env {key}={os.environ.get(key)}", flush=True)
    print("fake-runner: stdout ready", flush=True)
    print("fake-runner: stderr ready", file=sys.stderr, flush=True)
    for i in range(a.flood):
        print(f"flood line {i}")
        print(f"flood err {i}", file=sys.stderr)
    sys.stdout.flush()
    s = Stream(a.use_path)
    s.line({"type": "hello", "protocol": 1, "runner": "fake", "metric_interval": a.interval,
            "metrics": ["var_out_k", "eff_dim", "rankme", "cos_disp"],
            "distributed": {"world_size_observed": 1, "rank": 0, "local_rank": None, "backend": None,
                            "ddp_wrapped": False, "distributed_mode": "single_process"}})
    if a.malformed:
        s.raw(b"this is not json\n[1,2,3]\n{\"type\":\"sample\",\"iter\":\"x\"}\n{\"type\":\"weird\"}\n")
    rng = random.Random(7)
    for k in range(a.samples):
        it = k * a.interval
        shift = 0.0 if a.shift_at < 0 or it < a.shift_at else 5.0
        metrics = {"var_out_k": 0.4 + shift + rng.gauss(0, 0.01), "eff_dim": 12 + 10 * shift + rng.gauss(0, 0.2),
                   "rankme": 20 + 10 * shift + rng.gauss(0, 0.2), "cos_disp": 0.2 + shift / 10 + rng.gauss(0, 0.005)}
        s.line({"type": "sample", "iter": it, "metrics": metrics, "loss": 2.0 + shift, "ewma_loss": 2.0 + shift,
                "timing": {"step_ms": 1.0}})
        if a.step_sleep:
            time.sleep(a.step_sleep)
        if a.honour_stop and control_stop_requested():
            s.line({"type": "end", "iter": it, "status": "stopped_on_fail", "reason": "gate"})
            print(f"fake-runner: stopped on fail at {it}", flush=True)
            return 0
    if a.cut_mid_line:
        s.raw(b'{"type":"sample","iter":999999,"metr')
        return a.exit_code
    if a.sleep_after:
        deadline = time.time() + a.sleep_after
        while time.time() < deadline:
            if a.honour_stop and control_stop_requested():
                s.line({"type": "end", "status": "stopped_on_fail"})
                return 0
            time.sleep(0.05)
    if a.segv:
        os.kill(os.getpid(), signal.SIGSEGV)
    if not a.no_end:
        s.line({"type": "end", "iter": max(0, (a.samples - 1) * a.interval), "status": "completed"})
    return a.exit_code


if __name__ == "__main__":
    sys.exit(main())
