"""Representation metrics of one probe snapshot, mirroring ``veriscope_gate::metrics``.

Owns: the prequential EMA standardization gauge, the fixed-seed JL projection, the
covariance spectrum and the four gated scalars ``var_out_k``, ``eff_dim``, ``rankme``,
``cos_disp`` (algorithm.md §2.2-§2.5), computed the way crates/veriscope-gate/src/metrics.rs
computes them: float64 throughout, JL matrix and ``cos_disp`` pairs from splitmix64 with
the seeds of docs/gate.md, ``None`` (never NaN) for anything not measurable.

Agreement with the Rust crate: the random draws are bit-identical (same integer recipe,
same libm for ``log``/``cos``/``sin`` on one machine); the linear algebra (BLAS matmul,
LAPACK ``eigvalsh`` versus faer) differs in summation order, so metric values agree to a
relative 1e-9 (tests/test_rust_agreement.py), not bit for bit.

Inputs are numpy arrays or torch tensors of shape (N, D) or (..., D), read as float32 as
the reference probe does (algorithm.md §2.1). Tensors on an accelerator (or any tensor
with ``MetricConfig(torch_math=True)``) are standardized and projected by torch in
float64 on their device, so only the N×64 projection crosses to the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

#: Gated metric names in declaration order (algorithm.md §3.1).
METRIC_NAMES = ("var_out_k", "eff_dim", "rankme", "cos_disp")

GAUGE_ALPHA = 0.1  # §2.2: weight of the newest batch
STD_FLOOR = 1e-8  # §2.2: batch std clamped at 1e-8, then 1e-8 added
PR_DENOM_FLOOR = 1e-20  # §2.5: floor of Σλ² in the participation ratio
RANKME_P_FLOOR = 1e-12  # §2.5: floor of λ/T in the spectral entropy
ROW_NORM_FLOOR = 1e-8  # §2.5: floor of a row norm before cosine

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_TWO_POW_M53 = 1.0 / float(1 << 53)


# -- PRNG (docs/gate.md §PRNG, crates/veriscope-gate/src/prng.rs) -------------------------


class SplitMix64:
    """splitmix64, one output at a time: the scalar reference of :func:`splitmix64_block`."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK64

    def next_u64(self) -> int:
        self.state = (self.state + _GOLDEN) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
        z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
        return z ^ (z >> 31)

    def next_f64(self) -> float:
        return (self.next_u64() >> 11) * _TWO_POW_M53

    def next_below(self, n: int) -> int:
        return self.next_u64() % n


def splitmix64_block(seed: int, count: int, start: int = 0) -> np.ndarray:
    """Outputs ``start .. start+count`` of ``SplitMix64(seed)`` as uint64, vectorized.

    splitmix64 is counter based: output ``t`` is ``mix(seed + (t+1)·golden)`` (mod 2^64),
    so a block needs no sequential loop. numpy's uint64 arithmetic wraps like Rust's
    ``wrapping_*``.
    """
    steps = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & _MASK64) + steps * np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


def normals(seed: int, count: int) -> np.ndarray:
    """``count`` standard normals exactly as ``SplitMix64::normals`` draws them.

    Box–Muller over consecutive outputs: ``u1 = 1 - f64(out[2p])``, ``u2 = f64(out[2p+1])``,
    ``(r cos 2πu2, r sin 2πu2)`` with ``r = sqrt(-2 ln u1)``; an odd count drops the last
    sine. The uniforms are exact; the transcendental calls go through ``math`` (the C libm,
    as Rust's ``f64::ln``/``cos``/``sin``) so the values match bit for bit.
    """
    pairs = (count + 1) // 2
    bits = splitmix64_block(seed, 2 * pairs)
    uniforms = (bits >> np.uint64(11)).astype(np.float64) * _TWO_POW_M53
    out = np.empty(2 * pairs, dtype=np.float64)
    log, cos, sin, sqrt, tau = math.log, math.cos, math.sin, math.sqrt, math.tau
    u1s = (1.0 - uniforms[0::2]).tolist()
    u2s = uniforms[1::2].tolist()
    for p, (u1, u2) in enumerate(zip(u1s, u2s)):
        r = sqrt(-2.0 * log(u1))
        theta = tau * u2
        out[2 * p] = r * cos(theta)
        out[2 * p + 1] = r * sin(theta)
    return out[:count]


def jl_seed(base: int, d: int, k: int) -> int:
    """Seed of the ``d × k`` JL matrix: ``base + d + 31·k`` (algorithm.md §2.3)."""
    return (base + d + 31 * k) & _MASK64


def pair_seed(seed: int, iter: int) -> int:
    """Seed of the ``cos_disp`` pair sampler at ``iter``: ``seed + 131·iter + 17`` (§2.5)."""
    return (seed + 131 * iter + 17) & _MASK64


def jl_matrix(d: int, k: int, base: int = 42) -> np.ndarray:
    """``A ∈ R^{d×k}``, N(0,1)/sqrt(k) entries filled row-major from the splitmix64 normals."""
    z = normals(jl_seed(base, d, k), d * k).reshape(d, k)
    return z * (1.0 / math.sqrt(k))


