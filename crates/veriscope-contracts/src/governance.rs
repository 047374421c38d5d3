//! The governance journal `governance_log.jsonl` (contract_v1 §Governance Journal,
//! cli_contracts A6): entry shape, typed event payloads, payload requirements and the
//! entry hash. Appending and verifying a whole log is the capsule crate's job.

use std::collections::BTreeSet;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use veriscope_canon::CanonError;

use crate::common::{Artifact, ProfileV1, SchemaVersion, WindowSignatureRefV1, parse_typed};
use crate::distributed::DistributedV1;
use crate::num;
use crate::results::AuditV1;
use crate::time::{TimestampError, parse_utc};
use crate::violation::ContractViolation;
use crate::{Decision, EventKind, FindingCode, ManualStatus};

/// One line of `governance_log.jsonl`.
///
/// `actor` and `prev_hash` are always written (null when absent); `event` and `event_type`
/// are mutually exclusive for new entries, writers use `event` (A6.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GovernanceEntryV1 {
    /// Always 1.
    pub schema_version: SchemaVersion,
    /// Consecutive from 1 in append order.
    #[serde(deserialize_with = "num::strict_u64")]
    #[schemars(range(min = 1))]
    pub rev: u64,
    /// ISO-8601 UTC (informational; `Z` preferred, `+00:00` and naive accepted).
    pub ts_utc: String,
    /// Reviewer or operator.
    #[serde(default)]
    pub actor: Option<String>,
    /// Event kind (preferred key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventKind>,
    /// Event kind (legacy key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventKind>,
    /// Event-specific payload (required for every event); see [`EventPayload`].
    pub payload: Map<String, Value>,
    /// Previous entry's hash; null for the first entry.
    #[serde(default)]
    pub prev_hash: Option<String>,
    /// sha256 of the canonical entry without `entry_hash` (required for v1 journals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_hash: Option<String>,
    /// Unknown keys (covered by the hash), preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GovernanceEntryV1 {
    /// The event kind, from `event` or else `event_type`.
    pub fn kind(&self) -> Option<EventKind> {
        self.event.or(self.event_type)
    }

    /// `ts_utc` parsed as UTC.
    pub fn ts(&self) -> Result<jiff::Timestamp, TimestampError> {
        parse_utc(&self.ts_utc)
    }

    /// The payload as its typed struct.
    pub fn typed_payload(&self) -> Result<EventPayload, ContractViolation> {
        let kind = self.kind().ok_or_else(|| {
            ContractViolation::new(
                FindingCode::GovernanceLogInvalid,
                "/event",
                "governance entry must include event or event_type",
            )
        })?;
        EventPayload::from_map(kind, &self.payload)
    }
}

impl Artifact for GovernanceEntryV1 {
    const FILE_NAME: &'static str = "governance_log.jsonl";

    /// Writer-side rules (A6.7): exactly one event key; payload requirements met.
    fn check(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        let kind = match (self.event, self.event_type) {
            (Some(_), Some(_)) => {
                out.push(ContractViolation::new(
                    FindingCode::GovernanceLogInvalid,
                    "",
                    "governance entry must not include both event and event_type",
                ));
                return out;
            }
            (None, None) => {
                out.push(ContractViolation::new(
                    FindingCode::GovernanceLogInvalid,
                    "",
                    "governance entry must include event or event_type",
                ));
                return out;
            }
            (Some(k), None) | (None, Some(k)) => k,
        };
        if let Err(unmet) = check_payload_requirements(kind, &self.payload) {
            out.push(ContractViolation::new(
                FindingCode::GovernanceLogInvalid,
                "/payload",
                unmet.to_string(),
            ));
        }
        out
    }
}

/// `entry_hash` of a raw journal entry: canonical sha256 of the object without
/// `entry_hash` and `line_no` (A6.2). Every other key, extras included, is covered.
pub fn entry_hash(raw_entry: &Map<String, Value>) -> Result<String, CanonError> {
    let mut copy = raw_entry.clone();
    copy.remove("entry_hash");
    copy.remove("line_no");
    veriscope_canon::sha256_hex(&Value::Object(copy))
}

