"""MetricsStream / ControlChannel / LossEwma against docs/metrics-stream.md."""

import json
import os

import pytest

from conftest import check_protocol, parse_stream
from veriscope import stream as stream_mod
from veriscope.stream import ControlChannel, LossEwma, MetricsStream, StreamError, encode_line


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode("utf-8")
        chunks.append(chunk)


def test_lines_over_a_pipe_follow_the_protocol():
    r, w = os.pipe()
    s = MetricsStream(fd=w)
    s.hello(runner="t", metric_interval=5, seed=3, model={"n_layer": 2})
    s.sample(0, metrics={"var_out_k": 0.5, "eff_dim": 3, "rankme": 2.5, "cos_disp": 0.1}, loss=2.0, ewma_loss=2.0)
    s.sample(5, metrics={"eff_dim": float("nan"), "rankme": float("inf")}, loss=float("nan"), grad_norm=float("-inf"))
    s.end(status="completed", wall_s=1.5)
    os.close(w)
    objs = parse_stream(read_all(r))
    os.close(r)
    check_protocol(objs)
    hello, first, second, end = objs
    assert hello["metrics"] == ["var_out_k", "eff_dim", "rankme", "cos_disp"]
    assert hello["metric_interval"] == 5 and hello["seed"] == 3 and hello["model"] == {"n_layer": 2}
    assert first["metrics"]["eff_dim"] == 3.0 and first["loss"] == 2.0 and "nonfinite" not in first
    # Non-finite numbers become null and are counted (JSON has no NaN).
    assert second["metrics"] == {"eff_dim": None, "rankme": None}
    assert second["loss"] is None and second["grad_norm"] is None
    assert second["nonfinite"] == {"metrics": 2, "loss": 1, "grad": 1}
    assert end == {"type": "end", "iter": 5, "status": "completed", "reason": None, "wall_s": 1.5}


def test_each_line_is_one_write(monkeypatch):
    calls = []
    real_write = os.write

    def spy(fd, data):
        calls.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(stream_mod.os, "write", spy)
    r, w = os.pipe()
    s = MetricsStream(fd=w)
    s.hello(runner="t")
    for it in range(0, 50, 5):
        s.sample(it, metrics={"eff_dim": it / 7})
    os.close(w)
    text = read_all(r)
    os.close(r)
    assert len(calls) == 11
    assert all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in calls)
    assert b"".join(calls).decode() == text


def test_iter_must_strictly_increase_and_hello_comes_first(tmp_path):
    s = MetricsStream(path=str(tmp_path / "m.jsonl"))
    s.sample(10, metrics={})
    with pytest.raises(StreamError, match="not above the previous 10"):
        s.sample(10, metrics={})
    with pytest.raises(StreamError, match="non-negative integer"):
        s.sample(-1)
    with pytest.raises(StreamError, match="first line"):
        s.hello(runner="late")
    s.close()
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 1


def test_from_env_prefers_open_fd_then_path(tmp_path):
    path = tmp_path / "fallback.jsonl"
    r, w = os.pipe()
    s = MetricsStream.from_env({"VERISCOPE_METRICS_FD": str(w), "VERISCOPE_METRICS_PATH": str(path)})
    assert s.target == f"fd:{w}"
    os.close(w)
    os.close(r)
    # The fd is closed now (a launcher that closes inherited fds): fall back to the path.
    s = MetricsStream.from_env({"VERISCOPE_METRICS_FD": str(w), "VERISCOPE_METRICS_PATH": str(path)})
    s.hello(runner="t")
    s.close()
    assert s.target == str(path)
    assert json.loads(path.read_text())["type"] == "hello"
    assert MetricsStream.from_env({}) is None
    with pytest.raises(StreamError, match="VERISCOPE_METRICS_FD"):
        MetricsStream.from_env({"VERISCOPE_METRICS_FD": "three"})


def test_path_mode_appends_to_an_existing_file(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"type":"hello","protocol":1}\n')
    with MetricsStream(path=str(path)) as s:
        s.sample(0, metrics={"rankme": 1.0})
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()] == ["hello", "sample"]


def test_oversized_line_is_refused():
    with pytest.raises(StreamError, match="1 MiB"):
        encode_line({"type": "sample", "blob": "x" * (1 << 20)})


def test_numpy_scalars_are_plain_numbers():
    np = pytest.importorskip("numpy")
    line = encode_line({"type": "sample", "iter": np.int64(5), "x": np.float32(0.5), "v": np.arange(2)})
    assert json.loads(line) == {"type": "sample", "iter": 5, "x": 0.5, "v": [0, 1]}


def test_closed_reader_does_not_crash_the_runner(capsys):
    r, w = os.pipe()
    os.close(r)
    s = MetricsStream(fd=w)
    s.hello(runner="t")
    s.sample(0)
    assert s.broken
    assert "closed by the wrapper" in capsys.readouterr().err
    os.close(w)


def test_loss_ewma_alpha_and_nonfinite_skip():
    e = LossEwma()
    assert e.update(2.0) == 2.0
    assert e.update(1.0) == pytest.approx(0.1 * 1.0 + 0.9 * 2.0)
    before = e.value
    assert e.update(float("nan")) == before
    assert e.nonfinite == 1


def test_control_channel_reads_partial_lines_without_blocking():
    r, w = os.pipe()
    ch = ControlChannel(r)
    assert ch.poll() is None and not ch.stop_requested  # nothing yet: returns at once
    line = b'{"type":"decision","iter":100,"decision":"warn","action":"continue","reason":"x"}\n'
    os.write(w, line[:20])
    assert ch.poll() is None
    os.write(w, line[20:] + b"not json\n" + b'{"type":"other"}\n')
    latest = ch.poll()
    assert latest.iter == 100 and latest.decision == "warn" and not latest.stop
    assert ch.malformed == 1
    stop = b'{"type":"decision","iter":200,"decision":"fail","action":"stop","reason":"change_persistence_fail"}'
    os.write(w, stop + b"\n")
    assert ch.poll().decision == "fail"
    assert ch.stop_requested
    os.write(w, b'{"type":"decision","iter":300,"decision":"pass","action":"continue","reason":null}\n')
    os.close(w)
    assert ch.poll().iter == 300
    assert ch.stop_requested, "a stop stays requested"
    assert ch.closed
    assert [d.iter for d in ch.decisions] == [100, 200, 300]
    os.close(r)


def test_control_channel_from_env():
    assert ControlChannel.from_env({}) is None
    r, w = os.pipe()
    ch = ControlChannel.from_env({"VERISCOPE_CONTROL_FD": str(r)})
    assert ch is not None
    os.close(w)
    ch.poll()
    assert ch.closed
    os.close(r)
    assert ControlChannel.from_env({"VERISCOPE_CONTROL_FD": str(r)}) is None  # closed fd
    with pytest.raises(StreamError):
        ControlChannel.from_env({"VERISCOPE_CONTROL_FD": "x"})


def test_finite_or_none():
    assert stream_mod.finite_or_none(None) is None
    assert stream_mod.finite_or_none(3) == 3.0
    assert stream_mod.finite_or_none(float("inf")) is None
    with pytest.raises(StreamError):
        stream_mod.finite_or_none("1.0")
