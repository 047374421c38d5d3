"""VeriscopeCallback on a tiny GPT-2 inside a real transformers.Trainer."""

import json
import os

import pytest

from conftest import check_protocol, needs_hf, parse_stream

pytestmark = needs_hf


def tiny_setup(tmp_path, metric_interval, callbacks_extra=(), control=None, max_steps=6, interrupt=None, **targs):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    from veriscope.hf import VeriscopeCallback, find_blocks
    from veriscope.stream import MetricsStream
    from veriscope.torch_loop import Monitor

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=32, n_layer=2, n_head=2))
    assert find_blocks(model) is model.transformer.h
    data = torch.randint(0, 32, (64, 16))
    train = [{"input_ids": row, "labels": row} for row in data]
    stream_path = tmp_path / "m.jsonl"
    monitor = Monitor(
        stream=MetricsStream(path=str(stream_path)),
        control=control,
        metric_interval=metric_interval,
        runner="test",
        env={},
    )
    cb = VeriscopeCallback(
        {"input_ids": data[:4], "attention_mask": torch.ones(4, 16, dtype=torch.long)},
        monitor=monitor,
        interrupt=interrupt,
    )
    targs = {"save_strategy": "no", **targs}
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        max_steps=max_steps,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        logging_strategy="steps",
        logging_steps=1,
        seed=0,
        **targs,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[cb, *callbacks_extra])
    return trainer, cb, stream_path


def test_callback_writes_valid_samples_with_raw_loss(tmp_path):
    trainer, cb, path = tiny_setup(tmp_path, metric_interval=2)
    trainer.train()
    objs = parse_stream(path.read_text())
    check_protocol(objs)
    hello = objs[0]
    assert hello["runner"] == "test" and hello["metric_interval"] == 2
    assert hello["model"]["probe_capture"] == "block_hook" and hello["model"]["n_layer"] == 2
    assert hello["distributed"]["distributed_mode"] == "single_process"
    samples = [o for o in objs if o["type"] == "sample"]
    assert [s["iter"] for s in samples] == [0, 2, 4]
    for s in samples:
        assert all(isinstance(v, float) for v in s["metrics"].values()), s
        assert 1.0 <= s["metrics"]["eff_dim"] <= 32.0
        assert s["loss"] > 0 and s["ewma_loss"] > 0 and s["grad_norm"] > 0 and s["lr"] > 0
    # The raw loss the callback captured equals what the Trainer logged for that step.
    logged = {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}
    for s in samples:
        assert s["loss"] == pytest.approx(logged[s["iter"] + 1], rel=1e-3)
    assert objs[-1]["type"] == "end" and objs[-1]["status"] == "completed"
    assert not cb._hooks, "hooks are removed at train end"


def test_nan_loss_reaches_the_stream_unfiltered(tmp_path):
    import torch
    from transformers import TrainerCallback

    class PoisonWeights(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:
                with torch.no_grad():
                    model.transformer.wte.weight.fill_(float("nan"))

    trainer, _, path = tiny_setup(tmp_path, metric_interval=1, callbacks_extra=[PoisonWeights()], max_steps=4)
    trainer.train()
    samples = [o for o in parse_stream(path.read_text()) if o["type"] == "sample"]
    assert [s["iter"] for s in samples] == [0, 1, 2, 3]
    assert samples[0]["loss"] is not None and samples[1]["loss"] is not None
    # Iter 1 probed the poisoned weights (poisoned in the step-2 on_step_end, before the probe).
    assert samples[2]["loss"] is None and samples[2]["nonfinite"]["loss"] == 1
    assert all(v is None for v in samples[2]["metrics"].values())
    assert samples[2]["nonfinite"]["hidden"] > 0
    # HF's own log replaced the NaN loss (logging_nan_inf_filter): the reason for the hook.
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert all(v == v for v in logged)


def test_stop_decision_stops_training(tmp_path):
    from veriscope.stream import ControlChannel

    r, w = os.pipe()
    os.write(
        w,
        json.dumps({"type": "decision", "iter": 0, "decision": "fail", "action": "stop", "reason": "test"}).encode()
        + b"\n",
    )
    trainer, _, path = tiny_setup(tmp_path, metric_interval=2, control=ControlChannel(r), max_steps=6)
    trainer.train()
    os.close(w)
    os.close(r)
    assert trainer.state.global_step == 1
    objs = parse_stream(path.read_text())
    assert objs[-1] == {**objs[-1], "type": "end", "status": "stopped_on_fail", "iter": 0}


@pytest.mark.parametrize("save_strategy", ["steps", "no"])
def test_a_signal_stops_after_the_step_with_a_checkpoint_and_an_interrupted_end(tmp_path, save_strategy):
    import signal

    from transformers import TrainerCallback

    from veriscope.hf_train import latest_checkpoint
    from veriscope.interrupt import Interrupt

    interrupt = Interrupt()

    class SignalDuringStep3(TrainerCallback):  # as if SIGINT arrived while iter 2 ran
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 2:
                interrupt.trigger(signal.SIGINT)

    trainer, cb, path = tiny_setup(
        tmp_path,
        metric_interval=2,
        callbacks_extra=[SignalDuringStep3()],
        max_steps=50,
        interrupt=interrupt,
        save_strategy=save_strategy,
        save_steps=1000,
    )
    trainer.train()
    assert trainer.state.global_step == 3 and cb.interrupted == signal.SIGINT
    objs = parse_stream(path.read_text())
    check_protocol(objs)
    assert [o["iter"] for o in objs if o["type"] == "sample"] == [0, 2]
    assert objs[-1] == {**objs[-1], "type": "end", "iter": 2, "status": "error", "reason": "interrupted:SIGINT"}
    saved = latest_checkpoint(str(tmp_path / "trainer"))
    if save_strategy == "steps":  # a complete checkpoint of the interrupted step
        assert saved is not None and saved.endswith("checkpoint-3")
    else:  # the run does not checkpoint: it only stops
        assert saved is None


def test_probe_batch_is_validated():
    from veriscope.hf import VeriscopeCallback

    with pytest.raises(ValueError, match="input_ids"):
        VeriscopeCallback({"tokens": [1, 2]}, env={})
