//! Field-level schema checks of capsule artifacts over raw `serde_json::Value`s.
//!
//! Mirrors the v1 artifact models (productization §4, cli_contracts A4) with the reference's
//! pydantic error texts, because validate prints the first one as
//! `Schema validation failed: <msg> at <repr(loc)>` (cli_contracts A4 "Schema error message
//! format"). Checking raw values (not serde structs) lets us report the exact location of the
//! first problem and never fail on unknown keys (extra keys are allowed, contract_v1).

use serde_json::{Map, Value};
use veriscope_canon::view::{CanonObject, CanonValue};

use crate::isotime::{UtcMicros, parse_iso_utc};
use crate::pyrepr::repr_str;

/// One path segment of an error location (`('gates', 0, 'iter')`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// The first schema error of an artifact: pydantic-style message and location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Message, e.g. `Input should be a valid integer`.
    pub msg: String,
    /// Location from the artifact root.
    pub loc: Vec<Seg>,
}

impl SchemaError {
    fn new(msg: impl Into<String>, loc: &[Seg]) -> Self {
        SchemaError {
            msg: msg.into(),
            loc: loc.to_vec(),
        }
    }

    /// `<msg> at ('a', 0)` or `<msg>` when the location is empty (cli_contracts A4).
    pub fn render(&self) -> String {
        if self.loc.is_empty() {
            return self.msg.clone();
        }
        let parts: Vec<String> = self
            .loc
            .iter()
            .map(|s| match s {
                Seg::Key(k) => repr_str(k),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        let tuple = if parts.len() == 1 {
            format!("({},)", parts[0])
        } else {
            format!("({})", parts.join(", "))
        };
        format!("{} at {}", self.msg, tuple)
    }

    /// JSON-pointer form of the location (`/gates/0/iter`).
    pub fn pointer(&self) -> String {
        self.loc
            .iter()
            .map(|s| match s {
                Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => format!("/{i}"),
            })
            .collect()
    }
}

/// Result of a schema check.
pub type Checked<T> = Result<T, SchemaError>;

/// The four gate decisions (productization §0 "Canonical decision enum").
pub const DECISIONS: [&str; 4] = ["pass", "warn", "fail", "skip"];
const DECISION_MSG: &str = "Input should be 'pass', 'warn', 'fail' or 'skip'";
const RUN_STATUS: [&str; 3] = ["success", "user_code_failure", "veriscope_failure"];

/// Summary counts (`CountsV1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Gates with `audit.evaluated = true`.
    pub evaluated: u64,
    /// Skipped gates.
    pub skip: u64,
    /// Passing gates.
    pub pass: u64,
    /// Warning gates.
    pub warn: u64,
    /// Failing gates.
    pub fail: u64,
}

impl Counts {
    /// Python dict repr in the reference's key order (used in messages, cli_contracts A5.11).
    pub fn repr(&self) -> String {
        format!(
            "{{'evaluated': {}, 'skip': {}, 'pass': {}, 'warn': {}, 'fail': {}}}",
            self.evaluated, self.skip, self.pass, self.warn, self.fail
        )
    }

    /// Adds one gate decision.
    pub fn add(&mut self, decision: &str) {
        match decision {
            "pass" => self.pass += 1,
            "warn" => self.warn += 1,
            "fail" => self.fail += 1,
            _ => self.skip += 1,
        }
        if decision != "skip" {
            self.evaluated += 1;
        }
    }

    /// final_decision policy (productization §4D): fail > warn > pass > skip.
    pub fn final_decision(&self) -> &'static str {
        if self.fail > 0 {
            "fail"
        } else if self.warn > 0 {
            "warn"
        } else if self.pass > 0 {
            "pass"
        } else {
            "skip"
        }
    }
}

/// Fields shared by results.json and results_summary.json (productization §4C/§4D).
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// `schema_version` as written (always 1 after checking).
    pub schema_version: Value,
    /// `run_id`.
    pub run_id: String,
    /// `window_signature_ref.hash`, lower-cased (cli_contracts A4).
    pub window_hash: String,
    /// `window_signature_ref.path`.
    pub window_path: String,
    /// `profile.gate_preset`.
    pub gate_preset: String,
    /// `profile.overrides` is a non-empty object.
    pub has_overrides: bool,
}

