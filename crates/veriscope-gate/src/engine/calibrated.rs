//! `calibrated_v1`: a gate whose false-alarm rate is set by a stated budget (docs/gate.md
//! §calibrated_v1). Per metric and channel (change: past vs recent; regime: frozen reference
//! vs recent) an exact two-sample Kolmogorov–Smirnov permutation test; a test counts when
//! `p ≤ α / F` (Bonferroni over the F = metrics × channels family) and the median moved by at
//! least `min_effect` transported units. Any counting test fails the check.

use serde_json::json;

use super::audit::{finite_map, num, opt};
use super::config::GateConfig;
use super::divergence::{
    ks_exact_pvalue, ks_statistic_scaled, median_sorted, quantile_sorted, transport,
};
use super::reference::subsample;
use super::{CheckContext, Decision, GateRecord, Reference, RegimeState, Windows, skip_record};

/// Outcome of one (metric, channel) test.
#[derive(Debug, Clone, Copy)]
struct Test {
    d: f64,
    p: f64,
    effect: f64,
    flagged: bool,
}

pub(crate) fn check(ctx: &CheckContext, w: &Windows, st: &mut RegimeState) -> GateRecord {
    let cfg = ctx.cfg;
    let cal = cfg.calibrated.as_ref().expect("calibrated preset");
    let family = ctx.names.len() * if cfg.regime.enabled { 2 } else { 1 };
    let level = cal.alpha / family as f64;
    let past = sorted_transported(cfg, &w.past);
    let recent = sorted_transported(cfg, &w.recent);
    let change: Vec<Option<Test>> = past
        .iter()
        .zip(&recent)
        .map(|(a, b)| run_test(a, b, level, cfg))
        .collect();
    let evidence: usize = past
        .iter()
        .zip(&recent)
        .map(|(a, b)| a.len().min(b.len()))
        .sum();
    if change.iter().all(Option::is_none) {
        return skip_record(
            cfg,
            ctx.iter,
            "not_evaluated_insufficient_evidence",
            evidence,
        );
    }
    let pre_reference = st.reference.is_none();
    let regime: Vec<Option<Test>> = match &st.reference {
        Some(r) if cfg.regime.enabled => r
            .values
            .iter()
            .zip(&recent)
            .map(|(a, b)| run_test(a, b, level, cfg))
            .collect(),
        _ => vec![None; ctx.names.len()],
    };
    let change_flag = change.iter().flatten().any(|t| t.flagged);
    let regime_flag = regime.iter().flatten().any(|t| t.flagged);
    let just_established =
        cfg.regime.enabled && pre_reference && !change_flag && build(cfg, ctx, &recent, st);
    let reason = match (change_flag, regime_flag) {
        (true, true) => "both_shift_detected",
        (true, false) => "change_shift_detected",
        (false, true) => "regime_shift_detected",
        (false, false) => "none_ok",
    };
    let fail = change_flag || regime_flag;
    let wm = cfg.snapshots_per_window();
    let audit = json!({
        "evaluated": true,
        "reason": reason,
        "policy": cfg.policy.as_str(),
        "gate_preset": cfg.preset_name(),
        "check_idx": ctx.check_idx,
        "worst_DW": opt(change.iter().flatten().map(|t| t.d).reduce(f64::max)),
        "eps_eff": num(critical_d(wm, wm, level)),
        "statistic": "ks_two_sample_exact",
        "alpha": num(cal.alpha),
        "alpha_per_test": num(level),
        "family_size": family,
        "min_effect": num(cal.min_effect),
        "min_per_metric": cal.min_per_metric,
        "per_metric_tv": finite_map(ctx.names, &change.iter().map(|t| t.map(|t| t.d)).collect::<Vec<_>>()),
        "per_metric_p": finite_map(ctx.names, &change.iter().map(|t| t.map(|t| t.p)).collect::<Vec<_>>()),
        "per_metric_effect": finite_map(ctx.names, &change.iter().map(|t| t.map(|t| t.effect)).collect::<Vec<_>>()),
        "metrics_exceeding": flagged_names(ctx.names, &change),
        "regime_per_metric": finite_map(ctx.names, &regime.iter().map(|t| t.map(|t| t.d)).collect::<Vec<_>>()),
        "regime_per_metric_p": finite_map(ctx.names, &regime.iter().map(|t| t.map(|t| t.p)).collect::<Vec<_>>()),
        "regime_metrics_exceeding": flagged_names(ctx.names, &regime),
        "regime_check_ran": regime.iter().any(Option::is_some),
        "evidence_total": evidence,
        "min_evidence": cfg.min_evidence,
        "gain_bits": opt(w.gain_bits),
        "gain_evaluated": false,
        "pre_reference": pre_reference,
        "ref_established_at": st.reference.as_ref().map(|r| r.established_at),
        "ref_just_established": just_established,
        "ref_windows_accumulated": st.accumulator.len(),
    });
    GateRecord {
        iter: ctx.iter,
        decision: if fail { Decision::Fail } else { Decision::Pass },
        ok: !fail,
        warn: false,
        audit,
    }
}

