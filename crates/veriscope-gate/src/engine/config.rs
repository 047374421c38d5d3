//! Gate configuration: presets (algorithm.md §11), cadence overrides with range checks
//! (execution_contract: bounded ranges), the fixed `gate_controls` object
//! (productization §4B) and the window-signature content with policy versions.

use serde_json::{Value, json};

use super::GateError;
use super::audit::num;
use crate::metrics::METRIC_NAMES;

/// Preset names accepted by [`GateConfig::preset`] (`tuned` is an alias of `tuned_v0`).
pub const PRESETS: &[&str] = &[
    "tuned_v0",
    "legacy",
    "spike_v1",
    "calibrated_v1",
    "calibrated_v2",
    "stationary_v1",
];
/// The default, canonical preset.
pub const DEFAULT_PRESET: &str = "tuned_v0";

/// Version tags written into the window signature (bump when semantics change).
pub const METRIC_DEFS_VERSION: &str = "v1";
pub const TRANSPORT_VERSION: &str = "v1";

/// Decision policy of the change channel (algorithm.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Either,
    Conjunction,
    Persistence,
    PersistenceStability,
    /// calibrated_v1: a family-wise exact test per check (docs/gate.md §calibrated_v1).
    Calibrated,
    /// calibrated_v2: trend-residual CUSUMs with a family-wise budget (docs/gate.md
    /// §calibrated_v2).
    CalibratedSequential,
    /// stationary_v1: calibrated_v2's channels plus a level-drift CUSUM against a frozen
    /// reference (docs/gate.md §stationary_v1).
    StationarySequential,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Either => "either",
            Policy::Conjunction => "conjunction",
            Policy::Persistence => "persistence",
            Policy::PersistenceStability => "persistence_stability",
            Policy::Calibrated => "calibrated_ks_bonferroni",
            Policy::CalibratedSequential => "calibrated_trend_cusum",
            Policy::StationarySequential => "calibrated_trend_cusum_level_drift",
        }
    }

    pub(crate) fn is_persistence(self) -> bool {
        matches!(self, Policy::Persistence | Policy::PersistenceStability)
    }
}

/// Regime anchoring settings (algorithm.md §9.1); defaults are the reference CLI defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeConfig {
    pub enabled: bool,
    pub epsilon_mult: f64,
    pub build_span: u64,
    pub build_max_dw: f64,
    pub build_min_gain: f64,
    pub min_evidence_per_metric: usize,
    pub min_windows: usize,
    pub max_reference_samples: usize,
    pub max_accumulator_windows: usize,
}

impl Default for RegimeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            epsilon_mult: 1.5,
            build_span: 1500,
            build_max_dw: 0.08,
            build_min_gain: -0.01,
            min_evidence_per_metric: 50,
            min_windows: 5,
            max_reference_samples: 10_000,
            max_accumulator_windows: 20,
        }
    }
}

/// Settings of the calibrated preset (docs/gate.md §calibrated_v1).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibratedConfig {
    /// Per-check false-alarm budget, split by Bonferroni over every (metric, channel) test.
    pub alpha: f64,
    /// Minimum shift of the median or of the IQR, in transported [0,1] units, for a test to count.
    pub min_effect: f64,
    /// Minimum finite values per side for a metric to be tested.
    pub min_per_metric: usize,
}