/// One gate record reduced to what cross-artifact checks need.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// `iter`.
    pub iter: u64,
    /// `decision`.
    pub decision: String,
}

/// Checked results.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Shared header.
    pub header: Header,
    /// Gate records in file order.
    pub gates: Vec<Gate>,
}

/// Checked results_summary.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Shared header.
    pub header: Header,
    /// `counts`.
    pub counts: Counts,
    /// `final_decision`.
    pub final_decision: String,
    /// `first_fail_iter`.
    pub first_fail_iter: Option<u64>,
    /// `partial == true`.
    pub partial: bool,
}

/// Checked manual_judgement.json (productization §4E).
#[derive(Debug, Clone, PartialEq)]
pub struct ManualJudgement {
    /// `run_id`.
    pub run_id: String,
    /// `status` (`pass` or `fail`).
    pub status: String,
}

// ---------------------------------------------------------------- artifact models

/// Checks results.json (`ResultsV1`).
pub fn check_results(v: &Value) -> Checked<Results> {
    let obj = top_object(v)?;
    let header = check_results_header(obj)?;
    let gates_v = required(obj, "gates", &[])?;
    let loc = [key("gates")];
    let items = gates_v
        .as_array()
        .ok_or_else(|| SchemaError::new("Input should be a valid list", &loc))?;
    let mut gates = Vec::with_capacity(items.len());
    for (i, g) in items.iter().enumerate() {
        gates.push(check_gate(g, &[key("gates"), Seg::Index(i)])?);
    }
    check_results_rest(obj)?;
    Ok(Results { header, gates })
}

/// The first step of [`check_results`]: the shared header (before `gates`).
pub(crate) fn check_results_header(obj: &Map<String, Value>) -> Checked<Header> {
    check_header(obj)
}

/// `gates` is required; the error [`check_results`] gives when it is absent or not a list.
pub(crate) fn gates_error(present: bool) -> SchemaError {
    if present {
        SchemaError::new("Input should be a valid list", &[key("gates")])
    } else {
        SchemaError::new("Field required", &[key("gates")])
    }
}

/// The steps of [`check_results`] after `gates`: metrics, metrics_ref, header times.
pub(crate) fn check_results_rest(obj: &Map<String, Value>) -> Checked<()> {
    if let Some(m) = present(obj, "metrics") {
        check_metrics(m)?;
    }
    if let Some(r) = present(obj, "metrics_ref") {
        check_metrics_ref(r)?;
    }
    check_header_times(obj)
}

/// Checks results_summary.json (`ResultsSummaryV1`).
pub fn check_summary(v: &Value) -> Checked<Summary> {
    let obj = top_object(v)?;
    let header = check_header(obj)?;
    let counts = check_counts(required(obj, "counts", &[])?, &[key("counts")])?;
    let final_decision = enum_str(
        required(obj, "final_decision", &[])?,
        &DECISIONS,
        DECISION_MSG,
        &[key("final_decision")],
    )?;
    let first_fail_iter = match present(obj, "first_fail_iter") {
        None => None,
        Some(x) => Some(strict_uint(x, &[key("first_fail_iter")])?),
    };
    let partial = match present(obj, "partial") {
        None => false,
        Some(x) => lax_bool(x, &[key("partial")])?,
    };
    check_header_times(obj)?;
    let derived = counts.final_decision();
    if final_decision != derived {
        return Err(SchemaError::new(
            format!(
                "Value error, final_decision must match derive_final_decision(counts): {} != {}",
                repr_str(&final_decision),
                repr_str(derived)
            ),
            &[],
        ));
    }
    if counts.fail > 0 && first_fail_iter.is_none() {
        return Err(SchemaError::new(
            "Value error, first_fail_iter is required when counts.fail > 0",
            &[],
        ));
    }
    if counts.fail == 0 && first_fail_iter.is_some() {
        return Err(SchemaError::new(
            "Value error, first_fail_iter must be null when counts.fail == 0",
            &[],
        ));
    }
    Ok(Summary {
        header,
        counts,
        final_decision,
        first_fail_iter,
        partial,
    })
}