fn sorted_transported(cfg: &GateConfig, raw: &[Vec<f64>]) -> Vec<Vec<f64>> {
    raw.iter()
        .zip(&cfg.cal_ranges)
        .map(|(v, (_, r))| {
            let mut t: Vec<f64> = v.iter().map(|&x| transport(x, *r)).collect();
            t.sort_by(f64::total_cmp);
            t
        })
        .collect()
}

fn run_test(a: &[f64], b: &[f64], level: f64, cfg: &GateConfig) -> Option<Test> {
    let min_n = cfg
        .calibrated
        .as_ref()
        .map_or(1, |c| c.min_per_metric.max(1));
    if a.len() < min_n || b.len() < min_n {
        return None;
    }
    let s = ks_statistic_scaled(a, b);
    let p = ks_exact_pvalue(s, a.len(), b.len());
    let effect = location_or_spread_shift(a, b);
    let min_effect = cfg.calibrated.as_ref().map_or(0.0, |c| c.min_effect);
    Some(Test {
        d: s as f64 / (a.len() * b.len()) as f64,
        p,
        effect,
        flagged: p <= level && effect >= min_effect,
    })
}

/// Effect size: the larger of the median shift and the interquartile-range change, so a
/// variance blow-up without a level change still counts.
fn location_or_spread_shift(a: &[f64], b: &[f64]) -> f64 {
    let iqr = |x: &[f64]| quantile_sorted(x, 0.75) - quantile_sorted(x, 0.25);
    let location = (median_sorted(b) - median_sorted(a)).abs();
    location.max((iqr(b) - iqr(a)).abs())
}

fn flagged_names(names: &[String], tests: &[Option<Test>]) -> Vec<String> {
    names
        .iter()
        .zip(tests)
        .filter(|(_, t)| t.is_some_and(|t| t.flagged))
        .map(|(n, _)| n.clone())
        .collect()
}

/// Smallest KS distance D whose exact p-value is ≤ `level` for sizes n, m (the audit's
/// `eps_eff`, so `worst_DW > eps_eff` reads as in the parity presets).
pub(crate) fn critical_d(n: usize, m: usize, level: f64) -> f64 {
    let nm = (n * m) as u64;
    if nm == 0 || ks_exact_pvalue(nm, n, m) > level {
        return f64::INFINITY;
    }
    // The p-value is non-increasing in s: binary search for the first s with p ≤ level.
    let (mut lo, mut hi) = (1u64, nm);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ks_exact_pvalue(mid, n, m) <= level {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo as f64 / nm as f64
}

/// Reference building: accumulate complete, unflagged recent windows inside the build
/// window; freeze after `min_windows` of them (no quality threshold on an uncalibrated D_W).
fn build(cfg: &GateConfig, ctx: &CheckContext, recent: &[Vec<f64>], st: &mut RegimeState) -> bool {
    let (lo, hi) = cfg.regime_build_window();
    if !(lo..hi).contains(&ctx.iter) {
        return false;
    }
    let min_n = cfg.calibrated.as_ref().map_or(1, |c| c.min_per_metric);
    if recent.iter().any(|m| m.len() < min_n) {
        st.windows_skipped_incomplete += 1;
        return false;
    }
    // Stored in raw-transported form: tests compare transported values.
    st.accumulator.push_back(recent.to_vec());
    if st.accumulator.len() < cfg.regime.min_windows {
        return false;
    }
    let values = (0..ctx.names.len())
        .map(|m| {
            let mut v: Vec<f64> = st
                .accumulator
                .iter()
                .flat_map(|w| w[m].iter().copied())
                .collect();
            v = subsample(v, cfg.regime.max_reference_samples, &ctx.names[m]);
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    st.reference = Some(Reference {
        values,
        established_at: ctx.iter,
    });
    st.accumulator.clear();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_distance_for_20_vs_20() {
        // At level 0.000625 (α = 0.005 over 8 tests) the 20-vs-20 exact KS needs D ≥ 0.6.
        let d = critical_d(20, 20, 0.005 / 8.0);
        assert!((0.5..=0.7).contains(&d), "{d}");
        assert!(ks_exact_pvalue((d * 400.0).round() as u64, 20, 20) <= 0.005 / 8.0);
    }

    #[test]
    fn identical_constant_windows_never_flag() {
        let cfg = GateConfig::preset("calibrated_v1").unwrap();
        let a = vec![0.5; 20];
        let t = run_test(&a, &a, 0.5, &cfg).unwrap();
        assert_eq!(t.p, 1.0);
        assert!(!t.flagged);
    }
}
