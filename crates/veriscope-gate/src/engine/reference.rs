//! Parity engine for `tuned_v0`, `legacy`, `spike_v1`: the reference's change check
//! (algorithm.md §4–§7), regime anchoring (§9) and reason/headline rules (§9.4–§9.6).
//! Known flaws are kept on purpose for compatibility; docs/gate.md §Known flaws lists them.

use serde_json::{Map, Value, json};

use super::audit::{finite_map, num, opt};
use super::config::{GateConfig, Policy};
use super::divergence::{eps_stat_metric, transport, tv_fine_rescue, tv_hist_fixed, weighted_mean};
use super::{CheckContext, Decision, GateRecord, Reference, RegimeState, Windows};
use crate::prng::SplitMix64;

/// |TV| at or below this counts as zero for the rescue (§4.4).
const ZERO_TV_TOL: f64 = 1e-12;

/// Persistence counters of the change and regime channels (§7.4).
#[derive(Debug, Clone, Default)]
pub(crate) struct Persistence {
    change: usize,
    regime: usize,
    /// Last `trend_n` (check_idx, margin_eff) pairs of the change channel (§7.3).
    trend: std::collections::VecDeque<(f64, f64)>,
}

/// Parameters of one channel (change or regime) of the base engine.
struct Channel {
    eps: f64,
    gain_enabled: bool,
    min_metrics_exceeding: usize,
}

/// Result of one base-engine check (§6–§7).
#[derive(Debug, Clone, Default)]
struct Outcome {
    evaluated: bool,
    reason: Option<String>,
    ok: bool,
    warn: bool,
    dw_exceeds: bool,
    persistence_fail: bool,
    degenerate: bool,
    worst: Option<f64>,
    eps_eff: Option<f64>,
    audit: Map<String, Value>,
}

/// One check of a parity preset.
pub(crate) fn check(
    ctx: &CheckContext,
    w: &Windows,
    regime: &mut RegimeState,
    persist: &mut Persistence,
) -> GateRecord {
    let cfg = ctx.cfg;
    let change_ch = Channel {
        eps: cfg.eps,
        gain_enabled: true,
        min_metrics_exceeding: cfg.min_metrics_exceeding,
    };
    let mut base = base_check(
        cfg,
        &change_ch,
        &w.past,
        &w.recent,
        w.gain_bits,
        &mut persist.change,
        ctx.names,
    );
    add_trend(ctx, &mut base, persist);

    let (build_min, build_max) = cfg.regime_build_window();
    let pre_reference = regime.reference.is_none();
    let regime_runs = cfg.regime.enabled && !pre_reference && ctx.iter >= build_min;
    let reg = regime_runs.then(|| {
        let ch = Channel {
            eps: cfg.regime.epsilon_mult * cfg.eps,
            gain_enabled: false,
            min_metrics_exceeding: 1,
        };
        let reference = &regime.reference.as_ref().expect("checked above").values;
        base_check(
            cfg,
            &ch,
            reference,
            &w.recent,
            None,
            &mut persist.regime,
            ctx.names,
        )
    });
    let just_established = cfg.regime.enabled
        && pre_reference
        && (build_min..build_max).contains(&ctx.iter)
        && build_step(cfg, ctx, w, &base, regime);
    combine(ctx, base, reg, pre_reference, just_established, regime)
}

