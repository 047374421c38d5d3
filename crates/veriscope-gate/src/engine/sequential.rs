//! `calibrated_v2`: trend-aware, sequential, budgeted (docs/gate.md §calibrated_v2).
//!
//! Per metric and check: a least-squares line is fitted to the `fit_windows` half-windows
//! before the recent one; the recent half-window is compared with the line's extrapolation.
//! Noise scale: residual variance pooled over `scale_windows` past half-windows (each
//! detrended on its own line), inflated for autocorrelation (lags 1–3 of the fit residuals,
//! averaged over the last `acf_pool_checks` checks, with an AR(1) tail). Three channels,
//! four one-sided tests per metric:
//!
//! - level (up / down): the mean recent residual minus `min_effect`, as a Student-t statistic,
//!   mapped to an exact normal score and accumulated across checks by a one-sided CUSUM
//!   `S ← max(0, S + z − κ)`; alarm at `S ≥ h`, `h = ln(F/α)/(2κ)`, then `S ← 0`;
//! - spike: the newest snapshot's deviation from the extrapolation minus `spike_min_effect`,
//!   two-sided t-test at `α/F` (no accumulation);
//! - spread (up): recent noise sd against `max(spread_ratio_min·s, s + spread_min_effect)`,
//!   an F statistic mapped to a normal score, CUSUM as for the level.
//!
//! Any alarm fails the check. Values are in units of each metric's declared range
//! (`(x − lo)/(hi − lo)`, not clipped).

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::audit::{finite_map, num, opt};
use super::config::{SequentialConfig, StationaryConfig};
use super::stationary::{self, DriftState, Noise};
use super::stats::{Z_CAP, f_sf, t_sf, z_of_upper_tail};
use super::{CheckContext, Decision, GateRecord, Snap, skip_record};

/// Lags of the residual autocorrelation used for the long-run variance.
pub const ACF_LAGS: usize = 3;
/// Caps of the autocorrelation estimates and of the variance inflation factors.
const RHO_MAX: f64 = 0.9;
const INFLATION_MAX: f64 = 20.0;

/// Accumulated state of one metric across checks.
#[derive(Debug, Clone, Default)]
struct MetricState {
    up: f64,
    down: f64,
    spread: f64,
    acf: VecDeque<[f64; ACF_LAGS]>,
    /// stationary_v1's level-drift channel.
    drift: DriftState,
}

/// Accumulated state of the engine (one entry per metric, created on first use).
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    metrics: Vec<MetricState>,
    /// stationary_v1's `h_drift`, computed at the first check (a numerical root).
    drift_h: Option<f64>,
}

/// Least-squares line through `(t, y)` points.
#[derive(Debug, Clone, Copy)]
struct Line {
    n: usize,
    tbar: f64,
    ybar: f64,
    sxx: f64,
    slope: f64,
}

impl Line {
    fn fit(pts: &[(f64, f64)]) -> Option<Line> {
        let n = pts.len();
        if n < 3 {
            return None;
        }
        let tbar = pts.iter().map(|p| p.0).sum::<f64>() / n as f64;
        let ybar = pts.iter().map(|p| p.1).sum::<f64>() / n as f64;
        let sxx: f64 = pts.iter().map(|p| (p.0 - tbar) * (p.0 - tbar)).sum();
        if sxx.is_nan() || sxx <= 0.0 {
            return None;
        }
        let sxy: f64 = pts.iter().map(|p| (p.0 - tbar) * (p.1 - ybar)).sum();
        Some(Line {
            n,
            tbar,
            ybar,
            sxx,
            slope: sxy / sxx,
        })
    }

    fn at(&self, t: f64) -> f64 {
        self.ybar + self.slope * (t - self.tbar)
    }

    fn residuals(&self, pts: &[(f64, f64)]) -> Vec<f64> {
        pts.iter().map(|&(t, y)| y - self.at(t)).collect()
    }

    /// Variance factor of the extrapolated mean at `t` over `n` points (σ² units, no noise).
    fn prediction_var(&self, t: f64) -> f64 {
        1.0 / self.n as f64 + (t - self.tbar) * (t - self.tbar) / self.sxx
    }
}

