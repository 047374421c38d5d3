//! Builders of contract-valid capsules for tests, fixtures, benchmarks and demos: the one
//! writer of test capsules in the workspace. The committed `fixtures/capsules/`, the
//! validator's unit tests, the report snapshots, the CLI tests and the 100k-gate benches all
//! come from [`write_capsule`].
//!
//! Writers go through [`crate::atomic`] and [`crate::governance::Journal`], so every fixture
//! also exercises the real write path ([`CapsuleSpec::bulk_journal`] writes the same bytes in
//! one go for large benches). Two starting shapes:
//! - [`CapsuleSpec::four_gate`]: the reference's 4-gate test capsule (cli_contracts B3:
//!   pass@0, warn@1, fail@2, skip@3, marker `2\n`, run_started plus one gate_decision_v1 per
//!   gate), no run config;
//! - [`CapsuleSpec::gpt_run`]: a wrapper-shaped run (preset `tuned_v0`, a check every 50
//!   iterations after a 100-iteration warmup, audits whose D_W follows the decision, a
//!   `run_config_resolved.json`), with knobs for what reports must handle: partial
//!   ([`CapsuleSpec::interrupted`]), overridden ([`CapsuleSpec::manual_judgement`]), failing,
//!   distributed, injected, timed, metric series and a metrics stream.

use std::io;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::atomic::{write_json_atomic, write_text_atomic};
use crate::governance::{GovernanceError, Journal};
use crate::load::{
    FIRST_FAIL_MARKER, GOVERNANCE_LOG, MANUAL_JUDGEMENT, MANUAL_JUDGEMENT_LOG, RESULTS,
    RESULTS_SUMMARY, RUN_CONFIG, WINDOW_SIGNATURE,
};
use crate::schema::Counts;

/// Fixed timestamp used by fixtures (stable hashes).
pub const FIXTURE_TS: &str = "2026-01-01T00:00:00Z";
/// End of a [`CapsuleSpec::four_gate`] run.
pub const FIXTURE_END_TS: &str = "2026-01-01T00:01:00Z";
/// Start of a [`CapsuleSpec::gpt_run`] run.
pub const RUN_TS: &str = "2026-01-15T10:00:00Z";
/// End of a [`CapsuleSpec::gpt_run`] run.
pub const RUN_END_TS: &str = "2026-01-15T10:45:00Z";

/// How gate audits are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditShape {
    /// [`audit`]: the reference tests' constant audit (D_W 0.08 = eps_eff).
    Fixed,
    /// [`scored_audit`]: D_W by decision (fail 0.31, warn 0.19, pass 0.05-0.11 by iter)
    /// against eps_eff 0.2, two metrics; a skip lacks evidence.
    Scored,
}

/// `run_config_resolved.json` as the wrapper writes its core fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfigSpec {
    /// `run.kind` (`gpt`, `hf`, `cmd`, ...).
    pub kind: String,
    /// `wrapper_exit_code` (absent when `None`).
    pub wrapper_exit_code: Option<i64>,
    /// `argv.normalized_forwarded_args` (absent when `None`).
    pub forwarded_args: Option<Vec<String>>,
    /// `timing.{veriscope_wall_s, runner_wall_s}`.
    pub timing: Option<(f64, f64)>,
}

impl RunConfigSpec {
    /// A run config of `kind` with wrapper exit 0 and nothing else.
    pub fn new(kind: &str) -> Self {
        RunConfigSpec {
            kind: kind.to_owned(),
            wrapper_exit_code: Some(0),
            forwarded_args: None,
            timing: None,
        }
    }
}

