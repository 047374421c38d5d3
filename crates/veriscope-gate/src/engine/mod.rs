//! The streaming gate engine: feed [`Sample`]s one at a time, get a [`GateRecord`] whenever a
//! check is due (every `gate_window` iterations from `gate_warmup_iters`, algorithm.md §3.3).
//! Memory is bounded by the windows: 2·Wm snapshots, at most `max_accumulator_windows`
//! regime windows and `max_reference_samples` reference values per metric.
//!
//! Parity presets (`tuned_v0`, `legacy`, `spike_v1`) follow algorithm.md §4–§9 in
//! [`reference`]; `calibrated_v1` is in [`calibrated`] (docs/gate.md §calibrated_v1) and
//! `calibrated_v2` in [`sequential`] (docs/gate.md §calibrated_v2), which keeps
//! `(max(fit, scale windows) + 1)·Wm` snapshots and a few numbers per metric; `stationary_v1`
//! adds the level-drift channel of [`stationary`] (docs/gate.md §stationary_v1) to it.

mod audit;
mod calibrated;
mod config;
mod contract;
mod divergence;
mod reference;
mod sequential;
mod stationary;
mod stats;

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

pub use config::{
    CalibratedConfig, DEFAULT_PRESET, GATE_WARMUP_RANGE, GATE_WINDOW_RANGE, GateConfig,
    METRIC_DEFS_VERSION, METRIC_INTERVAL_RANGE, PRESETS, Policy, RegimeConfig, SequentialConfig,
    StationaryConfig, TRANSPORT_VERSION,
};
pub use contract::{Allowed, SETTABLE, Settable, settable};
pub use divergence::{ks_exact_pvalue, ks_statistic_scaled, tv_hist_fixed};
pub use stationary::drift_threshold;
pub use stats::{f_sf, inc_beta, ln_gamma, norm_ppf, t_sf};

/// Errors of gate configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GateError {
    #[error("unknown gate preset `{name}` (known: {known}; `tuned` is an alias of `tuned_v0`)")]
    UnknownPreset { name: String, known: String },
    #[error("gate control `{field}` = {value} is out of range (allowed: {allowed})")]
    OutOfRange {
        field: String,
        value: String,
        allowed: String,
    },
    #[error("unknown gate control `{field}` (settable: {known})")]
    UnknownField { field: String, known: String },
    #[error("gate control `{field}` does not apply to preset `{preset}`")]
    NotApplicable { field: String, preset: String },
    #[error(
        "this build cannot reproduce the persisted gate configuration: it differs from the \
         preset in controls that cannot be set ({})", fields.join(", ")
    )]
    NotReproducible { fields: Vec<String> },
}

/// Gate-local decision (same wire names as `veriscope_contracts::Decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Warn => "warn",
            Decision::Fail => "fail",
            Decision::Skip => "skip",
        }
    }

    /// productization §4C: not evaluated → skip; not ok → fail; warn → warn; else pass.
    pub fn derive(evaluated: bool, ok: bool, warn: bool) -> Decision {
        match (evaluated, ok, warn) {
            (false, _, _) => Decision::Skip,
            (true, false, _) => Decision::Fail,
            (true, true, true) => Decision::Warn,
            (true, true, false) => Decision::Pass,
        }
    }
}

/// One metric snapshot as received from the metrics stream (docs/metrics-stream.md `sample`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub iter: u64,
    pub metrics: BTreeMap<String, Option<f64>>,
    pub loss: Option<f64>,
    pub ewma_loss: Option<f64>,
    pub grad_norm: Option<f64>,
}

/// One gate check. `ok`/`warn` are consistent with `decision` (productization §4C).
#[derive(Debug, Clone, PartialEq)]
pub struct GateRecord {
    pub iter: u64,
    pub decision: Decision,
    pub ok: bool,
    pub warn: bool,
    /// AuditV1 shape (evaluated, reason, policy, worst_DW, eps_eff, per_metric_tv,
    /// evidence_total, min_evidence) plus diagnostics; never contains NaN.
    pub audit: Value,
}

impl GateRecord {
    /// `{iter, decision, ok, warn, audit}` as JSON (GateRecordV1 shape).
    pub fn to_json(&self) -> Value {
        json!({
            "iter": self.iter,
            "decision": self.decision.as_str(),
            "ok": self.ok,
            "warn": self.warn,
            "audit": self.audit,
        })
    }
}