/// Settings of `calibrated_v2` (docs/gate.md §calibrated_v2). Effects are in units of the
/// declared cal range of each metric (`(x − lo)/(hi − lo)`, not clipped).
#[derive(Debug, Clone, PartialEq)]
pub struct SequentialConfig {
    /// Per-check false-alarm budget, split by Bonferroni over the family of
    /// `4 × metrics` one-sided tests (level up, level down, spike, spread).
    pub alpha: f64,
    /// CUSUM reference value κ, in normal-score units per check.
    pub kappa: f64,
    /// Minimum practical level shift (recent mean vs the extrapolated trend).
    pub min_effect: f64,
    /// Minimum practical deviation of the newest snapshot from the extrapolated trend.
    pub spike_min_effect: f64,
    /// Minimum ratio of the recent noise sd to the past noise sd for the spread channel.
    pub spread_ratio_min: f64,
    /// Minimum practical increase of the noise sd.
    pub spread_min_effect: f64,
    /// Half-windows of history the trend is fitted on (just before the recent one).
    pub fit_windows: usize,
    /// Half-windows (before the recent one) the noise scale is pooled over.
    pub scale_windows: usize,
    /// Checks over which the residual autocorrelations are averaged.
    pub acf_pool_checks: usize,
    /// Minimum finite values of a metric in the recent window (and in each scale window).
    pub min_per_metric: usize,
}

/// CUSUM threshold `h = ln(1/level) / (2κ)` for standard-normal increments less κ:
/// Kingman's bound `P(S ≥ h) ≤ exp(−2κh) = level`.
pub fn kingman_threshold(level: f64, kappa: f64) -> f64 {
    (1.0 / level).ln() / (2.0 * kappa)
}

impl SequentialConfig {
    /// The family size F: four one-sided tests per metric.
    pub fn family_size(&self, metrics: usize) -> usize {
        4 * metrics.max(1)
    }

    /// Per-test level `α / F`.
    pub fn level(&self, metrics: usize) -> f64 {
        self.alpha / self.family_size(metrics) as f64
    }

    /// CUSUM threshold of this channel family alone (F = 4 × metrics; stationary_v1 adds its
    /// drift tests to F, see [`GateConfig::sequential_cusum_h`]).
    pub fn cusum_threshold(&self, metrics: usize) -> f64 {
        kingman_threshold(self.level(metrics), self.kappa)
    }

    /// Half-windows of history a check needs (fit or scale windows, plus the recent one).
    pub fn history_windows(&self) -> usize {
        self.fit_windows.max(self.scale_windows) + 1
    }
}

/// Settings of the level-drift channel of `stationary_v1` (docs/gate.md §stationary_v1), in
/// units of each metric's declared cal range.
#[derive(Debug, Clone, PartialEq)]
pub struct StationaryConfig {
    /// CUSUM reference value κ of the level-drift channel, in normal-score units per check.
    pub kappa: f64,
    /// Minimum practical departure of the recent mean from the frozen reference level.
    pub min_effect: f64,
    /// Half-windows of values (`ref_windows · Wm`) after which the reference is frozen; it
    /// bounds the reference's share of the departure's variance by `1/(1 + ref_windows)`.
    pub ref_windows: usize,
}

impl StationaryConfig {
    /// The level-drift controls as gate_controls and every stationary_v1 audit record them.
    pub fn controls_json(&self, cusum_h: f64) -> Value {
        json!({
            "kappa": num(self.kappa),
            "cusum_h": num(cusum_h),
            "min_effect": num(self.min_effect),
            "ref_windows": self.ref_windows,
            "rho_max": num(self.rho_max()),
        })
    }

    /// Two one-sided tests per metric (drift up, drift down).
    pub fn family_size(&self, metrics: usize) -> usize {
        2 * metrics.max(1)
    }

    /// Largest share of a frozen reference's error in the departure variance.
    pub fn rho_max(&self) -> f64 {
        1.0 / (1.0 + self.ref_windows.max(1) as f64)
    }
}

