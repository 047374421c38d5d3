//! Pure builders of the capsule's JSON artifacts (contract_v1 §Artifact Set, productization
//! §4A-§4D). Writing happens in [`crate::wrapper`]; everything here is data in, `Value` (or
//! canonical text) out.

use serde_json::{Map, Value, json};
use veriscope_canon::CanonError;

use crate::stream::StreamSummary;
use crate::supervise::{CheckDecision, GateCheck};
use crate::verdict::Verdict;

/// Name of the window signature file; also `window_signature_ref.path` (contract_v1).
pub const WINDOW_SIGNATURE: &str = "window_signature.json";

/// Identity shared by every artifact of one run.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run_id: String,
    /// Absolute capsule path as text (productization §2.1 "Outdir path normalization").
    pub outdir: String,
    pub window_hash: String,
    pub gate_preset: String,
    /// Controls that differ from the preset's defaults (recorded in governance too).
    pub overrides: Map<String, Value>,
    pub started_ts_utc: String,
}

impl RunIdentity {
    /// `window_signature_ref` object.
    pub fn window_ref(&self) -> Value {
        json!({ "hash": self.window_hash, "path": WINDOW_SIGNATURE })
    }

    /// `profile` object.
    pub fn profile(&self) -> Value {
        json!({ "gate_preset": self.gate_preset, "overrides": self.overrides })
    }
}

/// `window_signature.json`: the gate's content plus schema version, stream transport and a
/// creation time (excluded from the hash by contract_v1 §Hashing Rules).
pub fn window_signature(gate_content: &Value, created_ts_utc: &str) -> Value {
    let mut obj = gate_content.as_object().cloned().unwrap_or_default();
    obj.insert("schema_version".into(), json!(1));
    obj.insert("created_ts_utc".into(), json!(created_ts_utc));
    obj.entry("stream_protocol")
        .or_insert(json!({ "name": "veriscope_metrics_stream", "protocol": 1 }));
    Value::Object(obj)
}

/// Counts over gate checks (§4D `counts`).
pub fn counts(checks: &[GateCheck]) -> Value {
    let n = |d: CheckDecision| checks.iter().filter(|c| c.decision == d).count();
    let (pass, warn, fail, skip) = (
        n(CheckDecision::Pass),
        n(CheckDecision::Warn),
        n(CheckDecision::Fail),
        n(CheckDecision::Skip),
    );
    json!({ "evaluated": pass + warn + fail, "pass": pass, "warn": warn, "fail": fail, "skip": skip })
}

/// §4D final_decision: any fail, else any warn, else any pass, else skip.
pub fn final_decision(checks: &[GateCheck]) -> &'static str {
    let has = |d: CheckDecision| checks.iter().any(|c| c.decision == d);
    [
        CheckDecision::Fail,
        CheckDecision::Warn,
        CheckDecision::Pass,
    ]
    .into_iter()
    .find(|d| has(*d))
    .unwrap_or(CheckDecision::Skip)
    .as_str()
}

/// Iteration of the earliest fail (iter 0 included: cli_contracts A17.2 is fixed).
pub fn first_fail_iter(checks: &[GateCheck]) -> Option<u64> {
    checks
        .iter()
        .filter(|c| c.decision == CheckDecision::Fail)
        .map(|c| c.iter)
        .min()
}

/// One `GateRecordV1`.
pub fn gate_record(c: &GateCheck) -> Value {
    let mut rec = json!({ "iter": c.iter, "decision": c.decision.as_str(), "audit": c.audit });
    if let Some(ok) = c.ok {
        rec["ok"] = json!(ok);
    }
    if let Some(warn) = c.warn {
        rec["warn"] = json!(warn);
    }
    rec
}

/// The `stream` diagnostics object (docs/metrics-stream.md §Errors: "Counts land in
/// results.json as stream.malformed").
pub fn stream_record(s: &StreamSummary, control_dropped: u64) -> Value {
    json!({
        "protocol": 1,
        "lines": s.lines,
        "samples": s.samples,
        "last_iter": s.last_iter,
        "hello_received": s.hello.is_some(),
        "end": s.end.as_ref().map(|e| json!({"iter": e.iter, "status": e.status, "reason": e.reason})),
        "malformed": s.malformed,
        "malformed_total": s.malformed_total(),
        "notes": s.notes,
        "control_lines_dropped": control_dropped,
    })
}

