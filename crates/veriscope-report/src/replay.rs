//! `veriscope diff --replay A B`: is B a replay of A? (docs/replay.md §4, after
//! run_contract_replay "Replay Invariants").
//!
//! | class | what | on difference |
//! | --- | --- | --- |
//! | MUST | `manifest_hash`; gate record counts (results.json gates, per decision); schema fingerprints of results.json, results_summary.json, window_signature.json, the metrics.jsonl lines and the governance events; metrics.jsonl line counts and governance event counts | exit 2, each mismatch listed |
//! | SHOULD | per-gate (iter, decision); metric values of the recorded samples and gate audit numbers within a relative tolerance (default 1e-9); byte-identical canonical `gates` when both runs are strict | reported, exit 0 |
//! | never | timestamps, absolute paths, timings (`timing`, `*_ms`, `*_s`), run_id, outdir | — |
//!
//! A schema fingerprint is the sha256 of the sorted, de-duplicated list of `path:type` strings
//! of a document (arrays collapse to `[]`; types `null|bool|int|float|string|object|array`).
//! Never-compared keys are left out of fingerprints and value comparisons alike. Lifecycle
//! events that a replay may legitimately add or lack — `capsule_opened_v1` (a resume),
//! `artifact_note` (a fork note), `manual_judgement_set` (a human overlay) — are listed but not
//! held to MUST.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};
use veriscope_capsule::load::{self, GOVERNANCE_LOG};
use veriscope_capsule::validate::validate_capsule;

use crate::error::ReportError;
use crate::execution::ExecutionInfo;
use crate::fmt::prefix;
use crate::stream::stream_path;
use crate::view::{DistributedInfo, ValidationProfile};

/// Default relative tolerance of the SHOULD value comparisons.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

/// Identifier of the JSON document's shape.
pub const REPLAY_SCHEMA_ID: &str = "veriscope.diff_replay/v1";

/// What is never compared (docs/replay.md §4), as shown to users.
pub const NEVER_COMPARED: [&str; 5] = [
    "timestamps",
    "absolute paths",
    "timings (timing, *_ms, *_s)",
    "run_id",
    "outdir",
];

/// Governance events a replay may add or lack without being a different run.
pub const LIFECYCLE_EVENTS: [&str; 3] =
    ["capsule_opened_v1", "artifact_note", "manual_judgement_set"];

/// Most detail lines listed per check.
const MAX_DETAILS: usize = 10;

/// One capsule as the replay check reads it.
#[derive(Debug, Clone)]
pub struct ReplayInput {
    /// OUTDIR as given.
    pub outdir: String,
    /// run_id (results.json, else the summary).
    pub run_id: String,
    run_config: Option<Value>,
    results: Option<Value>,
    summary: Option<Value>,
    window_signature: Option<Value>,
    /// Parsed metrics.jsonl lines (`None` when the file is absent); an unparsable line is
    /// `Value::Null`.
    stream: Option<Vec<Value>>,
    /// Governance entries in file order (unparsable lines skipped; validation vouches for them).
    governance: Vec<Value>,
    distributed: Option<DistributedInfo>,
    execution: Option<ExecutionInfo>,
}

/// Validates `outdir` like `diff` does (governance required and strictly valid) and reads
/// what the replay check compares.
pub fn load_input(outdir: &Path) -> Result<ReplayInput, ReportError> {
    if !outdir.is_dir() {
        return Err(ReportError::CannotReport(format!(
            "OUTDIR not found or not a directory: {}",
            outdir.display()
        )));
    }
    let (report, input) = std::thread::scope(|scope| {
        let validation =
            scope.spawn(|| validate_capsule(outdir, &ValidationProfile::Compare.options()));
        let input = read_input(outdir);
        let report = validation
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (report, input)
    });
    if !report.is_valid() {
        return Err(ReportError::CannotReport(report.message.clone()));
    }
    input
}

/// [`load_input`] for both capsules at once (one thread each).
pub fn load_pair(a: &Path, b: &Path) -> [Result<ReplayInput, ReportError>; 2] {
    std::thread::scope(|scope| {
        let ha = scope.spawn(|| load_input(a));
        let rb = load_input(b);
        let ra = ha.join().unwrap_or_else(|_| {
            Err(ReportError::CannotReport(
                "capsule loader panicked".to_owned(),
            ))
        });
        [ra, rb]
    })
}

