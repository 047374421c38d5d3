"""veriscope.metrics versus the Rust gate crate on the same inputs.

Two fixtures:
- data/rust_metrics.json: produced by veriscope_gate::metrics itself
  (python/tests/rust_agreement, regenerate with its regenerate.sh);
- crates/veriscope-gate/tests/data/metric_vectors.json: the gate crate's numpy reference
  vectors, which its own Rust tests check against.

Tolerance: random draws (splitmix64 words, uniforms, Box–Muller normals, the JL matrix)
must be bit-identical; metric values agree to a relative 1e-9 (absolute 1e-12 near
zero), the slack being BLAS/LAPACK versus faer summation order.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from veriscope.metrics import METRIC_NAMES, MetricConfig, MetricState, SplitMix64, jl_matrix, normals

HERE = Path(__file__).resolve().parent
RUST_FIXTURE = HERE / "data" / "rust_metrics.json"
GATE_VECTORS = HERE.parents[1] / "crates" / "veriscope-gate" / "tests" / "data" / "metric_vectors.json"
REL, ABS = 1e-9, 1e-12


def load(path):
    if not path.exists():
        pytest.skip(f"{path} is missing (regenerate it, see the module docstring)")
    return json.loads(path.read_text())


def assert_metric_close(got, want, where):
    if want is None:
        assert got is None, f"{where}: Rust says not measurable, Python gave {got}"
        return
    assert got is not None, f"{where}: Python gave None, Rust {want}"
    assert math.isclose(got, want, rel_tol=REL, abs_tol=ABS), f"{where}: {got!r} vs Rust {want!r}"


def make_input(kind, n, d, seed, t):
    """Same inputs as make_input in rust_agreement/src/main.rs (elementwise f64, then f32)."""
    z = normals(seed, n * d)
    if kind == "drift":
        return (z * (1.0 + 0.25 * t) + 0.5 * t).astype(np.float32).reshape(n, d)
    if kind == "lowrank":
        a, b = normals(seed ^ 0xA5A5, n), normals(seed ^ 0x5A5A, n)
        u, v = normals(seed ^ 0x1111, d), normals(seed ^ 0x2222, d)
        h = a[:, None] * u[None, :] + b[:, None] * v[None, :] + 0.01 * z.reshape(n, d)
        return h.astype(np.float32)
    return z.astype(np.float32).reshape(n, d)


def test_prng_is_bit_identical_to_rust():
    doc = load(RUST_FIXTURE)["prng"]
    rng = SplitMix64(doc["seed_u64"])
    assert [str(rng.next_u64()) for _ in doc["u64"]] == doc["u64"]
    rng = SplitMix64(doc["seed_f64"])
    assert [rng.next_f64() for _ in doc["f64"]] == doc["f64"]
    assert normals(doc["seed_normals"], len(doc["normals"])).tolist() == doc["normals"]


def test_jl_matrix_is_bit_identical_to_rust():
    doc = load(RUST_FIXTURE)["jl"]
    assert jl_matrix(doc["d"], doc["k"], doc["base"]).tolist() == doc["rows"]
    assert math.isclose(float(jl_matrix(96, 64, 42).sum()), doc["sum_96x64"], rel_tol=1e-12)


@pytest.mark.parametrize("index", range(6))
def test_scenario_metrics_agree_with_rust(index):
    scenarios = load(RUST_FIXTURE)["scenarios"]
    if index >= len(scenarios):
        pytest.skip("fixture has fewer scenarios")
    sc = scenarios[index]
    state = MetricState(MetricConfig())
    for snap in sc["snapshots"]:
        h = make_input(sc["kind"], sc["n"], sc["d"], snap["seed"], snap["t"])
        if sc["nan_at_t1"] is not None and snap["t"] == 1:
            h.reshape(-1)[sc["nan_at_t1"]] = np.nan
        got = state.snapshot(h, snap["iter"])
        want = snap["values"]
        where = f"{sc['name']} t={snap['t']}"
        assert got.k_used == want["k_used"], where
        assert got.nonfinite_inputs == want["nonfinite_inputs"], where
        for name in METRIC_NAMES:
            assert_metric_close(getattr(got, name), want[name], f"{where} {name}")


def test_gate_crate_numpy_vectors():
    doc = load(GATE_VECTORS)
    # That generator divides by sqrt(k) where Rust (and we) multiply by 1/sqrt(k): last-bit
    # differences only, hence a tolerance here and bit equality against Rust above.
    np.testing.assert_allclose(jl_matrix(16, 8).reshape(-1), doc["jl_16x8"], rtol=1e-15, atol=0)
    big = jl_matrix(384, 64)
    np.testing.assert_allclose(
        [big[0, 0], big[-1, -1]], [doc["jl_384x64_first"], doc["jl_384x64_last"]], rtol=1e-15, atol=0
    )
    assert math.isclose(float((big * big).sum()), doc["jl_384x64_sum_sq"], rel_tol=1e-12)
    cfg = doc["config"]
    state = MetricState(MetricConfig(rp_dim=cfg["rp_dim"], cos_pairs=cfg["cos_pairs"], seed=cfg["seed"]))
    for snap in doc["snapshots"]:
        h = np.array(snap["h"], dtype=np.float32).reshape(cfg["n"], cfg["d"])
        got = state.snapshot(h, snap["iter"])
        for name in METRIC_NAMES:
            assert_metric_close(getattr(got, name), snap[name], f"iter {snap['iter']} {name}")