/// All controls of the gate. Build with [`GateConfig::preset`], adjust cadence with
/// [`GateConfig::with_cadence`].
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    pub(crate) preset: String,
    pub metric_interval: u64,
    pub gate_window: u64,
    pub gate_warmup_iters: u64,
    pub eps: f64,
    pub eps_sens: f64,
    pub eps_stat_alpha: f64,
    pub cap_frac: f64,
    pub min_evidence: usize,
    pub min_metrics_exceeding: usize,
    pub policy: Policy,
    pub persistence_k: usize,
    pub gain_thresh: f64,
    pub bins: usize,
    pub weights: Vec<(String, f64)>,
    pub cal_ranges: Vec<(String, (f64, f64))>,
    pub trend_n: usize,
    /// The reference's 256-bin zero-TV rescue (algorithm.md §4.4); kept on for parity presets.
    pub zero_tv_rescue: bool,
    pub regime: RegimeConfig,
    pub calibrated: Option<CalibratedConfig>,
    pub sequential: Option<SequentialConfig>,
    /// stationary_v1 only: the level-drift channel laid over `sequential`.
    pub stationary: Option<StationaryConfig>,
}

/// Allowed cadence ranges (execution contract: normalized config with bounded ranges).
pub const GATE_WINDOW_RANGE: (u64, u64) = (1, 1_000_000);
pub const GATE_WARMUP_RANGE: (u64, u64) = (0, 100_000_000);
pub const METRIC_INTERVAL_RANGE: (u64, u64) = (1, 100_000);

impl GateConfig {
    /// The named preset; `tuned` is accepted as an alias of `tuned_v0`.
    pub fn preset(name: &str) -> Result<GateConfig, GateError> {
        let canonical = if name == "tuned" { "tuned_v0" } else { name };
        let base = Self::legacy();
        let cfg = match canonical {
            "legacy" => base,
            "tuned_v0" => GateConfig {
                preset: "tuned_v0".into(),
                gate_window: 100,
                gate_warmup_iters: 1000,
                eps: 0.15,
                gain_thresh: -0.003,
                min_evidence: 20,
                cap_frac: 0.15,
                ..base
            },
            "spike_v1" => GateConfig {
                preset: "spike_v1".into(),
                metric_interval: 2,
                gate_window: 75,
                gate_warmup_iters: 1500,
                eps: 0.25,
                gain_thresh: -0.002,
                min_evidence: 75,
                min_metrics_exceeding: 2,
                cap_frac: 0.15,
                policy: Policy::PersistenceStability,
                ..base
            },
            "calibrated_v1" => GateConfig {
                preset: "calibrated_v1".into(),
                gate_window: 100,
                gate_warmup_iters: 1000,
                policy: Policy::Calibrated,
                zero_tv_rescue: false,
                min_evidence: 0,
                calibrated: Some(CalibratedConfig {
                    alpha: 0.005,
                    min_effect: 1.0 / 64.0,
                    min_per_metric: 8,
                }),
                ..base
            },
            "calibrated_v2" => GateConfig {
                preset: "calibrated_v2".into(),
                gate_window: 100,
                gate_warmup_iters: 1000,
                policy: Policy::CalibratedSequential,
                zero_tv_rescue: false,
                regime: RegimeConfig {
                    enabled: false,
                    ..RegimeConfig::default()
                },
                min_evidence: 0,
                sequential: Some(SequentialConfig {
                    alpha: 0.01,
                    kappa: 1.5,
                    min_effect: 1.0 / 64.0,
                    spike_min_effect: 2.0 / 64.0,
                    spread_ratio_min: 1.5,
                    spread_min_effect: 1.0 / 128.0,
                    fit_windows: 3,
                    scale_windows: 4,
                    acf_pool_checks: 4,
                    min_per_metric: 8,
                }),
                ..base
            },
            // calibrated_v2's channels plus a level-drift channel, for phases whose metrics
            // should not move (docs/gate.md §stationary_v1).
            "stationary_v1" => GateConfig {
                preset: "stationary_v1".into(),
                policy: Policy::StationarySequential,
                stationary: Some(StationaryConfig {
                    kappa: 2.0,
                    min_effect: 1.0 / 512.0,
                    ref_windows: 10,
                }),
                ..Self::preset("calibrated_v2")?
            },
            _ => {
                return Err(GateError::UnknownPreset {
                    name: name.to_string(),
                    known: PRESETS.join(", "),
                });
            }
        };
        Ok(cfg)
    }

