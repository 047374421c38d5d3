//! Event payload requirements of the governance journal (cli_contracts A6.3).
//!
//! The reader turns a failure into a `payload_required_fields` warning (the line still
//! chains); the writer refuses the append with the same text (A6.7).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::schema::{DECISIONS, check_audit_map, present};

/// Run-governance events (contract_v1 §Governance Journal).
pub const RUN_EVENTS: [&str; 4] = [
    "run_started_v1",
    "capsule_opened_v1",
    "run_overrides_applied_v1",
    "gate_decision_v1",
];
/// Manual / operator events.
pub const MANUAL_EVENTS: [&str; 4] = [
    "manual_judgement_set",
    "manual_judgement_cleared",
    "artifact_note",
    "recompute_summary",
];

/// Whether `event` is one of the eight contract event names.
pub fn is_known_event(event: &str) -> bool {
    RUN_EVENTS.contains(&event) || MANUAL_EVENTS.contains(&event)
}

/// Missing and invalid payload keys; empty when the payload meets the event's requirements.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PayloadProblems {
    missing: BTreeSet<&'static str>,
    invalid: BTreeSet<&'static str>,
}

impl PayloadProblems {
    /// True when nothing is missing or invalid.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.invalid.is_empty()
    }

    /// `payload_required_fields event=<e> missing=<a,b|-> invalid=<c|->` (A6.3).
    pub fn detail(&self, event: &str) -> String {
        let list = |s: &BTreeSet<&str>| {
            if s.is_empty() {
                "-".to_owned()
            } else {
                s.iter().copied().collect::<Vec<_>>().join(",")
            }
        };
        format!(
            "payload_required_fields event={event} missing={} invalid={}",
            list(&self.missing),
            list(&self.invalid)
        )
    }
}

/// Checks `payload` against the requirements of `event` (manual events have none).
pub fn check_payload(event: &str, payload: &Map<String, Value>) -> PayloadProblems {
    let mut p = PayloadProblems::default();
    match event {
        "run_started_v1" => run_started(payload, &mut p),
        "run_overrides_applied_v1" => run_overrides(payload, &mut p),
        "gate_decision_v1" => gate_decision(payload, &mut p),
        _ => {}
    }
    p
}

fn run_started(pl: &Map<String, Value>, p: &mut PayloadProblems) {
    identity(pl, p);
    list_key(pl, "argv", true, p);
    object_key(pl, "code_identity", p);
    if let Some(wr) = object_key(pl, "window_signature_ref", p) {
        nonblank(wr, "hash", "window_signature_ref.hash", false, p);
        nonblank(wr, "path", "window_signature_ref.path", false, p);
    }
    entrypoint(pl, p);
    if let Some(d) = present(pl, "distributed")
        && !distributed_ok(d)
    {
        p.invalid.insert("distributed");
    }
}

fn run_overrides(pl: &Map<String, Value>, p: &mut PayloadProblems) {
    identity(pl, p);
    object_key(pl, "overrides", p);
    if let Some(profile) = object_key(pl, "profile", p) {
        nonblank(profile, "gate_preset", "profile.gate_preset", false, p);
    }
    entrypoint(pl, p);
    list_key(pl, "argv", false, p);
}

fn gate_decision(pl: &Map<String, Value>, p: &mut PayloadProblems) {
    identity(pl, p);
    match pl.get("iter") {
        None => {
            p.missing.insert("iter");
        }
        Some(v) if !is_int(v) => {
            p.invalid.insert("iter");
        }
        Some(_) => {}
    }
    let decision = match pl.get("decision") {
        None => {
            p.missing.insert("decision");
            None
        }
        Some(v) => {
            let d = v
                .as_str()
                .map(crate::pyrepr::py_strip_lower)
                .filter(|d| DECISIONS.contains(&d.as_str()));
            if d.is_none() {
                p.invalid.insert("decision");
            }
            d
        }
    };
    if let Some(audit) = object_key(pl, "audit", p) {
        if !audit.contains_key("per_metric_tv") {
            p.invalid.insert("audit.per_metric_tv");
        }
        match check_audit_map(audit, &[]) {
            Err(_) => {
                p.invalid.insert("audit");
            }
            Ok(evaluated) => {
                if decision
                    .as_deref()
                    .is_some_and(|d| (d == "skip") == evaluated)
                {
                    p.invalid.insert("audit.evaluated");
                }
            }
        }
    }
    for k in ["ok", "warn"] {
        if present(pl, k).is_some_and(|v| !v.is_boolean()) {
            p.invalid.insert(if k == "ok" { "ok" } else { "warn" });
        }
    }
}

