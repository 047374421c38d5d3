//! Builders of contract-valid capsules for tests, fixtures and benchmarks.
//!
//! Writers go through [`crate::atomic`] and [`crate::governance::Journal`], so every fixture
//! also exercises the real write path. The default shape is the reference's 4-gate test
//! capsule (cli_contracts B3: pass@0, warn@1, fail@2, skip@3, marker `2\n`, run_started plus
//! one gate_decision_v1 per gate).

use std::io;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::atomic::{write_json_atomic, write_text_atomic};
use crate::governance::{GovernanceError, Journal};
use crate::load::{FIRST_FAIL_MARKER, GOVERNANCE_LOG, RESULTS, RESULTS_SUMMARY, WINDOW_SIGNATURE};
use crate::schema::Counts;

/// Fixed timestamp used by fixtures (stable hashes).
pub const FIXTURE_TS: &str = "2026-01-01T00:00:00Z";

/// What to build.
#[derive(Debug, Clone)]
pub struct CapsuleSpec {
    /// `run_id` everywhere.
    pub run_id: String,
    /// `profile.gate_preset`.
    pub gate_preset: String,
    /// `profile.overrides` (non-empty adds a run_overrides_applied_v1 entry).
    pub overrides: Map<String, Value>,
    /// One decision per gate, iters 0, 1, 2, ...
    pub decisions: Vec<String>,
    /// The outdir string recorded in governance payloads.
    pub recorded_outdir: String,
    /// window_signature.json content.
    pub window_signature: Value,
    /// Write a partial capsule (no results.json, neutral summary, `partial=true`).
    pub partial: bool,
    /// `payload.distributed` of run_started_v1.
    pub distributed: Option<Value>,
    /// Write governance_log.jsonl.
    pub governance: bool,
}

impl CapsuleSpec {
    /// The reference's 4-gate capsule (pass, warn, fail, skip) with the tests' minimal
    /// window signature (hash `7f3bffa5…`, cli_contracts A3 test vectors).
    pub fn four_gate(run_id: &str, recorded_outdir: &str) -> Self {
        CapsuleSpec {
            run_id: run_id.to_owned(),
            gate_preset: "test".to_owned(),
            overrides: Map::new(),
            decisions: ["pass", "warn", "fail", "skip"].map(str::to_owned).to_vec(),
            recorded_outdir: recorded_outdir.to_owned(),
            window_signature: minimal_window_signature(),
            partial: false,
            distributed: None,
            governance: true,
        }
    }
}

/// The tests' minimal window signature (cli_contracts A3).
pub fn minimal_window_signature() -> Value {
    json!({"schema_version": 1, "code_identity": {"package_version": "test"},
           "gate_controls": {"gate_window": 16, "gate_epsilon": 0.08, "min_evidence": 16},
           "metric_interval": 16, "metric_pipeline": {"transport": "test"}})
}

/// Audit record for a decision (AuditV1 shape; skip is not evaluated).
pub fn audit(decision: &str) -> Value {
    if decision == "skip" {
        return json!({"evaluated": false, "reason": "not_evaluated", "policy": "test", "per_metric_tv": {},
                      "evidence_total": 0, "min_evidence": 16, "worst_DW": null, "eps_eff": null});
    }
    json!({"evaluated": true, "reason": format!("evaluated_{decision}"), "policy": "test",
           "per_metric_tv": {"var_out_k": 0.08}, "evidence_total": 16, "min_evidence": 16,
           "worst_DW": 0.08, "eps_eff": 0.08})
}

/// A GateRecordV1 with consistent ok/warn booleans.
pub fn gate_record(iter: u64, decision: &str) -> Value {
    json!({"iter": iter, "decision": decision, "ok": decision != "fail", "warn": decision == "warn", "audit": audit(decision)})
}

