"""End to end: `python -m veriscope.hf_train` as `veriscope run hf` launches it."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import check_protocol, needs_hf, parse_stream

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