/// A manual judgement overlay written the way `veriscope override` writes it:
/// `manual_judgement.json`, one `manual_judgement.jsonl` line (rev 1) and a
/// `manual_judgement_set` governance entry (actor = reviewer).
#[derive(Debug, Clone, PartialEq)]
pub struct ManualJudgementSpec {
    /// `pass` | `fail`.
    pub status: String,
    /// Why.
    pub reason: String,
    /// Who (omitted from the json snapshot, null in the jsonl line, when `None`).
    pub reviewer: Option<String>,
    /// When (`...Z`, seconds).
    pub ts_utc: String,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct CapsuleSpec {
    /// `run_id` everywhere.
    pub run_id: String,
    /// `profile.gate_preset`.
    pub gate_preset: String,
    /// `profile.overrides` (non-empty adds a run_overrides_applied_v1 entry).
    pub overrides: Map<String, Value>,
    /// One decision per gate check, at iters `first_iter + i * iter_step`.
    pub decisions: Vec<String>,
    /// Iteration of the first gate check.
    pub first_iter: u64,
    /// Iterations between gate checks.
    pub iter_step: u64,
    /// How audits are filled in.
    pub audit: AuditShape,
    /// The outdir string recorded in governance payloads and the run config; `None`
    /// records the directory exactly as passed to [`write_capsule`].
    pub recorded_outdir: Option<String>,
    /// window_signature.json content.
    pub window_signature: Value,
    /// Write a partial capsule (no results.json, neutral summary, `partial=true`).
    pub partial: bool,
    /// `run_status` of results and summary.
    pub run_status: String,
    /// `runner_signal` of results and summary (absent when `None`).
    pub runner_signal: Option<String>,
    /// `started_ts_utc`; also the timestamp of the run config and run governance entries.
    pub started_ts_utc: String,
    /// `ended_ts_utc` (null when `None`).
    pub ended_ts_utc: Option<String>,
    /// `payload.distributed` of run_started_v1.
    pub distributed: Option<Value>,
    /// Write governance_log.jsonl.
    pub governance: bool,
    /// Write the journal in one go (same bytes as one [`Journal::append`] per entry, without
    /// the per-entry lock and fsync that make 100k-gate benches slow).
    pub bulk_journal: bool,
    /// Write `run_config_resolved.json`.
    pub run_config: Option<RunConfigSpec>,
    /// Recorded injection `(at, len)`: run config `runner.hello.injection` and the metrics
    /// stream's hello; it also bends the generated metric series after `at`.
    pub injection: Option<(u64, u64)>,
    /// results.json `metrics`: `loss`, `eff_dim`, `var_out_k` every 10 iterations up to the
    /// last gate check.
    pub metrics: bool,
    /// Adds a `step_time` metric (seconds per iteration) next to the series above.
    pub step_time_s: Option<f64>,
    /// Write `metrics.jsonl` (hello + a sample every 10 iterations, with timing) and reference
    /// it from results.json `metrics_ref`.
    pub metrics_stream: bool,
    /// A manual judgement overlay.
    pub manual_judgement: Option<ManualJudgementSpec>,
    /// The execution contract, run manifest, determinism and lineage blocks of
    /// `run_config_resolved.json` (docs/replay.md); needs `run_config`. With it,
    /// `run_started_v1` also carries `gate_contract_hash` and `run_seed`.
    pub execution: Option<ExecutionSpec>,
    /// Relative jitter applied to the recorded values (metrics stream samples and the scored
    /// audits' D_W): `value * (1 + jitter)`. 0 writes the unperturbed capsule.
    pub value_jitter: f64,
}

/// The replay blocks of `run_config_resolved.json` (docs/replay.md §1-§3), with the real
/// contract and manifest hashes (`veriscope_contracts::execution`, `veriscope_canon`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSpec {
    /// `normalized_gate_config` of the contract material (its `profile` is the preset).
    pub normalized_gate_config: Value,
    /// `gate_policy_version` of the material.
    pub gate_policy_version: String,
    /// Fields that came from the environment (`fallback_fields`).
    pub fallback_fields: Vec<String>,
    /// Write `manifest` and `manifest_hash` (false: an older capsule without them).
    pub manifest: bool,
    /// `manifest.run_seed`.
    pub run_seed: u64,
    /// `manifest.seed_source`.
    pub seed_source: String,
    /// `manifest.hardware`.
    pub hardware: Value,
    /// `manifest.runner.spec`.
    pub runner_spec: Value,
    /// Replaces the recorded `manifest_hash` (a tampered or stale hash).
    pub manifest_hash_override: Option<String>,
    /// `determinism.mode` (and `manifest.determinism_mode`).
    pub determinism_mode: String,
    /// `determinism.preconditions`: `(name, met, observed, required)`.
    pub preconditions: Vec<(String, bool, String, String)>,
    /// `lineage.attempts`: `(resumed_after_iter, reason)` per attempt, numbered from 1.
    pub attempts: Vec<(Option<u64>, String)>,
    /// `lineage.forked_from`: `{run_id, outdir, gate_contract_hash}`.
    pub forked_from: Option<Value>,
}

