"""Distributed runs (docs/distributed.md) and the SDK side of seeds/resume/determinism
(docs/replay.md §2-3).

The multi-process tests start REAL torch.distributed workers (torchrun, gloo on CPU) running
python/tests/ddp_loop.py; this test plays the wrapper's part where one is needed (the
control pipe), the Rust test crates/veriscope-cli/tests/run_distributed.rs runs the real
wrapper.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import needs_torch, parse_stream
from veriscope import distributed as vd
from veriscope import repro

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
DDP_LOOP = HERE / "ddp_loop.py"


# -- seeds (contracts::seeds parity) --------------------------------------------------------


def test_derived_seeds_match_the_pinned_rust_vector():
    # crates/veriscope-contracts/src/seeds.rs `derivation_is_pinned`.
    assert repro.derived_seeds(42) == {
        "data_order": 10646091845267208524,
        "probe": 469687063867128878,
        "injection": 3233633249810115081,
        "init": 16778909662202943976,
    }
    assert repro._mix(0) == 0xE220A8397B1DCDAF
    assert repro.derive_seed(42, 1, 0) != repro.derive_seed(42, 1, 1)
    assert all(0 <= v < 2**64 for v in repro.derived_seeds(2**64 - 1).values())


def test_setup_from_env_resolves_seed_resume_and_ckpt_dir():
    env = {"VERISCOPE_SEED": "42", "VERISCOPE_CKPT_DIR": "/x/checkpoints", "VERISCOPE_RESUME": "1",
           "VERISCOPE_RESUME_AFTER_ITER": "99"}
    s = repro.setup_from_env(env=env, seed_now=False)
    got = (s.run_seed, s.seed_source, s.ckpt_dir, s.resume, s.resume_after_iter)
    assert got == (42, "env", "/x/checkpoints", True, 99)
    assert s.hello_seeds()["init"] == 16778909662202943976
    assert repro.setup_from_env(explicit_seed=5, env=env, seed_now=False).seed_source == "arg"
    d = repro.setup_from_env(env={}, seed_now=False, default_seed=9)
    assert (d.run_seed, d.seed_source, d.resume, d.ckpt_dir) == (9, "default", False, None)
    with pytest.raises(ValueError, match="VERISCOPE_SEED"):
        repro.setup_from_env(env={"VERISCOPE_SEED": "abc"}, seed_now=False)


@needs_torch
def test_seed_everything_is_reproducible():
    import random

    import numpy as np
    import torch

    repro.seed_everything(42)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    repro.seed_everything(42)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    repro.seed_everything(43)
    assert torch.rand(1).item() != a[2]


def test_strict_determinism_refuses_without_an_integer_pythonhashseed():
    with pytest.raises(repro.DeterminismError, match="DETERMINISM_PRECONDITION_UNMET PYTHONHASHSEED: unset"):
        repro.apply_strict_determinism({"VERISCOPE_STRICT_DETERMINISM": "1"})
    with pytest.raises(repro.DeterminismError, match="not an integer"):
        repro.apply_strict_determinism({"VERISCOPE_STRICT_DETERMINISM": "1", "PYTHONHASHSEED": "random"})
    assert repro.apply_strict_determinism({}) is False


@needs_torch
def test_strict_determinism_turns_on_torch_deterministic_algorithms():
    code = (
        "import torch; from veriscope.repro import apply_strict_determinism as a; "
        "print(a(), torch.are_deterministic_algorithms_enabled())"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "VERISCOPE_STRICT_DETERMINISM": "1", "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True"], out.stderr


# -- distributed context ------------------------------------------------------------------


def test_env_world_reads_torchrun_and_slurm_tasks_only():
    assert vd.env_world({}) == (1, 0, None)
    assert vd.env_world({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == (4, 3, 1)
    assert vd.env_world({"SLURM_NTASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1"}) == (8, 5, 1)
    assert vd.env_world({"SLURM_NTASKS": "8"}) == (1, 0, None)  # an salloc shell, not a task
    ctx = vd.DistContext(world_size=4, rank=3, local_rank=1)
    assert ctx.payload() == {
        "distributed_mode": "replicated_single_chief_emit",
        "world_size_observed": 4,
        "backend": None,
        "rank": 3,
        "local_rank": 1,
        "ddp_wrapped": False,
    }
    assert vd.DistContext(world_size=2, initialized=True, backend="gloo").mode == "ddp_wrapped"
    assert vd.DistContext().mode == "single_process"


def test_snapshot_packing_means_spread_missing_and_stop():
    a = vd.pack_snapshot({"var_out_k": 1.0, "eff_dim": 10.0, "loss": 2.0, "grad_norm": None}, {"loss": 0}, False)
    b = vd.pack_snapshot({"var_out_k": 3.0, "eff_dim": float("nan"), "loss": 4.0, "grad_norm": None}, {"loss": 1}, True)
    red = vd.unpack_snapshot([x + y for x, y in zip(a, b)], world=2)
    assert red.values["var_out_k"] == 2.0 and red.spread["var_out_k"] == 1.0
    assert red.values["loss"] == 3.0
    assert red.values["eff_dim"] is None  # one rank non-finite: not measurable
    assert red.values["grad_norm"] is None
    assert red.counters["loss"] == 1 and red.stop


def test_non_chief_ranks_never_open_the_stream(tmp_path):
    from veriscope.stream import ControlChannel, MetricsStream

    path = tmp_path / "m.jsonl"
    env = {"VERISCOPE_METRICS_PATH": str(path), "RANK": "1", "WORLD_SIZE": "2"}
    assert MetricsStream.from_env(env) is None
    assert ControlChannel.from_env({**env, "VERISCOPE_CONTROL_FD": "0"}) is None
    assert MetricsStream.from_env({**env, "RANK": "0"}) is not None


def test_inherited_fd_is_reopened_through_the_launcher(tmp_path):
    """A worker whose launcher closed the wrapper's fds (torchrun: close_fds=True) reopens
    the launcher's copy through /proc; real processes, a real pipe."""
    r, w = os.pipe()
    os.write(w, b'{"type":"decision","iter":3,"decision":"fail","action":"stop","reason":"x"}\n')
    worker = (
        "import os,sys,subprocess;"
        "from veriscope.stream import ControlChannel;"
        "c=ControlChannel.from_env(); c.poll(); print(c.stop_requested)"
    )
    launcher = f"import subprocess,sys; sys.exit(subprocess.call([sys.executable,'-c',{worker!r}],close_fds=True))"
    env = {**os.environ, "PYTHONPATH": str(SRC), "VERISCOPE_CONTROL_FD": str(r), "VERISCOPE_RUN_ID": "abc",
           "TORCHELASTIC_RUN_ID": "t"}
    env.pop("RANK", None)
    out = subprocess.run([sys.executable, "-c", launcher], env=env, pass_fds=(r,), capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
    # A launcher from another run (different VERISCOPE_RUN_ID in its env) is never used.
    worker_env = "os.environ['VERISCOPE_RUN_ID']='other';"
    launcher2 = launcher.replace("import subprocess,sys;", "import subprocess,sys,os;" + worker_env)
    out = subprocess.run([sys.executable, "-c", launcher2.replace("c.poll(); print(c.stop_requested)", "print(c)")],
                         env=env, pass_fds=(r,), capture_output=True, text=True, timeout=60)
    os.close(r)
    os.close(w)
    assert out.stdout.strip() == "None", out.stderr


# -- real 2-process DDP (torchrun, gloo, CPU) ---------------------------------------------


def torchrun(args, env_extra, timeout=240, pass_fds=()):
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", **env_extra}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(DDP_LOOP), *args]
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, pass_fds=pass_fds)
    return out, time.monotonic() - t0


