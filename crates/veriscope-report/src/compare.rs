//! `Comparable(A,B)` (contract_v1 §Comparable(A,B), cli_contracts A10), `veriscope diff`
//! (A9) and `veriscope report --compare` (A8 "Compare mode").
//!
//! Both commands first load every capsule with [`ValidationProfile::Compare`] (governance
//! required and strictly valid); distributed-metadata differences are warnings only.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use veriscope_capsule::pyrepr::str_value;

use crate::error::ReportError;
use crate::fmt::{prefix, yes_no};
use crate::view::CapsuleView;

/// Reason tokens of the predicate, in check order.
pub mod reason {
    /// Either capsule is partial.
    pub const PARTIAL_CAPSULE: &str = "PARTIAL_CAPSULE";
    /// A `window_signature_ref.hash` is missing.
    pub const WINDOW_HASH_MISSING: &str = "WINDOW_HASH_MISSING";
    /// `schema_version` differs.
    pub const SCHEMA_MISMATCH: &str = "SCHEMA_MISMATCH";
    /// Window signature hashes differ.
    pub const WINDOW_HASH_MISMATCH: &str = "WINDOW_HASH_MISMATCH";
    /// Gate presets differ (and no override).
    pub const GATE_PRESET_MISMATCH: &str = "GATE_PRESET_MISMATCH";
}

/// Outcome of `Comparable(A,B)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparability {
    /// Comparable.
    pub ok: bool,
    /// First failing check's token.
    pub reason: Option<&'static str>,
    /// key → (expected, got).
    pub details: BTreeMap<String, (Value, Value)>,
    /// `--allow-gate-preset-mismatch`.
    pub allow_gate_preset_mismatch: bool,
}

impl Comparability {
    /// The `comparability` JSON object (cli_contracts A9).
    pub fn to_json(&self) -> Value {
        let details: Map<String, Value> = self
            .details
            .iter()
            .map(|(k, (e, g))| (k.clone(), json!({"expected": e, "got": g})))
            .collect();
        json!({
            "details": details,
            "ok": self.ok,
            "policy": {"allow_gate_preset_mismatch": self.allow_gate_preset_mismatch},
            "reason": self.reason,
            "warnings": [],
        })
    }

    /// `{'allow_gate_preset_mismatch': False}` (Python str rendering).
    pub fn policy_text(&self) -> String {
        format!(
            "{{'allow_gate_preset_mismatch': {}}}",
            if self.allow_gate_preset_mismatch {
                "True"
            } else {
                "False"
            }
        )
    }

    /// Diff's `Comparability:` block body (details nested as expected/got lines).
    fn block_nested(&self, indent: &str) -> Vec<String> {
        let mut out = vec![
            format!("{indent}ok: {}", yes_no(self.ok)),
            format!("{indent}reason: {}", self.reason.unwrap_or("-")),
        ];
        if self.details.is_empty() {
            out.push(format!("{indent}details: -"));
        } else {
            out.push(format!("{indent}details:"));
            for (k, (e, g)) in &self.details {
                out.push(format!("{indent}  {k}:"));
                out.push(format!("{indent}    expected: {}", str_value(e)));
                out.push(format!("{indent}    got: {}", str_value(g)));
            }
        }
        out.push(format!("{indent}policy: {}", self.policy_text()));
        out
    }

    /// Compare mode's block (details as `key: expected=<e> got=<g>` lines).
    fn block_inline(&self, indent: &str) -> Vec<String> {
        let mut out = vec![
            format!("{indent}ok: {}", yes_no(self.ok)),
            format!("{indent}reason: {}", self.reason.unwrap_or("-")),
        ];
        if self.details.is_empty() {
            out.push(format!("{indent}details: -"));
        } else {
            out.push(format!("{indent}details:"));
            for (k, (e, g)) in &self.details {
                out.push(format!(
                    "{indent}  {k}: expected={} got={}",
                    str_value(e),
                    str_value(g)
                ));
            }
        }
        out.push(format!("{indent}policy: {}", self.policy_text()));
        out
    }
}

/// Gate preset as compared: trimmed, `tuned` (any case) means `tuned_v0` (cli_contracts A10).
pub fn canonical_preset(preset: &str) -> String {
    let p = preset.trim();
    if p.eq_ignore_ascii_case("tuned") {
        "tuned_v0".to_owned()
    } else {
        p.to_owned()
    }
}

