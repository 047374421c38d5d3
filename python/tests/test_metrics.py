"""veriscope.metrics on known spectra and PRNG vectors (mirrors crates/veriscope-gate tests)."""

import math

import numpy as np
import pytest

from conftest import needs_torch
from veriscope.metrics import (
    MetricConfig,
    MetricState,
    SplitMix64,
    cos_disp,
    cos_pairs,
    covariance_spectrum,
    jl_matrix,
    normals,
    spectrum_metrics,
    splitmix64_block,
    var_out_k_index,
)


def test_splitmix64_matches_published_reference_values():
    expected = [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    rng = SplitMix64(1234567)
    assert [rng.next_u64() for _ in range(5)] == expected
    assert splitmix64_block(1234567, 5).tolist() == expected
    assert splitmix64_block(1234567, 2, start=3).tolist() == expected[3:]


def test_normals_follow_box_muller_over_the_scalar_generator():
    rng = SplitMix64(99)
    want = []
    for _ in range(3):
        u1 = 1.0 - rng.next_f64()
        u2 = rng.next_f64()
        r = math.sqrt(-2.0 * math.log(u1))
        want += [r * math.cos(math.tau * u2), r * math.sin(math.tau * u2)]
    assert normals(99, 5).tolist() == want[:5]  # odd count drops the last sine
    z = normals(7, 20001)
    assert abs(z.mean()) < 0.05 and abs(z.var() - 1.0) < 0.05


def test_jl_matrix_is_row_major_scaled_normals():
    a = jl_matrix(10, 4, 42)
    assert a.shape == (10, 4)
    np.testing.assert_array_equal(a, normals(42 + 10 + 31 * 4, 40).reshape(10, 4) * (1.0 / 2.0))


def test_identity_spectrum_is_flat():
    m = spectrum_metrics(np.ones(64), 8)
    assert m.var_out_k == pytest.approx(56 / 64, rel=1e-15)
    assert m.eff_dim == pytest.approx(64.0, rel=1e-12)
    assert m.rankme == pytest.approx(64.0, rel=1e-12)


def test_rank_one_spectrum_collapses():
    eig = np.zeros(64)
    eig[0] = 5.0
    m = spectrum_metrics(eig, 8)
    assert m.var_out_k == 0.0
    assert m.eff_dim == pytest.approx(1.0, rel=1e-15)
    p0, q = 1 / (1 + 63e-12), 1e-12 / (1 + 63e-12)
    assert m.rankme == pytest.approx(math.exp(-(p0 * math.log(p0) + 63 * q * math.log(q))), rel=1e-12)


def test_known_diagonal_spectrum():
    m = spectrum_metrics(np.array([4.0, 3.0, 2.0, 1.0]), 2)
    assert m.var_out_k == pytest.approx(0.3, rel=1e-15)
    assert m.eff_dim == pytest.approx(10 / 3, rel=1e-15)
    h = -sum(p * math.log(p) for p in (0.4, 0.3, 0.2, 0.1))
    assert m.rankme == pytest.approx(math.exp(h), rel=1e-14)


def test_zero_spectrum_is_not_measurable():
    m = spectrum_metrics(np.zeros(8), 3)
    assert m.to_map() == {"var_out_k": None, "eff_dim": None, "rankme": None, "cos_disp": None}


def test_covariance_of_axis_aligned_data():
    a, b = 3.0, 1.0
    x = np.array([[a, 0], [-a, 0], [0, b], [0, -b]], dtype=float)
    eig = covariance_spectrum(x)
    np.testing.assert_allclose(eig, [2 * a * a / 3, 2 * b * b / 3], rtol=1e-14)


def test_var_out_k_index_uses_round_half_even():
    assert [var_out_k_index(d) for d in (64, 1, 2, 6, 48)] == [8, 1, 1, 2, 7]


def test_cos_disp_extremes_and_pair_rules():
    same = np.tile([1.0, 2.0, 3.0], (10, 1))
    assert cos_disp(same, 50, 1) == pytest.approx(1.0, rel=1e-14)
    assert cos_disp(np.eye(2), 2048, 1) == 0.0
    assert cos_disp(np.zeros((1, 3)), 10, 1) is None
    i, j = cos_pairs(5, 1000, 123)
    assert np.all(i != j) and i.min() >= 0 and j.max() < 5


def gaussian(n, d, seed):
    return normals(seed, n * d).reshape(n, d).astype(np.float32)


def test_isotropic_versus_collapsed_representation():
    iso = MetricState().snapshot(gaussian(4096, 96, 1), 0)
    assert iso.k_used == 8
    # Isotropic input: the spectrum is that of AᵀA (A: 96×64, N(0, 1/64)), whose
    # participation ratio is k / (1 + k/d) = 38.4 by Marchenko–Pastur.
    assert iso.eff_dim == pytest.approx(64 / (1 + 64 / 96), rel=0.05)
    assert iso.rankme > iso.eff_dim
    assert iso.cos_disp < 0.2
    low = gaussian(4096, 2, 2) @ gaussian(2, 96, 3) + 1e-3 * gaussian(4096, 96, 4)
    col = MetricState().snapshot(low, 0)
    assert col.eff_dim < 2.1 and col.var_out_k < 1e-3


def test_snapshot_is_deterministic_and_prequential():
    h = gaussian(64, 16, 3)
    a, b = MetricState(), MetricState()
    first = a.snapshot(h, 0)
    assert first == b.snapshot(h, 0)
    assert first.k_used == 4 and a.gauge_updates == 1
    # The first snapshot is projected raw; scaling the input scales the spectrum only.
    scaled = MetricState().snapshot(h * 10.0, 0)
    assert scaled.eff_dim == pytest.approx(first.eff_dim, rel=1e-6)  # f32 rounding of h*10
    # After one update, a shifted and scaled batch is standardized by the earlier gauge.
    second = a.snapshot(h, 5)
    assert a.gauge_updates == 2 and second.rankme is not None
    frozen = MetricState(MetricConfig(update_gauge=False))
    frozen.snapshot(h, 0)
    assert frozen.gauge_updates == 0


def test_nonfinite_input_yields_none_and_keeps_the_gauge():
    h = gaussian(8, 4, 5)
    h[0, 3] = np.nan
    h[1, 3] = np.inf
    s = MetricState()
    v = s.snapshot(h, 0)
    assert v.nonfinite_inputs == 2
    assert all(x is None for x in v.to_map().values())
    assert s.gauge_updates == 0


def test_single_row_and_dimension_change():
    s = MetricState()
    v = s.snapshot(np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]), 0)
    assert v.eff_dim is None and v.cos_disp is None and v.k_used == 3
    s.snapshot(gaussian(16, 8, 1), 5)
    assert s.gauge_updates == 2
    s.snapshot(gaussian(16, 4, 1), 10)  # D changed: the gauge restarts
    assert s.gauge_updates == 1