/// What one metric contributed to a check.
#[derive(Debug, Clone, Default)]
struct MetricOutcome {
    flags: Vec<&'static str>,
    evidence: f64,
    detail: Map<String, Value>,
    n_recent: usize,
}

/// Scale-free per-check constants shared by the metrics.
struct Budget<'a> {
    level: f64,
    h: f64,
    z_spike: f64,
    /// stationary_v1: the level-drift channel's settings and threshold.
    drift: Option<(&'a StationaryConfig, f64)>,
}

pub(crate) fn check(
    ctx: &CheckContext,
    history: &VecDeque<Snap>,
    gain_bits: Option<f64>,
    st: &mut State,
) -> GateRecord {
    let cfg = ctx.cfg;
    let seq = cfg.sequential.as_ref().expect("sequential preset");
    let names = ctx.names;
    let m = names.len();
    let level = cfg.sequential_level().expect("sequential preset");
    let drift = cfg.stationary.as_ref().map(|d| {
        let h = *st
            .drift_h
            .get_or_insert_with(|| cfg.drift_cusum_h().expect("stationary preset"));
        (d, h)
    });
    let budget = Budget {
        level,
        h: cfg.sequential_cusum_h().expect("sequential preset"),
        z_spike: z_of_upper_tail(0.5 * level),
        drift,
    };
    if st.metrics.len() != m {
        st.metrics = vec![MetricState::default(); m];
    }
    let wm = cfg.snapshots_per_window();
    let mi = cfg.metric_interval.max(1) as f64;
    let outcomes: Vec<Option<MetricOutcome>> = (0..m)
        .map(|k| {
            let (lo, hi) = cfg.cal_ranges[k].1;
            let span = if lo.is_finite() && hi.is_finite() && hi > lo {
                (lo, hi - lo)
            } else {
                (0.0, 1.0)
            };
            // Time in snapshot units, 0 at the check iteration.
            let series: Vec<Option<(f64, f64)>> = history
                .iter()
                .map(|s| {
                    let t = (s.iter as f64 - ctx.iter as f64) / mi;
                    s.values[k].map(|x| (t, (x - span.0) / span.1))
                })
                .collect();
            analyze(seq, &budget, &series, wm, &mut st.metrics[k])
        })
        .collect();

    let evaluable: Vec<&MetricOutcome> = outcomes.iter().flatten().collect();
    let evidence_total: usize = evaluable.iter().map(|o| o.n_recent).sum();
    if evaluable.is_empty() {
        return skip_record(
            cfg,
            ctx.iter,
            "not_evaluated_insufficient_evidence",
            evidence_total,
        );
    }
    let channels: Vec<String> = names
        .iter()
        .zip(&outcomes)
        .flat_map(|(n, o)| {
            o.iter()
                .flat_map(move |o| o.flags.iter().map(move |f| format!("{n}:{f}")))
        })
        .collect();
    let has = |kind: &str| {
        outcomes
            .iter()
            .flatten()
            .any(|o| o.flags.iter().any(|f| f.starts_with(kind)))
    };
    let reason = if has("level") {
        "level_shift_detected"
    } else if has("spike") {
        "spike_detected"
    } else if has("drift") {
        "level_drift_detected"
    } else if has("spread") {
        "spread_increase_detected"
    } else {
        "none_ok"
    };
    let fail = reason != "none_ok";
    let evidence: Vec<Option<f64>> = outcomes
        .iter()
        .map(|o| o.as_ref().map(|o| o.evidence))
        .collect();
    let metrics_exceeding: Vec<&String> = names
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.as_ref().is_some_and(|o| !o.flags.is_empty()))
        .map(|(n, _)| n)
        .collect();
    let not_evaluable: Vec<&String> = names
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_none())
        .map(|(n, _)| n)
        .collect();
    let per_metric: Map<String, Value> = names
        .iter()
        .zip(&outcomes)
        .filter_map(|(n, o)| {
            o.as_ref()
                .map(|o| (n.clone(), Value::Object(o.detail.clone())))
        })
        .collect();
    let mut audit = json!({
        "evaluated": true,
        "reason": reason,
        "policy": cfg.policy.as_str(),
        "gate_preset": cfg.preset_name(),
        "check_idx": ctx.check_idx,
        "worst_DW": opt(evidence.iter().flatten().copied().reduce(f64::max)),
        "eps_eff": num(1.0),
        "statistic": "trend_residual_cusum",
        "per_metric_tv": finite_map(names, &evidence),
        "per_metric": per_metric,
        "metrics_exceeding": metrics_exceeding,
        "channels_flagged": channels,
        "metrics_not_evaluable": not_evaluable,
        "alpha": num(seq.alpha),
        "family_size": cfg.sequential_family_size(),
        "alpha_per_test": num(budget.level),
        "kappa": num(seq.kappa),
        "cusum_h": num(budget.h),
        "min_effect": num(seq.min_effect),
        "evidence_total": evidence_total,
        "min_evidence": cfg.min_evidence,
        "gain_bits": opt(gain_bits),
        "gain_evaluated": false,
    });
    if let Some((d, h)) = budget.drift {
        audit["level_drift"] = d.controls_json(h);
    }
    GateRecord {
        iter: ctx.iter,
        decision: if fail { Decision::Fail } else { Decision::Pass },
        ok: !fail,
        warn: false,
        audit,
    }
}