/// Checks manual_judgement.json (`ManualJudgementV1`).
pub fn check_manual_judgement(v: &Value) -> Checked<ManualJudgement> {
    let obj = top_object(v)?;
    schema_version_one(required(obj, "schema_version", &[])?)?;
    let run_id = nonempty_str(required(obj, "run_id", &[])?, &[key("run_id")])?;
    let status = enum_str(
        required(obj, "status", &[])?,
        &["pass", "fail"],
        "Input should be 'pass' or 'fail'",
        &[key("status")],
    )?;
    nonempty_str(required(obj, "reason", &[])?, &[key("reason")])?;
    if let Some(r) = present(obj, "reviewer") {
        nonempty_str(r, &[key("reviewer")])?;
    }
    datetime(required(obj, "ts_utc", &[])?, &[key("ts_utc")])?;
    Ok(ManualJudgement { run_id, status })
}

/// Checks one gate record (`GateRecordV1`) at `loc`.
pub fn check_gate(v: &Value, loc: &[Seg]) -> Checked<Gate> {
    let obj = object(v, loc)?;
    let iter = strict_uint(required(obj, "iter", loc)?, &join(loc, "iter"))?;
    let decision = enum_str(
        required(obj, "decision", loc)?,
        &DECISIONS,
        DECISION_MSG,
        &join(loc, "decision"),
    )?;
    let audit_loc = join(loc, "audit");
    let evaluated = check_audit(required(obj, "audit", loc)?, &audit_loc)?;
    let ok = opt_bool(obj, "ok", loc)?;
    let warn = opt_bool(obj, "warn", loc)?;
    gate_consistency(&decision, evaluated, ok, warn)
        .map_err(|m| SchemaError::new(format!("Value error, {m}"), loc))?;
    Ok(Gate { iter, decision })
}

/// The decision/ok/warn/evaluated rules of GateRecordV1 (productization §4C, cli_contracts A4).
pub fn gate_consistency(
    decision: &str,
    evaluated: bool,
    ok: Option<bool>,
    warn: Option<bool>,
) -> Result<(), String> {
    if evaluated && decision == "skip" {
        return Err("gate.decision cannot be 'skip' when audit.evaluated=True".to_owned());
    }
    if !evaluated && decision != "skip" {
        return Err("gate.decision must be 'skip' when audit.evaluated=False".to_owned());
    }
    if matches!(decision, "pass" | "warn") && ok == Some(false) {
        return Err(format!(
            "gate.ok cannot be False when decision=={}",
            repr_str(decision)
        ));
    }
    if decision == "fail" && ok == Some(true) {
        return Err("gate.ok cannot be True when decision=='fail'".to_owned());
    }
    if decision != "warn" && warn == Some(true) {
        return Err("gate.warn cannot be True when decision!='warn'".to_owned());
    }
    Ok(())
}

/// Checks an `AuditV1` object at `loc`; returns `evaluated`.
pub fn check_audit(v: &Value, loc: &[Seg]) -> Checked<bool> {
    check_audit_map(object(v, loc)?, loc)
}