fn read_input(outdir: &Path) -> Result<ReplayInput, ReportError> {
    let err = |e: load::LoadError| ReportError::CannotReport(e.to_string());
    let results = load::read_object(outdir, load::RESULTS).map_err(err)?;
    let summary = load::read_object(outdir, load::RESULTS_SUMMARY).map_err(err)?;
    let run_config = load::read_object(outdir, load::RUN_CONFIG).map_err(err)?;
    let stream_file = outdir.join(stream_path(results.as_ref()));
    let stream = std::fs::read_to_string(&stream_file).ok().map(|text| {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect()
    });
    let governance = std::fs::read_to_string(outdir.join(GOVERNANCE_LOG))
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect()
        })
        .unwrap_or_default();
    let header = results.as_ref().or(summary.as_ref());
    Ok(ReplayInput {
        outdir: outdir.display().to_string(),
        run_id: header
            .and_then(|h| h.get("run_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        execution: run_config.as_ref().and_then(ExecutionInfo::from_run_config),
        window_signature: load::read_object(outdir, load::WINDOW_SIGNATURE).map_err(err)?,
        run_config,
        results,
        summary,
        stream,
        governance,
        distributed: crate::view::distributed_info(outdir),
    })
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Equal (within tolerance).
    Match,
    /// Different.
    Mismatch,
    /// Not applicable to this pair (the reason is the summary).
    NotChecked,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Match => "match",
            Status::Mismatch => "MISMATCH",
            Status::NotChecked => "skipped",
        }
    }
}

/// One MUST or SHOULD check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Check name, e.g. `manifest_hash`, `schema:results.json`.
    pub check: String,
    /// Its outcome.
    pub status: Status,
    /// What A has.
    pub a: Value,
    /// What B has.
    pub b: Value,
    /// One line for people.
    pub summary: String,
    /// Every difference (at most ten listed; the summary gives the total).
    pub details: Vec<String>,
}

impl Check {
    fn new(check: &str, a: Value, b: Value) -> Check {
        let status = if a == b {
            Status::Match
        } else {
            Status::Mismatch
        };
        Check {
            check: check.to_owned(),
            status,
            a,
            b,
            summary: String::new(),
            details: Vec::new(),
        }
    }

    fn summary(mut self, s: impl Into<String>) -> Check {
        self.summary = s.into();
        self
    }

    fn details(mut self, d: Vec<String>) -> Check {
        self.details = d;
        self
    }
}

/// Result of `diff --replay`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayOutcome {
    /// `(outdir, run_id)` of A.
    pub run_a: (String, String),
    /// `(outdir, run_id)` of B.
    pub run_b: (String, String),
    /// Relative tolerance of the SHOULD value comparisons.
    pub tolerance: f64,
    /// MUST checks, in table order.
    pub must: Vec<Check>,
    /// SHOULD checks, in table order.
    pub should: Vec<Check>,
    /// Comparison warnings for stderr (distributed metadata, gate contract).
    pub warnings: Vec<String>,
}

impl ReplayOutcome {
    /// No MUST check mismatches.
    pub fn ok(&self) -> bool {
        self.must.iter().all(|c| c.status != Status::Mismatch)
    }

    /// The MUST checks that mismatch.
    pub fn must_mismatches(&self) -> Vec<&Check> {
        self.must
            .iter()
            .filter(|c| c.status == Status::Mismatch)
            .collect()
    }

    /// Exit code: 0 replay (SHOULD differences included), 2 a MUST mismatch.
    pub fn exit_code(&self) -> u8 {
        if self.ok() {
            0
        } else {
            veriscope_contracts::exit::INVALID
        }
    }

    /// Human text (ends without a newline).
    pub fn text(&self) -> String {
        let mut l = vec![
            "Replay check".to_owned(),
            format!("  A: {} (run_id {})", self.run_a.0, self.run_a.1),
            format!("  B: {} (run_id {})", self.run_b.0, self.run_b.1),
            String::new(),
            "MUST match (any mismatch: exit 2):".to_owned(),
        ];
        check_lines(&self.must, &mut l);
        l.push(String::new());
        l.push(format!(
            "SHOULD match (reported only; tolerance: relative {}):",
            tol_text(self.tolerance)
        ));
        check_lines(&self.should, &mut l);
        l.push(String::new());
        l.push(format!("Never compared: {}", NEVER_COMPARED.join(", ")));
        l.push(String::new());
        let should_diffs = self
            .should
            .iter()
            .filter(|c| c.status == Status::Mismatch)
            .count();
        let bad = self.must_mismatches();
        if bad.is_empty() {
            l.push(format!(
                "REPLAY OK: every MUST check matches; {should_diffs} SHOULD difference(s)"
            ));
        } else {
            let names: Vec<&str> = bad.iter().map(|c| c.check.as_str()).collect();
            l.push(format!(
                "REPLAY MISMATCH: {} MUST check(s) differ: {}",
                bad.len(),
                names.join(", ")
            ));
        }
        l.join("\n")
    }