/// `entrypoint` of run events: what was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EntrypointV1 {
    /// Kind, e.g. `runner`.
    pub kind: String,
    /// Name, e.g. `gpt`.
    pub name: String,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `run_started_v1` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunStartedV1 {
    /// Run identifier (non-empty).
    pub run_id: String,
    /// Capsule directory as given (non-empty).
    pub outdir: String,
    /// Veriscope argv.
    pub argv: Vec<String>,
    /// Code identity: `{package_version, git_sha?}`.
    pub code_identity: Map<String, Value>,
    /// The window signature this run is bound to.
    pub window_signature_ref: WindowSignatureRefV1,
    /// What was run.
    pub entrypoint: EntrypointV1,
    /// Distributed context, when known (omitted otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedV1>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `run_overrides_applied_v1` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunOverridesAppliedV1 {
    /// Run identifier (non-empty).
    pub run_id: String,
    /// Capsule directory as given (non-empty).
    pub outdir: String,
    /// Applied overrides.
    pub overrides: Map<String, Value>,
    /// Profile after overrides.
    pub profile: ProfileV1,
    /// What was run.
    pub entrypoint: EntrypointV1,
    /// Veriscope argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `gate_decision_v1` payload: one gate decision mirrored from results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateDecisionV1 {
    /// Run identifier (non-empty).
    pub run_id: String,
    /// Capsule directory as given (non-empty).
    pub outdir: String,
    /// Iteration of the gate check (an integer, not a bool).
    #[serde(deserialize_with = "num::strict_i64")]
    pub iter: i64,
    /// The decision (readers fold case and whitespace, A6.3).
    #[serde(deserialize_with = "lenient_decision")]
    pub decision: Decision,
    /// Legacy boolean; required by writers for non-skip decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// Legacy boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<bool>,
    /// The audit record (must contain `per_metric_tv`).
    pub audit: AuditV1,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn lenient_decision<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decision, D::Error> {
    let text = String::deserialize(d)?;
    Decision::parse_lenient(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("Invalid gate decision='{text}'")))
}

/// `manual_judgement_set` payload (written by `override`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManualJudgementSetV1 {
    /// The reviewer's verdict.
    pub status: ManualStatus,
    /// Why.
    pub reason: String,
    /// Who, or null.
    #[serde(default)]
    pub reviewer: Option<String>,
    /// Run the judgement is about.
    pub run_id: String,
    /// Artifact written, `manual_judgement.json`.
    pub source_path: String,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of the manual events without requirements (`manual_judgement_cleared`,
/// `artifact_note`, `recompute_summary`, `capsule_opened_v1`): common optional fields,
/// the rest preserved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FreeformPayloadV1 {
    /// Run the event is about, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Free-form note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Everything else, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A typed event payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventPayload {
    /// `run_started_v1`.
    RunStarted(RunStartedV1),
    /// `run_overrides_applied_v1`.
    RunOverridesApplied(RunOverridesAppliedV1),
    /// `gate_decision_v1`.
    GateDecision(GateDecisionV1),
    /// `manual_judgement_set`.
    ManualJudgementSet(ManualJudgementSetV1),
    /// `manual_judgement_cleared`.
    ManualJudgementCleared(FreeformPayloadV1),
    /// `artifact_note`.
    ArtifactNote(FreeformPayloadV1),
    /// `recompute_summary`.
    RecomputeSummary(FreeformPayloadV1),
    /// `capsule_opened_v1` (reserved).
    CapsuleOpened(FreeformPayloadV1),
}

impl EventPayload {
    /// Parses `payload` as the struct of `kind`.
    pub fn from_map(
        kind: EventKind,
        payload: &Map<String, Value>,
    ) -> Result<Self, ContractViolation> {
        let value = Value::Object(payload.clone());
        let typed = match kind {
            EventKind::RunStartedV1 => EventPayload::RunStarted(parse_typed(&value)?),
            EventKind::RunOverridesAppliedV1 => {
                EventPayload::RunOverridesApplied(parse_typed(&value)?)
            }
            EventKind::GateDecisionV1 => EventPayload::GateDecision(parse_typed(&value)?),
            EventKind::ManualJudgementSet => EventPayload::ManualJudgementSet(parse_typed(&value)?),
            EventKind::ManualJudgementCleared => {
                EventPayload::ManualJudgementCleared(parse_typed(&value)?)
            }
            EventKind::ArtifactNote => EventPayload::ArtifactNote(parse_typed(&value)?),
            EventKind::RecomputeSummary => EventPayload::RecomputeSummary(parse_typed(&value)?),
            EventKind::CapsuleOpenedV1 => EventPayload::CapsuleOpened(parse_typed(&value)?),
        };
        Ok(typed)
    }