    fn legacy() -> GateConfig {
        let weights = [0.35, 0.35, 0.20, 0.10];
        let ranges = [(0.0, 1.0), (0.0, 64.0), (1.0, 64.0), (0.0, 1.0)];
        GateConfig {
            preset: "legacy".into(),
            metric_interval: 5,
            gate_window: 50,
            gate_warmup_iters: 500,
            eps: 0.12,
            eps_sens: 0.04,
            eps_stat_alpha: 0.05,
            cap_frac: 0.25,
            min_evidence: 16,
            min_metrics_exceeding: 1,
            policy: Policy::Either,
            persistence_k: 2,
            gain_thresh: 0.0,
            bins: 16,
            weights: METRIC_NAMES
                .iter()
                .map(|m| m.to_string())
                .zip(weights)
                .collect(),
            cal_ranges: METRIC_NAMES
                .iter()
                .map(|m| m.to_string())
                .zip(ranges)
                .collect(),
            trend_n: 8,
            zero_tv_rescue: true,
            regime: RegimeConfig::default(),
            calibrated: None,
            sequential: None,
            stationary: None,
        }
    }

    /// Overrides the cadence, range-checking each value.
    pub fn with_cadence(
        mut self,
        gate_window: u64,
        gate_warmup_iters: u64,
        metric_interval: u64,
    ) -> Result<Self, GateError> {
        check_range("gate_window", gate_window, GATE_WINDOW_RANGE)?;
        check_range("gate_warmup_iters", gate_warmup_iters, GATE_WARMUP_RANGE)?;
        check_range("metric_interval", metric_interval, METRIC_INTERVAL_RANGE)?;
        if metric_interval > gate_window {
            return Err(GateError::OutOfRange {
                field: "metric_interval".into(),
                value: metric_interval.to_string(),
                allowed: format!("1..={gate_window} (at most gate_window)"),
            });
        }
        self.gate_window = gate_window;
        self.gate_warmup_iters = gate_warmup_iters;
        self.metric_interval = metric_interval;
        Ok(self)
    }

    /// Canonical preset name (`tuned` resolves to `tuned_v0`).
    pub fn preset_name(&self) -> &str {
        &self.preset
    }

    /// Snapshots per half-window: `Wm = max(1, gate_window / metric_interval)` (§3.3).
    pub fn snapshots_per_window(&self) -> usize {
        (self.gate_window / self.metric_interval.max(1)).max(1) as usize
    }

    /// Snapshots the engine keeps: `2·Wm`, or `(max(fit, scale windows) + 1)·Wm` for
    /// calibrated_v2.
    pub fn history_snapshots(&self) -> usize {
        let wm = self.snapshots_per_window();
        self.sequential
            .as_ref()
            .map_or(2 * wm, |s| s.history_windows() * wm)
    }

    /// Regime build window `[min, max)` (§9.1), never cut at a pathology onset (the
    /// reference leaked the onset into the detector, §16 item 6; we do not).
    pub fn regime_build_window(&self) -> (u64, u64) {
        let min = self.gate_warmup_iters + 2 * self.gate_window;
        (min, min + self.regime.build_span)
    }

    /// Versioned gate-policy tag, e.g. `tuned_v0@1`.
    pub fn policy_version(&self) -> String {
        format!("{}@1", self.preset)
    }

    /// Tests per check of the sequential presets: 4 per metric (calibrated_v2), plus 2 per
    /// metric for the level-drift channel of stationary_v1; `None` for the other presets.
    pub fn sequential_family_size(&self) -> Option<usize> {
        let m = self.weights.len();
        let s = self.sequential.as_ref()?;
        Some(s.family_size(m) + self.stationary.as_ref().map_or(0, |d| d.family_size(m)))
    }