/// Header fields shared by results.json and results_summary.json.
fn header(id: &RunIdentity, v: &Verdict, ended_ts_utc: &str) -> Map<String, Value> {
    let obj = json!({
        "schema_version": 1,
        "run_id": id.run_id,
        "window_signature_ref": id.window_ref(),
        "profile": id.profile(),
        "run_status": v.run_status.as_str(),
        "runner_exit_code": v.runner_exit_code,
        "runner_signal": v.runner_signal,
        "started_ts_utc": id.started_ts_utc,
        "ended_ts_utc": ended_ts_utc,
    });
    obj.as_object().cloned().unwrap_or_default()
}

/// `results.json` (§4C), written only for complete runs.
pub fn results(
    id: &RunIdentity,
    v: &Verdict,
    ended: &str,
    checks: &[GateCheck],
    stream: Value,
    metrics_ref: Option<&Value>,
) -> Value {
    let mut obj = header(id, v, ended);
    obj.insert(
        "gates".into(),
        Value::Array(checks.iter().map(gate_record).collect()),
    );
    // The samples themselves live in metrics.jsonl (metrics_log.rs), named by metrics_ref.
    obj.insert("metrics".into(), json!([]));
    if let Some(r) = metrics_ref {
        obj.insert("metrics_ref".into(), r.clone());
    }
    obj.insert("stream".into(), stream);
    Value::Object(obj)
}

/// Canonical text of a `GateRecordV1` ([`gate_record`]). The supervision loop renders each
/// record as its check is made, while the runner is still working, so that finalization
/// only joins them ([`results_text`]).
pub fn gate_record_text(c: &GateCheck) -> Result<String, CanonError> {
    veriscope_canon::to_canonical_string(&gate_record(c))
}

/// The canonical text of [`results`] (no trailing newline), with `gates` given as the
/// canonical texts of its records, in order. Byte-identical to rendering the `Value`.
pub fn results_text(
    id: &RunIdentity,
    v: &Verdict,
    ended: &str,
    gate_records: &[String],
    stream: Value,
    metrics_ref: Option<&Value>,
) -> Result<String, CanonError> {
    let Value::Object(map) = results(id, v, ended, &[], stream, metrics_ref) else {
        unreachable!("results() builds an object");
    };
    let mut gates =
        String::with_capacity(gate_records.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    gates.push('[');
    for (i, record) in gate_records.iter().enumerate() {
        if i > 0 {
            gates.push(',');
        }
        gates.push_str(record);
    }
    gates.push(']');
    canonical_object_with(&map, "gates", &gates)
}

/// Canonical text of the object `map` with the value of `key` replaced by `raw`, which must
/// already be canonical text. Keys sorted by code point, as canonical JSON sorts them.
fn canonical_object_with(
    map: &Map<String, Value>,
    key: &str,
    raw: &str,
) -> Result<String, CanonError> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut out = String::with_capacity(raw.len() + 4096);
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&veriscope_canon::to_canonical_string(&Value::String(
            k.clone(),
        ))?);
        out.push(':');
        if k == key {
            out.push_str(raw);
        } else {
            out.push_str(&veriscope_canon::to_canonical_string(&map[k])?);
        }
    }
    out.push('}');
    Ok(out)
}