    /// The event kind of this payload.
    pub fn kind(&self) -> EventKind {
        match self {
            EventPayload::RunStarted(_) => EventKind::RunStartedV1,
            EventPayload::RunOverridesApplied(_) => EventKind::RunOverridesAppliedV1,
            EventPayload::GateDecision(_) => EventKind::GateDecisionV1,
            EventPayload::ManualJudgementSet(_) => EventKind::ManualJudgementSet,
            EventPayload::ManualJudgementCleared(_) => EventKind::ManualJudgementCleared,
            EventPayload::ArtifactNote(_) => EventKind::ArtifactNote,
            EventPayload::RecomputeSummary(_) => EventKind::RecomputeSummary,
            EventPayload::CapsuleOpened(_) => EventKind::CapsuleOpenedV1,
        }
    }

    /// The payload as the JSON object to append.
    pub fn to_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        let value = match self {
            EventPayload::RunStarted(p) => serde_json::to_value(p)?,
            EventPayload::RunOverridesApplied(p) => serde_json::to_value(p)?,
            EventPayload::GateDecision(p) => serde_json::to_value(p)?,
            EventPayload::ManualJudgementSet(p) => serde_json::to_value(p)?,
            EventPayload::ManualJudgementCleared(p)
            | EventPayload::ArtifactNote(p)
            | EventPayload::RecomputeSummary(p)
            | EventPayload::CapsuleOpened(p) => serde_json::to_value(p)?,
        };
        match value {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        }
    }
}

/// Unmet payload requirements of one entry (A6.3).
///
/// Displays as `payload_required_fields event=<e> missing=<k1,k2 or -> invalid=<k1,k2 or ->`,
/// the detail of `WARNING:GOVERNANCE_LOG_INVALID line=<n> ...` and of the writer's refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadRequirementError {
    /// The event checked.
    pub event: EventKind,
    /// Required keys that are absent or null.
    pub missing: BTreeSet<String>,
    /// Keys present with an unusable value.
    pub invalid: BTreeSet<String>,
}

impl fmt::Display for PayloadRequirementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |set: &BTreeSet<String>| {
            if set.is_empty() {
                "-".to_string()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join(",")
            }
        };
        write!(
            f,
            "payload_required_fields event={} missing={} invalid={}",
            self.event,
            join(&self.missing),
            join(&self.invalid)
        )
    }
}

impl std::error::Error for PayloadRequirementError {}

/// Collects missing/invalid keys while checking one payload.
struct Requirements<'a> {
    payload: &'a Map<String, Value>,
    missing: BTreeSet<String>,
    invalid: BTreeSet<String>,
}

impl<'a> Requirements<'a> {
    fn get(&mut self, key: &str) -> Option<&'a Value> {
        match self.payload.get(key) {
            None | Some(Value::Null) => {
                self.missing.insert(key.to_string());
                None
            }
            Some(v) => Some(v),
        }
    }

    fn non_empty_str(&mut self, key: &str) {
        if let Some(v) = self.get(key)
            && !is_non_empty_str(v)
        {
            self.invalid.insert(key.to_string());
        }
    }

    fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        let v = self.get(key)?;
        let obj = v.as_object();
        if obj.is_none() {
            self.invalid.insert(key.to_string());
        }
        obj
    }

    fn nested_non_empty_str(&mut self, parent: &str, obj: &Map<String, Value>, key: &str) {
        if !obj.get(key).is_some_and(is_non_empty_str) {
            self.invalid.insert(format!("{parent}.{key}"));
        }
    }

    fn entrypoint(&mut self) {
        if let Some(ep) = self.object("entrypoint") {
            self.nested_non_empty_str("entrypoint", ep, "kind");
            self.nested_non_empty_str("entrypoint", ep, "name");
        }
    }

    fn optional(&mut self, key: &str, ok: impl Fn(&Value) -> bool) {
        if let Some(v) = self.payload.get(key)
            && !v.is_null()
            && !ok(v)
        {
            self.invalid.insert(key.to_string());
        }
    }
}

