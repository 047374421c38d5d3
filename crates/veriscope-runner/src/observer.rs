//! The live side of a run: feeds samples to the gate and journals every run-governance event
//! as it happens (contract_v1 §Governance Journal): `run_started_v1` (once, carrying the
//! runner's distributed context), `run_overrides_applied_v1` when the profile diverges from the
//! defaults, and one `gate_decision_v1` per check, so a killed run keeps its decisions.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use veriscope_capsule::governance::Journal;

use crate::artifacts::RunIdentity;
use crate::clock::{Clock, utc_seconds};
use crate::gatelink::LiveGate;
use crate::metrics_log::MetricsLog;
use crate::stream::{Hello, SampleLine};
use crate::supervise::{GateCheck, RunObserver};

/// Governance context fixed at run start.
#[derive(Debug, Clone)]
pub struct JournalContext {
    /// `argv` of run_started_v1 / run_overrides_applied_v1 (already redacted).
    pub argv: Vec<String>,
    pub entrypoint: Value,
    pub code_identity: Value,
    /// Distributed context from the launch environment, used when the runner says nothing.
    pub env_distributed: Value,
}

/// Gate + journal, driven by the supervision loop.
pub struct LiveRun {
    gate: Box<dyn LiveGate>,
    journal: Journal,
    id: RunIdentity,
    ctx: JournalContext,
    clock: Arc<dyn Clock>,
    started: bool,
    hello: Option<Hello>,
    metrics_log: Option<MetricsLog>,
    metrics_log_error: Option<String>,
}

impl LiveRun {
    pub fn new(
        gate: Box<dyn LiveGate>,
        journal: Journal,
        id: RunIdentity,
        ctx: JournalContext,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            gate,
            journal,
            id,
            ctx,
            clock,
            started: false,
            hello: None,
            metrics_log: None,
            metrics_log_error: None,
        }
    }

    /// Records every accepted hello/sample line to `log` (metrics.jsonl).
    pub fn with_metrics_log(mut self, log: MetricsLog) -> Self {
        self.metrics_log = Some(log);
        self
    }

    /// Closes metrics.jsonl and returns its `metrics_ref`, or why it could not be kept.
    pub fn finish_metrics_log(&mut self) -> Result<Option<Value>, String> {
        if let Some(err) = self.metrics_log_error.take() {
            return Err(err);
        }
        match self.metrics_log.take() {
            Some(log) => log
                .finish()
                .map(Some)
                .map_err(|e| format!("cannot finish metrics.jsonl: {e}")),
            None => Ok(None),
        }
    }

    /// Recording the stream is best effort: a failure stops recording and is reported at
    /// finalization, but never interrupts the gate or the training.
    fn record(&mut self, write: impl FnOnce(&mut MetricsLog) -> std::io::Result<()>) {
        if let Some(log) = self.metrics_log.as_mut()
            && let Err(e) = write(log)
        {
            self.metrics_log_error = Some(format!("cannot write metrics.jsonl: {e}"));
            self.metrics_log = None;
        }
    }

    /// The runner's hello, if it sent one.
    pub fn hello(&self) -> Option<&Hello> {
        self.hello.as_ref()
    }

    /// Appends run_started_v1 (and run_overrides_applied_v1) unless already done. Called at
    /// hello, at the first sample of a hello-less stream, and at finalization.
    pub fn ensure_started(&mut self) -> anyhow::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let distributed = match self
            .hello
            .as_ref()
            .and_then(|h| h.fields.get("distributed"))
        {
            Some(Value::Object(d)) => normalize_distributed(d, &self.ctx.env_distributed),
            _ => self.ctx.env_distributed.clone(),
        };
        let payload = json!({
            "run_id": self.id.run_id,
            "outdir": self.id.outdir,
            "argv": self.ctx.argv,
            "code_identity": self.ctx.code_identity,
            "window_signature_ref": self.id.window_ref(),
            "entrypoint": self.ctx.entrypoint,
            "distributed": distributed,
        });
        self.append("run_started_v1", payload)?;
        if !self.id.overrides.is_empty() {
            let payload = json!({
                "run_id": self.id.run_id,
                "outdir": self.id.outdir,
                "overrides": self.id.overrides,
                "profile": self.id.profile(),
                "entrypoint": self.ctx.entrypoint,
                "argv": self.ctx.argv,
            });
            self.append("run_overrides_applied_v1", payload)?;
        }
        Ok(())
    }

    fn append(&mut self, event: &str, payload: Value) -> anyhow::Result<()> {
        let ts = utc_seconds(self.clock.now());
        self.journal
            .append(event, payload, None, &ts)
            .map_err(|e| anyhow::anyhow!("cannot append {event} to governance_log.jsonl: {e}"))?;
        Ok(())
    }
}