    /// stderr lines for the MUST mismatches: `REPLAY_MISMATCH <check>: <summary>` each, with
    /// its detail lines.
    pub fn mismatch_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.must_mismatches() {
            out.push(format!("REPLAY_MISMATCH {}: {}", c.check, c.summary));
            out.extend(c.details.iter().map(|d| format!("  {d}")));
        }
        out
    }

    /// The JSON document (Python indent=2 style).
    pub fn to_json_text(&self) -> Result<String, ReportError> {
        let doc = json!({
            "schema": REPLAY_SCHEMA_ID,
            "ok": self.ok(),
            "run_a": {"outdir": self.run_a.0, "run_id": self.run_a.1},
            "run_b": {"outdir": self.run_b.0, "run_id": self.run_b.1},
            "tolerance": {"relative": self.tolerance},
            "must": self.must,
            "should": self.should,
            "never_compared": NEVER_COMPARED,
            "warnings": self.warnings,
        });
        Ok(veriscope_canon::to_pretty_ascii(&doc)?)
    }
}

fn tol_text(t: f64) -> String {
    if t == 0.0 {
        "0 (exact)".to_owned()
    } else {
        format!("{t:e}")
    }
}

fn check_lines(checks: &[Check], l: &mut Vec<String>) {
    for c in checks {
        l.push(format!(
            "  {:<28} {:<8} {}",
            c.check,
            c.status.label(),
            c.summary
        ));
        l.extend(c.details.iter().map(|d| format!("      {d}")));
    }
}

/// Runs every check on two loaded capsules.
pub fn replay_diff(a: &ReplayInput, b: &ReplayInput, tolerance: f64) -> ReplayOutcome {
    // The fingerprints and value tables of a 100k-gate capsule take a noticeable time; the
    // two sides are independent.
    let (da, db) = std::thread::scope(|scope| {
        let ha = scope.spawn(|| Derived::of(a));
        let db = Derived::of(b);
        (
            ha.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            db,
        )
    });
    let mut must = vec![manifest_check(a, b), gate_records(a, b)];
    for (name, pa, pb) in [
        ("results.json", da.results, db.results),
        ("results_summary.json", da.summary, db.summary),
        (
            "window_signature.json",
            da.window_signature,
            db.window_signature,
        ),
    ] {
        must.push(schema_check(&format!("schema:{name}"), pa, pb));
    }
    must.push(stream_lines(a, b));
    must.push(schema_check("schema:metrics.jsonl", da.stream, db.stream));
    must.push(governance_events(a, b));
    must.push(schema_check(
        "schema:governance events",
        Some(da.governance),
        Some(db.governance),
    ));
    let should = vec![
        gate_decisions(a, b),
        value_check("sample_metrics", &da.samples, &db.samples, tolerance),
        value_check("audit_metrics", &da.audits, &db.audits, tolerance),
        gates_canonical(a, b),
    ];
    let mut warnings = Vec::new();
    warnings.extend(distributed_warning(a, b));
    warnings.extend(crate::execution::contract_warning(
        a.execution.as_ref(),
        b.execution.as_ref(),
    ));
    ReplayOutcome {
        run_a: (a.outdir.clone(), a.run_id.clone()),
        run_b: (b.outdir.clone(), b.run_id.clone()),
        tolerance,
        must,
        should,
        warnings,
    }
}

/// What one side contributes to the checks: `path:type` sets and value tables.
struct Derived {
    results: Option<BTreeSet<String>>,
    summary: Option<BTreeSet<String>>,
    window_signature: Option<BTreeSet<String>>,
    stream: Option<BTreeSet<String>>,
    governance: BTreeSet<String>,
    samples: Values,
    audits: Values,
}

impl Derived {
    fn of(x: &ReplayInput) -> Derived {
        Derived {
            results: x.results.as_ref().map(document_paths),
            summary: x.summary.as_ref().map(document_paths),
            window_signature: x.window_signature.as_ref().map(document_paths),
            stream: x.stream.as_deref().map(lines_paths),
            governance: governance_paths(&x.governance),
            samples: sample_values(x),
            audits: audit_values(x),
        }
    }
}