def cos_pairs(n: int, m: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """The ``m`` row pairs of ``cos_disp``: ``i = next_below(n)``, ``j = next_below(n)``
    per pair, and ``j == i`` moves to ``(j + 1) mod n``."""
    bits = splitmix64_block(seed, 2 * m)
    idx = (bits % np.uint64(n)).astype(np.int64)
    i, j = idx[0::2], idx[1::2]
    j = np.where(j == i, (j + 1) % n, j)
    return i, j


def var_out_k_index(dim: int) -> int:
    """``k`` of ``var_out_k``: ``clamp(round(sqrt(dim)), 1, dim)``; Python's ``round`` is
    half-to-even like Rust's ``round_ties_even``."""
    return min(max(int(round(math.sqrt(dim))), 1), max(dim, 1))


# -- metric math ----------------------------------------------------------------------------


@dataclass
class MetricConfig:
    """Knobs of :class:`MetricState`; defaults reproduce the reference GPT probe."""

    rp_dim: int = 64
    cos_pairs: int = 2048
    seed: int = 42
    jl_seed_base: int = 42
    update_gauge: bool = True
    #: Run the gauge and the projection with torch on the tensor's own device (always on
    #: for accelerator tensors): only the N×k projection crosses to the CPU.
    torch_math: bool = False


@dataclass
class MetricValues:
    """The four gated scalars of one snapshot; ``None`` means not measurable."""

    var_out_k: Optional[float] = None
    eff_dim: Optional[float] = None
    rankme: Optional[float] = None
    cos_disp: Optional[float] = None
    k_used: int = 0
    nonfinite_inputs: int = 0

    def to_map(self) -> Dict[str, Optional[float]]:
        """Metric name → value, the shape of a stream ``sample.metrics`` object."""
        return {name: _finite(getattr(self, name)) for name in METRIC_NAMES}


def _finite(x: Optional[float]) -> Optional[float]:
    return None if x is None or not math.isfinite(x) else float(x)


def covariance_spectrum(x: np.ndarray) -> np.ndarray:
    """Eigenvalues of the row covariance of ``x`` (§2.4): columns centered,
    ``C = XᵀX / max(1, n−1)``, symmetrized, clamped at 0, sorted descending."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    centered = x - x.mean(axis=0)
    cov = centered.T @ centered / max(1, n - 1)
    cov = 0.5 * (cov + cov.T)
    if not np.all(np.isfinite(cov)):
        return np.full(cov.shape[0], np.nan)
    eig = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
    return np.sort(eig)[::-1]


def spectrum_metrics(eig: np.ndarray, k: int) -> MetricValues:
    """``var_out_k``, ``eff_dim``, ``rankme`` from a descending, non-negative spectrum."""
    eig = np.asarray(eig, dtype=np.float64)
    total = float(eig.sum())
    if not math.isfinite(total) or total <= 0.0:
        return MetricValues()
    top = float(eig[:k].sum())
    var_out_k = max(0.0, total - top) / total
    eff_dim = total * total / max(float((eig * eig).sum()), PR_DENOM_FLOOR)
    p = np.maximum(eig / total, RANKME_P_FLOOR)
    q = p / p.sum()
    rankme = math.exp(-float((q * np.log(q)).sum()))
    return MetricValues(var_out_k=var_out_k, eff_dim=eff_dim, rankme=rankme, k_used=k)


def cos_disp(x: np.ndarray, pairs: int, seed: int) -> Optional[float]:
    """Mean ``|cos|`` over ``min(pairs, n(n−1)/2)`` sampled row pairs of ``x`` (§2.5)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        return None
    m = min(pairs, n * (n - 1) // 2)
    if m == 0:
        return None
    norms = np.maximum(np.sqrt((x * x).sum(axis=1)), ROW_NORM_FLOOR)
    i, j = cos_pairs(n, m, seed)
    cos = np.abs((x[i] * x[j]).sum(axis=1) / (norms[i] * norms[j]))
    value = float(cos.mean())
    return value if math.isfinite(value) else None


def as_matrix(h: Any) -> np.ndarray:
    """(…, D) hidden states from numpy or torch → float32 (N, D) numpy on the CPU."""
    if hasattr(h, "detach"):  # torch.Tensor, without importing torch here
        h = h.detach().to("cpu").float().numpy()
    h = np.asarray(h, dtype=np.float32)
    if h.ndim == 1:
        h = h[None, :]
    return h.reshape(-1, h.shape[-1])


class MetricState:
    """Streaming metric computer: the EMA gauge plus the cached JL matrix.

    Call :meth:`snapshot` once per probe, in iteration order; the gauge standardizes each
    snapshot with the statistics of the *previous* ones (prequential, §2.2).
    """

    def __init__(self, config: Optional[MetricConfig] = None) -> None:
        self.config = config or MetricConfig()
        self._mean: Optional[np.ndarray] = None
        self._scale: Optional[np.ndarray] = None
        self.gauge_updates = 0
        self._jl_key: Optional[Tuple[int, int]] = None
        self._jl: Optional[np.ndarray] = None

    def snapshot(self, h: Any, iter: int) -> MetricValues:
        """Metrics of hidden states ``h`` taken at ``iter``, then a gauge update from ``h``.

        Non-finite inputs make every metric ``None`` and leave the gauge untouched; a
        change of D restarts the gauge (as the Rust crate does).
        """
        if hasattr(h, "detach") and (self.config.torch_math or h.device.type != "cpu"):
            return self._snapshot_torch(h, iter)
        raw32 = as_matrix(h)
        nonfinite = int(raw32.size - np.count_nonzero(np.isfinite(raw32)))
        n, d = raw32.shape
        if nonfinite or d == 0:
            return MetricValues(nonfinite_inputs=nonfinite)
        if self._mean is not None and self._mean.shape[0] != d:
            self._mean, self._scale, self.gauge_updates = None, None, 0
        raw = raw32.astype(np.float64)
        values = self._compute(raw, iter)
        if self.config.update_gauge:
            self._update_gauge(raw)
        return values

    def _snapshot_torch(self, h: Any, iter: int) -> MetricValues:
        """:meth:`snapshot` with the O(N·D) work (gauge statistics, projection) done by torch
        in float64 on ``h``'s device; the k×k spectrum and ``cos_disp`` stay in numpy."""
        import torch

        raw = h.detach().reshape(-1, h.shape[-1]).float().double()  # f32 values, as the CPU path
        nonfinite = int((~torch.isfinite(raw)).sum().item())
        n, d = raw.shape
        if nonfinite or d == 0:
            return MetricValues(nonfinite_inputs=nonfinite)
        if self._mean is not None and self._mean.shape[0] != d:
            self._mean, self._scale, self.gauge_updates = None, None, 0

        def project(k: int) -> np.ndarray:
            jl = torch.from_numpy(self.jl_matrix(d, k)).to(raw.device)
            if self._mean is None:
                return (raw @ jl).cpu().numpy()
            scaled = jl / torch.from_numpy(self._scale).to(raw.device)[:, None]
            offset = torch.from_numpy(self._mean).to(raw.device) @ scaled
            return (raw @ scaled - offset).cpu().numpy()

        values = self._compute_projected(n, d, iter, project)
        if self.config.update_gauge and n > 0:
            mean = raw.mean(dim=0)
            std = ((raw - mean) ** 2).mean(dim=0).sqrt()
            self._blend_gauge(mean.cpu().numpy(), std.cpu().numpy())
        return values

    def _compute(self, raw: np.ndarray, iter: int) -> MetricValues:
        n, d = raw.shape
        return self._compute_projected(n, d, iter, lambda k: self.project(raw, k))

    def _compute_projected(self, n: int, d: int, iter: int, project: Any) -> MetricValues:
        k = min(max(self.config.rp_dim, 1), d)
        k_used = var_out_k_index(k)
        if n < 2:
            return MetricValues(k_used=k_used)
        projected = project(k)
        values = spectrum_metrics(covariance_spectrum(projected), k_used)
        values.cos_disp = cos_disp(projected, self.config.cos_pairs, pair_seed(self.config.seed, iter))
        values.k_used = k_used
        return values

    def project(self, raw: np.ndarray, k: int) -> np.ndarray:
        """``((H − μ)/σ)·A``, as ``H·(diag(1/σ)A) − (μ/σ)ᵀA`` like the Rust crate; the first
        snapshot is projected unstandardized (§2.2 step 1)."""
        jl = self.jl_matrix(raw.shape[1], k)
        if self._mean is None:
            return raw @ jl
        scaled = jl / self._scale[:, None]
        offset = self._mean @ scaled
        return raw @ scaled - offset

    def jl_matrix(self, d: int, k: int) -> np.ndarray:
        if self._jl_key != (d, k):
            self._jl = jl_matrix(d, k, self.config.jl_seed_base)
            self._jl_key = (d, k)
        return self._jl

    def _update_gauge(self, raw: np.ndarray) -> None:
        if raw.shape[0] == 0:
            return
        mean = raw.mean(axis=0)
        std = np.sqrt(((raw - mean) ** 2).mean(axis=0))
        self._blend_gauge(mean, std)

    def _blend_gauge(self, mean: np.ndarray, std: np.ndarray) -> None:
        """EMA update (§2.2 step 2): std floored at 1e-8 then +1e-8; α = 0.1 after the first."""
        batch_scale = np.maximum(std, STD_FLOOR) + STD_FLOOR
        if self._mean is None:
            self._mean, self._scale = mean, batch_scale
        else:
            self._mean = GAUGE_ALPHA * mean + (1.0 - GAUGE_ALPHA) * self._mean
            self._scale = GAUGE_ALPHA * batch_scale + (1.0 - GAUGE_ALPHA) * self._scale
        self.gauge_updates += 1