/// `Comparable(A,B)`: checks in contract order; the first failure decides the reason.
pub fn comparable(
    a: &CapsuleView,
    b: &CapsuleView,
    allow_gate_preset_mismatch: bool,
) -> Comparability {
    let mut c = Comparability {
        ok: true,
        reason: None,
        details: BTreeMap::new(),
        allow_gate_preset_mismatch,
    };
    let mut fail = |reason: &'static str, key: &str, expected: Value, got: Value| {
        c.ok = false;
        c.reason = Some(reason);
        c.details.insert(key.to_owned(), (expected, got));
    };
    if a.partial || b.partial {
        fail(
            reason::PARTIAL_CAPSULE,
            "partial",
            json!(false),
            json!({"run_a": a.partial, "run_b": b.partial}),
        );
    } else if a.window_ref_hash.is_none() || b.window_ref_hash.is_none() {
        fail(
            reason::WINDOW_HASH_MISSING,
            "window_signature_hash",
            json!(a.window_ref_hash),
            json!(b.window_ref_hash),
        );
    } else if a.schema_version != b.schema_version {
        fail(
            reason::SCHEMA_MISMATCH,
            "schema_version",
            a.schema_version.clone(),
            b.schema_version.clone(),
        );
    } else if a.window_ref_hash != b.window_ref_hash {
        fail(
            reason::WINDOW_HASH_MISMATCH,
            "window_signature_hash",
            json!(a.window_ref_hash),
            json!(b.window_ref_hash),
        );
    } else if !allow_gate_preset_mismatch
        && canonical_preset(&a.gate_preset) != canonical_preset(&b.gate_preset)
    {
        fail(
            reason::GATE_PRESET_MISMATCH,
            "gate_preset",
            json!(canonical_preset(&a.gate_preset)),
            json!(canonical_preset(&b.gate_preset)),
        );
    }
    c
}

/// `WARNING:DISTRIBUTED_METADATA_MISMATCH ...` when the runs' distributed metadata differ
/// (contract_v1 NOTE under Comparable(A,B)): both record it and (mode, world size, backend)
/// differ, or only one records it and that one is not a single process (an absent record
/// means a single process, contract_v1 §Distributed execution); the absent side prints as
/// `unrecorded`.
pub fn distributed_warning(a: &CapsuleView, b: &CapsuleView) -> Option<String> {
    let unrecorded = || {
        (
            "unrecorded".to_owned(),
            "unrecorded".to_owned(),
            "unrecorded".to_owned(),
        )
    };
    let (ka, kb) = match (a.distributed.as_ref(), b.distributed.as_ref()) {
        (None, None) => return None,
        (Some(da), Some(db)) => (da.key(), db.key()),
        (Some(d), None) | (None, Some(d)) => {
            let single = matches!(d.mode.as_str(), "single_process" | "unknown")
                && d.world_size.is_none_or(|n| n <= 1);
            if single {
                return None;
            }
            match a.distributed.as_ref() {
                Some(da) => (da.key(), unrecorded()),
                None => (unrecorded(), d.key()),
            }
        }
    };
    (ka != kb).then(|| {
        format!(
            "WARNING:DISTRIBUTED_METADATA_MISMATCH A(mode={},world_size={},backend={}) B(mode={},world_size={},backend={})",
            ka.0, ka.1, ka.2, kb.0, kb.1, kb.2
        )
    })
}

/// Every comparison warning of a pair (distributed metadata, gate contract), for stderr.
pub fn pair_warnings(a: &CapsuleView, b: &CapsuleView) -> Vec<String> {
    let mut out: Vec<String> = distributed_warning(a, b).into_iter().collect();
    out.extend(crate::execution::contract_warning(
        a.execution.as_ref(),
        b.execution.as_ref(),
    ));
    out
}

/// The per-run header fields shown by diff, in the original's text order.
const HEADER_FIELDS: [&str; 17] = [
    "outdir",
    "run_id",
    "run_status",
    "schema_version",
    "wrapper_exit_code",
    "runner_exit_code",
    "final_decision",
    "effective_decision",
    "decision_source",
    "manual_status",
    "gate_preset",
    "window_signature_hash",
    "partial",
    "governance_present",
    "governance_ok",
    "governance_rev",
    "governance_legacy_missing_hash",
];