/// The base engine on (a, b) windows of raw finite values (§4.2, §5, §6, §7).
fn base_check(
    cfg: &GateConfig,
    ch: &Channel,
    a_raw: &[Vec<f64>],
    b_raw: &[Vec<f64>],
    gain_bits: Option<f64>,
    counter: &mut usize,
    names: &[String],
) -> Outcome {
    let weights: Vec<f64> = cfg.weights.iter().map(|(_, w)| *w).collect();
    let counts: Vec<usize> = a_raw
        .iter()
        .zip(b_raw)
        .map(|(a, b)| a.len().min(b.len()))
        .collect();
    let evidence_total: usize = counts.iter().sum();
    let mut audit = Map::new();
    audit.insert("evidence_total".into(), json!(evidence_total));
    audit.insert("min_evidence".into(), json!(cfg.min_evidence));
    audit.insert("counts_by_metric".into(), counts_json(names, &counts));
    // contract: min_evidence is a total over metrics (§6; flaw §16 item 14, kept for parity).
    if cfg.min_evidence > 0 && evidence_total < cfg.min_evidence {
        return not_evaluated("not_evaluated_insufficient_evidence", audit);
    }
    let transported = |raw: &[Vec<f64>]| -> Vec<Vec<f64>> {
        raw.iter()
            .zip(&cfg.cal_ranges)
            .map(|(v, (_, r))| v.iter().map(|&x| transport(x, *r)).collect())
            .collect()
    };
    let (a, b) = (transported(a_raw), transported(b_raw));
    let mut tvs: Vec<Option<f64>> = a
        .iter()
        .zip(&b)
        .map(|(p, q)| evaluable_tv(p, q, cfg.bins))
        .collect();
    if tvs.iter().all(Option::is_none) {
        return not_evaluated("not_evaluated_no_finite_metrics", audit);
    }
    let rescued = if cfg.zero_tv_rescue {
        rescue(&mut tvs, a_raw, b_raw, &a, &b, cfg.bins)
    } else {
        vec![]
    };
    let degenerate = cfg.zero_tv_rescue && is_degenerate(&tvs, a_raw, b_raw);
    let worst = weighted_mean(&tvs, &weights).unwrap_or(0.0);

    let eps_stat: f64 = counts
        .iter()
        .zip(&weights)
        .map(|(&n, w)| w.abs() * eps_stat_metric(n, cfg.bins, cfg.eps_stat_alpha))
        .sum::<f64>()
        / weights.iter().map(|w| w.abs()).sum::<f64>();
    let eps_cap = ch.eps * cfg.cap_frac.clamp(0.0, 1.0);
    let eps_stat_used = eps_stat.clamp(0.0, eps_cap);
    // §5.2: the statistical term is subtracted (flaw §16 item 2, kept for parity).
    let eps_eff = (ch.eps + cfg.eps_sens - eps_stat_used).max(0.0);

    let dw_raw = worst > eps_eff;
    let exceeding: Vec<&String> = names
        .iter()
        .zip(&tvs)
        .filter(|(_, tv)| tv.is_some_and(|t| t > eps_eff))
        .map(|(n, _)| n)
        .collect();
    let n_evaluable = tvs.iter().flatten().count();
    let min_m_eff = ch.min_metrics_exceeding.min(n_evaluable);
    let filtered = dw_raw && min_m_eff > 1 && exceeding.len() < min_m_eff;
    let dw_exceeds = dw_raw && !filtered;

    let gain = gain_bits.filter(|g| ch.gain_enabled && g.is_finite());
    let gain_below = gain.is_some_and(|g| g < cfg.gain_thresh);
    let ok_gain = !gain_below;
    let ok_stab = !dw_exceeds;

    let before = *counter;
    let (mut ok, mut warn, persistence_fail) =
        apply_policy(cfg, dw_exceeds, ok_gain, ok_stab, gain_below, counter);
    let mut reason = None;
    if degenerate {
        if cfg.policy.is_persistence() {
            *counter = before + 1;
        }
        (ok, warn) = (false, false);
        reason = Some("zero_tv_nonidentical_windows".to_string());
    } else if cfg.policy.is_persistence() && warn && gain_below && !dw_exceeds {
        reason = Some("gain_below_threshold".to_string());
    }

    let (worst_metric, worst_metric_tv) = names
        .iter()
        .zip(&tvs)
        .filter_map(|(n, t)| t.map(|t| (n, t)))
        .fold(
            (None, None),
            |acc: (Option<&String>, Option<f64>), (n, t)| {
                if acc.1.is_none_or(|best| t > best) {
                    (Some(n), Some(t))
                } else {
                    acc
                }
            },
        );
    let not_evaluable: Vec<&String> = names
        .iter()
        .zip(&tvs)
        .filter(|(_, t)| t.is_none())
        .map(|(n, _)| n)
        .collect();
    let fields = json!({
        "worst_DW": num(worst),
        "eps": num(ch.eps),
        "eps_sens": num(cfg.eps_sens),
        "eps_stat": num(eps_stat_used),
        "eps_stat_raw": num(eps_stat),
        "eps_eff": num(eps_eff),
        "eps_aggregation": "cap_to_frac",
        "per_metric_tv": finite_map(names, &tvs),
        "metrics_not_evaluable": not_evaluable,
        "per_metric_n": per_metric_n(names, a_raw, b_raw),
        "per_metric_tv_rescue": rescued.iter().map(|&m| names[m].as_str()).collect::<Vec<_>>(),
        "gain_bits": opt(gain_bits),
        "gain_thr": if ch.gain_enabled { num(cfg.gain_thresh) } else { Value::Null },
        "gain_evaluated": gain.is_some(),
        "ok_gain": ok_gain,
        "gain_below_threshold": gain_below,
        "dw_exceeds_threshold": dw_exceeds,
        "dw_exceeds_threshold_raw": dw_raw,
        "ok_stab": ok_stab,
        "ok_stab_raw": !dw_raw,
        "min_metrics_exceeding": ch.min_metrics_exceeding,
        "min_metrics_exceeding_effective": min_m_eff,
        "n_metrics_exceeding": exceeding.len(),
        "metrics_exceeding": exceeding,
        "multi_metric_filtered": filtered,
        "worst_metric": worst_metric,
        "worst_metric_tv": opt(worst_metric_tv),
        "persistence_fail": persistence_fail,
        "persistence_k": cfg.policy.is_persistence().then_some(cfg.persistence_k),
        "consecutive_exceedances_before": before,
        "consecutive_exceedances_after": *counter,
        "degenerate_window": degenerate,
        "kappa_checked": false,
    });
    audit.extend(fields.as_object().expect("object").clone());
    Outcome {
        evaluated: true,
        reason,
        ok,
        warn,
        dw_exceeds,
        persistence_fail,
        degenerate,
        worst: Some(worst),
        eps_eff: Some(eps_eff),
        audit,
    }
}