impl ExecutionSpec {
    /// A standard-mode, single-attempt run of `preset` (gate window 50, warmup 100, as
    /// [`CapsuleSpec::gpt_run`]), seed 42 from the default, no fallback, on a CPU.
    pub fn new(preset: &str) -> Self {
        ExecutionSpec {
            normalized_gate_config: json!({"profile": preset, "gate_window": 50, "gate_warmup_iters": 100,
                "metric_interval": 10, "eps": 0.2, "eps_sens": 0.04, "min_evidence": 16, "policy": "persistence",
                "persistence_k": 2, "min_metrics_exceeding": 1, "cap_frac": null, "bins": 16,
                "metrics": ["eff_dim", "var_out_k"]}),
            gate_policy_version: format!("{preset}@1"),
            fallback_fields: Vec::new(),
            manifest: true,
            run_seed: 42,
            seed_source: "default".to_owned(),
            hardware: json!({"device": "cpu", "cpu_model": "fixture-cpu", "gpu_models": [], "gpu_count": 0, "cuda_version": null}),
            runner_spec: json!({"model": "gpt-tiny", "n_layer": 2}),
            manifest_hash_override: None,
            determinism_mode: "standard".to_owned(),
            preconditions: vec![(
                "run_seed_fixed".to_owned(),
                false,
                "default:42".to_owned(),
                "--seed or VERISCOPE_SEED".to_owned(),
            )],
            attempts: vec![(None, "start".to_owned())],
            forked_from: None,
        }
    }

    /// Strict mode with every precondition met (seed from `--seed`).
    pub fn strict(mut self) -> Self {
        self.determinism_mode = "strict".to_owned();
        self.seed_source = "flag".to_owned();
        self.preconditions = vec![
            (
                "run_seed_fixed".to_owned(),
                true,
                format!("flag:{}", self.run_seed),
                "--seed or VERISCOPE_SEED".to_owned(),
            ),
            (
                "pythonhashseed_set".to_owned(),
                true,
                "0".to_owned(),
                "PYTHONHASHSEED=<int>".to_owned(),
            ),
        ];
        self
    }

    /// The contract material.
    pub fn material(&self) -> Value {
        veriscope_contracts::execution::material(
            self.normalized_gate_config.clone(),
            &self.gate_policy_version,
            "v1",
            "v1",
        )
    }

    /// `gate_contract_hash`.
    pub fn contract_hash(&self) -> Result<String, FixtureError> {
        veriscope_contracts::execution::contract_hash(&self.material())
            .map_err(|e| canon_err(e).into())
    }

    /// The `gate_contract` object.
    pub fn gate_contract(&self) -> Result<Value, FixtureError> {
        let hash = self.contract_hash()?;
        let mut sources = Map::new();
        if let Some(cfg) = self.normalized_gate_config.as_object() {
            for k in cfg.keys() {
                let src = if self.fallback_fields.contains(k) {
                    "env"
                } else {
                    "preset"
                };
                sources.insert(k.clone(), json!(src));
            }
        }
        Ok(veriscope_contracts::execution::persisted_object(
            self.material(),
            &hash,
            &self.fallback_fields,
            sources,
        ))
    }