/// [`check_audit`] over an already-unwrapped object.
pub fn check_audit_map(obj: &Map<String, Value>, loc: &[Seg]) -> Checked<bool> {
    let evaluated = lax_bool(required(obj, "evaluated", loc)?, &join(loc, "evaluated"))?;
    for k in ["reason", "policy"] {
        if let Some(x) = present(obj, k) {
            nonempty_str(x, &join(loc, k))?;
        }
    }
    for k in ["worst_DW", "eps_eff"] {
        if let Some(x) = present(obj, k) {
            nonneg_float(x, &join(loc, k))?;
        }
    }
    if let Some(tv) = present(obj, "per_metric_tv") {
        let tv_loc = join(loc, "per_metric_tv");
        for (name, x) in object(tv, &tv_loc)? {
            nonneg_float(x, &join(&tv_loc, name))?;
        }
    }
    for k in ["ddp_agg", "ddp_barrier_status"] {
        if let Some(x) = present(obj, k) {
            string(x, &join(loc, k))?;
        }
    }
    let mut ev = [None, None];
    for (slot, k) in ev.iter_mut().zip(["evidence_total", "min_evidence"]) {
        if let Some(x) = present(obj, k) {
            *slot = Some(strict_uint(x, &join(loc, k))?);
        }
    }
    if evaluated {
        if present(obj, "reason").is_none() || present(obj, "policy").is_none() {
            return Err(SchemaError::new(
                "Value error, audit.reason and audit.policy are required when audit.evaluated=True",
                loc,
            ));
        }
        if ev.iter().any(Option::is_none) {
            return Err(SchemaError::new(
                "Value error, audit.evidence_total and audit.min_evidence are required when audit.evaluated=True",
                loc,
            ));
        }
    }
    Ok(evaluated)
}

/// [`check_audit_map`] for a view of canonical text: `Some(evaluated)` exactly when
/// `check_audit_map` on the parsed object is `Ok(evaluated)`, for the spellings writers
/// use; `None` for a failure or any lax spelling (`"yes"`, numeric strings), which the
/// `Value` path judges (and words). The journal reader's fast path and results.json's gate
/// check both read canonical records through it.
pub(crate) fn clean_audit_evaluated(audit: &CanonObject<'_>) -> Option<bool> {
    let present = |k: &str| audit.get(k).filter(|v| !v.is_null());
    let evaluated = match audit.get("evaluated")? {
        CanonValue::Bool(b) => *b,
        CanonValue::Int("0") => false,
        CanonValue::Int("1") => true,
        _ => return None,
    };
    for k in ["reason", "policy"] {
        if let Some(v) = present(k)
            && v.as_str()?.is_empty()
        {
            return None;
        }
    }
    for k in ["worst_DW", "eps_eff"] {
        if let Some(v) = present(k) {
            nonneg_number(v)?;
        }
    }
    if let Some(tv) = present("per_metric_tv") {
        for (_, v) in tv.as_object()?.iter() {
            nonneg_number(v)?;
        }
    }
    for k in ["ddp_agg", "ddp_barrier_status"] {
        if let Some(v) = present(k) {
            v.as_str()?;
        }
    }
    for k in ["evidence_total", "min_evidence"] {
        match present(k) {
            // Canonical integers never spell `-0`, so a sign means negative.
            Some(CanonValue::Int(t)) if !t.starts_with('-') && t.parse::<u64>().is_ok() => {}
            Some(_) => return None,
            None if evaluated => return None,
            None => {}
        }
    }
    if evaluated && (present("reason").is_none() || present("policy").is_none()) {
        return None;
    }
    Some(evaluated)
}

/// `nonneg_float` for number tokens (strings go the `Value` way).
fn nonneg_number(v: &CanonValue<'_>) -> Option<()> {
    let x = match v {
        CanonValue::Float(_, x) => *x,
        CanonValue::Int(t) => t.parse::<f64>().ok()?,
        _ => return None,
    };
    (x >= 0.0).then_some(())
}

// ---------------------------------------------------------------- shared pieces