/// `results_summary.json` (§4D). A partial summary carries neutral counts, as contract_v1
/// requires of partial capsules; the checks actually made are kept in `observed_counts`
/// (and every one of them is in governance_log.jsonl as gate_decision_v1).
pub fn summary(
    id: &RunIdentity,
    v: &Verdict,
    ended: &str,
    checks: &[GateCheck],
    stream: Value,
) -> Value {
    let mut obj = header(id, v, ended);
    if v.partial {
        obj.insert("counts".into(), counts(&[]));
        obj.insert("final_decision".into(), json!("skip"));
        obj.insert("first_fail_iter".into(), Value::Null);
        obj.insert("partial".into(), json!(true));
        obj.insert("wrapper_emitted".into(), json!(true));
        obj.insert("observed_counts".into(), counts(checks));
        obj.insert(
            "observed_first_fail_iter".into(),
            json!(first_fail_iter(checks)),
        );
    } else {
        obj.insert("counts".into(), counts(checks));
        obj.insert("final_decision".into(), json!(final_decision(checks)));
        obj.insert("first_fail_iter".into(), json!(first_fail_iter(checks)));
        obj.insert("partial".into(), json!(false));
    }
    if let Some(note) = &v.note {
        obj.insert("note".into(), json!(note));
    }
    obj.insert("stream".into(), stream);
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use veriscope_contracts::RunStatus;

    fn check(iter: u64, d: CheckDecision) -> GateCheck {
        GateCheck {
            iter,
            decision: d,
            ok: None,
            warn: None,
            audit: json!({"evaluated": d != CheckDecision::Skip}),
        }
    }

    fn ident() -> RunIdentity {
        RunIdentity {
            run_id: "abc".into(),
            outdir: "/tmp/x".into(),
            window_hash: "0".repeat(64),
            gate_preset: "tuned_v0".into(),
            overrides: Map::new(),
            started_ts_utc: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn complete_summary_counts_and_first_fail_at_zero() {
        let checks = [
            check(0, CheckDecision::Fail),
            check(5, CheckDecision::Pass),
            check(9, CheckDecision::Skip),
        ];
        let v = Verdict {
            run_status: RunStatus::Success,
            partial: false,
            runner_exit_code: Some(0),
            runner_signal: None,
            note: None,
        };
        let s = summary(&ident(), &v, "2026-01-01T00:00:01Z", &checks, json!({}));
        assert_eq!(
            s["counts"],
            json!({"evaluated":2,"pass":1,"warn":0,"fail":1,"skip":1})
        );
        assert_eq!(s["final_decision"], "fail");
        assert_eq!(s["first_fail_iter"], 0);
    }

    #[test]
    fn results_text_with_prerendered_gates_matches_the_value_rendering() {
        let mut checks = [
            check(0, CheckDecision::Fail),
            check(5, CheckDecision::Pass),
            check(9, CheckDecision::Skip),
        ];
        checks[1].ok = Some(true);
        checks[1].warn = Some(false);
        checks[1].audit =
            json!({"evaluated": true, "tv": 0.125, "worst": [1.0, -0.0, 1e-7], "reason": "é"});
        let v = Verdict {
            run_status: RunStatus::Success,
            partial: false,
            runner_exit_code: Some(0),
            runner_signal: None,
            note: None,
        };
        let stream = json!({"protocol": 1, "samples": 10, "malformed": {}});
        let metrics_ref = json!({"path": "metrics.jsonl", "count": 11, "sha256": "ab"});
        let records: Vec<String> = checks
            .iter()
            .map(|c| gate_record_text(c).unwrap())
            .collect();
        for (checks, records, mref) in [
            (&checks[..], &records[..], Some(&metrics_ref)),
            (&[][..], &[][..], None),
        ] {
            let want = veriscope_canon::to_canonical_string(&results(
                &ident(),
                &v,
                "2026-01-01T00:00:01Z",
                checks,
                stream.clone(),
                mref,
            ))
            .unwrap();
            let got = results_text(
                &ident(),
                &v,
                "2026-01-01T00:00:01Z",
                records,
                stream.clone(),
                mref,
            )
            .unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn partial_summary_is_neutral_but_keeps_observations() {
        let checks = [check(3, CheckDecision::Fail)];
        let v = Verdict {
            run_status: RunStatus::UserCodeFailure,
            partial: true,
            runner_exit_code: None,
            runner_signal: Some("SIGTERM".into()),
            note: Some("n".into()),
        };
        let s = summary(&ident(), &v, "2026-01-01T00:00:01Z", &checks, json!({}));
        assert_eq!(s["counts"]["fail"], 0);
        assert_eq!(s["final_decision"], "skip");
        assert_eq!(s["partial"], true);
        assert_eq!(s["observed_counts"]["fail"], 1);
    }
}
