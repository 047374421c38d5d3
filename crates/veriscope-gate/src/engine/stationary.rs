//! `stationary_v1`: calibrated_v2's channels plus a level-drift channel, for phases whose
//! metrics should not move (docs/gate.md §stationary_v1).
//!
//! Per metric, a reference level is accumulated from the recent half-windows of the evaluable
//! checks from the first one on (flagged windows excluded) and frozen once it holds
//! `ref_windows · Wm` values. At every later check the recent half-window's mean is compared
//! with it (before the freeze, with the windows before it):
//!
//! - departure `d = mean_R(y) − μ_ref`, noise scale `s`, long-run variance factor `f` and
//!   degrees of freedom as estimated by calibrated_v2 at this check;
//! - `se² = max(s²f/n_R, ref_windows·V_ref) + V_ref` once frozen (`s²f/n_R + V_ref` before),
//!   `V_ref = Σ_j s_j² f_j n_j / N²` the variance of the reference mean, accumulated with the
//!   scale of the check that added each window;
//! - `T± = (±d − min_effect)/se` mapped to normal scores through Student's t, one-sided
//!   CUSUMs `S ← max(0, S + z − κ)`, alarm at `S ≥ h_drift`, then `S ← 0`.
//!
//! A frozen reference's error is common to every later check, so the CUSUM increments are
//! correlated; `h_drift` ([`drift_threshold`]) is the smallest threshold whose Kingman bound,
//! conditional on that error and averaged over it, stays within the per-test level `α/F`.

use serde_json::{Value, json};

use super::audit::num;
use super::config::{StationaryConfig, kingman_threshold};
use super::stats::{Z_CAP, t_sf, z_of_upper_tail};

/// Reference and CUSUMs of one metric.
#[derive(Debug, Clone, Default)]
pub(crate) struct DriftState {
    /// Σ y of the reference values.
    sum: f64,
    /// Number of reference values.
    n: usize,
    /// Σ s_j² f_j n_j: N² times the variance of the reference mean.
    var_sum: f64,
    frozen: bool,
    up: f64,
    down: f64,
}

impl DriftState {
    fn add(&mut self, pts: &[(f64, f64)], noise: &Noise) {
        self.sum += pts.iter().map(|p| p.1).sum::<f64>();
        self.n += pts.len();
        self.var_sum += noise.s * noise.s * noise.lrv * pts.len() as f64;
    }
}

/// calibrated_v2's noise estimates at this check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Noise {
    /// Pooled residual sd.
    pub s: f64,
    /// Long-run variance factor.
    pub lrv: f64,
    /// Degrees of freedom of `s`.
    pub df: f64,
}

/// What the channel contributed to one metric at one check.
#[derive(Debug, Clone, Default)]
pub(crate) struct DriftOutcome {
    pub flags: Vec<&'static str>,
    /// `max(S±)/h_drift` before a reset.
    pub evidence: f64,
    pub detail: Vec<(&'static str, Value)>,
}

/// One check of one metric (`recent`: the recent half-window). Call [`commit`] afterwards.
pub(crate) fn step(
    cfg: &StationaryConfig,
    h: f64,
    recent: &[(f64, f64)],
    noise: &Noise,
    st: &mut DriftState,
) -> DriftOutcome {
    if st.n == 0 || recent.is_empty() {
        // No reference yet (the first evaluable check): nothing to compare with.
        return DriftOutcome {
            detail: vec![
                ("drift_reference_n", json!(0)),
                ("drift_reference_frozen", json!(false)),
            ],
            ..DriftOutcome::default()
        };
    }
    let n_r = recent.len() as f64;
    let mean_r = recent.iter().map(|p| p.1).sum::<f64>() / n_r;
    let n_ref = st.n as f64;
    let reference = st.sum / n_ref;
    let d = mean_r - reference;
    let v_recent = noise.s * noise.s * noise.lrv / n_r;
    let v_ref = st.var_sum / (n_ref * n_ref);
    // Once frozen, the reference's share of the variance is held to ρ_max = 1/(1 + ref_windows)
    // (a larger share only makes the score more conservative).
    let v_recent = if st.frozen {
        v_recent.max(cfg.ref_windows as f64 * v_ref)
    } else {
        v_recent
    };
    let se = (v_recent + v_ref).sqrt();
    let score = |num: f64| -> f64 {
        if se > 0.0 {
            z_of_upper_tail(t_sf(num / se, noise.df))
        } else if num > 0.0 {
            Z_CAP
        } else {
            -Z_CAP
        }
    };
    let z_up = score(d - cfg.min_effect);
    let z_down = score(-d - cfg.min_effect);
    let mut flags = vec![];
    let mut cusum = |acc: &mut f64, z: f64, flag: &'static str| -> f64 {
        *acc = (*acc + z - cfg.kappa).max(0.0);
        let ratio = *acc / h;
        if *acc >= h {
            flags.push(flag);
            *acc = 0.0;
        }
        ratio
    };
    let up = cusum(&mut st.up, z_up, "drift_up");
    let down = cusum(&mut st.down, z_down, "drift_down");
    DriftOutcome {
        flags,
        evidence: up.max(down),
        detail: vec![
            ("drift_departure", num(d)),
            ("drift_reference", num(reference)),
            ("drift_reference_n", json!(st.n)),
            ("drift_reference_frozen", json!(st.frozen)),
            ("drift_se", num(se)),
            ("z_drift_up", num(z_up)),
            ("z_drift_down", num(z_down)),
            ("cusum_drift_up", num(up)),
            ("cusum_drift_down", num(down)),
        ],
    }
}

