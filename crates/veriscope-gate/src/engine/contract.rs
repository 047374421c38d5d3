//! The gate's execution contract (docs/replay.md §1; execution_contract.md "Execution Contract
//! Schema", "Contract Material"): the normalized JSON form of a [`GateConfig`], the fields a
//! user may set with their bounded ranges, rebuilding a configuration from a persisted
//! contract, and the contract material this build would record.
//!
//! The normalized form carries every control that affects a decision (the whole
//! `GateConfig`), so the contract hash changes whenever a decision could.

use serde_json::{Map, Value, json};
use veriscope_contracts::execution;

use super::GateError;
use super::audit::num;
use super::config::{
    GATE_WARMUP_RANGE, GATE_WINDOW_RANGE, GateConfig, METRIC_DEFS_VERSION, METRIC_INTERVAL_RANGE,
    Policy, TRANSPORT_VERSION,
};

/// A field users may set (`--gate-set FIELD=VALUE`, `VERISCOPE_GATE_<FIELD>`), with the
/// range a value must fall in.
#[derive(Debug, Clone, Copy)]
pub struct Settable {
    pub name: &'static str,
    pub allowed: Allowed,
    pub help: &'static str,
}

/// The bounded range of a settable field.
#[derive(Debug, Clone, Copy)]
pub enum Allowed {
    /// Integer in `lo..=hi`.
    Int(u64, u64),
    /// Finite number in `lo..=hi` (`lo` excluded when `open_lo`).
    Float { lo: f64, hi: f64, open_lo: bool },
    /// One of these words.
    Word(&'static [&'static str]),
    /// `true` / `false`.
    Bool,
}

impl Allowed {
    fn describe(&self) -> String {
        match self {
            Allowed::Int(lo, hi) => format!("integer {lo}..={hi}"),
            Allowed::Float { lo, hi, open_lo } => {
                format!("number {}{lo}, {hi}]", if *open_lo { "(" } else { "[" })
            }
            Allowed::Word(words) => format!("one of {}", words.join(", ")),
            Allowed::Bool => "true or false".into(),
        }
    }
}

/// Window policies a user may choose (the calibrated presets have their own).
const WINDOW_POLICIES: &[&str] = &[
    "either",
    "conjunction",
    "persistence",
    "persistence_stability",
];

/// Every settable field. The cadence ranges are the ones `with_cadence` enforces.
pub const SETTABLE: &[Settable] = &[
    Settable {
        name: "gate_window",
        allowed: Allowed::Int(GATE_WINDOW_RANGE.0, GATE_WINDOW_RANGE.1),
        help: "iterations per gate check",
    },
    Settable {
        name: "gate_warmup_iters",
        allowed: Allowed::Int(GATE_WARMUP_RANGE.0, GATE_WARMUP_RANGE.1),
        help: "iterations before the first evaluated check",
    },
    Settable {
        name: "metric_interval",
        allowed: Allowed::Int(METRIC_INTERVAL_RANGE.0, METRIC_INTERVAL_RANGE.1),
        help: "iterations between metric samples (at most gate_window)",
    },
    Settable {
        name: "eps",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 1.0,
            open_lo: true,
        },
        help: "divergence threshold (TV presets)",
    },
    Settable {
        name: "eps_sens",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 1.0,
            open_lo: false,
        },
        help: "sensitivity slack added to eps",
    },
    Settable {
        name: "eps_stat_alpha",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 0.5,
            open_lo: true,
        },
        help: "confidence level of the finite-sample epsilon",
    },
    Settable {
        name: "cap_frac",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 1.0,
            open_lo: false,
        },
        help: "cap of the statistical epsilon as a fraction of eps",
    },
    Settable {
        name: "min_evidence",
        allowed: Allowed::Int(0, 1_000_000),
        help: "finite values needed before a check is evaluated",
    },
    Settable {
        name: "min_metrics_exceeding",
        allowed: Allowed::Int(1, 4),
        help: "metrics that must exceed for the conjunction policy",
    },
    Settable {
        name: "persistence_k",
        allowed: Allowed::Int(1, 100),
        help: "consecutive exceedances for the persistence policies",
    },
    Settable {
        name: "gain_thresh",
        allowed: Allowed::Float {
            lo: -1.0,
            hi: 1.0,
            open_lo: false,
        },
        help: "loss-gain threshold of the change channel",
    },
    Settable {
        name: "bins",
        allowed: Allowed::Int(2, 4096),
        help: "histogram bins of the TV distance",
    },
    Settable {
        name: "policy",
        allowed: Allowed::Word(WINDOW_POLICIES),
        help: "decision policy (TV presets only)",
    },
    Settable {
        name: "regime_enabled",
        allowed: Allowed::Bool,
        help: "regime-anchored reference checks",
    },
    Settable {
        name: "alpha",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 0.5,
            open_lo: true,
        },
        help: "per-check false-alarm budget (calibrated presets)",
    },
    Settable {
        name: "min_effect",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 1.0,
            open_lo: false,
        },
        help: "minimum practical effect (calibrated presets)",
    },
    Settable {
        name: "drift_min_effect",
        allowed: Allowed::Float {
            lo: 0.0,
            hi: 1.0,
            open_lo: false,
        },
        help: "minimum practical departure from the frozen reference level (stationary_v1)",
    },
    Settable {
        name: "drift_ref_windows",
        allowed: Allowed::Int(8, 1000),
        help: "half-windows of values in the frozen reference level (stationary_v1)",
    },
];