fn check_header(obj: &Map<String, Value>) -> Checked<Header> {
    let schema_version = required(obj, "schema_version", &[])?;
    schema_version_one(schema_version)?;
    let run_id = nonempty_str(required(obj, "run_id", &[])?, &[key("run_id")])?;
    let (window_hash, window_path) = check_window_ref(
        required(obj, "window_signature_ref", &[])?,
        &[key("window_signature_ref")],
    )?;
    let ploc = [key("profile")];
    let profile = object(required(obj, "profile", &[])?, &ploc)?;
    let gate_preset = nonempty_str(
        required(profile, "gate_preset", &ploc)?,
        &join(&ploc, "gate_preset"),
    )?;
    let has_overrides = match present(profile, "overrides") {
        None => false,
        Some(o) => !object(o, &join(&ploc, "overrides"))?.is_empty(),
    };
    enum_str(
        required(obj, "run_status", &[])?,
        &RUN_STATUS,
        "Input should be 'success', 'user_code_failure' or 'veriscope_failure'",
        &[key("run_status")],
    )?;
    if let Some(code) = present(obj, "runner_exit_code") {
        let loc = [key("runner_exit_code")];
        if strict_uint(code, &loc)? > 255 {
            return Err(SchemaError::new(
                "Input should be less than or equal to 255",
                &loc,
            ));
        }
    }
    if let Some(sig) = present(obj, "runner_signal") {
        nonempty_str(sig, &[key("runner_signal")])?;
    }
    datetime(
        required(obj, "started_ts_utc", &[])?,
        &[key("started_ts_utc")],
    )?;
    if let Some(e) = present(obj, "ended_ts_utc") {
        datetime(e, &[key("ended_ts_utc")])?;
    }
    Ok(Header {
        schema_version: schema_version.clone(),
        run_id,
        window_hash,
        window_path,
        gate_preset,
        has_overrides,
    })
}

/// ended_ts_utc must not precede started_ts_utc. Naive stamps are UTC (contract_v1 wire
/// policy), which fixes the reference's naive/aware crash (cli_contracts A17.10).
fn check_header_times(obj: &Map<String, Value>) -> Checked<()> {
    let started = present(obj, "started_ts_utc")
        .map(|v| datetime(v, &[]))
        .transpose()?;
    let ended = present(obj, "ended_ts_utc")
        .map(|v| datetime(v, &[]))
        .transpose()?;
    if let (Some(s), Some(e)) = (started, ended)
        && e.micros < s.micros
    {
        return Err(SchemaError::new(
            "Value error, ended_ts_utc cannot precede started_ts_utc",
            &[],
        ));
    }
    Ok(())
}

fn check_window_ref(v: &Value, loc: &[Seg]) -> Checked<(String, String)> {
    let obj = object(v, loc)?;
    let hash_loc = join(loc, "hash");
    let hash = string(required(obj, "hash", loc)?, &hash_loc)?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SchemaError::new(
            "String should match pattern '^[a-fA-F0-9]{64}$'",
            &hash_loc,
        ));
    }
    let path = nonempty_str(required(obj, "path", loc)?, &join(loc, "path"))?;
    Ok((hash.to_ascii_lowercase(), path))
}

fn check_counts(v: &Value, loc: &[Seg]) -> Checked<Counts> {
    let obj = object(v, loc)?;
    let get = |k: &str, alias: Option<&str>| -> Checked<u64> {
        let x = present(obj, k).or_else(|| alias.and_then(|a| present(obj, a)));
        let x = x.ok_or_else(|| SchemaError::new("Field required", &join(loc, k)))?;
        strict_uint(x, &join(loc, k))
    };
    let counts = Counts {
        evaluated: get("evaluated", None)?,
        skip: get("skip", None)?,
        pass: get("pass", Some("pass_"))?,
        warn: get("warn", None)?,
        fail: get("fail", None)?,
    };
    // Python ints do not overflow; a u128 sum of three u64 cannot either.
    let sum = u128::from(counts.pass) + u128::from(counts.warn) + u128::from(counts.fail);
    if sum != u128::from(counts.evaluated) {
        return Err(SchemaError::new(
            format!(
                "Value error, counts must satisfy pass+warn+fail == evaluated: {sum} != {}",
                counts.evaluated
            ),
            loc,
        ));
    }
    Ok(counts)
}

fn check_metrics(v: &Value) -> Checked<()> {
    let loc = [key("metrics")];
    let items = v
        .as_array()
        .ok_or_else(|| SchemaError::new("Input should be a valid list", &loc))?;
    for (i, m) in items.iter().enumerate() {
        let mloc = [key("metrics"), Seg::Index(i)];
        let obj = object(m, &mloc)?;
        nonempty_str(required(obj, "name", &mloc)?, &join(&mloc, "name"))?;
        if let Some(it) = present(obj, "iter") {
            strict_uint(it, &join(&mloc, "iter"))?;
        }
    }
    Ok(())
}

