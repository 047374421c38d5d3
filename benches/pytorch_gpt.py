#!/usr/bin/env python3
"""PyTorch twin of the veriscope-gpt model, for a side-by-side throughput figure (CPU or CUDA).

Same architecture as crates/veriscope-gpt/src/model.rs (pre-LN blocks, fused QKV without
bias, hand-written causal attention with an additive -inf mask and softmax, GELU MLP
(sigmoid or tanh form), final LayerNorm, untied LM head), same AdamW hyper-parameters and
the same embedded corpus. Prints one JSON line: median tokens/s over timed rounds.

Usage: python3 benches/pytorch_gpt.py [--threads 2] [--steps 60] [--rounds 3] [cpu_small flags]
       python3 benches/pytorch_gpt.py --device cuda [gpu preset flags]   (benches/gpu_bench.sh)
On CUDA both frameworks compute in plain f32 (TF32 off, PyTorch's default for matmuls), and
each step ends with `loss.item()`, a device sync, as our trainer reads the loss every step.
"""
import argparse
import json
import math
import pathlib
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "crates/veriscope-gpt/corpus/kjv_genesis_exodus.txt"


class Block(nn.Module):
    def __init__(self, c, nh, gelu):
        super().__init__()
        self.nh, self.gelu = nh, gelu
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c, bias=False)
        self.proj = nn.Linear(c, c, bias=False)
        self.fc = nn.Linear(c, 4 * c, bias=False)
        self.fc_proj = nn.Linear(4 * c, c, bias=False)

    def act(self, x):
        if self.gelu == "sigmoid":
            return x * torch.sigmoid(1.702 * x)
        return F.gelu(x, approximate="tanh")

    def forward(self, x, mask):
        b, t, c = x.shape
        hd = c // self.nh
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.nh, hd).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd)) + mask[:t, :t]
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.proj(y)
        return x + self.fc_proj(self.act(self.fc(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab, n_layer, nh, c, block, gelu):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(block, c)
        self.blocks = nn.ModuleList(Block(c, nh, gelu) for _ in range(n_layer))
        self.ln_f, self.head = nn.LayerNorm(c), nn.Linear(c, vocab, bias=False)
        self.register_buffer("mask", torch.full((block, block), float("-inf")).triu(1))

    def forward(self, idx):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x, self.mask)
        return self.head(self.ln_f(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup-steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--gelu", choices=["sigmoid", "tanh"], default="sigmoid")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    text = CORPUS.read_text()
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(ch) for ch in text[: len(text) * 9 // 10]], dtype=torch.long)
    ids = ids.to(dev)
    model = Gpt(len(chars), a.n_layer, a.n_head, a.n_embd, a.block_size, a.gelu).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr, betas=(0.9, 0.95), eps=1e-8,
    )

    def step():
        ix = torch.randint(len(ids) - a.block_size - 1, (a.batch_size,), device=dev)
        offsets = ix[:, None] + torch.arange(a.block_size, device=dev)
        x, y = ids[offsets], ids[offsets + 1]
        loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup_steps):
        step()
    rates = []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            last = step()
        dt = time.perf_counter() - t0
        rates.append(a.steps * a.batch_size * a.block_size / dt)
    print(json.dumps({
        "framework": "pytorch", "torch": torch.__version__, "threads": a.threads, "device": a.device,
        "tokens_per_s": statistics.median(rates), "rounds": rates, "last_loss": last,
        "n_params": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
