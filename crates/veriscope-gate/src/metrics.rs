//! Representation metrics of one probe snapshot (algorithm.md §2): the prequential EMA
//! standardization gauge (§2.2), a fixed-seed JL projection (§2.3), the covariance spectrum
//! (§2.4) and the four gated scalars `var_out_k`, `eff_dim`, `rankme`, `cos_disp` (§2.5).
//!
//! Everything runs in f64 on one thread (faer `Par::Seq`), so the same input gives the same
//! bits on the same machine. Random draws come from [`crate::prng::SplitMix64`] with the
//! seeds documented in docs/gate.md §Metrics, so the Python SDK can rebuild them.

use std::collections::BTreeMap;

use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Accum, Mat, Par};

use crate::prng::SplitMix64;

/// Names of the gated metrics, in declaration order (algorithm.md §3.1).
pub const METRIC_NAMES: [&str; 4] = ["var_out_k", "eff_dim", "rankme", "cos_disp"];

/// EMA weight of the newest batch in the standardization gauge (§2.2).
const GAUGE_ALPHA: f64 = 0.1;
/// Floor of the per-feature batch std, then added once more (§2.2: "clamped ≥1e-8, plus 1e-8").
const STD_FLOOR: f64 = 1e-8;
/// Floor of Σλ² in the participation ratio (§2.5).
const PR_DENOM_FLOOR: f64 = 1e-20;
/// Floor of the normalized eigenvalue mass in the spectral entropy (§2.5).
const RANKME_P_FLOOR: f64 = 1e-12;
/// Floor of a row norm before cosine normalization (§2.5).
const ROW_NORM_FLOOR: f64 = 1e-8;

/// Configuration of the metric computer. Defaults reproduce the reference GPT probe.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricConfig {
    /// Target JL dimension; the effective one is `min(rp_dim, d)`.
    pub rp_dim: usize,
    /// Number of random row pairs for `cos_disp` (capped at N(N−1)/2).
    pub cos_pairs: usize,
    /// Base seed of the `cos_disp` pair sampler: snapshot `iter` uses
    /// `seed + 131·iter + 17` (wrapping u64), as the reference does.
    pub seed: u64,
    /// Base seed of the JL matrix: a `d × k` matrix uses `jl_seed_base + d + 31·k`. It does not
    /// depend on the run seed, so every run shares one projection (§2.3).
    pub jl_seed_base: u64,
    /// Whether to update the EMA gauge (false = frozen gauge; §2.2 step 3).
    pub update_gauge: bool,
}

impl Default for MetricConfig {
    fn default() -> Self {
        Self {
            rp_dim: 64,
            cos_pairs: 2048,
            seed: 42,
            jl_seed_base: 42,
            update_gauge: true,
        }
    }
}

/// The four gated scalars of one snapshot; `None` = not measurable (never NaN).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricValues {
    pub var_out_k: Option<f64>,
    pub eff_dim: Option<f64>,
    pub rankme: Option<f64>,
    pub cos_disp: Option<f64>,
    /// The `k` of `var_out_k` (`round(sqrt(k_jl))`); 0 when nothing was computed.
    pub k_used: usize,
    /// Count of non-finite entries in the input; any makes every metric `None`.
    pub nonfinite_inputs: u64,
}

impl MetricValues {
    /// Metric name → value, the shape of a metrics-stream `sample.metrics` object.
    pub fn to_map(&self) -> BTreeMap<String, Option<f64>> {
        let values = [self.var_out_k, self.eff_dim, self.rankme, self.cos_disp];
        METRIC_NAMES
            .iter()
            .zip(values)
            .map(|(name, v)| ((*name).to_string(), v.filter(|x| x.is_finite())))
            .collect()
    }
}

/// The saved form of the standardization gauge (a checkpoint's part of the probe state).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GaugeState {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub updates: u64,
}