impl RunObserver for LiveRun {
    fn hello(&mut self, hello: &Hello) -> anyhow::Result<()> {
        self.hello = Some(hello.clone());
        self.record(|log| log.hello(&hello.fields));
        self.ensure_started()
    }

    fn sample(&mut self, sample: &SampleLine) -> anyhow::Result<Option<GateCheck>> {
        self.ensure_started()?;
        self.record(|log| log.sample(sample));
        let Some(check) = self.gate.observe(sample) else {
            return Ok(None);
        };
        let mut payload = json!({
            "run_id": self.id.run_id,
            "outdir": self.id.outdir,
            "iter": check.iter,
            "decision": check.decision.as_str(),
            "audit": check.audit,
        });
        if let Some(ok) = check.ok {
            payload["ok"] = json!(ok);
        }
        if let Some(warn) = check.warn {
            payload["warn"] = json!(warn);
        }
        // The check stands even if journaling fails; the failure is reported as ours.
        let iter = check.iter;
        self.append("gate_decision_v1", payload)
            .map(|()| Some(check))
            .map_err(|e| e.context(format!("gate check at iter {iter} not journaled")))
    }
}

/// Distributed context of the launch environment (torchrun / SLURM variables).
pub fn env_distributed(env: &BTreeMap<String, String>) -> Value {
    let int = |k: &str| env.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let world = int("WORLD_SIZE")
        .or_else(|| int("SLURM_NTASKS"))
        .unwrap_or(1)
        .max(1);
    let rank = int("RANK").or_else(|| int("SLURM_PROCID")).unwrap_or(0);
    let mode = if world > 1 {
        "replicated_single_chief_emit"
    } else {
        "single_process"
    };
    json!({
        "distributed_mode": mode,
        "world_size_observed": world,
        "backend": Value::Null,
        "rank": rank,
        "local_rank": int("LOCAL_RANK"),
        "ddp_wrapped": false,
    })
}

/// Merges the runner's `distributed` object over the env defaults, keeping only well-typed
/// fields and deriving a valid `distributed_mode`, so a sloppy runner cannot make the capsule
/// fail distributed validation (contract_v1 §Distributed execution).
fn normalize_distributed(reported: &Map<String, Value>, defaults: &Value) -> Value {
    let mut d = defaults.as_object().cloned().unwrap_or_default();
    let uint = |k: &str| reported.get(k).and_then(Value::as_u64);
    if let Some(w) = uint("world_size_observed").filter(|w| *w >= 1) {
        d.insert("world_size_observed".into(), json!(w));
    }
    if let Some(r) = uint("rank") {
        d.insert("rank".into(), json!(r));
    }
    match reported.get("local_rank") {
        Some(Value::Null) => {
            d.insert("local_rank".into(), Value::Null);
        }
        Some(v) if v.as_u64().is_some() => {
            d.insert("local_rank".into(), v.clone());
        }
        _ => {}
    }
    if let Some(b) = reported
        .get("backend")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
    {
        d.insert("backend".into(), json!(b));
    }
    if let Some(w) = reported.get("ddp_wrapped").and_then(Value::as_bool) {
        d.insert("ddp_wrapped".into(), json!(w));
    }
    let world = d
        .get("world_size_observed")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let wrapped = d
        .get("ddp_wrapped")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let valid = [
        "single_process",
        "replicated_single_chief_emit",
        "ddp_wrapped",
    ];
    let mode = match reported.get("distributed_mode").and_then(Value::as_str) {
        Some(m) if valid.contains(&m) => m,
        _ if world <= 1 => "single_process",
        _ if wrapped => "ddp_wrapped",
        _ => "replicated_single_chief_emit",
    };
    d.insert("distributed_mode".into(), json!(mode));
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_distributed_defaults_to_single_process() {
        let d = env_distributed(&BTreeMap::new());
        assert_eq!(d["distributed_mode"], "single_process");
        assert_eq!(d["world_size_observed"], 1);
    }

    #[test]
    fn runner_distributed_is_normalized() {
        let defaults = env_distributed(&BTreeMap::new());
        let reported = json!({"world_size_observed": 4, "rank": 2, "distributed_mode": "bogus", "ddp_wrapped": true});
        let d = normalize_distributed(reported.as_object().unwrap(), &defaults);
        assert_eq!(d["distributed_mode"], "ddp_wrapped");
        assert_eq!(d["rank"], 2);
        assert_eq!(d["world_size_observed"], 4);
    }
}