/// Finite points of `series[range]`.
fn points(series: &[Option<(f64, f64)>], range: std::ops::Range<usize>) -> Vec<(f64, f64)> {
    series[range].iter().flatten().copied().collect()
}

/// One metric at one check; `None` when it is not evaluable (state untouched).
fn analyze(
    seq: &SequentialConfig,
    budget: &Budget,
    series: &[Option<(f64, f64)>],
    wm: usize,
    st: &mut MetricState,
) -> Option<MetricOutcome> {
    let len = series.len();
    let min_n = seq.min_per_metric.max(3);
    let recent = points(series, len - wm..len);
    let fit_pts = points(series, len - (seq.fit_windows + 1) * wm..len - wm);
    if recent.len() < min_n || fit_pts.len() < 2 * min_n {
        return None;
    }
    let line = Line::fit(&fit_pts)?;
    let fit_resid = line.residuals(&fit_pts);

    // Scale: residual sums of squares of each past half-window around its own line.
    let windows: Vec<(f64, usize)> = (1..=seq.scale_windows)
        .filter_map(|j| {
            let pts = points(series, len - (j + 1) * wm..len - j * wm);
            if pts.len() < min_n {
                return None;
            }
            let w = Line::fit(&pts)?;
            let rss: f64 = w.residuals(&pts).iter().map(|e| e * e).sum();
            Some((rss, pts.len()))
        })
        .collect();
    if windows.len() < 2 {
        return None;
    }

    // Long-run variance factor from lags 1..3, pooled over checks, bias-corrected.
    let rho_now = autocorrelations(&fit_resid);
    st.acf.push_back(rho_now);
    while st.acf.len() > seq.acf_pool_checks.max(1) {
        st.acf.pop_front();
    }
    let mut rho = [0.0; ACF_LAGS];
    for r in &st.acf {
        for (acc, x) in rho.iter_mut().zip(r) {
            *acc += x / st.acf.len() as f64;
        }
    }
    let f0 = (1.0 + 2.0 * rho.iter().sum::<f64>()).max(1.0);
    for r in &mut rho {
        *r = (*r + f0 / fit_pts.len() as f64).clamp(-RHO_MAX, RHO_MAX);
    }
    let r1 = rho[0].clamp(0.0, RHO_MAX);
    let last = rho[ACF_LAGS - 1];
    let tail = if last > 0.0 && r1 > 0.0 {
        2.0 * last * r1 / (1.0 - r1)
    } else {
        0.0
    };
    let lrv = (1.0 + 2.0 * rho.iter().sum::<f64>() + tail).clamp(1.0, INFLATION_MAX);
    let g = (1.0 + 2.0 * rho.iter().map(|r| r * r).sum::<f64>()).clamp(1.0, INFLATION_MAX);

    // Pooled noise variance, corrected for the detrending bias under autocorrelation.
    let rss: f64 = windows.iter().map(|w| w.0).sum();
    let dof: f64 = windows
        .iter()
        .map(|&(_, n)| (n as f64 - 2.0 * lrv).max(n as f64 / 4.0))
        .sum();
    let s = (rss / dof).sqrt();
    let df = (windows.iter().map(|&(_, n)| n as f64 - 2.0).sum::<f64>() / g).max(1.0);

    // Level: mean recent residual against the extrapolated line.
    let n_r = recent.len() as f64;
    let t_r = recent.iter().map(|p| p.0).sum::<f64>() / n_r;
    let r_bar = recent.iter().map(|&(t, y)| y - line.at(t)).sum::<f64>() / n_r;
    let se = s * (lrv * (1.0 / n_r + line.prediction_var(t_r))).sqrt();
    let score = |num: f64, sd: f64| -> f64 {
        if sd > 0.0 {
            z_of_upper_tail(t_sf(num / sd, df))
        } else if num > 0.0 {
            Z_CAP
        } else {
            -Z_CAP
        }
    };
    let z_up = score(r_bar - seq.min_effect, se);
    let z_down = score(-r_bar - seq.min_effect, se);

    // Spike: the newest snapshot against the extrapolated line.
    let (t_l, y_l) = *recent.last().expect("non-empty recent window");
    let e_l = y_l - line.at(t_l);
    let sd_l = s * (1.0 + lrv * line.prediction_var(t_l)).sqrt();
    let spike_num = e_l.abs() - seq.spike_min_effect;
    let p_spike = if spike_num <= 0.0 {
        1.0
    } else if sd_l > 0.0 {
        (2.0 * t_sf(spike_num / sd_l, df)).min(1.0)
    } else {
        0.0
    };
    let spike_ratio = (z_of_upper_tail(0.5 * p_spike) / budget.z_spike).max(0.0);

    // Spread: recent noise sd against the past one.
    let spread = Line::fit(&recent).map(|w| {
        let rss_r: f64 = w.residuals(&recent).iter().map(|e| e * e).sum();
        let s_r = (rss_r / (n_r - 2.0 * lrv).max(n_r / 4.0)).sqrt();
        let reference = (seq.spread_ratio_min * s).max(s + seq.spread_min_effect);
        let d1 = ((n_r - 2.0) / g).max(1.0);
        let z = z_of_upper_tail(f_sf((s_r / reference).powi(2), d1, df));
        (s_r, z)
    });

    // CUSUMs.
    let mut flags = vec![];
    let mut step = |acc: &mut f64, z: f64, flag: &'static str| -> f64 {
        *acc = (*acc + z - seq.kappa).max(0.0);
        let ratio = *acc / budget.h;
        if *acc >= budget.h {
            flags.push(flag);
            *acc = 0.0;
        }
        ratio
    };
    let up = step(&mut st.up, z_up, "level_up");
    let down = step(&mut st.down, z_down, "level_down");
    let spread_ratio = spread.map(|(_, z)| step(&mut st.spread, z, "spread_up"));
    if p_spike <= budget.level {
        flags.push("spike");
    }
    let mut evidence = up
        .max(down)
        .max(spike_ratio)
        .max(spread_ratio.unwrap_or(0.0));
    // stationary_v1: the recent level against the frozen reference.
    let drift = budget.drift.map(|(d, h)| {
        let noise = Noise { s, lrv, df };
        let out = stationary::step(d, h, &recent, &noise, &mut st.drift);
        flags.extend(&out.flags);
        evidence = evidence.max(out.evidence);
        stationary::commit(d, wm, &recent, &noise, !flags.is_empty(), &mut st.drift);
        out
    });
    let mut detail = Map::new();
    for (key, value) in [
        ("residual_mean", r_bar),
        ("slope_per_window", line.slope * wm as f64),
        ("noise_sd", s),
        ("lrv_factor", lrv),
        ("df", df),
        ("z_up", z_up),
        ("z_down", z_down),
        ("cusum_up", up),
        ("cusum_down", down),
        ("spike_deviation", e_l),
        ("spike", spike_ratio),
    ] {
        detail.insert(key.into(), num(value));
    }
    if let (Some((s_r, z)), Some(ratio)) = (spread, spread_ratio) {
        detail.insert("recent_noise_sd".into(), num(s_r));
        detail.insert("z_spread".into(), num(z));
        detail.insert("cusum_spread".into(), num(ratio));
    }
    for (key, value) in drift.into_iter().flat_map(|o| o.detail) {
        detail.insert(key.into(), value);
    }
    Some(MetricOutcome {
        flags,
        evidence,
        detail,
        n_recent: recent.len(),
    })
}