/// Fields compared by `Comparison:` (cli_contracts A9), in order.
const COMPARED_FIELDS: [&str; 14] = [
    "run_id",
    "run_status",
    "schema_version",
    "wrapper_exit_code",
    "runner_exit_code",
    "final_decision",
    "effective_decision",
    "decision_source",
    "manual_status",
    "gate_preset",
    "window_signature_hash",
    "governance_present",
    "governance_ok",
    "governance_rev",
];

fn int_or_null(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Number(n)) if n.as_i64().is_some() => Value::Number(n.clone()),
        Some(Value::Number(n)) => n.as_f64().map_or(Value::Null, |x| json!(x as i64)),
        _ => Value::Null,
    }
}

/// The diff header of one run as JSON (keys of cli_contracts A9).
pub fn diff_header(v: &CapsuleView) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("outdir".into(), json!(v.outdir));
    m.insert("run_id".into(), json!(v.run_id));
    m.insert("run_status".into(), json!(v.run_status));
    m.insert("schema_version".into(), v.schema_version.clone());
    m.insert(
        "wrapper_exit_code".into(),
        int_or_null(v.wrapper_exit_code.as_ref()),
    );
    m.insert(
        "runner_exit_code".into(),
        int_or_null(v.runner_exit_code.as_ref()),
    );
    m.insert("final_decision".into(), json!(v.final_decision));
    m.insert("effective_decision".into(), json!(v.effective_decision()));
    m.insert("decision_source".into(), json!(v.decision_source()));
    m.insert(
        "manual_status".into(),
        json!(v.overlay.as_ref().map(|o| o.status.clone())),
    );
    m.insert("gate_preset".into(), json!(v.gate_preset));
    m.insert("window_signature_hash".into(), json!(v.window_ref_hash));
    m.insert("partial".into(), json!(v.partial));
    m.insert("governance_present".into(), json!(v.governance.present));
    m.insert(
        "governance_ok".into(),
        json!(v.governance.present && v.governance.valid),
    );
    m.insert("governance_rev".into(), json!(v.governance.last_rev));
    m.insert(
        "governance_legacy_missing_hash".into(),
        json!(v.governance.legacy_missing_hash),
    );
    m
}

/// Text of one header value as diff prints it.
fn header_text(key: &str, v: &Value) -> String {
    match (key, v) {
        (_, Value::Null) => "-".to_owned(),
        ("window_signature_hash", Value::String(s)) => prefix(s, 12).to_owned(),
        ("partial", Value::Bool(b)) => b.to_string(),
        (_, Value::Bool(b)) => yes_no(*b).to_owned(),
        (_, other) => str_value(other),
    }
}

fn counts_line(v: &CapsuleView) -> String {
    let c = v.counts;
    format!(
        "evaluated={} skip={} pass={} warn={} fail={}",
        c.evaluated, c.skip, c.pass, c.warn, c.fail
    )
}

/// Result of `veriscope diff`.
#[derive(Debug, Clone)]
pub struct DiffOutcome {
    /// The predicate's result.
    pub comparability: Comparability,
    /// Warnings for stderr (`RUN_A:`/`RUN_B:` overlay warnings, distributed mismatch).
    pub warnings: Vec<String>,
    header_a: Map<String, Value>,
    header_b: Map<String, Value>,
    counts_a: (String, Value),
    counts_b: (String, Value),
    first_fail: (Option<u64>, Option<u64>),
}

/// Compares two loaded capsules.
pub fn diff(a: &CapsuleView, b: &CapsuleView, allow_gate_preset_mismatch: bool) -> DiffOutcome {
    let mut warnings: Vec<String> = a
        .overlay_warnings
        .iter()
        .map(|w| format!("RUN_A:{w}"))
        .collect();
    warnings.extend(b.overlay_warnings.iter().map(|w| format!("RUN_B:{w}")));
    warnings.extend(pair_warnings(a, b));
    DiffOutcome {
        comparability: comparable(a, b, allow_gate_preset_mismatch),
        warnings,
        header_a: diff_header(a),
        header_b: diff_header(b),
        counts_a: (counts_line(a), a.raw_counts.clone()),
        counts_b: (counts_line(b), b.raw_counts.clone()),
        first_fail: (a.first_fail_iter, b.first_fail_iter),
    }
}