@needs_torch
def test_torch_tensor_input_matches_numpy():
    import torch

    h = gaussian(2 * 32, 16, 9)
    from_np = MetricState().snapshot(h, 0)
    from_torch = MetricState().snapshot(torch.from_numpy(h).reshape(2, 32, 16), 0)
    assert from_np == from_torch


@needs_torch
def test_torch_device_math_agrees_with_numpy_path():
    import torch

    np_state = MetricState()
    torch_state = MetricState(MetricConfig(torch_math=True))
    for t, it in enumerate((0, 5, 10)):
        h = (gaussian(256, 96, 20 + t) * (1.0 + t)) + 0.3 * t
        want = np_state.snapshot(h, it)
        got = torch_state.snapshot(torch.from_numpy(h), it)
        assert got.k_used == want.k_used == 8
        for name in ("var_out_k", "eff_dim", "rankme", "cos_disp"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9, abs=1e-12), (it, name)
    assert torch_state.gauge_updates == 3
    bad = torch.from_numpy(gaussian(16, 8, 1))
    bad[2, 3] = float("nan")
    v = torch_state.snapshot(bad, 15)
    assert v.nonfinite_inputs == 1 and v.eff_dim is None
    assert torch_state.gauge_updates == 3, "a non-finite batch leaves the gauge alone (as in Rust)"