/// Writes the capsule into `dir` (created if needed); returns the window-signature hash.
pub fn write_capsule(dir: &Path, spec: &CapsuleSpec) -> Result<String, FixtureError> {
    std::fs::create_dir_all(dir)?;
    write_json_atomic(&dir.join(WINDOW_SIGNATURE), &spec.window_signature)?;
    let hash = veriscope_canon::window_signature_hash(&spec.window_signature)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let gates: Vec<Value> = spec
        .decisions
        .iter()
        .enumerate()
        .map(|(i, d)| gate_record(i as u64, d))
        .collect();
    let mut counts = Counts::default();
    let mut first_fail = None;
    if !spec.partial {
        for (i, d) in spec.decisions.iter().enumerate() {
            counts.add(d);
            if d == "fail" && first_fail.is_none() {
                first_fail = Some(i as u64);
            }
        }
    }
    let header = header(spec, &hash);
    if !spec.partial {
        let mut results = header.clone();
        results.insert("gates".into(), Value::Array(gates.clone()));
        results.insert("metrics".into(), json!([]));
        write_json_atomic(&dir.join(RESULTS), &Value::Object(results))?;
    }
    let mut summary = header;
    summary.insert("counts".into(), json!({"evaluated": counts.evaluated, "skip": counts.skip, "pass": counts.pass, "warn": counts.warn, "fail": counts.fail}));
    summary.insert("final_decision".into(), json!(counts.final_decision()));
    summary.insert("first_fail_iter".into(), json!(first_fail));
    if spec.partial {
        summary.insert("partial".into(), json!(true));
    }
    write_json_atomic(&dir.join(RESULTS_SUMMARY), &Value::Object(summary))?;
    if let Some(n) = first_fail {
        write_text_atomic(&dir.join(FIRST_FAIL_MARKER), &format!("{n}\n"))?;
    }
    if spec.governance {
        write_governance(dir, spec, &hash, if spec.partial { &[] } else { &gates })?;
    }
    Ok(hash)
}

fn header(spec: &CapsuleSpec, hash: &str) -> Map<String, Value> {
    let v = json!({"schema_version": 1, "run_id": spec.run_id,
        "window_signature_ref": {"hash": hash, "path": WINDOW_SIGNATURE},
        "profile": {"gate_preset": spec.gate_preset, "overrides": spec.overrides},
        "run_status": "success", "runner_exit_code": 0, "wrapper_exit_code": 0,
        "started_ts_utc": FIXTURE_TS, "ended_ts_utc": "2026-01-01T00:01:00Z"});
    v.as_object().cloned().unwrap_or_default()
}

fn write_governance(
    dir: &Path,
    spec: &CapsuleSpec,
    hash: &str,
    gates: &[Value],
) -> Result<(), FixtureError> {
    let mut journal = Journal::open(&dir.join(GOVERNANCE_LOG))?;
    let entrypoint = json!({"kind": "runner", "name": "fixture"});
    let mut started = json!({"run_id": spec.run_id, "outdir": spec.recorded_outdir, "argv": ["veriscope", "run"],
        "code_identity": {"package_version": "test"}, "window_signature_ref": {"hash": hash, "path": WINDOW_SIGNATURE},
        "entrypoint": entrypoint});
    if let Some(d) = &spec.distributed {
        started["distributed"] = d.clone();
    }
    journal.append("run_started_v1", started, None, FIXTURE_TS)?;
    if !spec.overrides.is_empty() {
        let payload = json!({"run_id": spec.run_id, "outdir": spec.recorded_outdir, "overrides": spec.overrides,
            "profile": {"gate_preset": spec.gate_preset}, "entrypoint": entrypoint});
        journal.append("run_overrides_applied_v1", payload, None, FIXTURE_TS)?;
    }
    for g in gates {
        let payload = json!({"run_id": spec.run_id, "outdir": spec.recorded_outdir, "iter": g["iter"],
            "decision": g["decision"], "ok": g["ok"], "warn": g["warn"], "audit": g["audit"]});
        journal.append("gate_decision_v1", payload, None, FIXTURE_TS)?;
    }
    Ok(())
}

/// Why a fixture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// Filesystem error.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Governance append refused.
    #[error(transparent)]
    Governance(#[from] GovernanceError),
}
