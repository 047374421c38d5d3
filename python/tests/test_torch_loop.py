"""Monitor / plain-PyTorch loop helper: cadence, EWMA, NaN handling, stop on a decision."""

import json
import os

import pytest

from conftest import check_protocol, needs_torch, parse_stream
from veriscope.stream import ControlChannel, MetricsStream
from veriscope.torch_loop import Monitor, resolve_metric_interval


def test_metric_interval_resolution():
    assert resolve_metric_interval(None, {}) == 5
    assert resolve_metric_interval(None, {"VERISCOPE_METRIC_INTERVAL": "10"}) == 10
    assert resolve_metric_interval(3, {"VERISCOPE_METRIC_INTERVAL": "10"}) == 3
    with pytest.raises(ValueError, match="VERISCOPE_METRIC_INTERVAL"):
        resolve_metric_interval(None, {"VERISCOPE_METRIC_INTERVAL": "often"})
    with pytest.raises(ValueError, match=">= 1"):
        resolve_metric_interval(0, {})


def test_monitor_without_torch_writes_samples_on_cadence(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "m.jsonl"
    mon = Monitor(stream=MetricsStream(path=str(path)), metric_interval=4, env={})
    mon.hello(seed=1)
    rng = np.random.default_rng(0)
    losses = [3.0, 2.5, float("nan"), 2.0, 1.9, 1.8, 1.7, 1.6, 1.5]
    for it, loss in enumerate(losses):
        if mon.is_probe_iter(it):
            mon.observe_hidden(rng.normal(size=(32, 8)), it)
        assert mon.step(it, loss, lr=0.1) is False
    mon.finish()
    objs = parse_stream(path.read_text())
    check_protocol(objs)
    samples = [o for o in objs if o["type"] == "sample"]
    assert [s["iter"] for s in samples] == [0, 4, 8]
    assert all(v is not None for v in samples[0]["metrics"].values())
    assert samples[1]["nonfinite"]["loss"] == 1  # the NaN at iter 2, counted since the last sample
    # EWMA over finite losses only, updated every iteration.
    ewma = 3.0
    for loss in (2.5, 2.0, 1.9, 1.8, 1.7, 1.6, 1.5):
        ewma = 0.1 * loss + 0.9 * ewma
    assert samples[2]["ewma_loss"] == pytest.approx(ewma)
    assert "step_ms" in samples[2]["timing"] and "metric_ms" in samples[2]["timing"]
    assert objs[-1]["type"] == "end" and objs[-1]["iter"] == 8 and objs[-1]["status"] == "completed"


def test_unprobed_snapshot_iteration_sends_null_metrics():
    mon = Monitor(metric_interval=2, env={})
    mon.step(0, 1.0)
    assert mon.history[0]["metrics"] == {"var_out_k": None, "eff_dim": None, "rankme": None, "cos_disp": None}


@needs_torch
def test_plain_torch_loop_probes_and_stops_on_decision(tmp_path):
    import torch

    torch.manual_seed(0)
    path = tmp_path / "m.jsonl"
    r, w = os.pipe()
    mon = Monitor(stream=MetricsStream(path=str(path)), control=ControlChannel(r), metric_interval=2, env={})
    encoder = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh())
    head = torch.nn.Linear(16, 1)
    opt = torch.optim.SGD(list(encoder.parameters()) + list(head.parameters()), lr=0.1)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    probe = torch.randn(32, 8)
    stopped_at = None
    for it in range(20):
        loss = torch.nn.functional.mse_loss(head(encoder(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it == 5:  # the wrapper decides to stop
            os.write(
                w,
                json.dumps(
                    {"type": "decision", "iter": 4, "decision": "fail", "action": "stop", "reason": "test"}
                ).encode()
                + b"\n",
            )
        if mon.step(it, loss, model_fn=encoder, batch=probe):
            stopped_at = it
            break
    mon.finish()
    os.close(w)
    os.close(r)
    assert stopped_at == 5
    assert encoder.training, "probe restores train mode"
    objs = parse_stream(path.read_text())
    check_protocol(objs)
    samples = [o for o in objs if o["type"] == "sample"]
    assert [s["iter"] for s in samples] == [0, 2, 4]
    assert all(isinstance(v, float) for s in samples for v in s["metrics"].values())
    assert samples[0]["metrics"]["eff_dim"] <= 16
    assert "probe_ms" in samples[0]["timing"]
    assert objs[-1]["status"] == "stopped_on_fail" and objs[-1]["iter"] == 5