/// `run_id` and `outdir`: non-empty strings after strip.
fn identity(pl: &Map<String, Value>, p: &mut PayloadProblems) {
    nonblank(pl, "run_id", "run_id", true, p);
    nonblank(pl, "outdir", "outdir", true, p);
}

fn entrypoint(pl: &Map<String, Value>, p: &mut PayloadProblems) {
    if let Some(ep) = object_key(pl, "entrypoint", p) {
        nonblank(ep, "kind", "entrypoint.kind", false, p);
        nonblank(ep, "name", "entrypoint.name", false, p);
    }
}

fn nonblank(
    obj: &Map<String, Value>,
    k: &str,
    label: &'static str,
    top: bool,
    p: &mut PayloadProblems,
) {
    match obj.get(k) {
        None | Some(Value::Null) if top => {
            p.missing.insert(label);
        }
        Some(Value::String(s)) if !crate::pyrepr::py_strip(s).is_empty() => {}
        _ => {
            p.invalid.insert(label);
        }
    }
}

fn object_key<'a>(
    pl: &'a Map<String, Value>,
    k: &'static str,
    p: &mut PayloadProblems,
) -> Option<&'a Map<String, Value>> {
    match pl.get(k) {
        None | Some(Value::Null) => {
            p.missing.insert(k);
            None
        }
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            p.invalid.insert(k);
            None
        }
    }
}

fn list_key(pl: &Map<String, Value>, k: &'static str, required: bool, p: &mut PayloadProblems) {
    match pl.get(k) {
        None | Some(Value::Null) if required => {
            p.missing.insert(k);
        }
        None | Some(Value::Null) | Some(Value::Array(_)) => {}
        Some(_) => {
            p.invalid.insert(k);
        }
    }
}

fn is_int(v: &Value) -> bool {
    v.as_number()
        .is_some_and(|n| !n.to_string().contains(['.', 'e', 'E']))
}

/// `DistributedRunConfigV1` (A6.3): optional typed fields, legacy aliases accepted.
fn distributed_ok(d: &Value) -> bool {
    let Some(obj) = d.as_object() else {
        return false;
    };
    let nonempty =
        |k: &str| present(obj, k).is_none_or(|v| v.as_str().is_some_and(|s| !s.is_empty()));
    // Python ints are unbounded: any non-negative integer token meets a minimum of 0 or 1
    // unless it is zero; only negative tokens need their value.
    let int_min = |k: &str, min: i64| {
        present(obj, k).is_none_or(|v| {
            let t = v.to_string();
            is_int(v)
                && if t.starts_with('-') {
                    t.parse::<i64>().is_ok_and(|n| n >= min)
                } else {
                    min <= 0 || t.bytes().any(|b| b != b'0')
                }
        })
    };
    let boolean = |k: &str| present(obj, k).is_none_or(Value::is_boolean);
    nonempty("distributed_mode")
        && int_min("world_size_observed", 1)
        && nonempty("backend")
        && nonempty("ddp_backend")
        && ["rank", "rank_observed", "local_rank", "local_rank_observed"]
            .iter()
            .all(|k| int_min(k, 0))
        && boolean("ddp_wrapped")
        && boolean("ddp_active")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn empty_run_started_lists_every_required_key() {
        let p = check_payload("run_started_v1", &Map::new());
        assert_eq!(
            p.detail("run_started_v1"),
            "payload_required_fields event=run_started_v1 missing=argv,code_identity,entrypoint,outdir,run_id,window_signature_ref invalid=-"
        );
    }

    #[test]
    fn gate_decision_audit_rules() {
        let good = json!({"run_id": "r", "outdir": "o", "iter": 3, "decision": "pass", "ok": true,
            "audit": {"evaluated": true, "reason": "pass", "policy": "p", "per_metric_tv": {}, "evidence_total": 2, "min_evidence": 1}});
        assert!(check_payload("gate_decision_v1", &obj(good.clone())).is_empty());
        let mut bad = good;
        bad["audit"] = json!({"evaluated": true, "per_metric_tv": {}});
        bad["decision"] = json!("skip");
        assert_eq!(
            check_payload("gate_decision_v1", &obj(bad)).detail("gate_decision_v1"),
            "payload_required_fields event=gate_decision_v1 missing=- invalid=audit"
        );
        assert!(check_payload("artifact_note", &Map::new()).is_empty());
    }
}