fn distributed_warning(a: &ReplayInput, b: &ReplayInput) -> Option<String> {
    let key = |d: Option<&DistributedInfo>| {
        d.map_or(("single_process".to_owned(), "1".to_owned()), |d| {
            let (m, ws, _) = d.key();
            (m, ws)
        })
    };
    let (ka, kb) = (key(a.distributed.as_ref()), key(b.distributed.as_ref()));
    let shown = |d: Option<&DistributedInfo>| {
        d.map_or_else(
            || "mode=unrecorded,world_size=unrecorded".to_owned(),
            |d| {
                let (m, ws, _) = d.key();
                format!("mode={m},world_size={ws}")
            },
        )
    };
    (ka != kb).then(|| {
        format!(
            "WARNING:DISTRIBUTED_METADATA_MISMATCH A({}) B({})",
            shown(a.distributed.as_ref()),
            shown(b.distributed.as_ref())
        )
    })
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.len() == 64 => prefix(s, 12).to_owned(),
        Value::String(s) => s.clone(),
        other => veriscope_canon::to_canonical_string(other).unwrap_or_else(|_| other.to_string()),
    }
}

fn ab_summary(c: &Check) -> String {
    format!("A={} B={}", short(&c.a), short(&c.b))
}

fn limited(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > MAX_DETAILS {
        let more = lines.len() - MAX_DETAILS;
        lines.truncate(MAX_DETAILS);
        lines.push(format!("... and {more} more"));
    }
    lines
}

// ---------------------------------------------------------------------------------------
// MUST