/// §7.4 policy table → (ok, warn, persistence_fail); updates the persistence counter.
fn apply_policy(
    cfg: &GateConfig,
    dw_exceeds: bool,
    ok_gain: bool,
    ok_stab: bool,
    gain_below: bool,
    counter: &mut usize,
) -> (bool, bool, bool) {
    match cfg.policy {
        Policy::Either
        | Policy::Calibrated
        | Policy::CalibratedSequential
        | Policy::StationarySequential => (ok_gain && ok_stab, false, false),
        Policy::Conjunction => {
            let ok = ok_gain || ok_stab;
            (ok, dw_exceeds && ok_gain && ok, false)
        }
        Policy::Persistence | Policy::PersistenceStability => {
            if dw_exceeds {
                *counter += 1;
            } else if !gain_below {
                *counter = 0;
            }
            let fail = *counter >= cfg.persistence_k;
            let ok = !fail;
            (ok, ok && ((dw_exceeds && !fail) || gain_below), fail)
        }
    }
}

/// TV of one metric, `None` when either side is empty (not evaluable, §4.2).
fn evaluable_tv(a: &[f64], b: &[f64], bins: usize) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    tv_hist_fixed(a, b, bins).filter(|t| t.is_finite())
}

/// §4.4 step 2: when every finite TV is ≈0 but some raw windows differ, re-measure zero TVs
/// on 256 fine bins over the observed span. Returns the metrics whose TV was replaced.
fn rescue(
    tvs: &mut [Option<f64>],
    a_raw: &[Vec<f64>],
    b_raw: &[Vec<f64>],
    a: &[Vec<f64>],
    b: &[Vec<f64>],
    bins: usize,
) -> Vec<usize> {
    let all_zero = tvs.iter().flatten().all(|t| t.abs() <= ZERO_TV_TOL);
    let any_differs = (0..tvs.len()).any(|m| differs(&a_raw[m], &b_raw[m]));
    if !all_zero || !any_differs {
        return vec![];
    }
    let mut replaced = vec![];
    for (m, tv) in tvs.iter_mut().enumerate() {
        if *tv == Some(0.0)
            && a[m] != b[m]
            && let Some(fine) = tv_fine_rescue(&a[m], &b[m], bins).filter(|t| *t > 0.0)
        {
            *tv = Some(fine);
            replaced.push(m);
        }
    }
    replaced
}

