#!/usr/bin/env python3
"""Reference vectors for veriscope_gate::metrics, computed independently with numpy.

This is also the executable spec of the metric recipe for the Python SDK
(docs/gate.md, sections "PRNG" and "Metrics"). Usage:

    python3 crates/veriscope-gate/tests/gen/gen_metric_vectors.py \
        > crates/veriscope-gate/tests/data/metric_vectors.json

Requires numpy. Output is deterministic.
"""

import json
import math
import sys

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    """splitmix64; see docs/gate.md "PRNG"."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def next_f64(self):
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def next_below(self, n):
        return self.next_u64() % n

    def normals(self, count):
        out = []
        while len(out) < count:
            u1 = 1.0 - self.next_f64()
            u2 = self.next_f64()
            r = math.sqrt(-2.0 * math.log(u1))
            theta = 2.0 * math.pi * u2
            out.append(r * math.cos(theta))
            out.append(r * math.sin(theta))
        return out[:count]


def jl_matrix(d, k, base=42):
    z = SplitMix64(base + d + 31 * k).normals(d * k)
    return np.array(z, dtype=np.float64).reshape(d, k) / math.sqrt(k)


def var_out_k_index(dim):
    return min(max(int(round(math.sqrt(dim))), 1), max(dim, 1))


def spectrum(x):
    n = x.shape[0]
    xc = x - x.mean(axis=0, keepdims=True)
    c = xc.T @ xc / max(1, n - 1)
    c = 0.5 * (c + c.T)
    eig = np.clip(np.linalg.eigvalsh(c), 0.0, None)
    return np.sort(eig)[::-1]


def spectrum_metrics(eig, k):
    total = float(eig.sum())
    if not math.isfinite(total) or total <= 0.0:
        return None, None, None
    var_out = max(0.0, total - float(eig[:k].sum())) / total
    eff = total * total / max(float((eig * eig).sum()), 1e-20)
    p = np.maximum(eig / total, 1e-12)
    p = p / p.sum()
    rankme = math.exp(float(-(p * np.log(p)).sum()))
    return var_out, eff, rankme


def cos_disp(x, pairs, seed):
    n = x.shape[0]
    m = min(pairs, n * (n - 1) // 2)
    norms = np.maximum(np.sqrt((x * x).sum(axis=1)), 1e-8)
    rng = SplitMix64(seed)
    acc = []
    for _ in range(m):
        i = rng.next_below(n)
        j = rng.next_below(n)
        if j == i:
            j = (j + 1) % n
        acc.append(abs(float(x[i] @ x[j]) / (norms[i] * norms[j])))
    return float(np.mean(acc))


class Gauge:
    def __init__(self):
        self.mean = None
        self.scale = None

    def standardize(self, h):
        return h if self.mean is None else (h - self.mean) / self.scale

    def update(self, h):
        m = h.mean(axis=0)
        s = np.maximum(h.std(axis=0), 1e-8) + 1e-8
        if self.mean is None:
            self.mean, self.scale = m, s
        else:
            self.mean = 0.1 * m + 0.9 * self.mean
            self.scale = 0.1 * s + 0.9 * self.scale


def synthetic_batch(n, d, seed):
    """Anisotropic float32 hidden states: scaled noise plus a shared rank-1 direction."""
    z = np.array(SplitMix64(seed).normals(n * d)).reshape(n, d)
    h = z * (0.2 + 0.05 * np.arange(d)) + 0.5 * z[:, :1] + 0.3
    return h.astype(np.float32)


def main():
    n, d, rp_dim, pairs, seed = 64, 24, 8, 100, 42
    k = min(rp_dim, d)
    a = jl_matrix(d, k)
    gauge = Gauge()
    snapshots = []
    for t, it in enumerate([0, 5, 10]):
        h32 = synthetic_batch(n, d, 1000 + t)
        h = h32.astype(np.float64)
        x = gauge.standardize(h) @ a
        eig = spectrum(x)
        var_out, eff, rankme = spectrum_metrics(eig, var_out_k_index(k))
        snapshots.append({
            "iter": it,
            "h": [float(v) for v in h32.reshape(-1)],
            "eigenvalues": [float(v) for v in eig],
            "var_out_k": var_out,
            "eff_dim": eff,
            "rankme": rankme,
            "cos_disp": cos_disp(x, pairs, seed + 131 * it + 17),
        })
        gauge.update(h)
    big = jl_matrix(384, 64)
    out = {
        "generator": "crates/veriscope-gate/tests/gen/gen_metric_vectors.py",
        "numpy_version": np.__version__,
        "jl_16x8": [float(v) for v in jl_matrix(16, 8).reshape(-1)],
        "jl_384x64_seed": 42 + 384 + 31 * 64,
        "jl_384x64_sum": float(big.sum()),
        "jl_384x64_sum_sq": float((big * big).sum()),
        "jl_384x64_first": float(big[0, 0]),
        "jl_384x64_last": float(big[-1, -1]),
        "config": {"n": n, "d": d, "rp_dim": rp_dim, "cos_pairs": pairs, "seed": seed},
        "snapshots": snapshots,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