/// Lag-1..3 autocorrelations `Σ e_i e_{i+k} / Σ e_i²` of a residual sequence (0 if flat).
fn autocorrelations(e: &[f64]) -> [f64; ACF_LAGS] {
    let den: f64 = e.iter().map(|x| x * x).sum();
    let mut out = [0.0; ACF_LAGS];
    if den > 0.0 {
        for (k, o) in out.iter_mut().enumerate() {
            let lag = k + 1;
            if e.len() > lag {
                *o = e.iter().zip(&e[lag..]).map(|(a, b)| a * b).sum::<f64>() / den;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fit_recovers_an_exact_line() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 + 0.5 * i as f64)).collect();
        let l = Line::fit(&pts).unwrap();
        assert!((l.slope - 0.5).abs() < 1e-12);
        assert!((l.at(20.0) - 12.0).abs() < 1e-12);
        assert!(l.residuals(&pts).iter().all(|e| e.abs() < 1e-12));
        assert!(Line::fit(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]).is_none());
    }

    #[test]
    fn cusum_threshold_bounds_the_alarm_rate_of_standard_normal_increments() {
        // Kingman: with i.i.d. N(0,1) scores, P(S_k ≥ h) ≤ exp(−2κh) at every check k. Here
        // α/F = 1% (so that alarms are frequent enough to count): h = ln(100)/(2κ).
        let cfg = SequentialConfig {
            alpha: 0.04, // family of 4 tests for one metric

            ..crate::engine::GateConfig::preset("calibrated_v2")
                .unwrap()
                .sequential
                .unwrap()
        };
        let h = cfg.cusum_threshold(0);
        let level = cfg.level(0);
        assert!(((-2.0 * cfg.kappa * h).exp() - level).abs() < 1e-15);
        let z = crate::prng::SplitMix64::new(2024).normals(400_000);
        let (mut s, mut alarms) = (0.0f64, 0usize);
        for x in z {
            s = (s + x - cfg.kappa).max(0.0);
            if s >= h {
                alarms += 1;
                s = 0.0;
            }
        }
        let rate = alarms as f64 / 400_000.0;
        assert!(
            rate <= level && rate > level / 20.0,
            "rate {rate} vs bound {level}"
        );
    }

    #[test]
    fn preset_budget_constants() {
        let cfg = crate::engine::GateConfig::preset("calibrated_v2").unwrap();
        let s = cfg.sequential.as_ref().unwrap();
        assert_eq!(s.family_size(4), 16);
        assert!((s.level(4) - 0.01 / 16.0).abs() < 1e-18);
        // h = ln(1600)/3 ≈ 2.459: one check alone alarms at a score ≥ κ + h ≈ 3.96.
        assert!((s.cusum_threshold(4) - 1600f64.ln() / 3.0).abs() < 1e-12);
        assert_eq!(cfg.history_snapshots(), 100);
    }

    #[test]
    fn autocorrelation_of_alternating_and_flat_sequences() {
        let alt: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let r = autocorrelations(&alt);
        assert!((r[0] + 39.0 / 40.0).abs() < 1e-12 && (r[1] - 38.0 / 40.0).abs() < 1e-12);
        assert_eq!(autocorrelations(&[0.0; 10]), [0.0; 3]);
    }
}