def reports(d):
    return [json.loads((d / f"rank{r}.json").read_text()) for r in (0, 1)]


@needs_torch
def test_two_rank_ddp_streams_one_global_sample_per_snapshot(tmp_path):
    stream = tmp_path / "m.jsonl"
    out, _ = torchrun(["--steps", "12", "--report-dir", str(tmp_path)],
                      {"VERISCOPE_METRICS_PATH": str(stream), "VERISCOPE_METRIC_INTERVAL": "3", "VERISCOPE_SEED": "42"})
    assert out.returncode == 0, out.stdout + out.stderr
    objs = parse_stream(stream.read_text())
    hello, samples, end = objs[0], [o for o in objs if o["type"] == "sample"], objs[-1]
    assert [o["type"] for o in objs].count("hello") == 1
    assert hello["distributed"] == {"distributed_mode": "ddp_wrapped", "world_size_observed": 2, "backend": "gloo",
                                    "rank": 0, "local_rank": 0, "ddp_wrapped": True}
    assert hello["seeds"]["init"] == 16778909662202943976 and hello["seed"] == 42
    assert hello["resume"] is None
    assert [s["iter"] for s in samples] == [0, 3, 6, 9]  # one line per snapshot, not one per rank
    assert end == {**end, "type": "end", "status": "completed", "iter": 11}
    r0, r1 = reports(tmp_path)
    assert r0["stream"] and not r1["stream"] and not r1["control"]
    for s in samples:  # the streamed loss is the mean of the two ranks' local losses
        it = s["iter"]
        assert s["loss"] == pytest.approx((r0["local_losses"][it] + r1["local_losses"][it]) / 2, rel=1e-12)
        assert s["timing"]["allreduce_ms"] >= 0
        assert all(v is not None for v in s["metrics"].values())
    assert r0["history"] == r1["history"] or [h["iter"] for h in r1["history"]] == [0, 3, 6, 9]


