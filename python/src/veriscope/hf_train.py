"""``python -m veriscope.hf_train``: a real transformers causal-LM run gated by Veriscope.

Owns: the runner that ``veriscope run hf`` launches. It trains a small GPT-2 built from a
config (no hub download: the weights start random and the tokenizer is byte-level,
built here) on a local text file (default: the public-domain corpus shipped in
``veriscope/data``) with ``transformers.Trainer`` plus :class:`veriscope.hf.VeriscopeCallback`,
so the metrics stream reaches the wrapper. It can inject the reference pathology
(``--data_corrupt_*``: tokens permuted in a window of steps, algorithm.md §1) so a run
has something for the gate to find.

The wrapper calls it as ``[--force] --gate_preset X --run_id R --outdir O <user args>``
(cli_contracts.md A14) with ``VERISCOPE_*`` set; standalone, ``--metrics_path FILE``
writes the same stream to a file.

Under torchrun (``veriscope run hf --nproc-per-node N``) every worker runs this script;
the Trainer sets up DDP (gloo on CPU, nccl on GPU), each rank measures, rank 0 streams one
all-reduced sample per snapshot and a stop decision stops every rank after the same step
(docs/distributed.md). Seeds come from ``VERISCOPE_SEED`` (docs/replay.md §2),
checkpoints go to ``VERISCOPE_CKPT_DIR`` and ``VERISCOPE_RESUME=1`` continues from the
newest one there (§3).

Preemption (§3, as the built-in trainer): the first SIGTERM or SIGINT finishes the current
step, saves ``checkpoint-N`` for it (when ``VERISCOPE_CKPT_DIR`` is set), writes ``end`` with
status ``error`` and reason ``interrupted:SIGTERM`` / ``interrupted:SIGINT`` and exits
128+signal; a second signal ends the process at once. Every DDP rank handles the signal;
the stop is agreed in the snapshot all-reduce, so it takes effect at the next snapshot
(at most ``metric_interval`` steps later) on every rank together.

Exit codes: 0 when training completed or stopped on a gate ``stop``; 1 when training
raised (the stream then ends with ``status: error``); 2 on bad arguments or data;
143 / 130 after SIGTERM / SIGINT (checkpoint and ``end`` first).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

RUNNER_NAME = "veriscope.hf_train"
#: Run seed outside a wrapper when --seed is not given (the wrapper always sets VERISCOPE_SEED).
STANDALONE_SEED = 1337
DEFAULT_CORPUS = "corpus.txt"
EXIT_OK, EXIT_TRAINING_ERROR, EXIT_USAGE = 0, 1, 2


class ByteTokenizer:
    """Byte-level tokenizer: token = UTF-8 byte (vocab 256). Built locally, nothing to load."""

    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m veriscope.hf_train", description=__doc__.splitlines()[0])
    p.add_argument(
        "--outdir",
        default=os.environ.get("VERISCOPE_OUTDIR", "out/hf_train"),
        help="capsule directory (owned by the wrapper; the runner writes nothing there)",
    )
    p.add_argument("--run_id", default=os.environ.get("VERISCOPE_RUN_ID"), help="run id assigned by the wrapper")
    p.add_argument(
        "--gate_preset",
        "--gate-preset",
        default=os.environ.get("VERISCOPE_GATE_PRESET", "tuned_v0"),
        help="gate preset in force (recorded; the gate runs in the wrapper)",
    )
    p.add_argument("--force", action="store_true", help="accepted for wrapper compatibility; no effect here")
    p.add_argument("--data", default=None, help="UTF-8 text file to train on (default: the shipped corpus)")
    p.add_argument("--max_steps", type=int, default=60)
    p.add_argument(
        "--seed", type=int, default=None, help="run seed (default $VERISCOPE_SEED, else %d)" % STANDALONE_SEED
    )
    p.add_argument("--block_size", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--n_layer", type=int, default=2)
    p.add_argument("--n_embd", type=int, default=64)
    p.add_argument("--n_head", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup_steps", type=int, default=10)
    p.add_argument(
        "--metric_interval",
        type=int,
        default=None,
        help="steps between snapshots (default $VERISCOPE_METRIC_INTERVAL or 5)",
    )
    p.add_argument("--probe_batch_size", type=int, default=8, help="sequences in the fixed probe batch")
    p.add_argument("--log_every", type=int, default=10, help="print a progress line every N steps")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--metrics_path", default=None, help="write the metrics stream to this file when not run under `veriscope run`"
    )
    p.add_argument("--data_corrupt_at", type=int, default=-1, help="first corrupted step (-1: none)")
    p.add_argument("--data_corrupt_len", type=int, default=0, help="number of corrupted steps")
    p.add_argument("--data_corrupt_frac", type=float, default=0.15, help="fraction of tokens permuted")
    p.add_argument(
        "--save_steps", type=int, default=50, help="checkpoint every N steps when $VERISCOPE_CKPT_DIR is set"
    )
    p.add_argument(
        "--ddp_timeout",
        type=int,
        default=600,
        help="seconds a collective may wait for a peer rank before failing (torchrun then stops the job)",
    )
    args = p.parse_args(argv)
    _check_args(p, args)
    return args


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in (
        "max_steps",
        "block_size",
        "batch_size",
        "n_layer",
        "n_embd",
        "n_head",
        "probe_batch_size",
        "log_every",
        "save_steps",
        "ddp_timeout",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.n_embd % args.n_head:
        p.error(f"--n_embd ({args.n_embd}) must be divisible by --n_head ({args.n_head})")
    if not 0.0 <= args.data_corrupt_frac <= 1.0:
        p.error(f"--data_corrupt_frac must be in [0, 1], got {args.data_corrupt_frac}")
    if args.metric_interval is not None and args.metric_interval < 1:
        p.error(f"--metric_interval must be >= 1, got {args.metric_interval}")


def load_text(path: Optional[str]) -> str:
    """The training text: ``path`` or the corpus shipped with the package."""
    if path is None:
        return resources.files("veriscope").joinpath("data", DEFAULT_CORPUS).read_text(encoding="utf-8")
    return Path(path).read_text(encoding="utf-8")


class Corruption:
    """The reference ``data_corrupt`` pathology: during steps ``[at, at+len)`` a fraction
    ``frac`` of each sequence's positions have their tokens permuted among themselves."""

    def __init__(self, at: int, length: int, frac: float) -> None:
        self.at, self.length, self.frac = at, length, frac

    @property
    def enabled(self) -> bool:
        return self.at >= 0 and self.length > 0 and self.frac > 0

    def active(self, step: int) -> bool:
        return self.enabled and self.at <= step < self.at + self.length

    def apply(self, block: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        count = int(round(self.frac * block.shape[0]))
        if count < 2:
            return block
        positions = rng.choice(block.shape[0], size=count, replace=False)
        block = block.copy()
        block[positions] = block[rng.permutation(positions)]
        return block

    def describe(self) -> Optional[Dict[str, Any]]:
        if not self.enabled:
            return None
        return {"kind": "data_corrupt", "at": self.at, "len": self.length, "frac": self.frac, "mode": "permute"}


def make_dataset(
    train_ids: np.ndarray,
    block_size: int,
    batch_size: int,
    seed: int,
    corruption: Corruption,
    world_size: int = 1,
    injection_seed: Optional[int] = None,
):
    """An endless ``IterableDataset`` of random ``block_size`` windows drawn with ``seed``
    (the derived data_order seed); item ``k`` belongs to step ``k // (batch_size *
    world_size)``, which places corruption (no accumulation; under DDP accelerate reads
    ``world_size`` per-device batches per step from this one stream, on rank 0 or on every
    rank alike, and splits them over the ranks). Corruption draws from ``injection_seed``."""
    import torch

    per_step = batch_size * max(1, world_size)

    class RandomBlocks(torch.utils.data.IterableDataset):
        def __iter__(self) -> Iterator[Dict[str, Any]]:
            rng = np.random.default_rng(seed)
            inj_rng = np.random.default_rng(seed if injection_seed is None else injection_seed)
            high = len(train_ids) - block_size
            k = 0
            while True:
                start = int(rng.integers(0, high + 1))
                block = train_ids[start : start + block_size]
                if corruption.active(k // per_step):
                    block = corruption.apply(block, inj_rng)
                ids = torch.from_numpy(np.ascontiguousarray(block))
                yield {"input_ids": ids, "labels": ids.clone()}
                k += 1

    return RandomBlocks()


def probe_batch(heldout_ids: np.ndarray, block_size: int, size: int) -> Any:
    """The fixed probe batch: ``size`` evenly spaced windows of the held-out tail."""
    import torch

    starts = np.linspace(0, len(heldout_ids) - block_size, size).astype(np.int64)
    rows = np.stack([heldout_ids[s : s + block_size] for s in starts])
    return {"input_ids": torch.from_numpy(rows)}


def split_ids(ids: np.ndarray, block_size: int, probe_size: int) -> "tuple[np.ndarray, np.ndarray]":
    """Train on the first 90 %, probe on the last 10 % (at least one block)."""
    heldout = max(len(ids) // 10, block_size + probe_size)
    if len(ids) - heldout < 2 * block_size:
        raise ValueError(
            f"training text has {len(ids)} bytes; need at least {heldout + 2 * block_size} "
            f"for --block_size {block_size}"
        )
    return ids[:-heldout], ids[-heldout:]


def build_model(args: argparse.Namespace, vocab_size: int) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=args.block_size,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # what transformers falls back to anyway, minus its warning
    return model


def run_spec(args: argparse.Namespace, text: str, world_size: int, corruption: "Corruption") -> Dict[str, Any]:
    """The path-free model/data/training spec reported as hello ``spec`` (docs/replay.md §2:
    the manifest's ``runner.spec``): no paths, no timings."""
    data = text.encode("utf-8")
    return {
        "model": {
            "name": "gpt2",
            "source": "config",  # random init from a config, nothing from the hub
            "revision": None,
            "n_layer": args.n_layer,
            "n_embd": args.n_embd,
            "n_head": args.n_head,
            "n_positions": args.block_size,
            "vocab_size": ByteTokenizer.vocab_size,
            "tokenizer": "bytes",
        },
        "dataset": {
            "name": "veriscope/data/" + DEFAULT_CORPUS if args.data is None else Path(args.data).name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "split": "train: first 90 %; probe: last 10 %",
        },
        "hyperparameters": {
            "max_steps": args.max_steps,
            "per_device_batch_size": args.batch_size,
            "global_batch_size": args.batch_size * world_size,
            "block_size": args.block_size,
            "lr": args.lr,
            "warmup_steps": args.warmup_steps,
            "lr_scheduler": "cosine",
            "weight_decay": 0.1,
            "adam_beta2": 0.95,
            "max_grad_norm": 1.0,
            "probe_batch_size": args.probe_batch_size,
            "world_size": world_size,
        },
        "injection": corruption.describe(),
    }


def checkpoint_iter(path: str) -> Optional[int]:
    """Last completed iteration of a Trainer ``checkpoint-N`` directory (N steps = iters 0..N-1)."""
    name = Path(path).name
    if not name.startswith("checkpoint-") or not name[len("checkpoint-") :].isdigit():
        return None
    return int(name[len("checkpoint-") :]) - 1


def latest_checkpoint(ckpt_dir: Optional[str]) -> Optional[str]:
    """The newest complete ``checkpoint-N`` under ``ckpt_dir`` (one with trainer_state.json)."""
    if not ckpt_dir or not os.path.isdir(ckpt_dir):
        return None
    found = [
        (checkpoint_iter(str(p)), str(p))
        for p in Path(ckpt_dir).iterdir()
        if p.is_dir() and checkpoint_iter(str(p)) is not None and (p / "trainer_state.json").is_file()
    ]
    return max(found)[1] if found else None


def save_on_stop_callback() -> Any:
    """Saves a checkpoint at the step a gate ``stop`` ends training (for ``--fork`` / resume)."""
    from transformers import TrainerCallback

    class SaveOnStop(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if control.should_training_stop:
                control.should_save = True

    return SaveOnStop()


def progress_callback(veriscope_cb: Any, max_steps: int, every: int) -> Any:
    """Prints ``[hf_train] step i/N loss ... ewma ...`` every ``every`` steps."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = state.global_step
            if not veriscope_cb.monitor.is_chief:
                return
            if step % every == 0 or step == max_steps or control.should_training_stop:
                mon = veriscope_cb.monitor
                loss = veriscope_cb.last_loss
                ewma = mon.ewma.value
                print(
                    f"[hf_train] step {step}/{max_steps} loss {_fmt(loss)} ewma_loss {_fmt(ewma)} "
                    f"samples {len(mon.history)} elapsed {time.perf_counter() - self.t0:.1f}s",
                    flush=True,
                )

    return Progress()


def _fmt(x: Optional[float]) -> str:
    return "null" if x is None else (f"{x:.4f}" if math.isfinite(x) else str(x))


def _training_args(
    args: argparse.Namespace,
    scratch: str,
    use_cpu: bool,
    hf_seed: int,
    ckpt_dir: Optional[str] = None,
    world_size: int = 1,
) -> Any:
    from transformers import TrainingArguments

    extra: Dict[str, Any] = {}
    if world_size > 1:
        extra.update(
            ddp_backend="gloo" if use_cpu else "nccl",
            ddp_timeout=args.ddp_timeout,
            ddp_find_unused_parameters=False,
        )
    if ckpt_dir:
        extra.update(save_strategy="steps", save_steps=args.save_steps, save_total_limit=2)
    else:
        extra.update(save_strategy="no")
    return TrainingArguments(
        output_dir=ckpt_dir or scratch,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=args.warmup_steps,
        lr_scheduler_type="cosine",
        weight_decay=0.1,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        seed=hf_seed,
        data_seed=hf_seed,
        use_cpu=use_cpu,
        report_to="none",
        disable_tqdm=True,
        eval_strategy="no",
        logging_strategy="no",
        dataloader_num_workers=0,
        **extra,
    )


def run(args: argparse.Namespace) -> int:
    import torch
    from transformers import Trainer

    from .distributed import env_world
    from .hf import VeriscopeCallback
    from .interrupt import Interrupt, exit_code_for, signal_name
    from .repro import DeterminismError, seed32, setup_from_env
    from .stream import MetricsStream, StreamError
    from .torch_loop import Monitor

    world_size, rank, _local = env_world()
    chief = rank == 0
    use_cpu = args.device == "cpu" or (args.device == "auto" and not torch.cuda.is_available())
    if use_cpu:
        per_proc = max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world_size))))
        torch.set_num_threads(max(1, min(4, per_proc)))
    try:
        setup = setup_from_env(explicit_seed=args.seed, default_seed=STANDALONE_SEED)
    except DeterminismError as exc:
        print(f"[hf_train] error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"[hf_train] error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    tokenizer = ByteTokenizer()
    try:
        text = load_text(args.data)
        ids = tokenizer.encode(text)
        train_ids, heldout_ids = split_ids(ids, args.block_size, args.probe_batch_size)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"[hf_train] error: cannot use training data: {exc}", file=sys.stderr)
        return EXIT_USAGE
    corruption = Corruption(args.data_corrupt_at, args.data_corrupt_len, args.data_corrupt_frac)
    resume_from = latest_checkpoint(setup.ckpt_dir) if setup.resume else None
    if setup.resume and resume_from is None and chief:
        print(f"[hf_train] VERISCOPE_RESUME=1 but no checkpoint in {setup.ckpt_dir}; starting fresh", flush=True)
    resume = {"from_iter": checkpoint_iter(resume_from)} if resume_from else None

    try:
        monitor = Monitor.from_env(runner=RUNNER_NAME, metric_interval=args.metric_interval)
        if monitor.stream is None and args.metrics_path and chief:
            monitor.stream = MetricsStream(path=args.metrics_path)
    except (StreamError, ValueError, OSError) as exc:
        print(f"[hf_train] error: cannot open the metrics stream: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # From here on a SIGTERM/SIGINT stops after the current step with a checkpoint; every
    # rank handles it and the stop is agreed in the snapshot all-reduce (docs/replay.md §3).
    interrupt = Interrupt.install()
    callback = VeriscopeCallback(
        probe_batch(heldout_ids, args.block_size, args.probe_batch_size),
        monitor=monitor,
        hello_extra={
            "injection": corruption.describe(),
            "run_id": args.run_id,
            "gate_preset": args.gate_preset,
            "seed": setup.run_seed,
            "seeds": setup.hello_seeds(),
            "spec": run_spec(args, text, world_size, corruption),
            "resume": resume,
            "determinism": {"mode": "strict" if setup.strict else "standard"},
        },
        sample_extra=lambda it: {"injection_active": corruption.active(it)} if corruption.enabled else {},
        interrupt=interrupt,
        save_on_interrupt=bool(setup.ckpt_dir),
    )
    torch.manual_seed(setup.seeds["init"])  # the same initial weights on every rank
    model = build_model(args, tokenizer.vocab_size)
    if chief:
        print(
            f"[hf_train] run_id={args.run_id} outdir={args.outdir} device={'cpu' if use_cpu else 'cuda'} "
            f"world_size={world_size} params={sum(p.numel() for p in model.parameters())} "
            f"train_bytes={len(train_ids)} metric_interval={monitor.metric_interval} "
            f"seed={setup.run_seed} ({setup.seed_source}) resume={resume} "
            f"stream={monitor.stream.target if monitor.stream else 'none'}",
            flush=True,
        )
    scratch = tempfile.mkdtemp(prefix="veriscope_hf_train_")
    try:
        trainer = Trainer(
            model=model,
            args=_training_args(args, scratch, use_cpu, seed32(setup.seeds["init"]), setup.ckpt_dir, world_size),
            train_dataset=make_dataset(
                train_ids,
                args.block_size,
                args.batch_size,
                setup.seeds["data_order"],
                corruption,
                world_size=world_size,
                injection_seed=setup.seeds["injection"],
            ),
        )
        callback.attach(trainer)
        trainer.add_callback(progress_callback(callback, args.max_steps, args.log_every))
        if setup.ckpt_dir:
            trainer.add_callback(save_on_stop_callback())
        trainer.train(resume_from_checkpoint=resume_from)
    except Exception as exc:  # the stream must say why it ends; then fail the process
        monitor.finish(status="error", reason=f"{type(exc).__name__}: {exc}"[:400])
        print(f"[hf_train] error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_TRAINING_ERROR
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if monitor.stream is not None:
            monitor.stream.close()
        _teardown_process_group()
        interrupt.restore()
    if callback.interrupted is not None:
        sig = callback.interrupted
        if chief:
            saved = latest_checkpoint(setup.ckpt_dir)
            where = f"checkpoint {saved}; resume with VERISCOPE_RESUME=1" if saved else "no checkpoint saved"
            print(
                f"[hf_train] interrupted by {signal_name(sig)} after step {trainer.state.global_step}: {where}",
                flush=True,
            )
        return exit_code_for(sig)
    if not chief:
        return EXIT_OK
    print(
        f"[hf_train] done: status={monitor.status} samples={len(monitor.history)} "
        f"final_loss={_fmt(callback.last_loss)}",
        flush=True,
    )
    return EXIT_OK


def _teardown_process_group() -> None:
    """Destroys the process group the Trainer created, after a barrier
    (:func:`veriscope.distributed.teardown_process_group`)."""
    from .distributed import teardown_process_group

    teardown_process_group()


def main(argv: Optional[List[str]] = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    from .distributed import exit_process

    exit_process(main())