    /// Per-test level `α / F` of the sequential presets.
    pub fn sequential_level(&self) -> Option<f64> {
        let s = self.sequential.as_ref()?;
        Some(s.alpha / self.sequential_family_size()? as f64)
    }

    /// CUSUM threshold of calibrated_v2's level and spread channels, `h = ln(F/α)/(2κ)`.
    pub fn sequential_cusum_h(&self) -> Option<f64> {
        let s = self.sequential.as_ref()?;
        Some(kingman_threshold(self.sequential_level()?, s.kappa))
    }

    /// CUSUM threshold of stationary_v1's level-drift channel (docs/gate.md §stationary_v1):
    /// the smallest `h` whose Kingman bound, averaged over the frozen reference's error, is
    /// at most `α / F`.
    pub fn drift_cusum_h(&self) -> Option<f64> {
        let d = self.stationary.as_ref()?;
        Some(super::stationary::drift_threshold(
            self.sequential_level()?,
            d.kappa,
            d.rho_max(),
        ))
    }

    /// The fixed controls object of productization §4B; absent controls are `null`.
    pub fn gate_controls(&self) -> Value {
        let persistence_k = self.policy.is_persistence().then_some(self.persistence_k);
        let calibrated = self.calibrated.as_ref();
        let sequential = self.sequential.as_ref();
        let alpha = calibrated.map(|c| c.alpha).or(sequential.map(|s| s.alpha));
        let min_effect = calibrated
            .map(|c| c.min_effect)
            .or(sequential.map(|s| s.min_effect));
        // The TV-threshold controls do not apply to calibrated_v2 (calibrated_v1 keeps its
        // recorded values for byte-identical replays).
        let window_only = |x: f64| {
            if sequential.is_some() {
                Value::Null
            } else {
                num(x)
            }
        };
        let mut controls = json!({
            "gate_preset": self.preset,
            "gate_window": self.gate_window,
            "gate_warmup_iters": self.gate_warmup_iters,
            "metric_interval": self.metric_interval,
            "min_evidence": self.min_evidence,
            "policy": self.policy.as_str(),
            "persistence_k": persistence_k,
            "min_metrics_exceeding": self.min_metrics_exceeding,
            "eps": window_only(self.eps),
            "eps_sens": window_only(self.eps_sens),
            "cap_frac": window_only(self.cap_frac),
            "eps_stat_alpha": window_only(self.eps_stat_alpha),
            "gain_thresh": if calibrated.is_some() || sequential.is_some() { Value::Null } else { num(self.gain_thresh) },
            "bins": self.bins,
            "regime_enabled": self.regime.enabled,
            "alpha": alpha.map_or(Value::Null, num),
            "min_effect": min_effect.map_or(Value::Null, num),
        });
        // calibrated_v2 only: its extra controls (other presets keep the §4B object as is,
        // so their window signatures do not change).
        if let (Some(s), Some(family), Some(level), Some(h)) = (
            sequential,
            self.sequential_family_size(),
            self.sequential_level(),
            self.sequential_cusum_h(),
        ) {
            controls["sequential"] = json!({
                "kappa": num(s.kappa),
                "cusum_h": num(h),
                "family_size": family,
                "alpha_per_test": num(level),
                "spike_min_effect": num(s.spike_min_effect),
                "spread_ratio_min": num(s.spread_ratio_min),
                "spread_min_effect": num(s.spread_min_effect),
                "fit_windows": s.fit_windows,
                "scale_windows": s.scale_windows,
                "acf_lags": super::sequential::ACF_LAGS,
                "acf_pool_checks": s.acf_pool_checks,
                "min_per_metric": s.min_per_metric,
            });
        }
        // stationary_v1 only: the level-drift channel.
        if let (Some(d), Some(h)) = (self.stationary.as_ref(), self.drift_cusum_h()) {
            controls["level_drift"] = d.controls_json(h);
        }
        controls
    }