@needs_torch
def test_stop_decision_reaches_every_rank_at_the_same_step(tmp_path):
    """The chief reads `stop` from the wrapper's control pipe (reopened through torchrun's
    agent, which closed it for its workers); the all-reduce carries it to rank 1."""
    stream = tmp_path / "m.jsonl"
    r, w = os.pipe()
    os.write(w, b'{"type":"decision","iter":0,"decision":"fail","action":"stop","reason":"test"}\n')
    try:
        out, wall = torchrun(["--steps", "100000", "--report-dir", str(tmp_path)],
                             {"VERISCOPE_METRICS_PATH": str(stream), "VERISCOPE_METRIC_INTERVAL": "5",
                              "VERISCOPE_CONTROL_FD": str(r), "VERISCOPE_RUN_ID": "t1"}, pass_fds=(r,))
    finally:
        os.close(r)
        os.close(w)
    assert out.returncode == 0, out.stdout + out.stderr
    r0, r1 = reports(tmp_path)
    assert r0["control"] and not r1["control"]
    assert r0["stopped_at"] == r1["stopped_at"] == 0, (r0["stopped_at"], r1["stopped_at"])
    assert r0["status"] == r1["status"] == "stopped_on_fail"
    objs = parse_stream(stream.read_text())
    assert objs[-1]["type"] == "end" and objs[-1]["status"] == "stopped_on_fail"


@needs_torch
def test_a_dying_rank_ends_the_job_promptly_instead_of_hanging(tmp_path):
    stream = tmp_path / "m.jsonl"
    out, wall = torchrun(["--steps", "100000", "--die-rank", "1", "--die-at", "20"],
                         {"VERISCOPE_METRICS_PATH": str(stream), "VERISCOPE_METRIC_INTERVAL": "5"}, timeout=180)
    assert out.returncode != 0
    assert "rank 1 dies at 20" in out.stdout
    objs = parse_stream(stream.read_text())
    assert not any(o["type"] == "end" and o["status"] == "completed" for o in objs)
    assert max(o["iter"] for o in objs if o["type"] == "sample") <= 20
    assert wall < 120, f"the surviving rank hung for {wall:.0f} s"


