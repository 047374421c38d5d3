"""Hugging Face ``TrainerCallback`` that makes a ``Trainer`` a Veriscope runner.

Owns: wiring a :class:`~veriscope.torch_loop.Monitor` into the Trainer's events.
Every ``metric_interval`` optimizer steps it runs a no-grad probe forward on a FIXED
batch, captures the output of the probed decoder block (a forward hook: for GPT-2 the
residual stream *before* the final LayerNorm, as the reference probe, algorithm.md §2.1;
models without a recognizable block list fall back to ``output_hidden_states``),
measures it and writes a ``sample`` line. It stops training when the wrapper sends a
``stop`` decision (``veriscope run hf --on-fail stop``).

Loss: HF's logging replaces NaN/inf losses by a running average
(``logging_nan_inf_filter``), which would hide exactly what the gate must see. The
callback takes the RAW loss from the model's forward output through a forward hook on
the model, before the Trainer touches it.

Iterations are 0-based: the sample after the first optimizer step has ``iter`` 0,
so snapshots land on iters 0, 5, 10, ... like the built-in trainer's.

Distributed (torchrun / DDP): the callback runs on EVERY rank. Each rank probes the
fixed batch and measures; the snapshot is all-reduced and rank 0 alone streams one global
sample; rank 0's view of the wrapper's ``stop`` reaches every rank in the same collective,
so all ranks set ``should_training_stop`` after the same step (docs/distributed.md).
Call :meth:`VeriscopeCallback.attach` with the ``Trainer`` to report the Trainer's own
pre-clip global gradient norm (without it, DDP ranks report their local pre-reduction norm).

Preemption (docs/replay.md §3): pass ``interrupt=Interrupt.install()``
(:mod:`veriscope.interrupt`). After a SIGTERM/SIGINT the callback ends training at the next
``on_step_end`` (under DDP: at the next snapshot, agreed by every rank), asks the Trainer to
save a checkpoint of that step (when its ``save_strategy`` is not ``"no"``), and
``on_train_end`` writes ``end`` with status ``error``, reason ``interrupted:SIGTERM``;
:attr:`VeriscopeCallback.interrupted` then names the signal, for the caller's exit code
(:func:`veriscope.interrupt.exit_code_for`: 143 / 130).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch
from transformers import TrainerCallback

from .metrics import MetricConfig
from .torch_loop import Monitor, first_tensor

#: Attribute names under which common causal-LM families keep their decoder blocks.
_BLOCK_LIST_NAMES = ("h", "layers", "layer", "blocks")


def find_blocks(model: torch.nn.Module) -> Optional[torch.nn.ModuleList]:
    """The longest ``ModuleList`` named like a decoder-block list (``transformer.h``,
    ``model.layers``, ``gpt_neox.layers``, ...), or ``None``."""
    best: Optional[torch.nn.ModuleList] = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in _BLOCK_LIST_NAMES:
            if best is None or len(module) > len(best):
                best = module
    return best if best is not None and len(best) > 0 else None


def _valid_token_rows(hidden: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """(B, T, D) hidden states → (N, D) rows of real (non-padding) tokens."""
    if attention_mask is not None and attention_mask.shape == hidden.shape[:2]:
        return hidden[attention_mask.to(hidden.device).bool()]
    return hidden.reshape(-1, hidden.shape[-1])


class VeriscopeCallback(TrainerCallback):
    """Writes Veriscope metric samples from a ``transformers.Trainer`` run.

    Args:
        probe_batch: the fixed probe input: a dict of tensors (``input_ids``, optional
            ``attention_mask``) or an ``input_ids`` tensor. Never the training batch, so
            snapshots are comparable across iterations.
        metric_interval: steps between snapshots; default ``$VERISCOPE_METRIC_INTERVAL``
            or 5.
        probe_layer: index into the decoder blocks (negative counts from the end);
            default -1, the last block.
        monitor: an existing :class:`Monitor`; default ``Monitor.from_env`` (the wrapper's
            stream and control fds, inert outside a wrapper).
        max_probe_tokens: keep at most this many token rows (evenly spaced) per probe.
        hello_extra: extra ``hello`` fields (``injection``, ...); ``None`` values are dropped.
        sample_extra: ``f(iter) -> dict`` of extra ``sample`` fields (``injection_active``).
        interrupt: a :class:`veriscope.interrupt.Interrupt` (``Interrupt.install()``) that
            turns SIGTERM/SIGINT into a checkpoint and a clean stop; default: none, the
            process's own signal handling applies.
        save_on_interrupt: save a checkpoint at the interrupted step; default: when the
            ``TrainingArguments.save_strategy`` is not ``"no"``.
    """

    def __init__(
        self,
        probe_batch: Any,
        metric_interval: Optional[int] = None,
        probe_layer: int = -1,
        monitor: Optional[Monitor] = None,
        metric_config: Optional[MetricConfig] = None,
        max_probe_tokens: int = 16384,
        env: Optional[Mapping[str, str]] = None,
        hello_extra: Optional[Mapping[str, Any]] = None,
        sample_extra: Optional[Callable[[int], Mapping[str, Any]]] = None,
        interrupt: Any = None,
        save_on_interrupt: Optional[bool] = None,
    ) -> None:
        if isinstance(probe_batch, torch.Tensor):
            probe_batch = {"input_ids": probe_batch}
        if not isinstance(probe_batch, Mapping) or "input_ids" not in probe_batch:
            raise ValueError("probe_batch must be an input_ids tensor or a dict with `input_ids`")
        self.probe_batch = {k: v for k, v in probe_batch.items() if k in ("input_ids", "attention_mask")}
        self.probe_layer = probe_layer
        self.max_probe_tokens = max_probe_tokens
        self.monitor = monitor or Monitor.from_env(
            env=env, runner="veriscope.hf", metric_interval=metric_interval, config=metric_config
        )
        if interrupt is not None:
            self.monitor.interrupt = interrupt
        self.save_on_interrupt = save_on_interrupt
        self.hello_extra = dict(hello_extra or {})
        self.sample_extra = sample_extra
        #: Raw loss of the last completed step (None before the first, or when not seen).
        self.last_loss: Optional[float] = None
        self._grad_norm: Optional[float] = None
        self._grad_sq: Dict[int, float] = {}
        self._want_grads = False
        self._lr: Optional[float] = None
        self._hooks: List[Any] = []
        self._micro_losses: List[float] = []
        self._losses_are_partial_sums = False
        self._probing = False
        self._captured: Optional[torch.Tensor] = None
        self._blocks: Optional[torch.nn.ModuleList] = None
        self._active = True
        self._attached = False
        self._trainer_norm: Any = None
        self._partial_sum_scale = 1

    def attach(self, trainer: Any) -> "VeriscopeCallback":
        """Adds this callback to ``trainer`` and reads the gradient norm the Trainer computes
        itself (pre-clip, over the all-reduced gradients under DDP) instead of per-parameter
        hooks. Returns ``self``."""
        if self not in getattr(trainer.callback_handler, "callbacks", []):
            trainer.add_callback(self)
        original = getattr(trainer, "_get_grad_norm", None)
        if callable(original):

            def _get_grad_norm(model: Any, grad_norm: Any = None) -> Any:
                value = original(model, grad_norm=grad_norm)
                self._trainer_norm = value  # a tensor: read (.item()) only on snapshot steps
                return value

            trainer._get_grad_norm = _get_grad_norm
            self._attached = True
        return self

    # -- Trainer events --------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        # Every rank measures (the snapshot is all-reduced); the Monitor lets only rank 0 write.
        if model is None:
            self._active = False
            return
        # With average_tokens_across_devices the model divides by the tokens of ALL ranks
        # and the Trainer multiplies the loss by the world size (Trainer.compute_loss).
        world = int(getattr(args, "world_size", 1) or 1)
        self._partial_sum_scale = world if getattr(args, "average_tokens_across_devices", False) and world > 1 else 1
        self._install_hooks(model)
        extra = {k: v for k, v in self.hello_extra.items() if v is not None or k == "resume"}
        seed = extra.pop("seed", getattr(args, "seed", None))
        self.monitor.hello(seed=seed, model=self._model_info(model), **extra)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._micro_losses.clear()
        # global_step is this step's 0-based iter until on_step_end increments it.
        self._grad_sq.clear()
        self._want_grads = self._active and self.monitor.is_probe_iter(state.global_step)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._grad_norm, self._lr = None, None
        if not self._want_grads:
            return
        if self._attached and self._trainer_norm is not None:  # the Trainer's own pre-clip norm
            value = self._trainer_norm
            self._grad_norm = float(value.item() if hasattr(value, "item") else value)
        elif self._grad_sq:  # pre-clip norm from the post-accumulate hooks
            self._grad_norm = math.sqrt(sum(self._grad_sq.values()))
        elif model is not None:  # no hooks: gradients here are already clipped
            self._grad_norm = _grad_norm(model)
        self._lr = _current_lr(kwargs.get("optimizer"))
        self._want_grads = False

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not self._active:
            return
        iter = state.global_step - 1
        if model is not None and self.monitor.is_probe_iter(iter):
            hidden, probe_ms = self._probe(model)
            self.monitor.observe_hidden(hidden, iter, probe_ms=probe_ms)
        self.last_loss = self._step_loss()
        extra = dict(self.sample_extra(iter)) if self.sample_extra is not None else {}
        stop = self.monitor.step(iter, self.last_loss, grad_norm=self._grad_norm, lr=self._lr, **extra)
        self._grad_norm, self._lr = None, None
        if stop:
            control.should_training_stop = True
        if self.monitor.interrupted is not None and self._saves_on_interrupt(args):
            control.should_save = True  # checkpoint-<global_step>, before on_train_end writes `end`

    @property
    def interrupted(self) -> Optional[int]:
        """The signal training stopped for (SIGTERM 15 / SIGINT 2), or ``None``."""
        return self.monitor.interrupted

    def _saves_on_interrupt(self, args: Any) -> bool:
        if self.save_on_interrupt is not None:
            return self.save_on_interrupt
        strategy = getattr(args, "save_strategy", "no")
        return str(getattr(strategy, "value", strategy)) != "no"

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._active:
            self.monitor.finish()
        self.remove_hooks()

    # -- hooks -----------------------------------------------------------------------------

    def _install_hooks(self, model: torch.nn.Module) -> None:
        self.remove_hooks()
        self._hooks.append(model.register_forward_hook(self._on_model_output, with_kwargs=True))
        if not self._attached and hasattr(torch.Tensor, "register_post_accumulate_grad_hook"):
            # Trainer clips gradients before any callback event; these hooks see each
            # parameter's accumulated gradient before clipping (only on snapshot steps).
            for param in model.parameters():
                if param.requires_grad:
                    self._hooks.append(param.register_post_accumulate_grad_hook(self._on_grad))
        self._blocks = find_blocks(model)
        if self._blocks is not None:
            block = self._blocks[self.probe_layer]
            self._hooks.append(block.register_forward_hook(self._on_block_output))

    def remove_hooks(self) -> None:
        """Detaches every hook this callback installed."""
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()

    def _on_model_output(self, module: Any, args: Any, kwargs: Dict[str, Any], output: Any) -> None:
        if self._probing or not module.training:
            return
        loss = getattr(output, "loss", None)
        if loss is None and isinstance(output, Mapping):
            loss = output.get("loss")
        if loss is None:
            return
        # With num_items_in_batch the model normalizes by the tokens of the whole
        # accumulated step, so micro-batch losses add up to the step loss; otherwise each
        # is a mean and the step loss is their mean (Trainer.training_step).
        self._losses_are_partial_sums = kwargs.get("num_items_in_batch") is not None
        self._micro_losses.append(float(loss.detach().float().mean().item()))

    def _on_grad(self, param: torch.Tensor) -> None:
        if self._want_grads and param.grad is not None:
            # Overwritten per micro-batch: the last one holds the accumulated gradient.
            self._grad_sq[id(param)] = float(param.grad.detach().float().pow(2).sum().item())

    def _on_block_output(self, module: Any, args: Any, output: Any) -> None:
        if self._probing:
            self._captured = first_tensor(output).detach()

    def _step_loss(self) -> Optional[float]:
        if not self._micro_losses:
            return None
        total = sum(self._micro_losses)
        if self._losses_are_partial_sums:
            return total * self._partial_sum_scale
        return total / len(self._micro_losses)

    # -- probe -----------------------------------------------------------------------------

    def _probe(self, model: torch.nn.Module) -> "tuple[torch.Tensor, float]":
        t0 = time.perf_counter()
        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in self.probe_batch.items()}
        want_hidden_states = self._blocks is None
        was_training = model.training
        self._probing, self._captured = True, None
        model.eval()
        try:
            with torch.no_grad():
                out = model(**inputs, output_hidden_states=want_hidden_states)
        finally:
            self._probing = False
            if was_training:
                model.train()
        hidden = self._captured if not want_hidden_states else out.hidden_states[self.probe_layer]
        if hidden is None:
            raise RuntimeError(
                f"veriscope probe: decoder block {self.probe_layer} produced no output "
                "during the probe forward (is the model wrapped or the layer skipped?)"
            )
        rows = _valid_token_rows(hidden, inputs.get("attention_mask"))
        if rows.shape[0] > self.max_probe_tokens:
            keep = torch.linspace(0, rows.shape[0] - 1, self.max_probe_tokens, device=rows.device).long()
            rows = rows[keep]
        # Stays on the model's device: MetricState projects accelerator tensors there.
        return rows.float(), (time.perf_counter() - t0) * 1e3

    def _model_info(self, model: torch.nn.Module) -> Dict[str, Any]:
        cfg = getattr(model, "config", None)
        info: Dict[str, Any] = {
            "probe_layer": self.probe_layer,
            "probe_capture": "block_hook" if self._blocks is not None else "hidden_states",
        }
        for key in ("model_type", "n_layer", "n_embd", "num_hidden_layers", "hidden_size", "vocab_size"):
            value = getattr(cfg, key, None)
            if isinstance(value, (int, str)):
                info[key] = value
        info["n_params"] = sum(p.numel() for p in model.parameters())
        return info


def _grad_norm(model: torch.nn.Module) -> Optional[float]:
    norms = [p.grad.detach().float().norm() for p in model.parameters() if p.grad is not None]
    if not norms:
        return None
    return float(torch.linalg.vector_norm(torch.stack([n.cpu() for n in norms])).item())


def _current_lr(optimizer: Any) -> Optional[float]:
    """The learning rate this step applies (read before the scheduler advances)."""
    if optimizer is not None and getattr(optimizer, "param_groups", None):
        return float(optimizer.param_groups[0]["lr"])
    return None