/// Windows with points on both sides whose sets of distinct values differ. The reference
/// compares arrays elementwise, which calls a constant run "non-identical" as soon as the
/// window lengths differ (reference 100 vs recent 20) and then hard-fails it as degenerate;
/// comparing distinct values fixes that (docs/gate.md §Known flaws, item 3).
fn differs(a: &[f64], b: &[f64]) -> bool {
    let distinct = |x: &[f64]| {
        let mut v = x.to_vec();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    !a.is_empty() && !b.is_empty() && distinct(a) != distinct(b)
}

/// §4.4 step 3: all TVs finite and ≈0 although some raw windows differ.
fn is_degenerate(tvs: &[Option<f64>], a_raw: &[Vec<f64>], b_raw: &[Vec<f64>]) -> bool {
    tvs.iter()
        .all(|t| t.is_some_and(|t| t.abs() <= ZERO_TV_TOL))
        && (0..tvs.len()).any(|m| differs(&a_raw[m], &b_raw[m]))
}

fn not_evaluated(reason: &str, mut audit: Map<String, Value>) -> Outcome {
    audit.insert("worst_DW".into(), Value::Null);
    audit.insert("eps_eff".into(), Value::Null);
    audit.insert("per_metric_tv".into(), json!({}));
    Outcome {
        evaluated: false,
        reason: Some(reason.to_string()),
        ok: true,
        audit,
        ..Outcome::default()
    }
}

fn counts_json(names: &[String], counts: &[usize]) -> Value {
    Value::Object(
        names
            .iter()
            .cloned()
            .zip(counts.iter().map(|c| json!(c)))
            .collect(),
    )
}

fn per_metric_n(names: &[String], a: &[Vec<f64>], b: &[Vec<f64>]) -> Value {
    Value::Object(
        names
            .iter()
            .zip(a.iter().zip(b))
            .map(|(n, (a, b))| (n.clone(), json!([a.len(), b.len()])))
            .collect(),
    )
}

/// Margins and endpoint slope of the change channel (audit only, §7.3).
fn add_trend(ctx: &CheckContext, base: &mut Outcome, persist: &mut Persistence) {
    let (Some(worst), Some(eps_eff)) = (base.worst, base.eps_eff) else {
        return;
    };
    let worst_eff = if base.dw_exceeds {
        worst
    } else {
        worst.min(eps_eff)
    };
    let margin_eff = worst_eff - eps_eff;
    persist.trend.push_back((ctx.iter as f64, margin_eff));
    while persist.trend.len() > ctx.cfg.trend_n {
        persist.trend.pop_front();
    }
    let slope = match (persist.trend.front(), persist.trend.back()) {
        (Some(f), Some(l)) if l.0 > f.0 => Some((l.1 - f.1) / (l.0 - f.0)),
        _ => None,
    };
    let rel = |x: f64| (eps_eff > 0.0).then(|| x / eps_eff - 1.0);
    let fields = json!({
        "margin_change_raw": num(worst - eps_eff),
        "margin_change_rel_raw": opt(rel(worst)),
        "margin_change_eff": num(margin_eff),
        "margin_change_rel_eff": opt(rel(worst_eff)),
        "margin_change_slope_eff": opt(slope),
        "trend_x": ctx.iter,
        "trend_x_source": "iter_num",
        "trend_n": ctx.cfg.trend_n,
    });
    base.audit
        .extend(fields.as_object().expect("object").clone());
}

/// Reference build step (§9.2); returns true when the reference was frozen at this check.
fn build_step(
    cfg: &GateConfig,
    ctx: &CheckContext,
    w: &Windows,
    base: &Outcome,
    st: &mut RegimeState,
) -> bool {
    let rc = &cfg.regime;
    if w.recent.iter().all(|m| !m.is_empty()) {
        st.accumulator.push_back(w.recent.clone());
        while st.accumulator.len() > rc.max_accumulator_windows {
            st.accumulator.pop_front();
        }
    } else {
        st.windows_skipped_incomplete += 1;
    }
    let dw_ok = base
        .worst
        .is_some_and(|d| d.is_finite() && d <= rc.build_max_dw);
    // Missing gain fails the quality gate (reference behaviour, conservative).
    let gain_ok = w.gain_bits.is_some_and(|g| g >= rc.build_min_gain);
    if !dw_ok || !gain_ok {
        st.last_reject_reason = Some(if dw_ok {
            "gain_below_min"
        } else {
            "dw_above_max"
        });
        return false;
    }
    let pooled: Vec<Vec<f64>> = (0..ctx.names.len())
        .map(|m| {
            st.accumulator
                .iter()
                .flat_map(|win| win[m].iter().copied())
                .collect()
        })
        .collect();
    let enough_windows = st.accumulator.len() >= rc.min_windows.min(rc.max_accumulator_windows);
    if !enough_windows || pooled.iter().any(|v| v.len() < rc.min_evidence_per_metric) {
        st.last_reject_reason = Some("insufficient_windows_or_samples");
        return false;
    }
    let values = pooled
        .into_iter()
        .zip(ctx.names)
        .map(|(v, name)| subsample(v, rc.max_reference_samples, name))
        .collect();
    st.reference = Some(Reference {
        values,
        established_at: ctx.iter,
    });
    st.accumulator.clear();
    st.last_reject_reason = None;
    true
}

/// Keeps at most `cap` values, chosen without replacement by a partial Fisher–Yates shuffle
/// seeded from the metric name (FNV-1a), order of the kept values preserved.
pub(crate) fn subsample(mut v: Vec<f64>, cap: usize, name: &str) -> Vec<f64> {
    if v.len() <= cap {
        return v;
    }
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = SplitMix64::new(42 ^ seed);
    let mut idx: Vec<usize> = (0..v.len()).collect();
    for i in 0..cap {
        let j = i + rng.next_below((idx.len() - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut keep = idx[..cap].to_vec();
    keep.sort_unstable();
    let out = keep.iter().map(|&i| v[i]).collect();
    v.clear();
    out
}

/// §9.4 combination, reasons, pre-reference rules and §9.5 headline values.
fn combine(
    ctx: &CheckContext,
    base: Outcome,
    reg: Option<Outcome>,
    pre_reference: bool,
    just_established: bool,
    st: &RegimeState,
) -> GateRecord {
    let cfg = ctx.cfg;
    let regime_failed = reg.as_ref().is_some_and(|r| r.evaluated && !r.ok);
    let change_failed = base.evaluated && base.dw_exceeds;
    let mut ok = base.ok && !regime_failed;
    let mut warn = base.warn || reg.as_ref().is_some_and(|r| r.ok && r.warn);
    let source = match (change_failed, regime_failed) {
        (true, true) => "both",
        (false, true) => "regime",
        (true, false) => "change",
        (false, false) if !ok => "gain_or_other",
        _ => "none",
    };
    let warn_pending = base.evaluated && base.dw_exceeds && !base.persistence_fail;
    let mut reason = base.reason.clone().unwrap_or_else(|| {
        let suffix = if base.persistence_fail {
            "persistence_fail"
        } else if warn_pending {
            "warn_pending"
        } else if !ok {
            "fail"
        } else {
            "ok"
        };
        format!("{source}_{suffix}")
    });
    if base.evaluated && pre_reference && cfg.regime.enabled {
        // §9.4 step 6 (warn_only): pre-reference persistence failures become warnings.
        if reason.ends_with("_persistence_fail") {
            (ok, warn) = (true, true);
            reason = format!("pre_reference_suppressed:{reason}");
        }
        // §9.4 step 7: bootstrap warn.
        if reason == "change_warn_pending" {
            (ok, warn) = (true, true);
        }
    }
    if cfg.policy == Policy::PersistenceStability && base.ok && regime_failed {
        (ok, warn) = (true, true);
        reason = "regime_fail_suppressed".to_string();
    }
    warn = ok && warn;
    let decision = Decision::derive(base.evaluated, ok, warn);
    let audit = assemble_audit(
        ctx,
        &base,
        reg.as_ref(),
        source,
        &reason,
        pre_reference,
        just_established,
        st,
    );
    GateRecord {
        iter: ctx.iter,
        decision,
        ok: decision != Decision::Fail,
        warn: decision == Decision::Warn,
        audit,
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble_audit(
    ctx: &CheckContext,
    base: &Outcome,
    reg: Option<&Outcome>,
    source: &str,
    reason: &str,
    pre_reference: bool,
    just_established: bool,
    st: &RegimeState,
) -> Value {
    let cfg = ctx.cfg;
    let mut audit = base.audit.clone();
    let (headline_dw, headline_eps, eps_source) = headline(base, reg, source);
    let ref_at = st.reference.as_ref().map(|r| r.established_at);
    let regime_state = match (cfg.regime.enabled, ref_at, reg.is_some()) {
        (false, _, _) => "disabled",
        (true, None, _) => "building",
        (true, Some(_), true) => "active",
        (true, Some(_), false) => "established",
    };
    let fields = json!({
        "evaluated": base.evaluated,
        "reason": reason,
        "base_reason": base.reason,
        "policy": cfg.policy.as_str(),
        "gate_preset": cfg.preset_name(),
        "check_idx": ctx.check_idx,
        "worst_DW": opt(headline_dw),
        "eps_eff": opt(headline_eps),
        "eps_eff_source": eps_source,
        "change_worst_DW": opt(base.worst),
        "change_eps_eff": opt(base.eps_eff),
        "decision_source": source,
        "pre_reference": pre_reference,
        "regime_enabled": cfg.regime.enabled,
        "regime_state": regime_state,
        "regime_check_ran": reg.is_some(),
        "regime_worst_DW": opt(reg.and_then(|r| r.worst)),
        "regime_eps_eff": opt(reg.and_then(|r| r.eps_eff)),
        "eps_regime": num(cfg.regime.epsilon_mult * cfg.eps),
        "regime_per_metric": reg.map_or(Value::Null, |r| r.audit.get("per_metric_tv").cloned().unwrap_or(Value::Null)),
        "regime_counts": reg.map_or(Value::Null, |r| r.audit.get("counts_by_metric").cloned().unwrap_or(Value::Null)),
        "ref_established_at": ref_at,
        "ref_just_established": just_established,
        "ref_windows_accumulated": st.accumulator.len(),
        "ref_windows_skipped_incomplete": st.windows_skipped_incomplete,
        "regime_ref_last_reject_reason": st.last_reject_reason,
        "degenerate_window": base.degenerate,
    });
    audit.extend(fields.as_object().expect("object").clone());
    if base.degenerate {
        audit.insert("failure_mode".into(), json!("diagnostic"));
    }
    Value::Object(audit)
}

/// §9.5: headline `worst_DW`/`eps_eff` come from the channel that drove the decision.
fn headline(
    base: &Outcome,
    reg: Option<&Outcome>,
    source: &str,
) -> (Option<f64>, Option<f64>, &'static str) {
    let change = (base.worst, base.eps_eff, "change");
    let Some(r) = reg else { return change };
    let regime = (r.worst, r.eps_eff, "regime");
    let ratio = |o: (Option<f64>, Option<f64>, &str)| match (o.0, o.1) {
        (Some(d), Some(e)) if e > 0.0 => d / e,
        _ => f64::NEG_INFINITY,
    };
    match source {
        "regime" => regime,
        "both" if ratio(regime) > ratio(change) => regime,
        _ => change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsample_keeps_cap_values_deterministically() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let a = subsample(v.clone(), 10, "eff_dim");
        assert_eq!(a.len(), 10);
        assert_eq!(a, subsample(v.clone(), 10, "eff_dim"));
        assert!(a.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(subsample(v.clone(), 200, "x"), v);
    }

    #[test]
    fn persistence_policy_counts_and_gain_only_does_not_reset() {
        let cfg = GateConfig::preset("spike_v1").unwrap();
        let mut c = 0;
        assert_eq!(
            apply_policy(&cfg, true, true, false, false, &mut c),
            (true, true, false)
        );
        assert_eq!(
            apply_policy(&cfg, false, false, true, true, &mut c),
            (true, true, false)
        );
        assert_eq!(c, 1);
        assert_eq!(
            apply_policy(&cfg, true, true, false, false, &mut c),
            (false, false, true)
        );
        assert_eq!(
            apply_policy(&cfg, false, true, true, false, &mut c),
            (true, false, false)
        );
        assert_eq!(c, 0);
    }
}