/// A string that is not empty after Python's `strip()` (A6.3 "non-empty strings (after strip)").
fn is_non_empty_str(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| !crate::pyrepr::python_strip(s).is_empty())
}

/// Checks the payload requirements of `kind` on a raw payload (A6.3). Manual events have
/// none. Unmet requirements do not reject a line when reading (the line still chains),
/// but they make the log invalid and writers must refuse them (A6.7).
pub fn check_payload_requirements(
    kind: EventKind,
    payload: &Map<String, Value>,
) -> Result<(), PayloadRequirementError> {
    let mut req = Requirements {
        payload,
        missing: BTreeSet::new(),
        invalid: BTreeSet::new(),
    };
    match kind {
        EventKind::RunStartedV1 => run_started_requirements(&mut req),
        EventKind::RunOverridesAppliedV1 => overrides_requirements(&mut req),
        EventKind::GateDecisionV1 => gate_decision_requirements(&mut req),
        _ => {}
    }
    if req.missing.is_empty() && req.invalid.is_empty() {
        Ok(())
    } else {
        Err(PayloadRequirementError {
            event: kind,
            missing: req.missing,
            invalid: req.invalid,
        })
    }
}

fn run_started_requirements(req: &mut Requirements<'_>) {
    req.non_empty_str("run_id");
    req.non_empty_str("outdir");
    if let Some(argv) = req.get("argv")
        && !argv.is_array()
    {
        req.invalid.insert("argv".into());
    }
    req.object("code_identity");
    if let Some(wsr) = req.object("window_signature_ref") {
        req.nested_non_empty_str("window_signature_ref", wsr, "hash");
        req.nested_non_empty_str("window_signature_ref", wsr, "path");
    }
    req.entrypoint();
    req.optional("distributed", |v| {
        v.is_object() && parse_typed::<DistributedV1>(v).is_ok_and(|d| distributed_fields_ok(&d))
    });
}

fn distributed_fields_ok(d: &DistributedV1) -> bool {
    let non_empty = |s: &Option<String>| s.as_deref().is_none_or(|s| !s.is_empty());
    d.world_size_observed.is_none_or(|w| w >= 1)
        && non_empty(&d.distributed_mode)
        && non_empty(&d.backend)
        && non_empty(&d.ddp_backend)
}

fn overrides_requirements(req: &mut Requirements<'_>) {
    req.non_empty_str("run_id");
    req.non_empty_str("outdir");
    req.object("overrides");
    if let Some(profile) = req.object("profile") {
        req.nested_non_empty_str("profile", profile, "gate_preset");
    }
    req.entrypoint();
    req.optional("argv", Value::is_array);
}

fn gate_decision_requirements(req: &mut Requirements<'_>) {
    req.non_empty_str("run_id");
    req.non_empty_str("outdir");
    // `iter` and `decision`: only an absent key is missing; `null` is an invalid value.
    // `iter` is Python's `isinstance(iter, int) and not isinstance(iter, bool)`: any
    // integer token, whatever its size (not `1.0`, `true` or `"1"`).
    match req.payload.get("iter") {
        None => {
            req.missing.insert("iter".into());
        }
        Some(iter)
            if iter
                .as_number()
                .is_none_or(|n| n.to_string().contains(['.', 'e', 'E'])) =>
        {
            req.invalid.insert("iter".into());
        }
        Some(_) => {}
    }
    let decision = match req.payload.get("decision") {
        None => {
            req.missing.insert("decision".into());
            None
        }
        Some(v) => {
            let parsed = v.as_str().and_then(Decision::parse_lenient);
            if parsed.is_none() {
                req.invalid.insert("decision".into());
            }
            parsed
        }
    };
    if let Some(audit) = req.object("audit") {
        audit_requirements(req, audit, decision);
    }
    req.optional("ok", Value::is_boolean);
    req.optional("warn", Value::is_boolean);
}

