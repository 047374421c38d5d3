"""A real plain-PyTorch DDP training loop gated through veriscope.torch_loop (test runner).

Launched by the tests under torchrun (``python -m torch.distributed.run --standalone
--nproc-per-node 2 ddp_loop.py ...``), directly or as ``veriscope run cmd -- ...``. Each
rank trains a tiny MLP on its own shard of a synthetic regression task with the gloo
backend on CPU, and calls ``Monitor.step`` every iteration.

Options:
  --steps N            iterations (default 60)
  --blowup-at S        from step S on, the hidden pre-activations are scaled by 40 on every
                       rank (a real, persistent representation pathology: tanh saturates)
  --die-rank R --die-at S   rank R exits abruptly (os._exit(3)) at step S
  --report-dir D       each rank writes D/rank<r>.json: last step, stop flag, local losses
  --step-sleep SECS    sleep per step (keeps a run alive long enough to be stopped)
  --no-monitor         train without veriscope (the overhead baseline)
  --bench-allreduce N  time N snapshot all-reduces back to back (median/p90 to the report)
  --signal-rank R --signal-at S   SIGTERM/SIGINT handlers on every rank (veriscope.interrupt);
                       rank R sends itself --signal (default TERM) at step S; the process
                       exits 128+signal when the run stopped for it
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

import torch
import torch.distributed as dist
import torch.nn as nn

from veriscope.distributed import exit_process, teardown_process_group
from veriscope.interrupt import Interrupt, exit_code_for
from veriscope.repro import setup_from_env
from veriscope.torch_loop import Monitor


class Net(nn.Module):
    def __init__(self, d_in: int = 16, d_hidden: int = 32) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, 1)
        self.register_buffer("scale", torch.ones(()))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.scale * self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.hidden(x))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--blowup-at", type=int, default=-1)
    p.add_argument("--die-rank", type=int, default=-1)
    p.add_argument("--die-at", type=int, default=-1)
    p.add_argument("--report-dir", default=None)
    p.add_argument("--step-sleep", type=float, default=0.0)
    p.add_argument("--no-monitor", action="store_true")
    p.add_argument("--bench-allreduce", type=int, default=0)
    p.add_argument("--signal-rank", type=int, default=-1)
    p.add_argument("--signal-at", type=int, default=-1)
    p.add_argument("--signal", choices=("TERM", "INT"), default="TERM")
    a = p.parse_args()

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    setup = setup_from_env(default_seed=7)  # VERISCOPE_SEED -> torch/numpy/python seeds
    torch.manual_seed(setup.seeds["init"])  # identical initial weights on every rank
    net = Net()
    model = nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(setup.seeds["data_order"] % (1 << 63) + rank)
    w_true = torch.linspace(-1, 1, 16)
    probe = torch.randn(64, 16, generator=torch.Generator().manual_seed(setup.seeds["probe"] % (1 << 63)))

    bench = {}
    if a.bench_allreduce:
        from veriscope.distributed import reduce_snapshot

        times = []
        vals = {"var_out_k": 0.4, "eff_dim": 12.0, "rankme": 20.0, "cos_disp": 0.2, "loss": 2.0}
        for _ in range(a.bench_allreduce):
            dist.barrier()
            times.append(reduce_snapshot(vals, {"loss": 0}, False).allreduce_ms)
        times.sort()
        bench = {"allreduce_ms_median": times[len(times) // 2], "allreduce_ms_p90": times[int(len(times) * 0.9)]}
    interrupt = Interrupt.install() if a.signal_rank >= 0 else None
    mon = Monitor.from_env(runner="ddp_loop", interrupt=interrupt)
    mon.hello(seed=setup.run_seed, spec={"model": {"name": "mlp", "d_hidden": 32}, "world_size": world})
    losses = []
    stopped_at = None
    it = -1
    t_start = time.perf_counter()
    for it in range(a.steps):
        if it == a.blowup_at:
            with torch.no_grad():
                net.scale.fill_(40.0)
        if rank == a.die_rank and it == a.die_at:
            print(f"ddp_loop: rank {rank} dies at {it}", flush=True)
            os._exit(3)
        if rank == a.signal_rank and it == a.signal_at:
            os.kill(os.getpid(), getattr(signal, "SIG" + a.signal))
        x = torch.randn(32, 16, generator=gen)
        y = (x @ w_true).unsqueeze(1)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        if a.step_sleep:
            time.sleep(a.step_sleep)
        if a.no_monitor:
            continue
        if mon.step(it, loss, lr=0.05, model_fn=net.hidden, batch=probe):
            stopped_at = it
            break
    wall_s = time.perf_counter() - t_start
    mon.finish()
    if a.report_dir:
        with open(os.path.join(a.report_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(
                {
                    "rank": rank,
                    "world": world,
                    "last_iter": it,
                    "stopped_at": stopped_at,
                    "status": mon.status,
                    "interrupted": mon.interrupted,
                    "local_losses": losses,
                    "history": mon.history,
                    "stream": mon.stream is not None,
                    "control": mon.control is not None,
                    "train_wall_s": wall_s,
                    **bench,
                },
                fh,
            )
    print(f"ddp_loop: rank {rank} done at {it} status={mon.status}", flush=True)
    teardown_process_group()
    return exit_code_for(mon.interrupted) if mon.interrupted is not None else 0


if __name__ == "__main__":
    exit_process(main())