    /// The run manifest (`kind` = run kind, `args` = forwarded arguments).
    pub fn manifest(&self, kind: &str, args: &[String]) -> Result<Value, FixtureError> {
        let derived: Map<String, Value> = veriscope_contracts::seeds::derived_seeds(self.run_seed)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        Ok(json!({
            "schema_version": 1, "run_seed": self.run_seed, "seed_source": self.seed_source,
            "derived_seeds": derived,
            "code_identity": {"package": "veriscope", "version": "0.1.0", "git_sha": null},
            "runner": {"kind": kind, "args": args, "spec": self.runner_spec},
            "gate_contract_hash": self.contract_hash()?,
            "hardware": self.hardware, "dependencies_sha256": null,
            "determinism_mode": self.determinism_mode,
        }))
    }
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
            first_iter: 0,
            iter_step: 1,
            audit: AuditShape::Fixed,
            recorded_outdir: Some(recorded_outdir.to_owned()),
            window_signature: minimal_window_signature(),
            partial: false,
            run_status: "success".to_owned(),
            runner_signal: None,
            started_ts_utc: FIXTURE_TS.to_owned(),
            ended_ts_utc: Some(FIXTURE_END_TS.to_owned()),
            distributed: None,
            governance: true,
            bulk_journal: false,
            run_config: None,
            injection: None,
            metrics: false,
            step_time_s: None,
            metrics_stream: false,
            manual_judgement: None,
            execution: None,
            value_jitter: 0.0,
        }
    }

    /// A wrapper-shaped gpt run: one check every 50 iterations from iter 100 (after the
    /// 100-iteration warmup of [`gated_window_signature`]), scored audits, preset
    /// `tuned_v0`, a run config of kind `gpt`, the outdir recorded as written.
    pub fn gpt_run(run_id: &str, decisions: &[&str]) -> Self {
        CapsuleSpec {
            gate_preset: "tuned_v0".to_owned(),
            decisions: decisions.iter().map(|d| (*d).to_owned()).collect(),
            first_iter: 100,
            iter_step: 50,
            audit: AuditShape::Scored,
            recorded_outdir: None,
            window_signature: gated_window_signature(50, 100),
            started_ts_utc: RUN_TS.to_owned(),
            ended_ts_utc: Some(RUN_END_TS.to_owned()),
            run_config: Some(RunConfigSpec::new("gpt")),
            ..CapsuleSpec::four_gate(run_id, "")
        }
    }

    /// Makes this an interrupted run: partial capsule, `user_code_failure`, SIGTERM, no end.
    pub fn interrupted(mut self) -> Self {
        self.partial = true;
        self.run_status = "user_code_failure".to_owned();
        self.runner_signal = Some("SIGTERM".to_owned());
        self.ended_ts_utc = None;
        self
    }

    /// Records the replay blocks of `execution` in the run config (docs/replay.md).
    pub fn with_execution(mut self, execution: ExecutionSpec) -> Self {
        self.execution = Some(execution);
        self
    }

    /// Iteration of gate check `i`.
    pub fn iter_of(&self, i: usize) -> u64 {
        self.first_iter + self.iter_step * i as u64
    }

    /// Iteration of the last gate check (0 without checks).
    pub fn last_iter(&self) -> u64 {
        self.decisions
            .len()
            .checked_sub(1)
            .map_or(0, |i| self.iter_of(i))
    }
}

/// The tests' minimal window signature (cli_contracts A3).
pub fn minimal_window_signature() -> Value {
    json!({"schema_version": 1, "code_identity": {"package_version": "test"},
           "gate_controls": {"gate_window": 16, "gate_epsilon": 0.08, "min_evidence": 16},
           "metric_interval": 16, "metric_pipeline": {"transport": "test"}})
}

/// A window signature with full gate controls (persistence policy, two metrics).
pub fn gated_window_signature(gate_window: u64, gate_warmup_iters: u64) -> Value {
    json!({
        "schema_version": 1, "created_ts_utc": RUN_TS,
        "gate_controls": {"gate_window": gate_window, "gate_warmup_iters": gate_warmup_iters, "min_evidence": 16,
            "policy": "persistence", "persistence_k": 2, "min_metrics_exceeding": 1, "eps_sens": 0.04, "cap_frac": null},
        "metrics": ["eff_dim", "var_out_k"], "transport": {"bins": 16},
    })
}

