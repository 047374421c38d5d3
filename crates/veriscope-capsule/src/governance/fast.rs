//! The journal reader's fast path for canonical lines.
//!
//! Every line a writer produces is canonical JSON (contract_v1 §Governance Journal). For
//! such a line the canonical text of the entry without `entry_hash`/`line_no` is the line
//! with those members cut out, so the entry hash needs no `Value` and no re-rendering:
//! [`veriscope_canon::view`] checks canonical form in one pass and yields a borrowed view,
//! the per-line checks (A6.3) run on that view, and the hash is taken over slices of the line.
//!
//! The fast path only ever answers "this line is accepted with these facts and a clean
//! payload". Anything else (a line that is not provably canonical, a rejected line, a
//! payload problem, a value spelled unusually such as `"rev": "3"` or `"decision": "PASS"`,
//! run_started/overrides entries) returns `None`, and the caller uses the `Value` path,
//! which owns every warning text. So findings are identical by construction; the unit tests
//! below and `tests/governance_fast_path.rs` hold the two paths to that.

use veriscope_canon::view::{CanonObject, CanonValue, parse_canonical_object};

use super::payload::{PayloadProblems, is_known_event};
use super::verify::Entry;
use crate::isotime::parse_iso_utc;
use crate::pyrepr::py_strip;
use crate::schema::{DECISIONS, clean_audit_evaluated};

/// The per-line verdict of a canonical, accepted line with a clean payload; `None` means
/// "ask the `Value` path".
#[cfg(test)]
pub(super) fn examine_canonical(text: &str) -> Option<Entry> {
    examine_canonical_view(text).map(|(entry, _)| entry)
}

/// [`examine_canonical`], also returning the line's view (a visitor gets its `Map` from
/// it, without parsing the text again).
pub(super) fn examine_canonical_view(text: &str) -> Option<(Entry, CanonObject<'_>)> {
    let obj = parse_canonical_object(text)?;
    // `int()` coercions (A6.3) of anything but a plain integer token go the slow way.
    if !matches!(obj.get("schema_version")?, CanonValue::Int("1")) {
        return None;
    }
    let CanonValue::Int(rev) = obj.get("rev")? else {
        return None;
    };
    let rev: i64 = rev.parse().ok()?;
    // A known event name is truthy, so `event` wins over `event_type`.
    let event = obj
        .get("event")?
        .as_str()?
        .plain()
        .filter(|e| is_known_event(e))?;
    let payload = obj.get("payload")?.as_object()?;
    if !payload_is_clean(event, payload) {
        return None;
    }
    let ts = obj.get("ts_utc")?.as_str()?.decoded();
    let ts_micros = parse_iso_utc(&ts, "ts_utc").ok()?.micros;
    optional_string(&obj, "actor")?;
    let prev_hash = optional_string(&obj, "prev_hash")?;
    let recorded = optional_string(&obj, "entry_hash")?;
    let entry = Entry {
        rev,
        event: event.to_owned(),
        problems: PayloadProblems::default(),
        ts_micros,
        dual: obj.contains_key("event_type"),
        prev_hash,
        recorded,
        computed: obj.sha256_hex_without(&["entry_hash", "line_no"]),
    };
    Some((entry, obj))
}

/// `Some(value)` for an absent/null (`None`) or string member; `None` for any other type
/// (the `Value` path rejects those).
fn optional_string(obj: &CanonObject<'_>, key: &str) -> Option<Option<String>> {
    match obj.get(key) {
        None | Some(CanonValue::Null) => Some(None),
        Some(CanonValue::Str(s)) => Some(Some(s.decoded().into_owned())),
        Some(_) => None,
    }
}

/// True only when `check_payload(event, payload)` finds nothing (payload.rs). Run-start and
/// override entries (one or two per run) are left to the `Value` path.
fn payload_is_clean(event: &str, payload: &CanonObject<'_>) -> bool {
    match event {
        "gate_decision_v1" => gate_decision_is_clean(payload).is_some(),
        "run_started_v1" | "run_overrides_applied_v1" => false,
        // capsule_opened_v1 and the manual events have no payload requirements.
        _ => true,
    }
}

/// payload.rs `gate_decision` with no finding.
fn gate_decision_is_clean(pl: &CanonObject<'_>) -> Option<()> {
    nonblank(pl.get("run_id")?)?;
    nonblank(pl.get("outdir")?)?;
    let CanonValue::Int(_) = pl.get("iter")? else {
        return None;
    };
    // Already normalized (strip + lower is the identity on these four words).
    let decision = pl
        .get("decision")?
        .as_str()?
        .plain()
        .filter(|d| DECISIONS.contains(d))?;
    let audit = pl.get("audit")?.as_object()?;
    if !audit.contains_key("per_metric_tv") {
        return None;
    }
    let evaluated = clean_audit_evaluated(audit)?;
    if (decision == "skip") == evaluated {
        return None;
    }
    for k in ["ok", "warn"] {
        if !matches!(
            pl.get(k),
            None | Some(CanonValue::Null | CanonValue::Bool(_))
        ) {
            return None;
        }
    }
    Some(())
}

/// A string that is not blank after Python's `strip()`.
fn nonblank(v: &CanonValue<'_>) -> Option<()> {
    let s = v.as_str()?;
    (!py_strip(&s.decoded()).is_empty()).then_some(())
}