    /// Content of `window_signature.json` owned by the gate: metrics, weights, bins,
    /// transport ranges, preset, cadence, controls and policy versions.
    pub fn window_signature_content(&self) -> Value {
        let weights: serde_json::Map<String, Value> = self
            .weights
            .iter()
            .map(|(m, w)| (m.clone(), num(*w)))
            .collect();
        let ranges: serde_json::Map<String, Value> = self
            .cal_ranges
            .iter()
            .map(|(m, (lo, hi))| (m.clone(), json!([num(*lo), num(*hi)])))
            .collect();
        json!({
            "gate_preset": self.preset,
            "gate_controls": self.gate_controls(),
            "metric_interval": self.metric_interval,
            "metrics": { "names": METRIC_NAMES, "weights": weights },
            "bins": self.bins,
            "transport": { "kind": "decl_clip_unit", "cal_ranges": ranges },
            "dw_aggregator": if self.calibrated.is_some() {
                json!({"kind": "ks_exact_bonferroni"})
            } else if self.stationary.is_some() {
                json!({"kind": "trend_residual_cusum_level_drift", "scale": "range_unclipped", "combine": "bonferroni_max_evidence", "reference": "frozen_after_warmup"})
            } else if self.sequential.is_some() {
                json!({"kind": "trend_residual_cusum", "scale": "range_unclipped", "combine": "bonferroni_max_evidence"})
            } else {
                json!({"kind": "weighted_mean_tv", "tv": "tv_hist_fixed", "weights": "sum_abs_weights", "interventions": "max"})
            },
            "policy_versions": {
                "gate_policy": self.policy_version(),
                "metric_defs": METRIC_DEFS_VERSION,
                "transport": TRANSPORT_VERSION,
            },
        })
    }
}

