//! Synthetic capsules for tests, benchmarks and demos: a small builder that writes a capsule
//! satisfying every contract_v1 invariant (window hash, identity, counts, first-fail marker,
//! hash-chained governance bound to the OUTDIR with one `gate_decision_v1` per gate), with
//! knobs for the cases reports must handle: partial, overridden, failing, distributed,
//! injected, timed.

use std::path::Path;

use serde_json::{Value, json};
use veriscope_capsule::atomic::{write_json_atomic, write_text_atomic};

/// What to build.
#[derive(Debug, Clone)]
pub struct CapsuleSpec {
    /// run_id.
    pub run_id: String,
    /// profile.gate_preset.
    pub gate_preset: String,
    /// `(iter, decision)` per gate check.
    pub gates: Vec<(u64, &'static str)>,
    /// Write a partial capsule (no results.json, summary `partial=true`, neutral counts).
    pub partial: bool,
    /// `run_started_v1.payload.distributed`.
    pub distributed: Option<Value>,
    /// Recorded injection `(at, len)` under run_config runner.hello.injection.
    pub injection: Option<(u64, u64)>,
    /// `(veriscope_wall_s, runner_wall_s)` under run_config timing.
    pub timing: Option<(f64, f64)>,
    /// gate_window / gate_warmup_iters in window_signature gate_controls.
    pub gate_window: u64,
    /// Warmup iterations.
    pub gate_warmup_iters: u64,
    /// Extra key in window_signature.json (changes its hash).
    pub window_salt: Option<String>,
    /// Write the governance journal.
    pub governance: bool,
    /// Add a `loss` metric series and per-metric samples to results.json `metrics`.
    pub metrics: bool,
    /// Write `metrics.jsonl` (hello + one sample every 10 iterations, with timing) and
    /// reference it from results.json `metrics_ref`.
    pub metrics_stream: bool,
}

impl CapsuleSpec {
    /// A passing run with `n` gates every 50 iterations after a 100-iteration warmup.
    pub fn new(run_id: &str, decisions: &[&'static str]) -> Self {
        CapsuleSpec {
            run_id: run_id.to_owned(),
            gate_preset: "tuned_v0".to_owned(),
            gates: decisions
                .iter()
                .enumerate()
                .map(|(i, d)| (100 + 50 * i as u64, *d))
                .collect(),
            partial: false,
            distributed: None,
            injection: None,
            timing: None,
            gate_window: 50,
            gate_warmup_iters: 100,
            window_salt: None,
            governance: true,
            metrics: false,
            metrics_stream: false,
        }
    }
}

const TS: &str = "2026-01-15T10:00:00Z";
const TS_END: &str = "2026-01-15T10:45:00Z";

fn audit(iter: u64, decision: &str) -> Value {
    let evaluated = decision != "skip";
    let base = 0.05 + (iter % 7) as f64 * 0.01;
    let worst = match decision {
        "fail" => 0.31,
        "warn" => 0.19,
        "skip" => {
            return json!({"evaluated": false, "reason": "insufficient_evidence", "policy": "persistence", "worst_DW": null, "eps_eff": null, "per_metric_tv": {}, "evidence_total": 3, "min_evidence": 16});
        }
        _ => base,
    };
    json!({
        "evaluated": evaluated, "reason": decision, "policy": "persistence",
        "worst_DW": worst, "eps_eff": 0.2,
        "per_metric_tv": {"eff_dim": worst * 0.8, "var_out_k": worst},
        "evidence_total": 64, "min_evidence": 16,
    })
}

fn gate(iter: u64, decision: &str) -> Value {
    json!({"iter": iter, "decision": decision, "ok": decision != "fail", "warn": decision == "warn", "audit": audit(iter, decision)})
}

/// Writes the capsule into `dir` (created if missing). `dir` should be absolute: it is
/// recorded as the governance outdir binding.
pub fn write_capsule(dir: &Path, spec: &CapsuleSpec) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let mut ws = json!({
        "schema_version": 1, "created_ts_utc": TS,
        "gate_controls": {"gate_window": spec.gate_window, "gate_warmup_iters": spec.gate_warmup_iters, "min_evidence": 16,
            "policy": "persistence", "persistence_k": 2, "min_metrics_exceeding": 1, "eps_sens": 0.04, "cap_frac": null},
        "metrics": ["eff_dim", "var_out_k"], "transport": {"bins": 16},
    });
    if let Some(salt) = &spec.window_salt {
        ws["salt"] = json!(salt);
    }
    let hash = veriscope_canon::window_signature_hash(&ws)?;
    let window_ref = json!({"hash": hash, "path": "window_signature.json"});
    let header = json!({
        "schema_version": 1, "run_id": spec.run_id, "window_signature_ref": window_ref,
        "profile": {"gate_preset": spec.gate_preset}, "run_status": "success", "runner_exit_code": 0,
        "runner_signal": null, "started_ts_utc": TS, "ended_ts_utc": TS_END,
    });
    let gates: Vec<Value> = spec.gates.iter().map(|(i, d)| gate(*i, d)).collect();
    let mut counts = json!({"evaluated": 0, "skip": 0, "pass": 0, "warn": 0, "fail": 0});
    let mut first_fail = None;
    if !spec.partial {
        for (iter, d) in &spec.gates {
            counts[*d] = json!(counts[*d].as_u64().unwrap_or(0) + 1);
            if *d != "skip" {
                counts["evaluated"] = json!(counts["evaluated"].as_u64().unwrap_or(0) + 1);
            }
            if *d == "fail" && first_fail.is_none() {
                first_fail = Some(*iter);
            }
        }
    }
    let final_decision = ["fail", "warn", "pass"]
        .into_iter()
        .find(|d| counts[*d].as_u64().unwrap_or(0) > 0)
        .unwrap_or("skip");
    write_json_atomic(&dir.join("window_signature.json"), &ws)?;
    let mut summary = header.clone();
    summary["counts"] = counts;
    summary["final_decision"] = json!(final_decision);
    summary["first_fail_iter"] = json!(first_fail);
    if spec.partial {
        summary["partial"] = json!(true);
        summary["run_status"] = json!("user_code_failure");
        summary["runner_signal"] = json!("SIGTERM");
        summary["ended_ts_utc"] = Value::Null;
        if spec.metrics_stream {
            write_stream(dir, spec)?;
        }
    } else {
        let mut results = header.clone();
        results["gates"] = json!(gates);
        results["metrics"] = if spec.metrics {
            metrics(spec)
        } else {
            json!([])
        };
        if spec.metrics_stream {
            let (count, sha) = write_stream(dir, spec)?;
            results["metrics_ref"] = json!({"path": "metrics.jsonl", "format": "veriscope_metrics_stream_v1", "count": count, "sha256": sha});
        }
        write_json_atomic(&dir.join("results.json"), &results)?;
    }
    write_json_atomic(&dir.join("results_summary.json"), &summary)?;
    if let Some(ff) = first_fail {
        write_text_atomic(&dir.join("first_fail_iter.txt"), &format!("{ff}\n"))?;
    }
    let mut rc = json!({"schema_version": 1, "ts_utc": TS, "run": {"kind": "gpt", "run_id": spec.run_id, "outdir": dir.display().to_string()}, "wrapper_exit_code": 0,
        "env_capture": {"redactions_applied": false}});
    if let Some((at, len)) = spec.injection {
        rc["runner"] = json!({"hello": {"injection": {"kind": "data_corrupt", "at": at, "len": len, "frac": 0.15}}});
    }
    if let Some((v, r)) = spec.timing {
        rc["timing"] = json!({"veriscope_wall_s": v, "runner_wall_s": r});
    }
    write_json_atomic(&dir.join("run_config_resolved.json"), &rc)?;
    if spec.governance {
        write_governance(dir, spec, &window_ref, &gates)?;
    }
    Ok(())
}

/// The `metrics.jsonl` copy: hello (with the injection, if any) and a sample every 10
/// iterations. Returns `(line count, sha256 of the file)`.
fn write_stream(
    dir: &Path,
    spec: &CapsuleSpec,
) -> Result<(usize, String), Box<dyn std::error::Error>> {
    let mut hello = json!({"type": "hello", "protocol": 1, "runner": "synth", "metrics": ["var_out_k", "eff_dim", "rankme", "cos_disp"], "metric_interval": 10});
    if let Some((at, len)) = spec.injection {
        hello["injection"] = json!({"kind": "data_corrupt", "at": at, "len": len, "frac": 0.15});
    }
    let mut lines = vec![hello];
    let last = spec.gates.last().map_or(0, |g| g.0);
    let mut ewma: Option<f64> = None;
    for iter in (0..=last).step_by(10) {
        let t = iter as f64;
        let drift = spec
            .injection
            .map_or(0.0, |(at, _)| ((t - at as f64) / 400.0).clamp(0.0, 1.0));
        let loss = 4.0 * (-t / 2000.0).exp() + 1.2 + 0.05 * (t / 13.0).sin();
        let e = ewma.map_or(loss, |e| 0.9 * e + 0.1 * loss);
        ewma = Some(e);
        lines.push(json!({
            "type": "sample", "iter": iter,
            "metrics": {
                "var_out_k": 0.4 + 0.02 * (t / 70.0).cos() + 0.3 * drift,
                "eff_dim": 17.0 + (t / 90.0).sin() - 6.0 * drift,
                "rankme": 25.0 + 0.5 * (t / 60.0).cos() - 8.0 * drift,
                "cos_disp": if iter == 20 { Value::Null } else { json!(0.18 + 0.01 * (t / 50.0).sin()) },
            },
            "loss": loss, "ewma_loss": e, "grad_norm": 1.0,
            "timing": {"step_ms": 50.0, "probe_ms": 3.0, "metric_ms": 1.0},
        }));
    }
    let mut text = String::new();
    for l in &lines {
        text.push_str(&veriscope_canon::to_canonical_string(l)?);
        text.push('\n');
    }
    write_text_atomic(&dir.join("metrics.jsonl"), &text)?;
    Ok((
        lines.len(),
        veriscope_canon::sha256_hex_bytes(text.as_bytes()),
    ))
}

fn metrics(spec: &CapsuleSpec) -> Value {
    let last = spec.gates.last().map_or(0, |g| g.0);
    let mut out = Vec::new();
    for iter in (0..=last).step_by(10) {
        let t = iter as f64;
        let drift = spec.injection.map_or(0.0, |(at, _)| {
            if iter >= at {
                (t - at as f64) / 400.0
            } else {
                0.0
            }
        });
        out.push(json!({"name": "loss", "iter": iter, "value": 4.0 * (-t / 2000.0).exp() + 1.2}));
        out.push(json!({"name": "eff_dim", "iter": iter, "value": 12.0 + (t / 90.0).sin() - 6.0 * drift.min(1.0)}));
        out.push(json!({"name": "var_out_k", "iter": iter, "value": 0.4 + 0.02 * (t / 70.0).cos() + 0.3 * drift.min(1.0)}));
    }
    json!(out)
}

fn write_governance(
    dir: &Path,
    spec: &CapsuleSpec,
    window_ref: &Value,
    gates: &[Value],
) -> Result<(), Box<dyn std::error::Error>> {
    let outdir = dir.display().to_string();
    let mut started = json!({
        "run_id": spec.run_id, "outdir": outdir, "argv": ["veriscope", "run", "gpt"],
        "code_identity": {"package_version": "0.1.0"}, "window_signature_ref": window_ref,
        "entrypoint": {"kind": "gpt", "name": "veriscope-gpt"},
    });
    if let Some(d) = &spec.distributed {
        started["distributed"] = d.clone();
    }
    let mut events = vec![("run_started_v1", started)];
    if !spec.partial {
        events.extend(gates.iter().map(|g| {
            ("gate_decision_v1", json!({"run_id": spec.run_id, "outdir": outdir, "iter": g["iter"], "decision": g["decision"], "ok": g["ok"], "warn": g["warn"], "audit": g["audit"]}))
        }));
    }
    // The chain is written in one go (contract_v1 §Governance Journal hashing) rather than
    // through Journal::append, whose per-entry lock + fsync would make 100k-gate benches slow.
    let mut text = String::new();
    let mut prev: Option<String> = None;
    for (rev, (event, payload)) in events.into_iter().enumerate() {
        let mut entry = json!({"schema_version": 1, "rev": rev + 1, "ts_utc": TS, "actor": null, "event": event, "payload": payload, "prev_hash": prev});
        let hash = veriscope_canon::sha256_hex(&entry)?;
        entry["entry_hash"] = json!(hash);
        text.push_str(&veriscope_canon::to_canonical_string(&entry)?);
        text.push('\n');
        prev = Some(hash);
    }
    write_text_atomic(&dir.join("governance_log.jsonl"), &text)?;
    Ok(())
}