/// Per-feature standardization state (§2.2).
#[derive(Debug, Clone)]
struct Gauge {
    mean: Vec<f64>,
    scale: Vec<f64>,
    updates: u64,
}

/// Streaming metric computer: the EMA gauge plus the cached JL matrix.
#[derive(Debug, Clone)]
pub struct MetricState {
    cfg: MetricConfig,
    gauge: Option<Gauge>,
    /// Cached JL matrix, keyed by (d, k).
    jl: Option<((usize, usize), Mat<f64>)>,
}

impl MetricState {
    pub fn new(cfg: MetricConfig) -> Self {
        Self {
            cfg,
            gauge: None,
            jl: None,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MetricConfig {
        &self.cfg
    }

    /// The standardization gauge, for a checkpoint: a resumed run restores it so its
    /// metrics continue exactly as an uninterrupted run's (docs/replay.md §3).
    pub fn gauge_state(&self) -> Option<GaugeState> {
        self.gauge.as_ref().map(|g| GaugeState {
            mean: g.mean.clone(),
            scale: g.scale.clone(),
            updates: g.updates,
        })
    }

    /// Restores a gauge saved by [`MetricState::gauge_state`] (`None`: no gauge yet).
    pub fn set_gauge_state(&mut self, state: Option<GaugeState>) {
        self.gauge = state.map(|s| Gauge {
            mean: s.mean,
            scale: s.scale,
            updates: s.updates,
        });
    }

    /// Number of gauge updates so far (the reference's `ref_count`).
    pub fn gauge_updates(&self) -> u64 {
        self.gauge.as_ref().map_or(0, |g| g.updates)
    }

    /// Computes the metrics of one snapshot `h` (row-major `n × d` hidden states) taken at
    /// training iteration `iter`, then updates the gauge from `h`.
    ///
    /// Non-finite inputs make every metric `None` and leave the gauge untouched (one bad
    /// batch must not poison the EMA). A change of `d` restarts the gauge.
    ///
    /// # Panics
    /// If `h.len() != n * d` (a caller bug, not a data condition).
    pub fn snapshot(&mut self, h: &[f32], n: usize, d: usize, iter: u64) -> MetricValues {
        assert_eq!(
            h.len(),
            n * d,
            "MetricState::snapshot: h has {} values, expected n*d = {n}*{d}",
            h.len()
        );
        let nonfinite = h.iter().filter(|x| !x.is_finite()).count() as u64;
        if nonfinite > 0 || d == 0 {
            return MetricValues {
                nonfinite_inputs: nonfinite,
                ..MetricValues::default()
            };
        }
        if self.gauge.as_ref().is_some_and(|g| g.mean.len() != d) {
            self.gauge = None;
        }
        let raw = Mat::<f64>::from_fn(n, d, |i, j| f64::from(h[i * d + j]));
        let values = self.compute(&raw, iter);
        if self.cfg.update_gauge {
            self.update_gauge(&raw);
        }
        values
    }

    fn compute(&mut self, raw: &Mat<f64>, iter: u64) -> MetricValues {
        let (n, d) = (raw.nrows(), raw.ncols());
        let k = self.cfg.rp_dim.clamp(1, d);
        let k_used = var_out_k_index(k);
        if n < 2 {
            return MetricValues {
                k_used,
                ..MetricValues::default()
            };
        }
        let projected = self.project(raw, k);
        let spectrum = covariance_spectrum(&projected);
        let mut values = spectrum_metrics(&spectrum, k_used);
        values.cos_disp = cos_disp(
            &projected,
            self.cfg.cos_pairs,
            pair_seed(self.cfg.seed, iter),
        );
        values.k_used = k_used;
        values
    }

    /// `H_jl = ((H − μ)/σ) · A`, computed as `H · (diag(1/σ) A) − 1 (μ/σ)ᵀA` so the
    /// standardized `n × d` matrix is never materialized. Before the first gauge update the
    /// input is projected unstandardized (§2.2 step 1).
    fn project(&mut self, raw: &Mat<f64>, k: usize) -> Mat<f64> {
        let d = raw.ncols();
        let jl = self.jl_matrix(d, k).clone();
        let (scaled, offset) = match &self.gauge {
            None => (jl, vec![0.0; k]),
            Some(g) => {
                let scaled = Mat::<f64>::from_fn(d, k, |i, j| jl[(i, j)] / g.scale[i]);
                let offset = (0..k)
                    .map(|j| (0..d).map(|i| g.mean[i] * scaled[(i, j)]).sum())
                    .collect();
                (scaled, offset)
            }
        };
        let mut out = Mat::<f64>::zeros(raw.nrows(), k);
        faer::linalg::matmul::matmul(
            out.as_mut(),
            Accum::Replace,
            raw.as_ref(),
            scaled.as_ref(),
            1.0,
            Par::Seq,
        );
        for j in 0..k {
            for i in 0..raw.nrows() {
                out[(i, j)] -= offset[j];
            }
        }
        out
    }

    fn jl_matrix(&mut self, d: usize, k: usize) -> &Mat<f64> {
        if self.jl.as_ref().is_none_or(|(key, _)| *key != (d, k)) {
            self.jl = Some(((d, k), jl_matrix(d, k, self.cfg.jl_seed_base)));
        }
        &self.jl.as_ref().expect("just filled").1
    }

    /// EMA update from the raw batch (§2.2 step 2): population mean/std per feature, std
    /// clamped at 1e-8 then +1e-8; first batch initializes, later ones blend with α = 0.1.
    fn update_gauge(&mut self, raw: &Mat<f64>) {
        let (n, d) = (raw.nrows(), raw.ncols());
        if n == 0 {
            return;
        }
        let (mean, std) = column_mean_std(raw);
        let batch_scale: Vec<f64> = std.iter().map(|s| s.max(STD_FLOOR) + STD_FLOOR).collect();
        match &mut self.gauge {
            None => {
                self.gauge = Some(Gauge {
                    mean,
                    scale: batch_scale,
                    updates: 1,
                })
            }
            Some(g) => {
                for j in 0..d {
                    g.mean[j] = GAUGE_ALPHA * mean[j] + (1.0 - GAUGE_ALPHA) * g.mean[j];
                    g.scale[j] = GAUGE_ALPHA * batch_scale[j] + (1.0 - GAUGE_ALPHA) * g.scale[j];
                }
                g.updates += 1;
            }
        }
    }
}

/// Seed of the `cos_disp` pair sampler for the snapshot at `iter` (reference: seed + 131·epoch + 17).
pub fn pair_seed(seed: u64, iter: u64) -> u64 {
    seed.wrapping_add(iter.wrapping_mul(131)).wrapping_add(17)
}

/// Seed of the `d × k` JL matrix (reference: 42 + d_in + 31·d_out).
pub fn jl_seed(base: u64, d: usize, k: usize) -> u64 {
    base.wrapping_add(d as u64)
        .wrapping_add(31u64.wrapping_mul(k as u64))
}

/// The JL matrix `A ∈ R^{d×k}`, entries `z / sqrt(k)` (a division, for bitwise parity) with z drawn row-major from
/// `SplitMix64::new(jl_seed(base, d, k)).normals(d·k)`.
pub fn jl_matrix(d: usize, k: usize, base: u64) -> Mat<f64> {
    let z = SplitMix64::new(jl_seed(base, d, k)).normals(d * k);
    let sqrt_k = (k as f64).sqrt();
    Mat::from_fn(d, k, |i, j| z[i * k + j] / sqrt_k)
}

/// `k` of `var_out_k`: `clamp(round_half_even(sqrt(dim)), 1, dim)` (Python `round`, §2.5).
pub fn var_out_k_index(dim: usize) -> usize {
    ((dim as f64).sqrt().round_ties_even() as usize).clamp(1, dim.max(1))
}

/// Population mean and std of each column, two-pass in f64.
fn column_mean_std(x: &Mat<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = x.nrows() as f64;
    let mut mean = vec![0.0; x.ncols()];
    let mut std = vec![0.0; x.ncols()];
    for j in 0..x.ncols() {
        let col = x.col(j);
        let m = col.iter().sum::<f64>() / n;
        let v = col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
        mean[j] = m;
        std[j] = v.sqrt();
    }
    (mean, std)
}

/// Eigenvalues of the sample covariance of the rows of `x` (§2.4): columns centered,
/// `C = XᵀX / max(1, n−1)`, symmetrized, faer's self-adjoint EVD (sequential), clamped at 0,
/// sorted descending.
pub fn covariance_spectrum(x: &Mat<f64>) -> Vec<f64> {
    let (n, k) = (x.nrows(), x.ncols());
    let (mean, _) = column_mean_std(x);
    let centered = Mat::<f64>::from_fn(n, k, |i, j| x[(i, j)] - mean[j]);
    let mut cov = Mat::<f64>::zeros(k, k);
    faer::linalg::matmul::matmul(
        cov.as_mut(),
        Accum::Replace,
        centered.transpose(),
        centered.as_ref(),
        1.0 / (n.saturating_sub(1).max(1)) as f64,
        Par::Seq,
    );
    let sym = Mat::<f64>::from_fn(k, k, |i, j| 0.5 * (cov[(i, j)] + cov[(j, i)]));
    symmetric_eigenvalues_desc(&sym)
}

/// Eigenvalues of a symmetric matrix, clamped at 0 and sorted descending; NaN-filled when
/// the decomposition fails (non-finite input), which then yields `None` metrics.
pub fn symmetric_eigenvalues_desc(a: &Mat<f64>) -> Vec<f64> {
    let k = a.nrows();
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    let scratch = evd::self_adjoint_evd_scratch::<f64>(
        k,
        ComputeEigenvectors::No,
        Par::Seq,
        Default::default(),
    );
    let mut buf = faer::dyn_stack::MemBuffer::new(scratch);
    let stack = faer::dyn_stack::MemStack::new(&mut buf);
    let res = evd::self_adjoint_evd(
        a.as_ref(),
        s.as_mut(),
        None,
        Par::Seq,
        stack,
        Default::default(),
    );
    if res.is_err() {
        return vec![f64::NAN; k];
    }
    let mut eig: Vec<f64> = s.column_vector().iter().map(|v| v.max(0.0)).collect();
    eig.sort_by(|a, b| b.total_cmp(a));
    eig
}

/// `var_out_k`, `eff_dim`, `rankme` from a descending, non-negative spectrum (§2.5).
/// A non-finite or non-positive total leaves all three `None`.
pub fn spectrum_metrics(eig: &[f64], k: usize) -> MetricValues {
    let total: f64 = eig.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        return MetricValues::default();
    }
    let top: f64 = eig.iter().take(k).sum();
    let var_out_k = (total - top).max(0.0) / total;
    let sum_sq: f64 = eig.iter().map(|l| l * l).sum();
    let eff_dim = total * total / sum_sq.max(PR_DENOM_FLOOR);
    let p: Vec<f64> = eig
        .iter()
        .map(|l| (l / total).max(RANKME_P_FLOOR))
        .collect();
    let p_sum: f64 = p.iter().sum();
    let entropy: f64 = -p
        .iter()
        .map(|pi| pi / p_sum)
        .map(|q| q * q.ln())
        .sum::<f64>();
    MetricValues {
        var_out_k: Some(var_out_k),
        eff_dim: Some(eff_dim),
        rankme: Some(entropy.exp()),
        k_used: k,
        ..MetricValues::default()
    }
}

/// Mean |cos| over `min(pairs, n(n−1)/2)` random row pairs of `x` (§2.5). Pair `t` draws
/// `i = next_below(n)` then `j = next_below(n)`; `j == i` becomes `(j + 1) mod n`.
/// Rows are L2-normalized with the norm floored at 1e-8 and are not centered.
pub fn cos_disp(x: &Mat<f64>, pairs: usize, seed: u64) -> Option<f64> {
    let n = x.nrows();
    if n < 2 {
        return None;
    }
    let max_pairs = (n as u128 * (n as u128 - 1) / 2).min(usize::MAX as u128) as usize;
    let m = pairs.min(max_pairs);
    if m == 0 {
        return None;
    }
    let norms: Vec<f64> = (0..n)
        .map(|i| {
            x.row(i)
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
                .max(ROW_NORM_FLOOR)
        })
        .collect();
    let mut rng = SplitMix64::new(seed);
    let mut acc = 0.0;
    for _ in 0..m {
        let i = rng.next_below(n as u64) as usize;
        let mut j = rng.next_below(n as u64) as usize;
        if j == i {
            j = (j + 1) % n;
        }
        let dot: f64 = x
            .row(i)
            .iter()
            .zip(x.row(j).iter())
            .map(|(a, b)| a * b)
            .sum();
        acc += (dot / (norms[i] * norms[j])).abs();
    }
    let value = acc / m as f64;
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn identity_spectrum_is_flat() {
        let m = spectrum_metrics(&[1.0; 64], 8);
        assert!(close(m.var_out_k.unwrap(), 56.0 / 64.0, 1e-15));
        assert!(close(m.eff_dim.unwrap(), 64.0, 1e-12));
        assert!(close(m.rankme.unwrap(), 64.0, 1e-12));
    }

    #[test]
    fn rank_one_spectrum_collapses() {
        let mut eig = vec![0.0; 64];
        eig[0] = 5.0;
        let m = spectrum_metrics(&eig, 8);
        assert_eq!(m.var_out_k, Some(0.0));
        assert!(close(m.eff_dim.unwrap(), 1.0, 1e-15));
        // 63 floored entries of 1e-12 keep the entropy slightly above zero.
        let p0: f64 = 1.0 / (1.0 + 63e-12);
        let q: f64 = 1e-12 / (1.0 + 63e-12);
        let h = -(p0 * p0.ln() + 63.0 * q * q.ln());
        assert!(close(m.rankme.unwrap(), h.exp(), 1e-12));
    }

    #[test]
    fn known_diagonal_spectrum() {
        // λ = 4, 3, 2, 1 with k = 2: var_out = 3/10; PR = 100/30; entropy of (.4,.3,.2,.1).
        let m = spectrum_metrics(&[4.0, 3.0, 2.0, 1.0], 2);
        assert!(close(m.var_out_k.unwrap(), 0.3, 1e-15));
        assert!(close(m.eff_dim.unwrap(), 10.0 / 3.0, 1e-15));
        let h: f64 = -[0.4f64, 0.3, 0.2, 0.1]
            .iter()
            .map(|p| p * p.ln())
            .sum::<f64>();
        assert!(close(m.rankme.unwrap(), h.exp(), 1e-14));
    }

    #[test]
    fn zero_spectrum_is_not_measurable() {
        assert_eq!(spectrum_metrics(&[0.0; 8], 3), MetricValues::default());
    }

    #[test]
    fn eigenvalues_of_a_diagonal_matrix_come_back_sorted() {
        let a = Mat::<f64>::from_fn(4, 4, |i, j| {
            if i == j {
                [2.0, 9.0, -1.0, 5.0][i]
            } else {
                0.0
            }
        });
        let eig = symmetric_eigenvalues_desc(&a);
        assert_eq!(eig.len(), 4);
        for (got, want) in eig.iter().zip([9.0, 5.0, 2.0, 0.0]) {
            assert!(close(*got, want, 1e-14), "{eig:?}");
        }
    }

    #[test]
    fn covariance_of_axis_aligned_data_matches_hand_computation() {
        // Rows (±a, 0) and (0, ±b): var_x = 2a²/3, var_y = 2b²/3 with n − 1 = 3.
        let (a, b) = (3.0, 1.0);
        let rows = [[a, 0.0], [-a, 0.0], [0.0, b], [0.0, -b]];
        let x = Mat::<f64>::from_fn(4, 2, |i, j| rows[i][j]);
        let eig = covariance_spectrum(&x);
        assert!(close(eig[0], 2.0 * a * a / 3.0, 1e-14));
        assert!(close(eig[1], 2.0 * b * b / 3.0, 1e-14));
    }

    #[test]
    fn var_out_k_index_uses_round_half_even() {
        assert_eq!(var_out_k_index(64), 8);
        assert_eq!(var_out_k_index(1), 1);
        assert_eq!(var_out_k_index(2), 1); // sqrt 2 = 1.41
        assert_eq!(var_out_k_index(6), 2); // sqrt 6 = 2.449
        assert_eq!(var_out_k_index(0), 1); // degenerate input still yields a valid k
    }

    #[test]
    fn cos_disp_of_identical_rows_is_one_and_of_opposite_axes_zero() {
        let same = Mat::<f64>::from_fn(10, 3, |_, j| [1.0, 2.0, 3.0][j]);
        assert!(close(cos_disp(&same, 50, 1).unwrap(), 1.0, 1e-14));
        let orth = Mat::<f64>::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.0 });
        assert_eq!(cos_disp(&orth, 2048, 1), Some(0.0));
        assert_eq!(cos_disp(&Mat::<f64>::zeros(1, 3), 10, 1), None);
    }

    fn synthetic(n: usize, d: usize, seed: u64) -> Vec<f32> {
        SplitMix64::new(seed)
            .normals(n * d)
            .into_iter()
            .map(|x| x as f32)
            .collect()
    }

    #[test]
    fn snapshot_is_deterministic_and_gauge_updates() {
        let h = synthetic(64, 16, 3);
        let mut a = MetricState::new(MetricConfig::default());
        let mut b = MetricState::new(MetricConfig::default());
        let (va, vb) = (a.snapshot(&h, 64, 16, 0), b.snapshot(&h, 64, 16, 0));
        assert_eq!(va, vb);
        assert_eq!(va.k_used, 4);
        assert!(va.eff_dim.unwrap() > 1.0 && va.eff_dim.unwrap() <= 16.0);
        assert_eq!(a.gauge_updates(), 1);
        let second = a.snapshot(&h, 64, 16, 5);
        assert_eq!(a.gauge_updates(), 2);
        // Standardizing by the batch's own statistics changes the geometry, not the measurability.
        assert!(second.rankme.is_some());
    }

    #[test]
    fn nonfinite_input_yields_none_and_keeps_the_gauge() {
        let mut h = synthetic(8, 4, 5);
        h[3] = f32::NAN;
        h[7] = f32::INFINITY;
        let mut s = MetricState::new(MetricConfig::default());
        let v = s.snapshot(&h, 8, 4, 0);
        assert_eq!(v.nonfinite_inputs, 2);
        assert!(v.to_map().values().all(Option::is_none));
        assert_eq!(s.gauge_updates(), 0);
    }

    #[test]
    fn single_row_is_not_measurable() {
        let mut s = MetricState::new(MetricConfig::default());
        let v = s.snapshot(&[1.0, 2.0, 3.0], 1, 3, 0);
        assert_eq!(v.eff_dim, None);
        assert_eq!(v.cos_disp, None);
    }

    #[test]
    fn to_map_lists_the_four_metrics() {
        let v = MetricValues {
            eff_dim: Some(3.0),
            ..MetricValues::default()
        };
        let m = v.to_map();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["cos_disp", "eff_dim", "rankme", "var_out_k"]
        );
        assert_eq!(m["eff_dim"], Some(3.0));
    }
}