fn check_metrics_ref(v: &Value) -> Checked<()> {
    let loc = [key("metrics_ref")];
    let obj = object(v, &loc)?;
    nonempty_str(required(obj, "path", &loc)?, &join(&loc, "path"))?;
    if let Some(f) = present(obj, "format") {
        nonempty_str(f, &join(&loc, "format"))?;
    }
    if let Some(c) = present(obj, "count") {
        strict_uint(c, &join(&loc, "count"))?;
    }
    if let Some(h) = present(obj, "sha256") {
        let hloc = join(&loc, "sha256");
        let hash = string(h, &hloc)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SchemaError::new(
                "String should match pattern '^[a-fA-F0-9]{64}$'",
                &hloc,
            ));
        }
    }
    Ok(())
}

fn top_object(v: &Value) -> Checked<&Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| SchemaError::new("Input should be an object", &[]))
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn join(loc: &[Seg], k: &str) -> Vec<Seg> {
    let mut out = loc.to_vec();
    out.push(key(k));
    out
}

/// A key that is present and not null (pydantic treats null optionals as absent).
pub(crate) fn present<'a>(obj: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    obj.get(k).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, k: &str, loc: &[Seg]) -> Checked<&'a Value> {
    obj.get(k)
        .ok_or_else(|| SchemaError::new("Field required", &join(loc, k)))
}

fn object<'a>(v: &'a Value, loc: &[Seg]) -> Checked<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| SchemaError::new("Input should be a valid dictionary", loc))
}

fn string(v: &Value, loc: &[Seg]) -> Checked<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| SchemaError::new("Input should be a valid string", loc))
}

fn nonempty_str(v: &Value, loc: &[Seg]) -> Checked<String> {
    let s = string(v, loc)?;
    if s.is_empty() {
        return Err(SchemaError::new(
            "String should have at least 1 character",
            loc,
        ));
    }
    Ok(s)
}

fn enum_str(v: &Value, allowed: &[&str], msg: &str, loc: &[Seg]) -> Checked<String> {
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(s.to_owned()),
        _ => Err(SchemaError::new(msg, loc)),
    }
}

/// `schema_version` is the literal 1; JSON `1` or `1.0` (cli_contracts A4).
fn schema_version_one(v: &Value) -> Checked<()> {
    let ok = v
        .as_number()
        .and_then(|n| n.to_string().parse::<f64>().ok())
        == Some(1.0);
    if ok {
        Ok(())
    } else {
        Err(SchemaError::new(
            "Input should be 1",
            &[key("schema_version")],
        ))
    }
}

/// Strict non-negative integer: an integer token only (rejects `1.0`, `"1"`, `true`).
pub(crate) fn strict_uint(v: &Value, loc: &[Seg]) -> Checked<u64> {
    let Some(n) = v.as_number() else {
        return Err(SchemaError::new("Input should be a valid integer", loc));
    };
    let text = n.to_string();
    if text.contains(['.', 'e', 'E']) {
        return Err(SchemaError::new("Input should be a valid integer", loc));
    }
    if text.starts_with('-') && text != "-0" {
        return Err(SchemaError::new(
            "Input should be greater than or equal to 0",
            loc,
        ));
    }
    text.trim_start_matches('-').parse::<u64>().map_err(|_| {
        SchemaError::new(
            "Input should be a valid integer, unable to parse string as an integer",
            loc,
        )
    })
}

/// Lax boolean (pydantic): true/false, 0/1 and the usual strings.
pub(crate) fn lax_bool(v: &Value, loc: &[Seg]) -> Checked<bool> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.to_string().as_str() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| SchemaError::new("Input should be a valid boolean", loc))
}

fn opt_bool(obj: &Map<String, Value>, k: &str, loc: &[Seg]) -> Checked<Option<bool>> {
    present(obj, k)
        .map(|x| lax_bool(x, &join(loc, k)))
        .transpose()
}