/// Looks a settable field up by name.
pub fn settable(name: &str) -> Option<&'static Settable> {
    SETTABLE.iter().find(|s| s.name == name)
}

fn out_of_range(field: &str, value: impl std::fmt::Display, allowed: String) -> GateError {
    GateError::OutOfRange {
        field: field.to_owned(),
        value: value.to_string(),
        allowed,
    }
}

impl GateConfig {
    /// Sets one field from its text (a flag or an environment variable), range-checked.
    pub fn set_text(&mut self, field: &str, text: &str) -> Result<(), GateError> {
        let Some(s) = settable(field) else {
            return Err(GateError::UnknownField {
                field: field.to_owned(),
                known: SETTABLE
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let t = text.trim();
        let value = match s.allowed {
            Allowed::Int(..) => t
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| out_of_range(field, format!("'{t}'"), s.allowed.describe()))?,
            Allowed::Float { .. } => match t.parse::<f64>() {
                Ok(x) if x.is_finite() => num(x),
                _ => return Err(out_of_range(field, format!("'{t}'"), s.allowed.describe())),
            },
            Allowed::Word(_) => Value::String(t.to_owned()),
            Allowed::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "off" => Value::Bool(false),
                _ => return Err(out_of_range(field, format!("'{t}'"), s.allowed.describe())),
            },
        };
        self.set_value(field, &value)
    }

    /// Sets one field from its JSON value, range-checked; fields that do not apply to this
    /// preset are refused (a calibrated preset has no `eps`, a TV preset no `alpha`).
    pub fn set_value(&mut self, field: &str, value: &Value) -> Result<(), GateError> {
        let s = settable(field).ok_or_else(|| GateError::UnknownField {
            field: field.to_owned(),
            known: SETTABLE
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let bad = || out_of_range(field, value, s.allowed.describe());
        let int = || -> Result<u64, GateError> {
            let Allowed::Int(lo, hi) = s.allowed else {
                return Err(bad());
            };
            value
                .as_u64()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(bad)
        };
        let float = || -> Result<f64, GateError> {
            let Allowed::Float { lo, hi, open_lo } = s.allowed else {
                return Err(bad());
            };
            value
                .as_f64()
                .filter(|x| x.is_finite() && *x <= hi && (*x > lo || (!open_lo && *x == lo)))
                .ok_or_else(bad)
        };
        let tv_only = |cfg: &GateConfig| -> Result<(), GateError> {
            if cfg.calibrated.is_some() || cfg.sequential.is_some() {
                Err(GateError::NotApplicable {
                    field: field.to_owned(),
                    preset: cfg.preset.clone(),
                })
            } else {
                Ok(())
            }
        };
        match field {
            "gate_window" | "gate_warmup_iters" | "metric_interval" => {
                let v = int()?;
                let (mut w, mut warm, mut mi) = (
                    self.gate_window,
                    self.gate_warmup_iters,
                    self.metric_interval,
                );
                match field {
                    "gate_window" => w = v,
                    "gate_warmup_iters" => warm = v,
                    _ => mi = v,
                }
                *self = self.clone().with_cadence(w, warm, mi)?;
            }
            "eps" => {
                tv_only(self)?;
                self.eps = float()?;
            }
            "eps_sens" => {
                tv_only(self)?;
                self.eps_sens = float()?;
            }
            "eps_stat_alpha" => {
                tv_only(self)?;
                self.eps_stat_alpha = float()?;
            }
            "cap_frac" => {
                tv_only(self)?;
                self.cap_frac = float()?;
            }
            "gain_thresh" => {
                tv_only(self)?;
                self.gain_thresh = float()?;
            }
            "min_evidence" => self.min_evidence = int()? as usize,
            "min_metrics_exceeding" => {
                let v = int()? as usize;
                if v > self.weights.len() {
                    return Err(bad());
                }
                self.min_metrics_exceeding = v;
            }
            "persistence_k" => self.persistence_k = int()? as usize,
            "bins" => self.bins = int()? as usize,
            "policy" => {
                tv_only(self)?;
                self.policy = match value.as_str() {
                    Some("either") => Policy::Either,
                    Some("conjunction") => Policy::Conjunction,
                    Some("persistence") => Policy::Persistence,
                    Some("persistence_stability") => Policy::PersistenceStability,
                    _ => return Err(bad()),
                };
            }
            "regime_enabled" => {
                self.regime.enabled = value.as_bool().ok_or_else(bad)?;
            }
            "alpha" | "min_effect" => {
                let x = float()?;
                match (&mut self.calibrated, &mut self.sequential) {
                    (Some(c), _) if field == "alpha" => c.alpha = x,
                    (Some(c), _) => c.min_effect = x,
                    (_, Some(s)) if field == "alpha" => s.alpha = x,
                    (_, Some(s)) => s.min_effect = x,
                    (None, None) => {
                        return Err(GateError::NotApplicable {
                            field: field.to_owned(),
                            preset: self.preset.clone(),
                        });
                    }
                }
            }
            "drift_min_effect" | "drift_ref_windows" => {
                let Some(d) = self.stationary.as_mut() else {
                    return Err(GateError::NotApplicable {
                        field: field.to_owned(),
                        preset: self.preset.clone(),
                    });
                };
                if field == "drift_min_effect" {
                    d.min_effect = float()?;
                } else {
                    d.ref_windows = int()? as usize;
                }
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// The value of a settable field in this configuration (JSON), `None` when the field does
    /// not apply to the preset.
    pub fn get_value(&self, field: &str) -> Option<Value> {
        let calibrated_alpha = self
            .calibrated
            .as_ref()
            .map(|c| (c.alpha, c.min_effect))
            .or(self.sequential.as_ref().map(|s| (s.alpha, s.min_effect)));
        let tv = self.calibrated.is_none() && self.sequential.is_none();
        Some(match field {
            "gate_window" => json!(self.gate_window),
            "gate_warmup_iters" => json!(self.gate_warmup_iters),
            "metric_interval" => json!(self.metric_interval),
            "eps" if tv => num(self.eps),
            "eps_sens" if tv => num(self.eps_sens),
            "eps_stat_alpha" if tv => num(self.eps_stat_alpha),
            "cap_frac" if tv => num(self.cap_frac),
            "gain_thresh" if tv => num(self.gain_thresh),
            "min_evidence" => json!(self.min_evidence),
            "min_metrics_exceeding" => json!(self.min_metrics_exceeding),
            "persistence_k" => json!(self.persistence_k),
            "bins" => json!(self.bins),
            "policy" if tv => json!(self.policy.as_str()),
            "regime_enabled" => json!(self.regime.enabled),
            "alpha" => num(calibrated_alpha?.0),
            "min_effect" => num(calibrated_alpha?.1),
            "drift_min_effect" => num(self.stationary.as_ref()?.min_effect),
            "drift_ref_windows" => json!(self.stationary.as_ref()?.ref_windows),
            _ => return None,
        })
    }

    /// The normalized configuration: every control of the gate, `profile` = the preset.
    pub fn normalized(&self) -> Value {
        let weights: Map<String, Value> = self
            .weights
            .iter()
            .map(|(m, w)| (m.clone(), num(*w)))
            .collect();
        let ranges: Map<String, Value> = self
            .cal_ranges
            .iter()
            .map(|(m, (lo, hi))| (m.clone(), json!([num(*lo), num(*hi)])))
            .collect();
        let r = &self.regime;
        let mut normalized = json!({
            "profile": self.preset,
            "gate_window": self.gate_window,
            "gate_warmup_iters": self.gate_warmup_iters,
            "metric_interval": self.metric_interval,
            "eps": num(self.eps),
            "eps_sens": num(self.eps_sens),
            "eps_stat_alpha": num(self.eps_stat_alpha),
            "cap_frac": num(self.cap_frac),
            "min_evidence": self.min_evidence,
            "min_metrics_exceeding": self.min_metrics_exceeding,
            "policy": self.policy.as_str(),
            "persistence_k": self.persistence_k,
            "gain_thresh": num(self.gain_thresh),
            "bins": self.bins,
            "weights": weights,
            "cal_ranges": ranges,
            "trend_n": self.trend_n,
            "zero_tv_rescue": self.zero_tv_rescue,
            "regime": {
                "enabled": r.enabled,
                "epsilon_mult": num(r.epsilon_mult),
                "build_span": r.build_span,
                "build_max_dw": num(r.build_max_dw),
                "build_min_gain": num(r.build_min_gain),
                "min_evidence_per_metric": r.min_evidence_per_metric,
                "min_windows": r.min_windows,
                "max_reference_samples": r.max_reference_samples,
                "max_accumulator_windows": r.max_accumulator_windows,
            },
            "calibrated": self.calibrated.as_ref().map(|c| json!({
                "alpha": num(c.alpha),
                "min_effect": num(c.min_effect),
                "min_per_metric": c.min_per_metric,
            })),
            "sequential": self.sequential.as_ref().map(|s| json!({
                "alpha": num(s.alpha),
                "kappa": num(s.kappa),
                "min_effect": num(s.min_effect),
                "spike_min_effect": num(s.spike_min_effect),
                "spread_ratio_min": num(s.spread_ratio_min),
                "spread_min_effect": num(s.spread_min_effect),
                "fit_windows": s.fit_windows,
                "scale_windows": s.scale_windows,
                "acf_pool_checks": s.acf_pool_checks,
                "min_per_metric": s.min_per_metric,
            })),
        });
        // stationary_v1 only (the other presets' normalized forms, and so their contract
        // hashes, do not carry the key).
        if let Some(d) = &self.stationary {
            normalized["stationary"] = json!({
                "kappa": num(d.kappa),
                "min_effect": num(d.min_effect),
                "ref_windows": d.ref_windows,
            });
        }
        normalized
    }

    /// Rebuilds the configuration a persisted normalized config describes: the profile's
    /// preset with every settable field applied. A normalized config that this build cannot
    /// reproduce exactly (a non-settable control differs) is refused, naming the fields.
    pub fn from_normalized(normalized: &Value) -> Result<GateConfig, GateError> {
        let profile = normalized
            .get("profile")
            .and_then(Value::as_str)
            .ok_or_else(|| GateError::NotReproducible {
                fields: vec!["profile".into()],
            })?;
        let mut cfg = GateConfig::preset(profile)?;
        // Cadence first, as one step: the pairwise check (metric_interval <= gate_window)
        // must see the final values, not an intermediate mix.
        let cadence = ["gate_window", "gate_warmup_iters", "metric_interval"]
            .map(|f| normalized.get(f).and_then(Value::as_u64));
        if let [Some(w), Some(warm), Some(mi)] = cadence {
            cfg = cfg.with_cadence(w, warm, mi)?;
        }
        for s in SETTABLE {
            if matches!(
                s.name,
                "gate_window" | "gate_warmup_iters" | "metric_interval"
            ) {
                continue;
            }
            let Some(v) = normalized_setting(normalized, s.name) else {
                continue;
            };
            // A field that does not apply to the profile is held to the preset by the final
            // comparison below.
            match cfg.get_value(s.name) {
                Some(current) if current != v => cfg.set_value(s.name, &v)?,
                _ => {}
            }
        }
        let rebuilt = cfg.normalized();
        let diffs = execution::diff_configs(normalized, &rebuilt);
        if diffs.is_empty() {
            Ok(cfg)
        } else {
            Err(GateError::NotReproducible {
                fields: diffs.into_iter().map(|d| d.field).collect(),
            })
        }
    }

    /// The contract material of this configuration (docs/replay.md §1).
    pub fn contract_material(&self) -> Value {
        execution::material(
            self.normalized(),
            &self.policy_version(),
            TRANSPORT_VERSION,
            METRIC_DEFS_VERSION,
        )
    }

    /// `gate_contract_hash` of this configuration.
    pub fn contract_hash(&self) -> String {
        // Every number in the material is finite (range-checked), so hashing cannot fail.
        execution::contract_hash(&self.contract_material())
            .unwrap_or_else(|e| unreachable!("finite contract material: {e}"))
    }
}

/// Where a settable field lives in the normalized form.
fn normalized_setting(normalized: &Value, field: &str) -> Option<Value> {
    let v = match field {
        "regime_enabled" => normalized.get("regime")?.get("enabled")?,
        "drift_min_effect" => normalized.get("stationary")?.get("min_effect")?,
        "drift_ref_windows" => normalized.get("stationary")?.get("ref_windows")?,
        "alpha" | "min_effect" => normalized
            .get("calibrated")
            .filter(|c| !c.is_null())
            .or_else(|| normalized.get("sequential").filter(|s| !s.is_null()))?
            .get(field)?,
        _ => normalized.get(field)?,
    };
    Some(v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PRESETS;

    /// The contract hash of every preset's default configuration. A change here means a
    /// change to what the gate decides: bump the preset's policy version (`@N`) or the
    /// transport / metric-definition version, and update the pins (docs/replay.md §1).
    const PINNED: &[(&str, &str)] = &[
        (
            "tuned_v0",
            "86ad9427042edd6e48b13be9db8e9061a2889e009a1d418fa4fc12937c2ed6b5",
        ),
        (
            "legacy",
            "94ebdf694bd3ea087d7ecce79eda3eb1ef1d669e86e88a5eb08f1d5633d0f001",
        ),
        (
            "spike_v1",
            "ce5fc5a717731bf08a5be0ff4f6b64a4201f4954b0e9d6cb6fee269e153f5810",
        ),
        (
            "calibrated_v1",
            "05a81a116a15e0aae1b00f0cddc76124557da80952a0343363bd002b43da431a",
        ),
        (
            "calibrated_v2",
            "34ac5ed60b7dfc341e1f33b5eb734e0d532bd59173d35806935630cb9b4f0e87",
        ),
        (
            "stationary_v1",
            "a2fdc1af66a033ded772eaedb512d6acbe5e663c018be37583d8ccfcacab166e",
        ),
    ];

    #[test]
    fn preset_contract_hashes_are_pinned() {
        let got: Vec<(&str, String)> = PRESETS
            .iter()
            .map(|p| (*p, GateConfig::preset(p).unwrap().contract_hash()))
            .collect();
        let want: Vec<(&str, String)> = PINNED.iter().map(|(p, h)| (*p, h.to_string())).collect();
        assert_eq!(
            got, want,
            "gate contract changed: see the comment on PINNED"
        );
    }

    #[test]
    fn every_preset_policy_version_is_supported_by_the_contract_table() {
        for p in PRESETS {
            let m = GateConfig::preset(p).unwrap().contract_material();
            assert!(execution::unsupported(&m).is_empty(), "{p}");
        }
        assert_eq!(
            execution::SUPPORTED_GATE_POLICIES.len(),
            PRESETS.len(),
            "a supported policy version without a preset"
        );
    }

    #[test]
    fn normalized_round_trips_through_settings() {
        for p in PRESETS {
            let mut cfg = GateConfig::preset(p).unwrap();
            cfg.set_text("gate_window", "40").unwrap();
            cfg.set_text("metric_interval", "4").unwrap();
            cfg.set_text("min_evidence", "7").unwrap();
            if cfg.get_value("eps").is_some() {
                cfg.set_text("eps", "0.2").unwrap();
                cfg.set_text("policy", "conjunction").unwrap();
            } else {
                cfg.set_text("alpha", "0.02").unwrap();
            }
            let n = cfg.normalized();
            let back = GateConfig::from_normalized(&n).unwrap();
            assert_eq!(back, cfg, "{p}");
            assert_eq!(back.contract_hash(), cfg.contract_hash());
        }
    }

    #[test]
    fn out_of_range_values_name_field_value_and_range() {
        let mut cfg = GateConfig::preset("tuned_v0").unwrap();
        let e = cfg.set_text("eps", "1.5").unwrap_err().to_string();
        assert!(
            e.contains("`eps`") && e.contains("1.5") && e.contains("(0, 1]"),
            "{e}"
        );
        let e = cfg.set_text("bins", "-3").unwrap_err().to_string();
        assert!(e.contains("bins") && e.contains("2..=4096"), "{e}");
        let e = cfg.set_text("policy", "vote").unwrap_err().to_string();
        assert!(e.contains("either, conjunction"), "{e}");
        let e = cfg.set_text("alpha", "0.1").unwrap_err().to_string();
        assert!(
            e.contains("does not apply") && e.contains("tuned_v0"),
            "{e}"
        );
        let e = cfg.set_text("nope", "1").unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("gate_window"), "{e}");
        let mut v2 = GateConfig::preset("calibrated_v2").unwrap();
        assert!(v2.set_text("eps", "0.2").is_err());
        v2.set_text("alpha", "0.005").unwrap();
        assert_eq!(v2.sequential.as_ref().unwrap().alpha, 0.005);
    }

    #[test]
    fn stationary_v1_drift_controls_are_settable_range_checked_and_round_trip() {
        let mut cfg = GateConfig::preset("stationary_v1").unwrap();
        assert_eq!(cfg.get_value("drift_ref_windows"), Some(json!(10)));
        cfg.set_text("drift_min_effect", "0.01").unwrap();
        cfg.set_text("drift_ref_windows", "20").unwrap();
        cfg.set_text("min_effect", "0.02").unwrap();
        let d = cfg.stationary.as_ref().unwrap();
        assert_eq!((d.min_effect, d.ref_windows), (0.01, 20));
        assert_eq!(cfg.sequential.as_ref().unwrap().min_effect, 0.02);
        let n = cfg.normalized();
        assert_eq!(n["stationary"]["ref_windows"], json!(20));
        let back = GateConfig::from_normalized(&n).unwrap();
        assert_eq!(back, cfg);
        assert_ne!(
            cfg.contract_hash(),
            GateConfig::preset("stationary_v1").unwrap().contract_hash()
        );
        let e = cfg
            .set_text("drift_ref_windows", "3")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("drift_ref_windows") && e.contains("8..=1000"),
            "{e}"
        );
        let e = cfg
            .set_text("drift_min_effect", "2")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("drift_min_effect") && e.contains("[0, 1]"),
            "{e}"
        );
        assert!(cfg.set_text("eps", "0.2").is_err());
        // The drift controls do not apply to the other presets; their normalized forms do
        // not carry the key.
        for p in PRESETS.iter().filter(|p| **p != "stationary_v1") {
            let mut other = GateConfig::preset(p).unwrap();
            let e = other
                .set_text("drift_min_effect", "0.01")
                .unwrap_err()
                .to_string();
            assert!(e.contains("does not apply"), "{p}: {e}");
            assert_eq!(other.get_value("drift_ref_windows"), None);
            assert!(other.normalized().get("stationary").is_none(), "{p}");
        }
    }

    #[test]
    fn a_normalized_config_this_build_cannot_reproduce_is_refused() {
        let mut n = GateConfig::preset("tuned_v0").unwrap().normalized();
        n["trend_n"] = json!(9);
        n["regime"]["build_span"] = json!(7);
        let e = GateConfig::from_normalized(&n).unwrap_err();
        assert_eq!(
            e,
            GateError::NotReproducible {
                fields: vec!["regime.build_span".into(), "trend_n".into()]
            }
        );
        n = GateConfig::preset("tuned_v0").unwrap().normalized();
        n["profile"] = json!("tuned_v9");
        assert!(matches!(
            GateConfig::from_normalized(&n),
            Err(GateError::UnknownPreset { .. })
        ));
    }
}