/// After a check: an unflagged recent window joins a reference that is not frozen yet (the
/// first one starts it); the reference freezes once it holds `ref_windows · wm` values.
pub(crate) fn commit(
    cfg: &StationaryConfig,
    wm: usize,
    recent: &[(f64, f64)],
    noise: &Noise,
    flagged: bool,
    st: &mut DriftState,
) {
    if st.frozen || flagged {
        return;
    }
    st.add(recent, noise);
    if st.n >= cfg.ref_windows.max(1) * wm {
        st.frozen = true;
    }
}

/// `h_drift`: the smallest CUSUM threshold `h` with `G(h) ≤ level` (docs/gate.md
/// §stationary_v1), where
///
/// `G(h) = ½·e^{−2κh} + ∫₀^∞ φ(u)·min(1, e^{−h·θ(u)}) du`,
/// `θ(u) = min over x ∈ [0, √ρ_max] of 2(κ − u·x)/(1 − x²)` (floored at 0)
///
/// is Kingman's bound `P(S ≥ h | B) ≤ e^{−θ h}` for a CUSUM whose increments, given the frozen
/// reference's standardized error `B = −u`, are `N(−x·B, 1 − x²) − κ` with `x² ≤ ρ_max`
/// (after the freeze) or `N(0, 1) − κ` (before it: recursive residuals, independent of `B`),
/// averaged over `B ~ N(0, 1)`. Returns `+∞` when no finite `h` meets the level (when `level`
/// is below `P(Z ≥ κ/√ρ_max)`).
pub fn drift_threshold(level: f64, kappa: f64, rho_max: f64) -> f64 {
    let x_max = rho_max.clamp(0.0, 0.99).sqrt();
    let h0 = kingman_threshold(level, kappa);
    if x_max == 0.0 {
        return h0;
    }
    let g = |h: f64| drift_bound(h, kappa, x_max);
    let (mut lo, mut hi) = (h0, 2.0 * h0);
    while g(hi) > level {
        lo = hi;
        hi *= 2.0;
        if hi > 1e4 {
            return f64::INFINITY;
        }
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if g(mid) > level {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// `G(h)` of [`drift_threshold`]; `x_max = √ρ_max` in (0, 1).
fn drift_bound(h: f64, kappa: f64, x_max: f64) -> f64 {
    let theta = |u: f64| -> f64 {
        if u <= 0.0 {
            return 2.0 * kappa;
        }
        // f(x) = (κ − u x)/(1 − x²) falls from κ at x = 0 to its minimum at
        // x* = (κ − sqrt(κ² − u²))/u (u < κ), or keeps falling (u ≥ κ).
        let x_star = if u < kappa {
            (kappa - (kappa * kappa - u * u).sqrt()) / u
        } else {
            1.0
        };
        let x = x_star.min(x_max);
        (2.0 * (kappa - u * x) / (1.0 - x * x)).clamp(0.0, 2.0 * kappa)
    };
    let integrand = |u: f64| (-0.5 * u * u).exp() * (-h * theta(u)).exp();
    // Kinks: where x* reaches x_max, and where θ reaches 0.
    let u1 = (2.0 * kappa * x_max / (1.0 + x_max * x_max)).min(kappa);
    let u2 = kappa / x_max;
    let upper = 40.0f64;
    let mut total = 0.0;
    for (a, b) in [(0.0, u1), (u1, u2.min(upper)), (u2.min(upper), upper)] {
        total += simpson(&integrand, a, b, 256);
    }
    0.5 * (-2.0 * kappa * h).exp() + total / (2.0 * std::f64::consts::PI).sqrt()
}

/// Composite Simpson's rule with `n` (even) intervals.
fn simpson(f: &impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    if b <= a {
        return 0.0;
    }
    let dx = (b - a) / n as f64;
    let mut s = f(a) + f(b);
    for i in 1..n {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * f(a + i as f64 * dx);
    }
    s * dx / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::GateConfig;

    #[test]
    fn threshold_without_a_common_error_is_calibrated_v2s() {
        let level = 0.01f64 / 24.0;
        let h0 = (1.0 / level).ln() / 3.0;
        assert_eq!(drift_threshold(level, 1.5, 0.0), h0);
        // The bound integrates to ½e^{−2κh} + ½e^{−2κh} when ρ → 0.
        let g = drift_bound(h0, 1.5, 1e-9);
        assert!((g - level).abs() < 1e-9 * level.max(1.0), "{g} vs {level}");
        // A common reference error needs a higher threshold, growing with its share.
        let h10 = drift_threshold(level, 1.5, 1.0 / 11.0);
        let h20 = drift_threshold(level, 1.5, 1.0 / 21.0);
        assert!(h0 < h20 && h20 < h10 && h10 < 1.3 * h0, "{h0} {h20} {h10}");
        assert!((drift_bound(h10, 1.5, (1.0f64 / 11.0).sqrt()) - level).abs() < 1e-6 * level);
        // Unattainable: the level is below P(Z ≥ κ/√ρ_max).
        assert_eq!(drift_threshold(1e-12, 1.5, 1.0 / 3.0), f64::INFINITY);
    }

    #[test]
    fn threshold_bounds_the_alarm_rate_with_a_common_reference_error() {
        // 20 000 runs × 40 checks; each run draws one reference error B shared by its checks:
        // z_k = √(1−ρ)·A_k − √ρ·B, ρ = ρ_max. The per-check alarm rate must stay below the
        // level (1% here, so that alarms are frequent enough to count).
        let (kappa, rho, level) = (1.5, 1.0 / 11.0, 0.01);
        let h = drift_threshold(level, kappa, rho);
        let z = crate::prng::SplitMix64::new(77).normals(20_000 * 41);
        let (mut alarms, mut checks) = (0usize, 0usize);
        for run in z.chunks(41) {
            let b = run[0];
            let mut s = 0.0f64;
            for a in &run[1..] {
                s = (s + (1.0 - rho).sqrt() * a - rho.sqrt() * b - kappa).max(0.0);
                checks += 1;
                if s >= h {
                    alarms += 1;
                    s = 0.0;
                }
            }
        }
        let rate = alarms as f64 / checks as f64;
        // Kingman's bound is conservative: the measured rate is ≈ 0.14% for a 1% level.
        assert!(rate <= level && rate > level / 50.0, "rate {rate}, h {h}");
    }

    #[test]
    fn preset_constants() {
        let cfg = GateConfig::preset("stationary_v1").unwrap();
        assert_eq!(cfg.sequential_family_size(), Some(24));
        assert!((cfg.sequential_level().unwrap() - 0.01 / 24.0).abs() < 1e-18);
        assert!((cfg.sequential_cusum_h().unwrap() - 2400f64.ln() / 3.0).abs() < 1e-12);
        // κ = 2 (the κ that minimizes the one-check score κ + h): h ≈ 2.07 against 1.95
        // without the reference-error correction.
        let h = cfg.drift_cusum_h().unwrap();
        assert!((2.0..2.1).contains(&h), "{h}");
        assert_eq!(cfg.history_snapshots(), 100);
    }
}
