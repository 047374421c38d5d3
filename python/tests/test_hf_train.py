"""End to end: `python -m veriscope.hf_train` as `veriscope run hf` launches it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import check_protocol, needs_hf, parse_stream
from veriscope.hf_train import latest_checkpoint

SRC = str(Path(__file__).resolve().parents[1] / "src")


def child_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@needs_hf
def test_hf_train_over_the_wrapper_pipe(tmp_path):
    r, w = os.pipe()
    env = child_env(
        VERISCOPE_METRICS_FD=str(w),
        VERISCOPE_METRICS_PATH=str(tmp_path / "fallback.jsonl"),
        VERISCOPE_RUN_ID="0123456789ab",
        VERISCOPE_OUTDIR=str(tmp_path),
        VERISCOPE_METRIC_INTERVAL="5",
        VERISCOPE_ON_FAIL="continue",
    )
    # The wrapper's argument order (cli_contracts.md A14), then the user's arguments.
    cmd = [
        sys.executable,
        "-m",
        "veriscope.hf_train",
        "--gate_preset",
        "tuned_v0",
        "--run_id",
        "0123456789ab",
        "--outdir",
        str(tmp_path),
        "--max_steps",
        "20",
        "--log_every",
        "10",
        "--data_corrupt_at",
        "10",
        "--data_corrupt_len",
        "5",
    ]
    proc = subprocess.Popen(cmd, env=env, pass_fds=(w,), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        stream_text = reader.read().decode("utf-8")
    output = proc.communicate(timeout=600)[0].decode("utf-8", "replace")
    assert proc.returncode == 0, output
    assert "[hf_train] step 10/20" in output and "[hf_train] step 20/20" in output
    assert not (tmp_path / "fallback.jsonl").exists(), "the open fd wins over the path"
    objs = parse_stream(stream_text)
    check_protocol(objs)
    hello = objs[0]
    assert hello["runner"] == "veriscope.hf_train" and hello["metric_interval"] == 5
    assert hello["injection"] == {"kind": "data_corrupt", "at": 10, "len": 5, "frac": 0.15, "mode": "permute"}
    samples = [o for o in objs if o["type"] == "sample"]
    assert [s["iter"] for s in samples] == [0, 5, 10, 15]
    assert [s["injection_active"] for s in samples] == [False, False, True, False]
    for s in samples:
        assert all(isinstance(v, float) for v in s["metrics"].values()), s
        assert isinstance(s["loss"], float) and isinstance(s["ewma_loss"], float)
    assert samples[-1]["ewma_loss"] < samples[0]["ewma_loss"], "the model learns"
    assert objs[-1] == {**objs[-1], "type": "end", "iter": 19, "status": "completed"}


def test_hf_train_rejects_bad_arguments():
    proc = subprocess.run(
        [sys.executable, "-m", "veriscope.hf_train", "--n_embd", "30", "--n_head", "4"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--n_embd (30) must be divisible by --n_head (4)" in proc.stderr


@needs_hf
def test_hf_train_reports_unreadable_data(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "veriscope.hf_train", "--data", str(tmp_path / "missing.txt")],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "cannot use training data" in proc.stderr


@needs_hf
def test_hf_train_rejects_a_bad_metrics_fd():
    proc = subprocess.run(
        [sys.executable, "-m", "veriscope.hf_train", "--max_steps", "1"],
        env=child_env(VERISCOPE_METRICS_FD="three"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "cannot open the metrics stream" in proc.stderr and "VERISCOPE_METRICS_FD" in proc.stderr


#: The smallest model the runner accepts: start-up (importing transformers) dominates the test.
TINY = (
    "--n_layer 1 --n_embd 16 --n_head 2 --block_size 16 --batch_size 2 --probe_batch_size 2 "
    "--warmup_steps 1 --log_every 100000 --save_steps 100000"
).split()


def _wait_for_samples(proc, path, count, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count('"type":"sample"') >= count:
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    raise AssertionError(f"no {count} samples in {timeout} s")


@needs_hf
def test_sigterm_checkpoints_the_step_ends_the_stream_and_resumes(tmp_path):
    """Preemption (docs/replay.md §3): SIGTERM finishes the step, saves a complete
    checkpoint-N, writes `end` (error, interrupted:SIGTERM) and exits 143; VERISCOPE_RESUME=1
    then continues from iter N-1."""
    ckpt = tmp_path / "checkpoints"
    env = child_env(VERISCOPE_CKPT_DIR=str(ckpt), VERISCOPE_SEED="42", VERISCOPE_METRIC_INTERVAL="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "VERISCOPE_RESUME", "VERISCOPE_METRICS_FD"):
        env.pop(k, None)
    first = tmp_path / "first.jsonl"
    cmd = [sys.executable, "-m", "veriscope.hf_train", *TINY]
    proc = subprocess.Popen(
        cmd + ["--max_steps", "100000", "--metrics_path", str(first)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_samples(proc, first, 3)
        text = first.read_text()
        seen = [o["iter"] for o in parse_stream(text[: text.rfind("\n") + 1]) if o["type"] == "sample"]
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, output[-3000:]
    assert "[hf_train] interrupted by SIGTERM" in output
    objs = parse_stream(first.read_text())
    check_protocol(objs)
    end = objs[-1]
    assert end == {**end, "type": "end", "status": "error", "reason": "interrupted:SIGTERM"}
    last_sample = [o["iter"] for o in objs if o["type"] == "sample"][-1]
    assert end["iter"] == last_sample >= seen[-1]
    saved = latest_checkpoint(str(ckpt))
    assert saved is not None and (Path(saved) / "trainer_state.json").is_file()
    n = int(Path(saved).name.split("-")[1])
    assert n - 1 == last_sample, "the checkpoint holds the last streamed step"

    second = tmp_path / "second.jsonl"
    out = subprocess.run(
        cmd + ["--max_steps", str(n + 2), "--metrics_path", str(second)],
        env={**env, "VERISCOPE_RESUME": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    objs = parse_stream(second.read_text())
    assert objs[0]["resume"] == {"from_iter": n - 1}
    assert [o["iter"] for o in objs if o["type"] == "sample"] == [n, n + 1]
    assert objs[-1] == {**objs[-1], "type": "end", "status": "completed", "iter": n + 1}