@needs_torch
def test_hf_train_under_torchrun_stops_both_ranks_on_a_stop_decision(tmp_path):
    """`veriscope.hf_train` with 2 DDP ranks (Trainer + VeriscopeCallback): a stop read by
    rank 0 ends training on both ranks after the same step; the process exits 0."""
    pytest.importorskip("transformers")
    stream = tmp_path / "m.jsonl"
    r, w = os.pipe()
    os.write(w, b'{"type":"decision","iter":0,"decision":"fail","action":"stop","reason":"test"}\n')
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "VERISCOPE_METRICS_PATH": str(stream),
           "VERISCOPE_METRIC_INTERVAL": "2", "VERISCOPE_CONTROL_FD": str(r), "VERISCOPE_RUN_ID": "hf1",
           "VERISCOPE_SEED": "42"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "veriscope.hf_train", "--max_steps", "500", "--batch_size", "4", "--log_every", "1"]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, pass_fds=(r,))
    finally:
        os.close(r)
        os.close(w)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    objs = parse_stream(stream.read_text())
    hello = objs[0]
    assert hello["distributed"]["distributed_mode"] == "ddp_wrapped"
    assert hello["seeds"]["data_order"] == 10646091845267208524
    assert hello["spec"]["hyperparameters"]["global_batch_size"] == 8
    assert "/" not in hello["spec"]["dataset"]["name"].replace("veriscope/data/", "")
    assert [o["iter"] for o in objs if o["type"] == "sample"] == [0]
    assert objs[-1]["type"] == "end" and objs[-1]["status"] == "stopped_on_fail" and objs[-1]["iter"] == 0
    assert out.stdout.count("[hf_train] done: status=stopped_on_fail") == 1  # rank 0 only prints


@needs_torch
def test_hf_train_checkpoints_to_ckpt_dir_and_resumes(tmp_path):
    """VERISCOPE_CKPT_DIR + VERISCOPE_RESUME=1 (docs/replay.md §3): the second run continues
    from the newest checkpoint and says so in hello (`resume.from_iter`)."""
    pytest.importorskip("transformers")
    ckpt = tmp_path / "checkpoints"
    base = {**os.environ, "PYTHONPATH": str(SRC), "VERISCOPE_CKPT_DIR": str(ckpt), "VERISCOPE_SEED": "42",
            "VERISCOPE_METRIC_INTERVAL": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "VERISCOPE_RESUME"):
        base.pop(k, None)
    args = ["--batch_size", "4", "--save_steps", "3", "--log_every", "100"]

    def run(stream, steps, **extra):
        out = subprocess.run([sys.executable, "-m", "veriscope.hf_train", "--max_steps", str(steps),
                              "--metrics_path", str(stream), *args], env={**base, **extra},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return parse_stream(stream.read_text())

    first = run(tmp_path / "a.jsonl", 6)
    assert first[0]["resume"] is None
    saved = sorted(p.name for p in ckpt.iterdir() if p.name.startswith("checkpoint-"))
    assert saved == ["checkpoint-3", "checkpoint-6"]
    second = run(tmp_path / "b.jsonl", 9, VERISCOPE_RESUME="1")
    assert second[0]["resume"] == {"from_iter": 5}
    assert [o["iter"] for o in second if o["type"] == "sample"] == [6, 7, 8]
    assert second[-1]["status"] == "completed"


@needs_torch
def test_a_signal_on_one_rank_stops_every_rank_at_the_same_snapshot(tmp_path):
    """Preemption under DDP (docs/replay.md §3): only rank 1 gets SIGTERM (at step 7); the
    snapshot all-reduce carries it, so both ranks stop after iter 10 (the next snapshot),
    nobody is left in a collective, and the chief's `end` says interrupted:SIGTERM."""
    stream = tmp_path / "m.jsonl"
    out, wall = torchrun(["--steps", "100000", "--report-dir", str(tmp_path), "--signal-rank", "1",
                          "--signal-at", "7"],
                         {"VERISCOPE_METRICS_PATH": str(stream), "VERISCOPE_METRIC_INTERVAL": "5"}, timeout=180)
    r0, r1 = reports(tmp_path)
    assert r0["stopped_at"] == r1["stopped_at"] == 10, out.stdout[-2000:] + out.stderr[-2000:]
    assert r0["interrupted"] == r1["interrupted"] == 15
    assert out.returncode != 0  # each rank exits 143 (exit_code_for(interrupted)); torchrun then fails
    objs = parse_stream(stream.read_text())
    assert [o["iter"] for o in objs if o["type"] == "sample"] == [0, 5, 10]
    assert objs[-1] == {**objs[-1], "type": "end", "iter": 10, "status": "error", "reason": "interrupted:SIGTERM"}