/// A stored snapshot: metric values in declaration order (non-finite → `None`).
#[derive(Debug, Clone)]
pub(crate) struct Snap {
    pub iter: u64,
    pub values: Vec<Option<f64>>,
    pub loss: Option<f64>,
    pub ewma: Option<f64>,
}

/// The two half-windows of a check, per metric finite raw values, plus the gain.
#[derive(Debug, Clone)]
pub(crate) struct Windows {
    pub past: Vec<Vec<f64>>,
    pub recent: Vec<Vec<f64>>,
    pub gain_bits: Option<f64>,
}

/// The frozen regime reference (§9.2).
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    pub values: Vec<Vec<f64>>,
    pub established_at: u64,
}

/// Reference-building state shared by both engines (§9.2).
#[derive(Debug, Clone, Default)]
pub(crate) struct RegimeState {
    pub reference: Option<Reference>,
    pub accumulator: VecDeque<Vec<Vec<f64>>>,
    pub windows_skipped_incomplete: u64,
    pub last_reject_reason: Option<&'static str>,
}

/// The streaming gate.
#[derive(Debug, Clone)]
pub struct GateEngine {
    cfg: GateConfig,
    names: Vec<String>,
    history: VecDeque<Snap>,
    last_iter: Option<u64>,
    next_check: u64,
    check_idx: u64,
    regime: RegimeState,
    persistence: reference::Persistence,
    sequential: sequential::State,
}

impl GateEngine {
    pub fn new(cfg: GateConfig) -> Self {
        let names = cfg.weights.iter().map(|(m, _)| m.clone()).collect();
        let next_check = first_check_iter(cfg.gate_warmup_iters, cfg.gate_window);
        Self {
            cfg,
            names,
            history: VecDeque::new(),
            last_iter: None,
            next_check,
            check_idx: 0,
            regime: RegimeState::default(),
            persistence: reference::Persistence::default(),
            sequential: sequential::State::default(),
        }
    }

    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    /// Iteration at which the regime reference was frozen, if any.
    pub fn reference_established_at(&self) -> Option<u64> {
        self.regime.reference.as_ref().map(|r| r.established_at)
    }

    /// Feeds one snapshot; returns a record when a check is due at or before `s.iter`.
    /// Samples whose `iter` does not increase are ignored (the stream contract requires
    /// strictly increasing iters; the stream reader counts such lines as malformed).
    pub fn observe(&mut self, s: &Sample) -> Option<GateRecord> {
        self.observe_parts(
            s.iter,
            |name| s.metrics.get(name).copied().flatten(),
            s.loss,
            s.ewma_loss,
        )
    }

    /// [`GateEngine::observe`] for a snapshot held in another shape (the run wrapper's parsed
    /// stream line): `metric(name)` looks a gated metric up, so no [`Sample`] map has to be
    /// built or cloned for each of a fast job's samples. Same decisions, same bytes.
    pub fn observe_parts(
        &mut self,
        iter: u64,
        metric: impl Fn(&str) -> Option<f64>,
        loss: Option<f64>,
        ewma_loss: Option<f64>,
    ) -> Option<GateRecord> {
        if self.last_iter.is_some_and(|last| iter <= last) {
            return None;
        }
        self.last_iter = Some(iter);
        self.push(iter, metric, loss, ewma_loss);
        if iter < self.next_check {
            return None;
        }
        self.next_check = (iter / self.cfg.gate_window + 1) * self.cfg.gate_window;
        self.check_idx += 1;
        Some(self.check(iter))
    }

    fn push(
        &mut self,
        iter: u64,
        metric: impl Fn(&str) -> Option<f64>,
        loss: Option<f64>,
        ewma_loss: Option<f64>,
    ) {
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
        let values = self.names.iter().map(|m| finite(metric(m))).collect();
        self.history.push_back(Snap {
            iter,
            values,
            loss: finite(loss),
            ewma: finite(ewma_loss),
        });
        while self.history.len() > self.cfg.history_snapshots() {
            self.history.pop_front();
        }
    }