/// Lax float ≥ 0: numbers or numeric strings; NaN fails the bound; +inf is accepted.
fn nonneg_float(v: &Value, loc: &[Seg]) -> Checked<f64> {
    let x = match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let x = x.ok_or_else(|| SchemaError::new("Input should be a valid number", loc))?;
    if x >= 0.0 {
        Ok(x)
    } else {
        Err(SchemaError::new(
            "Input should be greater than or equal to 0",
            loc,
        ))
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in µs since the epoch: the range of
/// Python's `datetime`.
const MIN_UNIX_MICROS: i64 = -62_135_596_800_000_000;
const MAX_UNIX_MICROS: i64 = 253_402_300_799_999_999;

fn datetime(v: &Value, loc: &[Seg]) -> Checked<UtcMicros> {
    // Integer Unix timestamps are UTC instants (cli_contracts A4, datetime inputs), read as
    // pydantic does: seconds up to 2e10 in magnitude, milliseconds beyond.
    if let Some(n) = v
        .as_number()
        .filter(|n| !n.to_string().contains(['.', 'e', 'E']))
    {
        return n
            .as_i64()
            .and_then(|n| {
                if n.unsigned_abs() <= veriscope_contracts::UNIX_SECONDS_LIMIT {
                    n.checked_mul(1_000_000)
                } else {
                    n.checked_mul(1_000)
                }
            })
            .filter(|m| (MIN_UNIX_MICROS..=MAX_UNIX_MICROS).contains(m))
            .map(|micros| UtcMicros {
                micros,
                naive: false,
            })
            .ok_or_else(|| SchemaError::new("Input should be a valid datetime", loc));
    }
    let Some(s) = v.as_str() else {
        return Err(SchemaError::new("Input should be a valid datetime", loc));
    };
    parse_iso_utc(s, "datetime")
        .map_err(|_| SchemaError::new("Input should be a valid datetime", loc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header() -> Value {
        json!({"schema_version": 1, "run_id": "r", "window_signature_ref": {"hash": "A".repeat(64), "path": "window_signature.json"},
               "profile": {"gate_preset": "tuned_v0"}, "run_status": "success", "started_ts_utc": "2026-01-01T00:00:00Z"})
    }

    #[test]
    fn gate_errors_carry_pydantic_text_and_location() {
        let mut r = header();
        r["gates"] = json!([{"iter": 1.0, "decision": "pass", "audit": {"evaluated": true}}]);
        assert_eq!(
            check_results(&r).unwrap_err().render(),
            "Input should be a valid integer at ('gates', 0, 'iter')"
        );
        r["gates"] = json!([{"iter": 0, "decision": "pass", "ok": false, "audit": {"evaluated": true, "reason": "x", "policy": "p", "evidence_total": 1, "min_evidence": 1}}]);
        assert_eq!(
            check_results(&r).unwrap_err().render(),
            "Value error, gate.ok cannot be False when decision=='pass' at ('gates', 0)"
        );
    }

    #[test]
    fn header_hash_is_lowercased_and_schema_version_pinned() {
        let mut r = header();
        r["gates"] = json!([]);
        assert_eq!(
            check_results(&r).unwrap().header.window_hash,
            "a".repeat(64)
        );
        r["schema_version"] = json!(2);
        assert_eq!(
            check_results(&r).unwrap_err().render(),
            "Input should be 1 at ('schema_version',)"
        );
        assert_eq!(
            check_results(&json!([])).unwrap_err().render(),
            "Input should be an object"
        );
    }

    #[test]
    fn summary_model_rules() {
        let mut s = header();
        s["counts"] = json!({"evaluated": 1, "skip": 0, "pass": 0, "warn": 0, "fail": 1});
        s["final_decision"] = json!("fail");
        s["first_fail_iter"] = json!(null);
        assert_eq!(
            check_summary(&s).unwrap_err().render(),
            "Value error, first_fail_iter is required when counts.fail > 0"
        );
        s["first_fail_iter"] = json!(0);
        assert_eq!(check_summary(&s).unwrap().first_fail_iter, Some(0));
        s["final_decision"] = json!("pass");
        assert!(
            check_summary(&s)
                .unwrap_err()
                .msg
                .contains("derive_final_decision")
        );
    }
}