impl DiffOutcome {
    /// The JSON document (`comparability`, `partial_mode`, `run_a`, `run_b`), Python indent=2.
    pub fn to_json_text(&self) -> Result<String, ReportError> {
        let doc = json!({
            "comparability": self.comparability.to_json(),
            "partial_mode": false,
            "run_a": self.header_a,
            "run_b": self.header_b,
        });
        Ok(veriscope_canon::to_pretty_ascii(&doc)?)
    }

    /// stderr text for an incomparable pair (`INCOMPARABLE: <reason>` + block).
    pub fn incomparable_text(&self) -> String {
        let mut lines = vec![
            format!("INCOMPARABLE: {}", self.comparability.reason.unwrap_or("-")),
            "Comparability:".to_owned(),
        ];
        lines.extend(self.comparability.block_nested("  "));
        lines.join("\n")
    }

    fn differs(&self, key: &str) -> bool {
        self.header_a.get(key) != self.header_b.get(key)
    }

    /// The full layout of the original (`--all`).
    pub fn full_text(&self) -> String {
        let mut lines = Vec::new();
        for (title, header) in [("Run A:", &self.header_a), ("Run B:", &self.header_b)] {
            lines.push(title.to_owned());
            for key in HEADER_FIELDS {
                lines.push(format!("  {key}: {}", header_text(key, &header[key])));
            }
            lines.push(String::new());
        }
        lines.push("Comparison:".to_owned());
        for key in COMPARED_FIELDS {
            lines.push(format!("  {key}_differs: {}", yes_no(self.differs(key))));
        }
        for (run, header) in [("A", &self.header_a), ("B", &self.header_b)] {
            if header["governance_ok"] != Value::Bool(true) {
                lines.push(format!("  NOTE:GOVERNANCE_INVALID run={run}"));
            }
        }
        lines.push(format!(
            "  counts_differs: {}",
            yes_no(self.counts_a.1 != self.counts_b.1)
        ));
        lines.push(format!("  counts_a: {}", self.counts_a.0));
        lines.push(format!("  counts_b: {}", self.counts_b.0));
        lines.push(String::new());
        lines.push("Comparability:".to_owned());
        lines.extend(self.comparability.block_nested("  "));
        lines.join("\n")
    }

    /// Only what differs (default): run identities, then `field: A -> B` per difference.
    pub fn compact_text(&self) -> String {
        let mut lines = Vec::new();
        for (title, header) in [("Run A", &self.header_a), ("Run B", &self.header_b)] {
            lines.push(format!(
                "{title}: {} (run_id {})",
                header_text("outdir", &header["outdir"]),
                header_text("run_id", &header["run_id"])
            ));
        }
        lines.push(String::new());
        lines.push("Differences:".to_owned());
        let mut any = false;
        for key in COMPARED_FIELDS.iter().filter(|k| **k != "run_id") {
            if self.differs(key) {
                any = true;
                lines.push(format!(
                    "  {key}: {} -> {}",
                    header_text(key, &self.header_a[*key]),
                    header_text(key, &self.header_b[*key])
                ));
            }
        }
        if self.counts_a.1 != self.counts_b.1 {
            any = true;
            lines.push(format!(
                "  counts: {} -> {}",
                self.counts_a.0, self.counts_b.0
            ));
        }
        if self.first_fail.0 != self.first_fail.1 {
            any = true;
            let t = |x: Option<u64>| x.map_or_else(|| "-".to_owned(), |n| n.to_string());
            lines.push(format!(
                "  first_fail_iter: {} -> {}",
                t(self.first_fail.0),
                t(self.first_fail.1)
            ));
        }
        if !any {
            lines.push("  none (besides run identity); use --all for every field".to_owned());
        }
        lines.push(String::new());
        lines.push("Comparability:".to_owned());
        lines.extend(self.comparability.block_nested("  "));
        lines.join("\n")
    }
}

/// Result of `report --compare`.
#[derive(Debug, Clone)]
pub struct CompareOutcome {
    /// One comparability per run against the first (the first against itself).
    pub rows: Vec<(Map<String, Value>, Comparability)>,
    /// Warnings for stderr.
    pub warnings: Vec<String>,
    /// `--allow-incompatible`.
    pub allow_incompatible: bool,
}