    fn check(&mut self, iter: u64) -> GateRecord {
        let wm = self.cfg.snapshots_per_window();
        if self.history.len() < 2 * wm || self.history.len() < self.cfg.history_snapshots() {
            return self.skip(iter, "not_evaluated_insufficient_history", 0);
        }
        let windows = self.windows(wm);
        let ctx = CheckContext {
            cfg: &self.cfg,
            names: &self.names,
            iter,
            check_idx: self.check_idx,
        };
        if self.cfg.sequential.is_some() {
            sequential::check(&ctx, &self.history, windows.gain_bits, &mut self.sequential)
        } else if self.cfg.calibrated.is_some() {
            calibrated::check(&ctx, &windows, &mut self.regime)
        } else {
            reference::check(&ctx, &windows, &mut self.regime, &mut self.persistence)
        }
    }

    fn windows(&self, wm: usize) -> Windows {
        let split = self.history.len() - wm;
        let collect = |range: std::ops::Range<usize>| -> Vec<Vec<f64>> {
            (0..self.names.len())
                .map(|m| {
                    range
                        .clone()
                        .filter_map(|i| self.history[i].values[m])
                        .collect()
                })
                .collect()
        };
        Windows {
            past: collect(split - wm..split),
            recent: collect(split..self.history.len()),
            gain_bits: gain_bits(self.history.range(split..)),
        }
    }

    fn skip(&self, iter: u64, reason: &str, evidence_total: usize) -> GateRecord {
        skip_record(&self.cfg, iter, reason, evidence_total)
    }
}

/// Read-only context of one check.
pub(crate) struct CheckContext<'a> {
    pub cfg: &'a GateConfig,
    pub names: &'a [String],
    pub iter: u64,
    pub check_idx: u64,
}

/// First multiple of `window` at or after `warmup` (check condition of §3.3).
fn first_check_iter(warmup: u64, window: u64) -> u64 {
    warmup.div_ceil(window) * window
}

/// Mean of `(ewma − loss)/ln 2` over the recent snapshots with both finite (§2.7).
fn gain_bits<'a>(recent: impl Iterator<Item = &'a Snap>) -> Option<f64> {
    let (sum, n) = recent
        .filter_map(|s| Some((s.ewma? - s.loss?) / std::f64::consts::LN_2))
        .fold((0.0, 0usize), |(sum, n), g| (sum + g, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// A skip record with the AuditV1 required fields.
pub(crate) fn skip_record(
    cfg: &GateConfig,
    iter: u64,
    reason: &str,
    evidence: usize,
) -> GateRecord {
    GateRecord {
        iter,
        decision: Decision::Skip,
        ok: true,
        warn: false,
        audit: json!({
            "evaluated": false,
            "reason": reason,
            "policy": cfg.policy.as_str(),
            "gate_preset": cfg.preset_name(),
            "worst_DW": null,
            "eps_eff": null,
            "per_metric_tv": {},
            "evidence_total": evidence,
            "min_evidence": cfg.min_evidence,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_derivation_matches_contract() {
        assert_eq!(Decision::derive(false, false, true), Decision::Skip);
        assert_eq!(Decision::derive(true, false, true), Decision::Fail);
        assert_eq!(Decision::derive(true, true, true), Decision::Warn);
        assert_eq!(Decision::derive(true, true, false), Decision::Pass);
    }

    #[test]
    fn first_check_is_the_first_window_multiple_after_warmup() {
        assert_eq!(first_check_iter(1000, 100), 1000);
        assert_eq!(first_check_iter(1050, 100), 1100);
        assert_eq!(first_check_iter(0, 75), 0);
    }

    #[test]
    fn gain_is_mean_bits_over_finite_pairs() {
        let snaps = [
            Snap {
                iter: 0,
                values: vec![],
                loss: Some(1.0),
                ewma: Some(1.0 + std::f64::consts::LN_2),
            },
            Snap {
                iter: 2,
                values: vec![],
                loss: None,
                ewma: Some(3.0),
            },
        ];
        assert!((gain_bits(snaps.iter()).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(gain_bits(snaps[1..].iter()), None);
    }

    #[test]
    fn early_checks_skip_for_insufficient_history() {
        let cfg = GateConfig::preset("tuned_v0")
            .unwrap()
            .with_cadence(10, 0, 1)
            .unwrap();
        let mut e = GateEngine::new(cfg);
        let rec = e
            .observe(&Sample {
                iter: 0,
                ..Sample::default()
            })
            .unwrap();
        assert_eq!(rec.decision, Decision::Skip);
        assert_eq!(rec.audit["reason"], "not_evaluated_insufficient_history");
        assert_eq!(
            e.observe(&Sample {
                iter: 0,
                ..Sample::default()
            }),
            None
        );
    }
}