/// A `run_started_v1.payload.distributed` object (distributed_mode.md's recording fields):
/// rank 0, `local_rank` 0 when more than one process took part.
pub fn distributed_payload(mode: &str, world_size: u64, backend: Option<&str>) -> Value {
    json!({"distributed_mode": mode, "world_size_observed": world_size, "backend": backend, "rank": 0,
           "local_rank": if world_size > 1 { json!(0) } else { Value::Null },
           "ddp_wrapped": mode == "ddp_wrapped"})
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

/// Audit whose worst D_W follows the decision against eps_eff 0.2 ([`AuditShape::Scored`]).
pub fn scored_audit(iter: u64, decision: &str) -> Value {
    let worst = match decision {
        "fail" => 0.31,
        "warn" => 0.19,
        "skip" => {
            return json!({"evaluated": false, "reason": "insufficient_evidence", "policy": "persistence", "worst_DW": null,
                          "eps_eff": null, "per_metric_tv": {}, "evidence_total": 3, "min_evidence": 16});
        }
        _ => 0.05 + (iter % 7) as f64 * 0.01,
    };
    json!({
        "evaluated": true, "reason": decision, "policy": "persistence",
        "worst_DW": worst, "eps_eff": 0.2,
        "per_metric_tv": {"eff_dim": worst * 0.8, "var_out_k": worst},
        "evidence_total": 64, "min_evidence": 16,
    })
}

/// A GateRecordV1 with consistent ok/warn booleans and the [`audit`] shape.
pub fn gate_record(iter: u64, decision: &str) -> Value {
    gate_with(iter, decision, audit(decision))
}

/// `audit` with its D_W figures scaled by `1 + jitter` (unchanged at 0).
fn jittered(mut audit: Value, jitter: f64) -> Value {
    if jitter == 0.0 {
        return audit;
    }
    let scale = |v: &mut Value| {
        if let Some(x) = v.as_f64() {
            *v = json!(x * (1.0 + jitter));
        }
    };
    if let Some(w) = audit.get_mut("worst_DW") {
        scale(w);
    }
    if let Some(Value::Object(tv)) = audit.get_mut("per_metric_tv") {
        tv.values_mut().for_each(scale);
    }
    audit
}

fn gate_with(iter: u64, decision: &str, audit: Value) -> Value {
    json!({"iter": iter, "decision": decision, "ok": decision != "fail", "warn": decision == "warn", "audit": audit})
}

fn canon_err(e: veriscope_canon::CanonError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Writes the capsule into `dir` (created if needed); returns the window-signature hash.
pub fn write_capsule(dir: &Path, spec: &CapsuleSpec) -> Result<String, FixtureError> {
    std::fs::create_dir_all(dir)?;
    let recorded = spec
        .recorded_outdir
        .clone()
        .unwrap_or_else(|| dir.display().to_string());
    write_json_atomic(&dir.join(WINDOW_SIGNATURE), &spec.window_signature)?;
    let hash = veriscope_canon::window_signature_hash(&spec.window_signature).map_err(canon_err)?;
    let gates: Vec<Value> = spec
        .decisions
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let iter = spec.iter_of(i);
            let audit = match spec.audit {
                AuditShape::Fixed => audit(d),
                AuditShape::Scored => jittered(scored_audit(iter, d), spec.value_jitter),
            };
            gate_with(iter, d, audit)
        })
        .collect();
    let mut counts = Counts::default();
    let mut first_fail = None;
    if !spec.partial {
        for (i, d) in spec.decisions.iter().enumerate() {
            counts.add(d);
            if d == "fail" && first_fail.is_none() {
                first_fail = Some(spec.iter_of(i));
            }
        }
    }
    let header = header(spec, &hash);
    let stream = if spec.metrics_stream {
        Some(write_stream(dir, spec)?)
    } else {
        None
    };
    if !spec.partial {
        let mut results = header.clone();
        results.insert("gates".into(), Value::Array(gates.clone()));
        results.insert("metrics".into(), Value::Array(metric_records(spec)));
        if let Some((count, sha)) = &stream {
            results.insert("metrics_ref".into(), json!({"path": "metrics.jsonl", "format": "veriscope_metrics_stream_v1", "count": count, "sha256": sha}));
        }
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
    if let Some(rc) = &spec.run_config {
        write_json_atomic(&dir.join(RUN_CONFIG), &run_config(spec, rc, &recorded)?)?;
    }
    let manual = spec
        .manual_judgement
        .as_ref()
        .map(|m| write_manual_judgement(dir, &spec.run_id, m))
        .transpose()?;
    if spec.governance {
        let mut entries = run_entries(
            spec,
            &recorded,
            &hash,
            if spec.partial { &[] } else { &gates },
        );
        entries.extend(manual);
        write_journal(&dir.join(GOVERNANCE_LOG), entries, spec.bulk_journal)?;
    }
    Ok(hash)
}

fn header(spec: &CapsuleSpec, hash: &str) -> Map<String, Value> {
    let v = json!({"schema_version": 1, "run_id": spec.run_id,
        "window_signature_ref": {"hash": hash, "path": WINDOW_SIGNATURE},
        "profile": {"gate_preset": spec.gate_preset, "overrides": spec.overrides},
        "run_status": spec.run_status, "runner_exit_code": 0, "wrapper_exit_code": 0,
        "started_ts_utc": spec.started_ts_utc, "ended_ts_utc": spec.ended_ts_utc});
    let mut map = v.as_object().cloned().unwrap_or_default();
    if let Some(sig) = &spec.runner_signal {
        map.insert("runner_signal".into(), json!(sig));
    }
    map
}

fn injection_json(at: u64, len: u64) -> Value {
    json!({"kind": "data_corrupt", "at": at, "len": len, "frac": 0.15})
}

fn run_config(
    spec: &CapsuleSpec,
    rc: &RunConfigSpec,
    recorded: &str,
) -> Result<Value, FixtureError> {
    let mut v = json!({"schema_version": 1, "ts_utc": spec.started_ts_utc,
        "run": {"kind": rc.kind, "run_id": spec.run_id, "outdir": recorded},
        "env_capture": {"redactions_applied": false}});
    if let Some(code) = rc.wrapper_exit_code {
        v["wrapper_exit_code"] = json!(code);
    }
    if let Some(args) = &rc.forwarded_args {
        v["argv"] = json!({"normalized_forwarded_args": args});
    }
    if let Some((at, len)) = spec.injection {
        v["runner"] = json!({"hello": {"injection": injection_json(at, len)}});
    }
    if let Some((veriscope, runner)) = rc.timing {
        v["timing"] = json!({"veriscope_wall_s": veriscope, "runner_wall_s": runner});
    }
    if let Some(x) = &spec.execution {
        execution_blocks(&mut v, spec, rc, x)?;
    }
    Ok(v)
}

/// `gate_contract`, `manifest` + `manifest_hash`, `determinism` and `lineage`.
fn execution_blocks(
    v: &mut Value,
    spec: &CapsuleSpec,
    rc: &RunConfigSpec,
    x: &ExecutionSpec,
) -> Result<(), FixtureError> {
    v["gate_contract"] = x.gate_contract()?;
    if x.manifest {
        let manifest = x.manifest(&rc.kind, rc.forwarded_args.as_deref().unwrap_or_default())?;
        let hash = match &x.manifest_hash_override {
            Some(h) => h.clone(),
            None => veriscope_canon::sha256_hex(&manifest).map_err(canon_err)?,
        };
        v["manifest"] = manifest;
        v["manifest_hash"] = json!(hash);
    }
    let preconditions: Vec<Value> = x
        .preconditions
        .iter()
        .map(|(name, met, observed, required)| {
            json!({"name": name, "met": met, "observed": observed, "required": required})
        })
        .collect();
    v["determinism"] = json!({"mode": x.determinism_mode, "preconditions": preconditions});
    let attempts: Vec<Value> = x
        .attempts
        .iter()
        .enumerate()
        .map(|(i, (after, reason))| {
            json!({"attempt": i + 1, "started_ts_utc": spec.started_ts_utc, "ended_ts_utc": spec.ended_ts_utc,
                   "resumed_after_iter": after, "reason": reason})
        })
        .collect();
    v["lineage"] = json!({"attempts": attempts, "forked_from": x.forked_from});
    Ok(())
}

/// Drift in [0, 1] of the generated series `t` iterations in (0 before the injection).
fn drift(spec: &CapsuleSpec, iter: u64) -> f64 {
    spec.injection.map_or(0.0, |(at, _)| {
        ((iter as f64 - at as f64) / 400.0).clamp(0.0, 1.0)
    })
}

fn metric_records(spec: &CapsuleSpec) -> Vec<Value> {
    let mut out = Vec::new();
    if !spec.metrics && spec.step_time_s.is_none() {
        return out;
    }
    for iter in (0..=spec.last_iter()).step_by(10) {
        let t = iter as f64;
        let d = drift(spec, iter);
        if spec.metrics {
            out.push(
                json!({"name": "loss", "iter": iter, "value": 4.0 * (-t / 2000.0).exp() + 1.2}),
            );
            out.push(json!({"name": "eff_dim", "iter": iter, "value": 12.0 + (t / 90.0).sin() - 6.0 * d}));
            out.push(json!({"name": "var_out_k", "iter": iter, "value": 0.4 + 0.02 * (t / 70.0).cos() + 0.3 * d}));
        }
        if let Some(s) = spec.step_time_s {
            out.push(json!({"name": "step_time", "iter": iter, "value": s}));
        }
    }
    out
}

/// The `metrics.jsonl` copy: hello (with the injection, if any) and a sample every 10
/// iterations. Returns `(line count, sha256 of the file)`.
fn write_stream(dir: &Path, spec: &CapsuleSpec) -> Result<(usize, String), FixtureError> {
    let mut hello = json!({"type": "hello", "protocol": 1, "runner": "fixture", "metrics": ["var_out_k", "eff_dim", "rankme", "cos_disp"], "metric_interval": 10});
    if let Some((at, len)) = spec.injection {
        hello["injection"] = injection_json(at, len);
    }
    let mut lines = vec![hello];
    let mut ewma: Option<f64> = None;
    for iter in (0..=spec.last_iter()).step_by(10) {
        let t = iter as f64;
        let d = drift(spec, iter);
        let j = 1.0 + spec.value_jitter;
        let loss = 4.0 * (-t / 2000.0).exp() + 1.2 + 0.05 * (t / 13.0).sin();
        let e = ewma.map_or(loss, |e| 0.9 * e + 0.1 * loss);
        ewma = Some(e);
        lines.push(json!({
            "type": "sample", "iter": iter,
            "metrics": {
                "var_out_k": (0.4 + 0.02 * (t / 70.0).cos() + 0.3 * d) * j,
                "eff_dim": (17.0 + (t / 90.0).sin() - 6.0 * d) * j,
                "rankme": (25.0 + 0.5 * (t / 60.0).cos() - 8.0 * d) * j,
                "cos_disp": if iter == 20 { Value::Null } else { json!(0.18 + 0.01 * (t / 50.0).sin()) },
            },
            "loss": loss, "ewma_loss": e, "grad_norm": 1.0,
            "timing": {"step_ms": 50.0, "probe_ms": 3.0, "metric_ms": 1.0},
        }));
    }
    let mut text = String::new();
    for l in &lines {
        text.push_str(&veriscope_canon::to_canonical_string(l).map_err(canon_err)?);
        text.push('\n');
    }
    write_text_atomic(&dir.join("metrics.jsonl"), &text)?;
    Ok((
        lines.len(),
        veriscope_canon::sha256_hex_bytes(text.as_bytes()),
    ))
}

/// One governance entry to write: `(event, payload, actor, ts_utc)`.
type Entry = (&'static str, Value, Option<String>, String);

fn run_entries(spec: &CapsuleSpec, recorded: &str, hash: &str, gates: &[Value]) -> Vec<Entry> {
    let ts = &spec.started_ts_utc;
    let entry = |event, payload| (event, payload, None, ts.clone());
    let entrypoint = json!({"kind": "runner", "name": "fixture"});
    let mut started = json!({"run_id": spec.run_id, "outdir": recorded, "argv": ["veriscope", "run"],
        "code_identity": {"package_version": "test"}, "window_signature_ref": {"hash": hash, "path": WINDOW_SIGNATURE},
        "entrypoint": entrypoint});
    if let Some(d) = &spec.distributed {
        started["distributed"] = d.clone();
    }
    if let Some(x) = spec
        .execution
        .as_ref()
        .filter(|_| spec.run_config.is_some())
    {
        // The hash of this material cannot fail (finite numbers only); skip it if it does.
        if let Ok(h) = x.contract_hash() {
            started["gate_contract_hash"] = json!(h);
        }
        started["run_seed"] = json!(x.run_seed);
    }
    let mut out = vec![entry("run_started_v1", started)];
    if !spec.overrides.is_empty() {
        let payload = json!({"run_id": spec.run_id, "outdir": recorded, "overrides": spec.overrides,
            "profile": {"gate_preset": spec.gate_preset}, "entrypoint": entrypoint});
        out.push(entry("run_overrides_applied_v1", payload));
    }
    for g in gates {
        let payload = json!({"run_id": spec.run_id, "outdir": recorded, "iter": g["iter"],
            "decision": g["decision"], "ok": g["ok"], "warn": g["warn"], "audit": g["audit"]});
        out.push(entry("gate_decision_v1", payload));
    }
    out
}

/// Writes the overlay files; returns the governance entry that records them.
fn write_manual_judgement(
    dir: &Path,
    run_id: &str,
    m: &ManualJudgementSpec,
) -> Result<Entry, FixtureError> {
    let mut snapshot = json!({"schema_version": 1, "run_id": run_id, "status": m.status, "reason": m.reason, "ts_utc": m.ts_utc});
    if let Some(r) = &m.reviewer {
        snapshot["reviewer"] = json!(r);
    }
    let line = json!({"schema_version": 1, "run_id": run_id, "status": m.status, "reason": m.reason,
        "reviewer": m.reviewer, "ts_utc": m.ts_utc, "rev": 1});
    let mut text = veriscope_canon::to_canonical_string(&line).map_err(canon_err)?;
    text.push('\n');
    write_text_atomic(&dir.join(MANUAL_JUDGEMENT_LOG), &text)?;
    write_json_atomic(&dir.join(MANUAL_JUDGEMENT), &snapshot)?;
    let payload = json!({"status": m.status, "reason": m.reason, "reviewer": m.reviewer, "run_id": run_id,
        "source_path": MANUAL_JUDGEMENT});
    Ok((
        "manual_judgement_set",
        payload,
        m.reviewer.clone(),
        m.ts_utc.clone(),
    ))
}

fn write_journal(path: &Path, entries: Vec<Entry>, bulk: bool) -> Result<(), FixtureError> {
    if !bulk {
        let mut journal = Journal::open(path)?;
        for (event, payload, actor, ts) in entries {
            journal.append(event, payload, actor.as_deref(), &ts)?;
        }
        return Ok(());
    }
    // The entry shape and hashing of contract_v1 §Governance Journal, as Journal::append
    // writes them (a test in tests/fixtures.rs holds both paths to the same bytes).
    let mut text = String::new();
    let mut prev: Option<String> = None;
    for (rev, (event, payload, actor, ts)) in entries.into_iter().enumerate() {
        let mut entry = json!({"schema_version": 1, "rev": rev + 1, "ts_utc": ts, "actor": actor,
            "event": event, "payload": payload, "prev_hash": prev});
        let hash = veriscope_canon::sha256_hex(&entry).map_err(canon_err)?;
        entry["entry_hash"] = json!(hash);
        text.push_str(&veriscope_canon::to_canonical_string(&entry).map_err(canon_err)?);
        text.push('\n');
        prev = Some(hash);
    }
    write_text_atomic(path, &text)?;
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