fn audit_requirements(
    req: &mut Requirements<'_>,
    audit: &Map<String, Value>,
    decision: Option<Decision>,
) {
    if !audit.contains_key("per_metric_tv") {
        req.invalid.insert("audit.per_metric_tv".into());
    }
    let typed = parse_typed::<AuditV1>(&Value::Object(audit.clone()));
    match typed {
        Ok(a) if a.check().is_empty() => {
            if let Some(d) = decision
                && (d == Decision::Skip) == a.evaluated
            {
                req.invalid.insert("audit.evaluated".into());
            }
        }
        _ => {
            req.invalid.insert("audit".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn entry_hash_matches_reference_vector() {
        // Guards compatibility: reference_outputs/canonical_vectors.txt, governance entry_hash.
        let entry = obj(
            json!({"schema_version": 1, "rev": 1, "ts_utc": "2026-01-01T00:00:00Z",
            "actor": "tester", "event": "artifact_note",
            "payload": {"run_id": "run", "note": "baseline", "x": 0.1}, "prev_hash": null,
            "entry_hash": "ignored", "line_no": 7}),
        );
        assert_eq!(
            entry_hash(&entry).unwrap(),
            "3018f5aa0d89576e2d44b243d9d5ce4d7d6d049429e9a6528ebc4ff20018df97"
        );
    }

    #[test]
    fn empty_run_started_lists_every_missing_key() {
        let err = check_payload_requirements(EventKind::RunStartedV1, &Map::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload_required_fields event=run_started_v1 missing=argv,code_identity,entrypoint,outdir,run_id,window_signature_ref invalid=-"
        );
    }

    #[test]
    fn gate_decision_audit_without_evidence_is_invalid() {
        let payload = obj(
            json!({"run_id": "r", "outdir": "o", "iter": 0, "decision": "pass", "ok": true,
            "audit": {"evaluated": true, "per_metric_tv": {}}}),
        );
        let err = check_payload_requirements(EventKind::GateDecisionV1, &payload).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("payload_required_fields event=gate_decision_v1")
        );
        assert!(err.invalid.contains("audit"));
    }

    #[test]
    fn gate_decision_evaluated_must_match_skip() {
        let payload = obj(
            json!({"run_id": "r", "outdir": "o", "iter": 3, "decision": "SKIP",
            "audit": {"evaluated": true, "reason": "x", "policy": "p", "evidence_total": 1,
                      "min_evidence": 1, "per_metric_tv": {}}}),
        );
        let err = check_payload_requirements(EventKind::GateDecisionV1, &payload).unwrap_err();
        assert_eq!(err.invalid, BTreeSet::from(["audit.evaluated".to_string()]));
        let bool_iter = obj(
            json!({"run_id": "r", "outdir": "o", "iter": true, "decision": "skip",
            "audit": {"evaluated": false, "per_metric_tv": {}}}),
        );
        let err = check_payload_requirements(EventKind::GateDecisionV1, &bool_iter).unwrap_err();
        assert_eq!(err.invalid, BTreeSet::from(["iter".to_string()]));
    }

    #[test]
    fn manual_events_have_no_requirements() {
        assert!(check_payload_requirements(EventKind::ArtifactNote, &Map::new()).is_ok());
    }

    #[test]
    fn entry_round_trip_keeps_extras_and_null_actor() {
        let raw = json!({"schema_version": 1, "rev": 2, "ts_utc": "2026-01-01T00:00:00Z",
            "actor": null, "event": "artifact_note", "payload": {"note": "n", "k": [1.0]},
            "prev_hash": "ab", "entry_hash": "cd", "custom": {"z": 1}});
        let entry = GovernanceEntryV1::from_value(&raw).unwrap();
        assert_eq!(entry.to_value().unwrap(), raw);
        assert_eq!(entry.kind(), Some(EventKind::ArtifactNote));
        match entry.typed_payload().unwrap() {
            EventPayload::ArtifactNote(p) => assert_eq!(p.note.as_deref(), Some("n")),
            other => panic!("unexpected payload {other:?}"),
        }
    }

    #[test]
    fn dual_event_keys_are_refused_for_new_entries() {
        let raw = json!({"schema_version": 1, "rev": 1, "ts_utc": "2026-01-01T00:00:00Z",
            "event": "artifact_note", "event_type": "artifact_note", "payload": {}});
        let err = GovernanceEntryV1::from_value(&raw).unwrap_err();
        assert_eq!(
            err.message,
            "governance entry must not include both event and event_type"
        );
    }
}