fn manifest_check(a: &ReplayInput, b: &ReplayInput) -> Check {
    let hash = |x: &ReplayInput| {
        x.run_config
            .as_ref()
            .and_then(|rc| rc.get("manifest_hash"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let manifest = |x: &ReplayInput| {
        x.run_config
            .as_ref()
            .and_then(|rc| rc.get("manifest"))
            .filter(|m| m.is_object())
            .cloned()
    };
    let (ha, hb) = (hash(a), hash(b));
    let (ma, mb) = (manifest(a), manifest(b));
    let mut check = Check::new("manifest_hash", json!(ha), json!(hb));
    let mut problems = Vec::new();
    for (run, x, h, m) in [("A", a, &ha, &ma), ("B", b, &hb, &mb)] {
        match (h, m) {
            (None, _) | (_, None) => {
                let what = match (h.is_some(), m.is_some()) {
                    (false, false) => "manifest and manifest_hash",
                    (false, true) => "manifest_hash",
                    _ => "manifest",
                };
                problems.push(format!(
                    "manifest missing in {run} ({}): run_config_resolved.json has no {what} (a capsule written before run manifests; re-run it with this version to check replays)",
                    x.outdir
                ));
            }
            (Some(h), Some(m)) => {
                if let Ok(r) = veriscope_canon::sha256_hex(m)
                    && &r != h
                {
                    problems.push(format!(
                        "manifest_hash of {run} does not match its manifest (stored {} recomputed {})",
                        prefix(h, 12),
                        prefix(&r, 12)
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        check.status = Status::Mismatch;
        let missing = problems.iter().any(|p| p.starts_with("manifest missing"));
        check.summary = if missing {
            "manifest missing".to_owned()
        } else {
            "manifest_hash does not match the recorded manifest".to_owned()
        };
        check.details = problems;
        return check;
    }
    if check.status == Status::Match {
        let s = short(&check.a);
        return check.summary(s);
    }
    let diffs = veriscope_contracts::execution::diff_configs(
        ma.as_ref().unwrap_or(&Value::Null),
        mb.as_ref().unwrap_or(&Value::Null),
    );
    let details = diffs
        .iter()
        .map(|d| {
            format!(
                "manifest.{}: A={} B={}",
                d.field,
                short(&d.left),
                short(&d.right)
            )
        })
        .collect();
    let s = ab_summary(&check);
    check.summary(s).details(limited(details))
}

fn gates_of(x: &ReplayInput) -> Option<&Vec<Value>> {
    x.results
        .as_ref()
        .and_then(|r| r.get("gates"))
        .and_then(Value::as_array)
}

fn gate_records(a: &ReplayInput, b: &ReplayInput) -> Check {
    let counts = |x: &ReplayInput| {
        let gates = gates_of(x)?;
        let mut per: BTreeMap<String, u64> = ["pass", "warn", "fail", "skip"]
            .iter()
            .map(|d| ((*d).to_owned(), 0))
            .collect();
        for g in gates {
            let d = g.get("decision").and_then(Value::as_str).unwrap_or("?");
            *per.entry(d.to_owned()).or_default() += 1;
        }
        Some((gates.len() as u64, per))
    };
    let to_value = |c: &Option<(u64, BTreeMap<String, u64>)>| match c {
        None => Value::Null,
        Some((total, per)) => {
            let mut m = serde_json::Map::new();
            m.insert("total".into(), json!(total));
            for (k, v) in per {
                m.insert(k.clone(), json!(v));
            }
            Value::Object(m)
        }
    };
    let (ca, cb) = (counts(a), counts(b));
    let check = Check::new("gate_records", to_value(&ca), to_value(&cb));
    let text = |c: &Option<(u64, BTreeMap<String, u64>)>| match c {
        None => "no results.json".to_owned(),
        Some((total, per)) => {
            let parts: Vec<String> = ["pass", "warn", "fail", "skip"]
                .iter()
                .map(|k| format!("{k}={}", per.get(*k).copied().unwrap_or(0)))
                .chain(
                    per.iter()
                        .filter(|(k, _)| !["pass", "warn", "fail", "skip"].contains(&k.as_str()))
                        .map(|(k, v)| format!("{k}={v}")),
                )
                .collect();
            format!("total={total} {}", parts.join(" "))
        }
    };
    if check.status == Status::Match {
        let s = text(&ca);
        return check.summary(s);
    }
    let mut details = Vec::new();
    let keys: BTreeSet<String> = ["total".to_owned()]
        .into_iter()
        .chain(ca.iter().flat_map(|c| c.1.keys().cloned()))
        .chain(cb.iter().flat_map(|c| c.1.keys().cloned()))
        .collect();
    let get = |c: &Option<(u64, BTreeMap<String, u64>)>, k: &str| match c {
        None => "-".to_owned(),
        Some((total, _)) if k == "total" => total.to_string(),
        Some((_, per)) => per.get(k).copied().unwrap_or(0).to_string(),
    };
    for k in keys {
        let (x, y) = (get(&ca, &k), get(&cb, &k));
        if x != y {
            details.push(format!("{k}: A={x} B={y}"));
        }
    }
    check
        .summary(format!("A: {}; B: {}", text(&ca), text(&cb)))
        .details(details)
}

/// A key whose value is never compared (timestamps, timings, run identity, outdir).
fn never_compared(key: &str) -> bool {
    key == "timing"
        || key == "ts"
        || key == "run_id"
        || key == "outdir"
        || key.contains("ts_utc")
        || key.ends_with("_ts")
        || key.ends_with("_ms")
        || key.ends_with("_s")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn collect_paths(path: &str, v: &Value, out: &mut BTreeSet<String>) {
    // One buffer for the whole walk: a 100k-gate results.json has millions of nodes but a few
    // dozen distinct paths, so a path is only allocated the first time it is seen.
    let mut buf = String::with_capacity(128);
    buf.push_str(path);
    walk_paths(&mut buf, v, out);
}

fn walk_paths(buf: &mut String, v: &Value, out: &mut BTreeSet<String>) {
    let len = buf.len();
    buf.push(':');
    buf.push_str(type_name(v));
    if !out.contains(buf.as_str()) {
        out.insert(buf.clone());
    }
    buf.truncate(len);
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter().filter(|(k, _)| !never_compared(k)) {
                buf.push('.');
                buf.push_str(k);
                walk_paths(buf, child, out);
                buf.truncate(len);
            }
        }
        Value::Array(items) => {
            buf.push_str("[]");
            for child in items {
                walk_paths(buf, child, out);
            }
            buf.truncate(len);
        }
        _ => {}
    }
}

/// The `path:type` set of a document (root `$`).
pub fn document_paths(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_paths("$", doc, &mut out);
    out
}

fn lines_paths(lines: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in lines {
        collect_paths("$", l, &mut out);
    }
    out
}

fn event_of(entry: &Value) -> &str {
    entry
        .get("event")
        .or_else(|| entry.get("event_type"))
        .and_then(Value::as_str)
        .unwrap_or("?")
}

fn governance_paths(entries: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in entries {
        let event = event_of(e);
        if LIFECYCLE_EVENTS.contains(&event) {
            continue;
        }
        collect_paths(&format!("{event}$"), e, &mut out);
    }
    out
}

/// sha256 of the sorted `path:type` list, one per line.
pub fn fingerprint(paths: &BTreeSet<String>) -> String {
    let text: Vec<&str> = paths.iter().map(String::as_str).collect();
    veriscope_canon::sha256_hex_bytes(text.join("\n").as_bytes())
}

fn schema_check(name: &str, a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>) -> Check {
    let fp =
        |s: &Option<BTreeSet<String>>| s.as_ref().map_or(Value::Null, |s| json!(fingerprint(s)));
    let check = Check::new(name, fp(&a), fp(&b));
    if check.status == Status::Match {
        let s = match &a {
            None => "absent in both".to_owned(),
            Some(_) => short(&check.a),
        };
        return check.summary(s);
    }
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (a, _) => {
            let missing = if a.is_none() { "A" } else { "B" };
            return check.summary(format!("absent in {missing}"));
        }
    };
    let mut details: Vec<String> = a
        .difference(&b)
        .map(|p| format!("only in A: {p}"))
        .collect();
    details.extend(b.difference(&a).map(|p| format!("only in B: {p}")));
    let n = details.len();
    let s = format!(
        "{} (A={} B={})",
        plural(n, "path:type difference"),
        short(&check.a),
        short(&check.b)
    );
    check.summary(s).details(limited(details))
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn counts_value(m: &BTreeMap<String, u64>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

fn counts_text(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn count_details(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                a.get(k).copied().unwrap_or(0),
                b.get(k).copied().unwrap_or(0),
            );
            (x != y).then(|| format!("{k}: A={x} B={y}"))
        })
        .collect()
}

fn stream_lines(a: &ReplayInput, b: &ReplayInput) -> Check {
    let per_type = |x: &ReplayInput| {
        x.stream.as_ref().map(|lines| {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for l in lines {
                let t = match l {
                    Value::Object(o) => o.get("type").and_then(Value::as_str).unwrap_or("untyped"),
                    _ => "unparsable",
                };
                *m.entry(t.to_owned()).or_default() += 1;
            }
            m
        })
    };
    let (ta, tb) = (per_type(a), per_type(b));
    let v = |t: &Option<BTreeMap<String, u64>>| t.as_ref().map_or(Value::Null, counts_value);
    let check = Check::new("metrics.jsonl lines", v(&ta), v(&tb));
    match (&ta, &tb) {
        (None, None) => check.summary("absent in both"),
        (Some(x), Some(y)) if check.status == Status::Match => {
            let total: u64 = x.values().sum();
            let _ = y;
            check.summary(format!("{total} lines ({})", counts_text(x)))
        }
        (Some(x), Some(y)) => {
            let (nx, ny): (u64, u64) = (x.values().sum(), y.values().sum());
            check
                .summary(format!("A={nx} lines B={ny} lines"))
                .details(count_details(x, y))
        }
        (None, Some(_)) => check.summary("absent in A"),
        (Some(_), None) => check.summary("absent in B"),
    }
}

fn event_counts(x: &ReplayInput) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (mut held, mut lifecycle) = (BTreeMap::new(), BTreeMap::new());
    for e in &x.governance {
        let event = event_of(e).to_owned();
        let target = if LIFECYCLE_EVENTS.contains(&event.as_str()) {
            &mut lifecycle
        } else {
            &mut held
        };
        *target.entry(event).or_insert(0u64) += 1;
    }
    (held, lifecycle)
}

fn governance_events(a: &ReplayInput, b: &ReplayInput) -> Check {
    let ((ea, la), (eb, lb)) = (event_counts(a), event_counts(b));
    let check = Check::new("governance events", counts_value(&ea), counts_value(&eb));
    let mut notes = Vec::new();
    if la != lb {
        notes.push(format!(
            "lifecycle events (not held to MUST): A: {} B: {}",
            if la.is_empty() {
                "none".to_owned()
            } else {
                counts_text(&la)
            },
            if lb.is_empty() {
                "none".to_owned()
            } else {
                counts_text(&lb)
            }
        ));
    }
    if check.status == Status::Match {
        let s = counts_text(&ea);
        return check.summary(s).details(notes);
    }
    let mut details = count_details(&ea, &eb);
    details.extend(notes);
    let (na, nb): (u64, u64) = (ea.values().sum(), eb.values().sum());
    check
        .summary(format!("A={na} events B={nb} events"))
        .details(details)
}

// ---------------------------------------------------------------------------------------
// SHOULD

fn gate_decisions(a: &ReplayInput, b: &ReplayInput) -> Check {
    let decisions = |x: &ReplayInput| -> BTreeMap<u64, String> {
        gates_of(x)
            .into_iter()
            .flatten()
            .filter_map(|g| {
                Some((
                    g.get("iter")?.as_u64()?,
                    g.get("decision")?.as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let (da, db) = (decisions(a), decisions(b));
    let mut check = Check::new("gate_decisions", json!(da.len()), json!(db.len()));
    let iters: BTreeSet<u64> = da.keys().chain(db.keys()).copied().collect();
    let mut details = Vec::new();
    for it in &iters {
        match (da.get(it), db.get(it)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => details.push(format!("iter {it}: A={x} B={y}")),
            (Some(x), None) => details.push(format!("iter {it}: A={x} B=(no check)")),
            (None, Some(y)) => details.push(format!("iter {it}: A=(no check) B={y}")),
            (None, None) => {}
        }
    }
    if details.is_empty() {
        check.status = Status::Match;
        return check.summary(format!(
            "{} identical (iter, decision)",
            plural(iters.len(), "check")
        ));
    }
    check.status = Status::Mismatch;
    let n = details.len();
    check
        .summary(format!("{n} of {} checks differ", iters.len()))
        .details(limited(details))
}

/// Numeric leaves of `v` under `path` (never-compared keys skipped; null kept as `None`).
fn numeric_leaves(path: &str, v: &Value, out: &mut BTreeMap<String, Option<f64>>) {
    match v {
        Value::Number(n) => {
            out.insert(path.to_owned(), n.as_f64());
        }
        Value::Null => {
            out.insert(path.to_owned(), None);
        }
        Value::Object(m) => {
            for (k, child) in m.iter().filter(|(k, _)| !never_compared(k)) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                numeric_leaves(&p, child, out);
            }
        }
        _ => {}
    }
}

/// `(where, value)` keyed by `(iter, field)`; the key's first part orders by iteration.
type Values = BTreeMap<(u64, String), Option<f64>>;

fn sample_values(x: &ReplayInput) -> Values {
    let mut out = Values::new();
    for l in x.stream.iter().flatten() {
        if l.get("type").and_then(Value::as_str) != Some("sample") {
            continue;
        }
        let Some(iter) = l.get("iter").and_then(Value::as_u64) else {
            continue;
        };
        let mut leaves = BTreeMap::new();
        for (k, child) in l.as_object().into_iter().flatten() {
            if k == "type" || k == "iter" || never_compared(k) {
                continue;
            }
            numeric_leaves(k, child, &mut leaves);
        }
        out.extend(leaves.into_iter().map(|(k, v)| ((iter, k), v)));
    }
    for rec in x
        .results
        .as_ref()
        .and_then(|r| r.get("metrics"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(iter)) = (
            rec.get("name").and_then(Value::as_str),
            rec.get("iter").and_then(Value::as_u64),
        ) && !never_compared(name)
            && name != "step_time"
        {
            out.insert(
                (iter, format!("results.metrics.{name}")),
                rec.get("value").and_then(Value::as_f64),
            );
        }
    }
    out
}

fn audit_values(x: &ReplayInput) -> Values {
    let mut out = Values::new();
    for g in gates_of(x).into_iter().flatten() {
        let (Some(iter), Some(audit)) = (g.get("iter").and_then(Value::as_u64), g.get("audit"))
        else {
            continue;
        };
        let mut leaves = BTreeMap::new();
        numeric_leaves("audit", audit, &mut leaves);
        out.extend(leaves.into_iter().map(|(k, v)| ((iter, k), v)));
    }
    out
}

/// Relative difference `|a - b| / max(|a|, |b|)` (0 when equal).
pub fn relative_difference(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs())
}

fn num_text(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_owned(), |x| format!("{x}"))
}

fn value_check(name: &str, a: &Values, b: &Values, tolerance: f64) -> Check {
    let keys: BTreeSet<&(u64, String)> = a.keys().chain(b.keys()).collect();
    if keys.is_empty() {
        let mut c = Check::new(name, Value::Null, Value::Null);
        c.status = Status::NotChecked;
        return c.summary("no recorded values in either run");
    }
    let mut details = Vec::new();
    let mut outside = 0usize;
    let mut max_rel: Option<(f64, String)> = None;
    for key in &keys {
        let (iter, field) = key;
        let (x, y) = (a.get(*key), b.get(*key));
        let line = |rel: Option<f64>| {
            let show = |v: Option<&Option<f64>>| match v {
                None => "(absent)".to_owned(),
                Some(v) => num_text(*v),
            };
            let mut s = format!("iter {iter} {field}: A={} B={}", show(x), show(y));
            if let Some(r) = rel {
                s.push_str(&format!(" (relative {r:.3e})"));
            }
            s
        };
        match (x, y) {
            (Some(Some(p)), Some(Some(q))) => {
                let rel = relative_difference(*p, *q);
                if max_rel.as_ref().is_none_or(|(m, _)| rel > *m) {
                    max_rel = Some((rel, format!("iter {iter} {field}")));
                }
                if rel > tolerance {
                    outside += 1;
                    details.push(line(Some(rel)));
                }
            }
            (Some(None), Some(None)) => {}
            _ => {
                outside += 1;
                details.push(line(None));
            }
        }
    }
    let mut c = Check::new(name, json!(a.len()), json!(b.len()));
    c.status = if outside == 0 {
        Status::Match
    } else {
        Status::Mismatch
    };
    let max = match max_rel {
        Some((r, at)) if r > 0.0 => format!("; max relative difference {r:.3e} at {at}"),
        Some(_) if outside == 0 => "; all identical".to_owned(),
        _ => String::new(),
    };
    let summary = if outside == 0 {
        format!("{} within tolerance{max}", plural(keys.len(), "value"))
    } else {
        format!("{outside} of {} values outside tolerance{max}", keys.len())
    };
    c.summary(summary).details(limited(details))
}

fn gates_canonical(a: &ReplayInput, b: &ReplayInput) -> Check {
    let mode = |x: &ReplayInput| {
        x.execution
            .as_ref()
            .and_then(|e| e.determinism.as_ref())
            .map_or_else(|| "unrecorded".to_owned(), |d| d.mode.clone())
    };
    let (ma, mb) = (mode(a), mode(b));
    if ma != "strict" || mb != "strict" {
        let mut c = Check::new("gates_canonical", json!(ma), json!(mb));
        c.status = Status::NotChecked;
        return c.summary(format!(
            "needs both runs strict (determinism: A={ma} B={mb})"
        ));
    }
    let hash = |x: &ReplayInput| {
        gates_of(x)
            .and_then(|g| veriscope_canon::canonical_bytes(&Value::Array(g.clone())).ok())
            .map(|bytes| veriscope_canon::sha256_hex_bytes(&bytes))
    };
    let check = Check::new("gates_canonical", json!(hash(a)), json!(hash(b)));
    if check.status == Status::Match {
        let s = format!("byte-identical (sha256 {})", short(&check.a));
        return check.summary(s);
    }
    let s = format!(
        "canonical gates differ (sha256 A={} B={})",
        short(&check.a),
        short(&check.b)
    );
    check.summary(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_collapses_arrays_and_skips_never_compared_keys() {
        let a = json!({"run_id": "x", "ended_ts_utc": null, "gates": [{"iter": 1, "v": 0.5}, {"iter": 2, "v": null}],
                       "timing": {"step_ms": 3.0}, "wall_s": 2.0});
        let b = json!({"run_id": 7, "ended_ts_utc": "2026", "gates": [{"iter": 9, "v": null}, {"iter": 5, "v": 0.1}]});
        let pa = document_paths(&a);
        assert_eq!(
            pa.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "$.gates:array",
                "$.gates[].iter:int",
                "$.gates[].v:float",
                "$.gates[].v:null",
                "$.gates[]:object",
                "$:object"
            ]
        );
        assert_eq!(fingerprint(&pa), fingerprint(&document_paths(&b)));
        let c = json!({"gates": [{"iter": 1.0, "v": 0.5}]});
        assert_ne!(fingerprint(&pa), fingerprint(&document_paths(&c)));
    }

    #[test]
    fn relative_tolerance() {
        assert_eq!(relative_difference(0.0, 0.0), 0.0);
        assert_eq!(relative_difference(1.0, 1.0), 0.0);
        assert!((relative_difference(1.0, 1.1) - 0.1 / 1.1).abs() < 1e-15);
        let a: Values = [((10, "loss".to_owned()), Some(1.0))].into();
        let b: Values = [((10, "loss".to_owned()), Some(1.0 + 1e-12))].into();
        assert_eq!(value_check("v", &a, &b, 1e-9).status, Status::Match);
        let c = value_check("v", &a, &b, 0.0);
        assert_eq!(c.status, Status::Mismatch);
        assert_eq!(c.details.len(), 1);
        assert!(
            c.details[0].starts_with("iter 10 loss: A=1 B=1.000000000001"),
            "{:?}",
            c.details
        );
        let d: Values = [((10, "loss".to_owned()), None)].into();
        let e = value_check("v", &a, &d, 1e-9);
        assert_eq!(e.details, ["iter 10 loss: A=1 B=null"]);
    }

    #[test]
    fn never_compared_keys() {
        for k in [
            "timing",
            "step_ms",
            "veriscope_wall_s",
            "started_ts_utc",
            "ts_utc",
            "run_id",
            "outdir",
        ] {
            assert!(never_compared(k), "{k}");
        }
        for k in ["loss", "eff_dim", "worst_DW", "iters", "status"] {
            assert!(!never_compared(k), "{k}");
        }
    }
}
