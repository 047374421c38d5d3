//! The live gate as the wrapper sees it: a narrow [`LiveGate`] trait (so the supervision loop
//! and tests do not depend on the gate's internals) and its implementation over
//! `veriscope_gate::engine::GateEngine`.

use serde_json::{Map, Value, json};
use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateError};

use crate::stream::SampleLine;
use crate::supervise::{CheckDecision, GateCheck};

/// Cadence of the gate: every `gate_window` iterations after `gate_warmup_iters`, on samples
/// taken every `metric_interval` iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub gate_window: u64,
    pub gate_warmup_iters: u64,
    pub metric_interval: u64,
}

impl Cadence {
    /// JSON form (`gate_cadence` of `--describe`).
    pub fn to_json(self) -> Value {
        json!({
            "gate_window": self.gate_window,
            "gate_warmup_iters": self.gate_warmup_iters,
            "metric_interval": self.metric_interval,
        })
    }

    /// Reads a `gate_cadence` object; every field is required.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            gate_window: v.get("gate_window")?.as_u64()?,
            gate_warmup_iters: v.get("gate_warmup_iters")?.as_u64()?,
            metric_interval: v.get("metric_interval")?.as_u64()?,
        })
    }
}

/// What the wrapper needs from a gate.
pub trait LiveGate: Send {
    /// Canonical preset name.
    fn preset_name(&self) -> String;
    /// The cadence in force.
    fn cadence(&self) -> Cadence;
    /// productization §4B controls object.
    fn gate_controls(&self) -> Value;
    /// Gate-owned content of window_signature.json.
    fn window_signature_content(&self) -> Value;
    /// Feeds one sample; returns a check when one was due.
    fn observe(&mut self, sample: &SampleLine) -> Option<GateCheck>;
}

/// The production gate.
pub struct EngineGate {
    engine: GateEngine,
}

impl EngineGate {
    /// The gate of a resolved configuration (crate::execution).
    pub fn new(cfg: GateConfig) -> Self {
        Self {
            engine: GateEngine::new(cfg),
        }
    }
}

/// Builds the gate for `preset`, applying `cadence` when given. Also returns the overrides
/// (controls that differ from the preset), recorded as `profile.overrides`.
pub fn build_gate(
    preset: &str,
    cadence: Option<Cadence>,
) -> Result<(EngineGate, Map<String, Value>), GateError> {
    let base = GateConfig::preset(preset)?;
    let mut overrides = Map::new();
    let cfg = match cadence {
        Some(c) => {
            let defaults = (
                base.gate_window,
                base.gate_warmup_iters,
                base.metric_interval,
            );
            let cfg = base.with_cadence(c.gate_window, c.gate_warmup_iters, c.metric_interval)?;
            for (name, was, now) in [
                ("gate_window", defaults.0, c.gate_window),
                ("gate_warmup_iters", defaults.1, c.gate_warmup_iters),
                ("metric_interval", defaults.2, c.metric_interval),
            ] {
                if was != now {
                    overrides.insert(name.into(), json!(now));
                }
            }
            cfg
        }
        None => base,
    };
    Ok((
        EngineGate {
            engine: GateEngine::new(cfg),
        },
        overrides,
    ))
}

impl LiveGate for EngineGate {
    fn preset_name(&self) -> String {
        self.engine.config().preset_name().to_string()
    }

    fn cadence(&self) -> Cadence {
        let c = self.engine.config();
        Cadence {
            gate_window: c.gate_window,
            gate_warmup_iters: c.gate_warmup_iters,
            metric_interval: c.metric_interval,
        }
    }

    fn gate_controls(&self) -> Value {
        self.engine.config().gate_controls()
    }

    fn window_signature_content(&self) -> Value {
        self.engine.config().window_signature_content()
    }

    fn observe(&mut self, s: &SampleLine) -> Option<GateCheck> {
        let rec = self.engine.observe_parts(
            s.iter,
            |name| s.metrics.get(name).copied().flatten(),
            s.loss,
            s.ewma_loss,
        )?;
        let decision = match rec.decision {
            Decision::Pass => CheckDecision::Pass,
            Decision::Warn => CheckDecision::Warn,
            Decision::Fail => CheckDecision::Fail,
            Decision::Skip => CheckDecision::Skip,
        };
        Some(GateCheck {
            iter: rec.iter,
            decision,
            ok: Some(rec.ok),
            warn: Some(rec.warn),
            audit: rec.audit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_flags_become_overrides() {
        let (gate, overrides) = build_gate("tuned_v0", None).unwrap();
        assert!(overrides.is_empty());
        let c = gate.cadence();
        let (gate2, overrides) = build_gate(
            "tuned_v0",
            Some(Cadence {
                gate_window: c.gate_window * 2,
                ..c
            }),
        )
        .unwrap();
        assert_eq!(overrides.len(), 1);
        assert_eq!(gate2.cadence().gate_window, c.gate_window * 2);
        assert!(build_gate("no_such_preset", None).is_err());
    }
}