/// Compares every view against the first.
pub fn compare_group(
    views: &[CapsuleView],
    allow_gate_preset_mismatch: bool,
    allow_incompatible: bool,
) -> CompareOutcome {
    let mut warnings = Vec::new();
    let mut rows = Vec::new();
    let Some(reference) = views.first() else {
        return CompareOutcome {
            rows,
            warnings,
            allow_incompatible,
        };
    };
    for v in views {
        warnings.extend(
            v.overlay_warnings
                .iter()
                .map(|w| format!("run={}:{w}", v.run_id)),
        );
        for w in pair_warnings(reference, v) {
            warnings.push(format!("run={}:{w}", v.run_id));
        }
        rows.push((
            diff_header(v),
            comparable(reference, v, allow_gate_preset_mismatch),
        ));
    }
    CompareOutcome {
        rows,
        warnings,
        allow_incompatible,
    }
}

impl CompareOutcome {
    /// First incomparable row `(index, comparability)`.
    pub fn first_incomparable(&self) -> Option<(usize, &Comparability)> {
        self.rows
            .iter()
            .enumerate()
            .find(|(_, (_, c))| !c.ok)
            .map(|(i, (_, c))| (i, c))
    }

    /// Whether the command should exit 2 (incomparable without `--allow-incompatible`).
    pub fn refused(&self) -> bool {
        !self.allow_incompatible && self.first_incomparable().is_some()
    }

    /// stderr text when refused.
    pub fn refusal_text(&self) -> String {
        let Some((_, c)) = self.first_incomparable() else {
            return String::new();
        };
        let mut lines = vec![format!("INCOMPARABLE: {}", c.reason.unwrap_or("-"))];
        lines.extend(c.block_inline("  "));
        lines.join("\n")
    }

    /// JSON document `{comparisons, reference_run_id}` (Python indent=2).
    pub fn to_json_text(&self) -> Result<String, ReportError> {
        let comparisons: Vec<Value> = self
            .rows
            .iter()
            .map(|(h, c)| json!({"comparability": c.to_json(), "run_id": h["run_id"]}))
            .collect();
        let reference = self
            .rows
            .first()
            .map_or(Value::Null, |(h, _)| h["run_id"].clone());
        Ok(veriscope_canon::to_pretty_ascii(
            &json!({"comparisons": comparisons, "reference_run_id": reference}),
        )?)
    }

    /// The table (text and md are the same table, cli_contracts A17.11).
    pub fn table_text(&self) -> String {
        let mut cols: Vec<&str> = vec![
            "run_id",
            "run_status",
            "wrapper_exit_code",
            "runner_exit_code",
            "final_decision",
            "effective_decision",
            "decision_source",
            "window_signature_hash",
            "gate_preset",
            "partial",
            "gov_present",
            "gov_ok",
            "gov_rev",
            "gov_legacy_missing_hash",
        ];
        if self.allow_incompatible {
            cols.extend(["comparable", "reason"]);
        }
        let mut lines = vec![
            format!("| {} |", cols.join(" | ")),
            format!("| {} |", vec!["---"; cols.len()].join(" | ")),
        ];
        for (h, c) in &self.rows {
            let get = |k: &str| header_text(k, &h[k]);
            let mut cells = vec![
                get("run_id"),
                get("run_status"),
                get("wrapper_exit_code"),
                get("runner_exit_code"),
                get("final_decision"),
                get("effective_decision"),
                get("decision_source"),
                get("window_signature_hash"),
                get("gate_preset"),
                get("partial"),
                get("governance_present"),
                get("governance_ok"),
                get("governance_rev"),
                get("governance_legacy_missing_hash"),
            ];
            if self.allow_incompatible {
                cells.push(yes_no(c.ok).to_owned());
                cells.push(c.reason.unwrap_or("-").to_owned());
            }
            lines.push(format!("| {} |", cells.join(" | ")));
        }
        lines.push(String::new());
        match self.first_incomparable() {
            None => lines.push("Comparable group: yes, reason=OK".to_owned()),
            Some((_, c)) => {
                lines.push(format!(
                    "Comparable group: no, reason={}",
                    c.reason.unwrap_or("-")
                ));
                lines.push(String::new());
                lines.push("Comparable details:".to_owned());
                for (i, (_, c)) in self.rows.iter().enumerate().filter(|(_, (_, c))| !c.ok) {
                    lines.push(format!("- run_index={i}"));
                    lines.extend(c.block_inline("    "));
                }
            }
        }
        lines.join("\n")
    }
}