fn check_range(field: &'static str, value: u64, (lo, hi): (u64, u64)) -> Result<(), GateError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(GateError::OutOfRange {
            field: field.into(),
            value: value.to_string(),
            allowed: format!("{lo}..={hi}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuned_alias_and_values() {
        let a = GateConfig::preset("tuned").unwrap();
        let b = GateConfig::preset("tuned_v0").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.preset_name(), "tuned_v0");
        assert_eq!(a.snapshots_per_window(), 20);
        assert_eq!(a.regime_build_window(), (1200, 2700));
        assert_eq!(
            GateConfig::preset("legacy").unwrap().regime_build_window(),
            (600, 2100)
        );
        assert_eq!(
            GateConfig::preset("spike_v1")
                .unwrap()
                .snapshots_per_window(),
            37
        );
    }

    #[test]
    fn unknown_preset_names_the_known_ones() {
        let err = GateConfig::preset("fast").unwrap_err().to_string();
        assert!(
            err.contains("fast") && err.contains("calibrated_v1"),
            "{err}"
        );
    }

    #[test]
    fn cadence_is_range_checked_with_field_value_and_range() {
        let cfg = GateConfig::preset("tuned_v0").unwrap();
        let err = cfg.clone().with_cadence(0, 10, 5).unwrap_err().to_string();
        assert!(
            err.contains("gate_window") && err.contains('0') && err.contains("1..=1000000"),
            "{err}"
        );
        let err = cfg
            .clone()
            .with_cadence(10, 10, 20)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metric_interval") && err.contains("20"),
            "{err}"
        );
        let ok = cfg.with_cadence(40, 200, 2).unwrap();
        assert_eq!(
            (ok.gate_window, ok.gate_warmup_iters, ok.metric_interval),
            (40, 200, 2)
        );
    }

    #[test]
    fn gate_controls_carry_every_contract_key_with_nulls_for_absent() {
        let c = GateConfig::preset("tuned_v0").unwrap().gate_controls();
        for key in [
            "gate_window",
            "gate_warmup_iters",
            "min_evidence",
            "policy",
            "persistence_k",
            "min_metrics_exceeding",
            "eps_sens",
            "cap_frac",
        ] {
            assert!(c.get(key).is_some(), "missing {key}");
        }
        assert_eq!(c["persistence_k"], Value::Null);
        let s = GateConfig::preset("spike_v1").unwrap().gate_controls();
        assert_eq!(s["persistence_k"], json!(2));
    }

    #[test]
    fn calibrated_v2_controls_are_versioned_and_leave_other_presets_untouched() {
        let v2 = GateConfig::preset("calibrated_v2").unwrap();
        let sig = v2.window_signature_content();
        assert_eq!(
            sig["policy_versions"]["gate_policy"],
            json!("calibrated_v2@1")
        );
        assert_eq!(sig["dw_aggregator"]["kind"], json!("trend_residual_cusum"));
        let c = v2.gate_controls();
        assert_eq!(c["policy"], json!("calibrated_trend_cusum"));
        assert_eq!(c["alpha"].as_f64(), Some(0.01));
        assert_eq!(c["regime_enabled"], json!(false));
        assert_eq!(c["sequential"]["family_size"], json!(16));
        assert_eq!(c["eps"], Value::Null);
        assert_eq!(c["gain_thresh"], Value::Null);
        for name in ["tuned_v0", "legacy", "spike_v1", "calibrated_v1"] {
            let c = GateConfig::preset(name).unwrap().gate_controls();
            assert!(c.get("sequential").is_none(), "{name}");
            assert_eq!(c.as_object().unwrap().len(), 17, "{name}");
        }
        assert_eq!(
            GateConfig::preset("calibrated_v1")
                .unwrap()
                .window_signature_content()["policy_versions"]["gate_policy"],
            json!("calibrated_v1@1")
        );
    }

    #[test]
    fn stationary_v1_is_calibrated_v2_plus_a_level_drift_block() {
        let st = GateConfig::preset("stationary_v1").unwrap();
        let v2 = GateConfig::preset("calibrated_v2").unwrap();
        assert_eq!(st.sequential, v2.sequential);
        assert_eq!(
            (st.gate_window, st.gate_warmup_iters, st.metric_interval),
            (v2.gate_window, v2.gate_warmup_iters, v2.metric_interval)
        );
        let sig = st.window_signature_content();
        assert_eq!(
            sig["policy_versions"]["gate_policy"],
            json!("stationary_v1@1")
        );
        assert_eq!(
            sig["dw_aggregator"]["kind"],
            json!("trend_residual_cusum_level_drift")
        );
        let c = st.gate_controls();
        assert_eq!(c["policy"], json!("calibrated_trend_cusum_level_drift"));
        assert_eq!(c["sequential"]["family_size"], json!(24));
        assert_eq!(c["level_drift"]["ref_windows"], json!(10));
        assert_eq!(c["level_drift"]["kappa"].as_f64(), Some(2.0));
        assert_eq!(c["level_drift"]["min_effect"].as_f64(), Some(1.0 / 512.0));
        assert!(c["level_drift"]["cusum_h"].as_f64().unwrap() > 2.0);
        // calibrated_v2's object keeps its family of 16 and has no drift block.
        let c2 = v2.gate_controls();
        assert_eq!(c2["sequential"]["family_size"], json!(16));
        assert!(c2.get("level_drift").is_none());
        assert_eq!(c2.as_object().unwrap().len(), 18);
        assert_eq!(c.as_object().unwrap().len(), 19);
    }

    #[test]
    fn window_signature_changes_with_cadence_and_names_policy_versions() {
        let a = GateConfig::preset("tuned_v0").unwrap();
        let sig = a.window_signature_content();
        assert_eq!(sig["policy_versions"]["gate_policy"], json!("tuned_v0@1"));
        assert_eq!(sig["policy_versions"]["metric_defs"], json!("v1"));
        let b = a.clone().with_cadence(50, 1000, 5).unwrap();
        assert_ne!(sig, b.window_signature_content());
    }
}
