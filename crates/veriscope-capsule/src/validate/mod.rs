//! `validate`: every invariant of a run capsule, checked read-only, as findings.
//!
//! Check order and messages follow cli_contracts A5 (itself productization §2.3 and
//! contract_v1): required files, parsing, schema, window hash, reference paths and hashes,
//! manual judgement run_id, artifact identity, partial rules, counts and first fail, the
//! first-fail marker, governance (A6.4/A6.5) and distributed metadata (A6.6). The first
//! error stops validation, as in the reference, except where a step collects several.
//!
//! Deliberate differences from the reference (documented in docs/validate.md):
//! - A first fail at iter 0 validates (A17.2 bug fixed).
//! - NaN/Infinity anywhere is a finding, never a crash (A17.4); naive and aware timestamps
//!   compare as UTC (A17.10).
//! - `allow_partial` and identity softening are separate options, so accepting a crashed
//!   run's partial capsule does not soften identity checks.

mod bindings;
mod report;
mod results_doc;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use report::{Finding, Severity, ValidationReport};

use crate::governance::{LogReport, VerifyOptions, verify_log_extracting};
use crate::load::{
    self, FIRST_FAIL_MARKER, GOVERNANCE_LOG, LoadError, MANUAL_JUDGEMENT, RESULTS, RESULTS_SUMMARY,
    RUN_CONFIG, WINDOW_SIGNATURE,
};
use crate::pyrepr::{repr_str, repr_value};
use crate::schema::{self, Counts, Header, ManualJudgement, Results, SchemaError, Summary};
use bindings::{BindingFacts, Expected, FactsReader};
use results_doc::{CheckedResults, Wanted};
pub use results_doc::{GateRecord, ResultsRead};

/// Switches of `validate` (productization §2.3 flags, plus library-only ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// `--strict-governance`: an invalid journal or a failed binding is an error, not a warning.
    pub strict_governance: bool,
    /// `--require-governance`: a missing journal is an error.
    pub require_governance: bool,
    /// `--strict-identity`: identity mismatches are never softened; with
    /// `require_governance` also enables strict bindings (A6.5).
    pub strict_identity: bool,
    /// `--allow-legacy-governance`: entries without `entry_hash` are accepted.
    pub allow_legacy_governance: bool,
    /// Accept partial capsules (results.json absent, summary `partial=true`).
    pub allow_partial: bool,
    /// `inspect` semantics: identity mismatches become warnings unless `strict_identity`.
    pub soften_identity: bool,
    /// Directory that relative recorded outdirs resolve against (default: the process cwd).
    pub cwd: Option<PathBuf>,
}

/// Marker that a fatal finding was recorded and validation stops.
struct Stop;

type Step<T = ()> = Result<T, Stop>;

/// Validates the capsule in `outdir`. Never panics on bad input and never writes.
pub fn validate_capsule(outdir: &Path, opts: &ValidateOptions) -> ValidationReport {
    run_validation(outdir, opts, false)
}

/// [`validate_capsule`], also handing back results.json as read for display
/// ([`ValidationReport::results`]): a caller that charts the gates (report, diff) then
/// parses the file once. The findings are those of [`validate_capsule`].
pub fn validate_capsule_keeping_results(outdir: &Path, opts: &ValidateOptions) -> ValidationReport {
    run_validation(outdir, opts, true)
}

fn run_validation(outdir: &Path, opts: &ValidateOptions, keep_results: bool) -> ValidationReport {
    let mut v = Validator {
        outdir,
        opts,
        keep_results,
        report: ValidationReport::default(),
    };
    if v.run().is_ok() {
        v.report.message = "OK".to_owned();
        if v.report.partial {
            let note = "PARTIAL_CAPSULE results.json absent and results_summary.partial=true (interrupted run); not comparable";
            if v.report
                .findings
                .iter()
                .all(|f| f.code != "ARTIFACT_IDENTITY_MISMATCH")
            {
                v.note(
                    "PARTIAL_CAPSULE",
                    Some(RESULTS_SUMMARY),
                    format!("NOTE:{note}"),
                );
            }
        }
    }
    v.report
}

struct Validator<'a> {
    outdir: &'a Path,
    opts: &'a ValidateOptions,
    /// Read results.json's gates for display too ([`validate_capsule_keeping_results`]).
    keep_results: bool,
    report: ValidationReport,
}

/// The parsed core artifacts.
struct Parsed {
    window_signature: Value,
    results: Option<CheckedResults>,
    summary: Summary,
    manual: Option<ManualJudgement>,
}

impl Validator<'_> {
    fn run(&mut self) -> Step {
        self.required_files()?;
        let parsed = self.parse_all()?;
        let hash = self.window_hash(&parsed.window_signature)?;
        self.report.window_signature_hash = Some(hash.clone());
        self.window_refs(&parsed, &hash)?;
        self.manual_run_id(&parsed)?;
        self.identity(&parsed)?;
        self.partial_rules(&parsed)?;
        self.counts_and_first_fail(&parsed)?;
        self.first_fail_marker(&parsed.summary)?;
        let facts = self.governance(&parsed, &hash)?;
        self.distributed(facts.as_ref())?;
        self.execution_contract()
    }

    /// The persisted gate execution contract (docs/replay.md §1), when the capsule has one:
    /// an inconsistent one (hash, effective config, closed material) is `CONTRACT_MISMATCH`
    /// and invalid; one naming versions this build cannot run is `UNSUPPORTED_CONTRACT`, a
    /// warning (the capsule is still a valid record; resuming it needs another build).
    fn execution_contract(&mut self) -> Step {
        let Ok(Some(rc)) = load::read_object(self.outdir, RUN_CONFIG) else {
            return Ok(());
        };
        let Some(gc) = rc.get("gate_contract") else {
            return Ok(());
        };
        let problems = veriscope_contracts::execution::persisted_problems(gc);
        if !problems.is_empty() {
            return Err(self.fail(
                "CONTRACT_MISMATCH",
                Some(RUN_CONFIG),
                format!("ERROR:CONTRACT_MISMATCH {}", problems.join("; ")),
            ));
        }
        let material = gc.get("material").unwrap_or(&Value::Null);
        for u in veriscope_contracts::execution::unsupported(material) {
            self.warn(
                "UNSUPPORTED_CONTRACT",
                Some(RUN_CONFIG),
                format!("WARNING:{}", u.token()),
            );
        }
        Ok(())
    }

    // ------------------------------------------------------------ recording

    fn fail(&mut self, code: &str, artifact: Option<&str>, message: impl Into<String>) -> Stop {
        let message = message.into();
        if self.report.message.is_empty() {
            self.report.message = message.clone();
        }
        self.report
            .findings
            .push(Finding::new(code, Severity::Error, artifact, message));
        Stop
    }

    fn warn(&mut self, code: &str, artifact: Option<&str>, message: impl Into<String>) {
        self.report
            .findings
            .push(Finding::new(code, Severity::Warning, artifact, message));
    }

    fn note(&mut self, code: &str, artifact: Option<&str>, message: impl Into<String>) {
        self.report
            .findings
            .push(Finding::new(code, Severity::Note, artifact, message));
    }

    /// A binding token (`ERROR:GOVERNANCE_...`): fatal under `--strict-governance`, otherwise
    /// downgraded to `WARNING:` and validation continues (A6.5).
    fn binding(&mut self, token: String, message: Option<&str>) -> Step {
        if self.opts.strict_governance {
            self.report.message = message.map_or_else(|| token.clone(), str::to_owned);
            self.report.findings.push(Finding::from_token(
                &token,
                Severity::Error,
                Some(GOVERNANCE_LOG),
            ));
            return Err(Stop);
        }
        let downgraded = token.replacen("ERROR", "WARNING", 1);
        self.report.findings.push(Finding::from_token(
            &downgraded,
            Severity::Warning,
            Some(GOVERNANCE_LOG),
        ));
        Ok(())
    }

    // ------------------------------------------------------------ steps 1-3

    /// Step 1 (A5.1): required files, listed in the reference's order.
    fn required_files(&mut self) -> Step {
        let mut missing = Vec::new();
        for name in [WINDOW_SIGNATURE, RESULTS, RESULTS_SUMMARY] {
            let optional = name == RESULTS && self.opts.allow_partial;
            if !optional && !self.outdir.join(name).is_file() {
                missing.push(name);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(self.fail(
            "MISSING_ARTIFACTS",
            None,
            format!("Missing required artifacts: {}", missing.join(", ")),
        ))
    }

    /// Steps 2-3 (A5.2-3): read and schema-check each artifact, in the reference's order.
    fn parse_all(&mut self) -> Step<Parsed> {
        let window_signature = self.read_required(WINDOW_SIGNATURE, false)?;
        let results = self.read_results()?;
        let summary_raw = self.read_required(RESULTS_SUMMARY, true)?;
        let summary = self.schema(RESULTS_SUMMARY, schema::check_summary(&summary_raw))?;
        let manual = match self.read_optional(MANUAL_JUDGEMENT)? {
            None => None,
            Some(raw) => Some(self.schema(MANUAL_JUDGEMENT, schema::check_manual_judgement(&raw))?),
        };
        Ok(Parsed {
            window_signature,
            results,
            summary,
            manual,
        })
    }

    /// results.json, checked gate by gate when it can be (results_doc), else as one tree.
    fn read_results(&mut self) -> Step<Option<CheckedResults>> {
        let bytes = match load::read_bytes(self.outdir, RESULTS) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fail("ARTIFACT_UNREADABLE", Some(RESULTS), e.to_string())),
        };
        let wanted = Wanted {
            // The divergence keys are only compared under strict binding (see `expected`).
            keys: self.strict_binding(),
            records: self.keep_results,
        };
        let split = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| results_doc::check_split(text, wanted));
        let mut checked = match split {
            Some(checked) => self.schema(RESULTS, checked)?,
            None => {
                let raw = self.parse_artifact(RESULTS, &bytes, true)?;
                let checked = self.schema(RESULTS, schema::check_results(&raw))?;
                CheckedResults::from_tree(&raw, checked, wanted)
            }
        };
        self.report.results = checked.read.take();
        Ok(Some(checked))
    }

    fn strict_binding(&self) -> bool {
        self.opts.strict_identity && self.opts.require_governance
    }

    fn read_required(&mut self, name: &str, schema_style: bool) -> Step<Value> {
        match self.read(name, schema_style)? {
            Some(v) => Ok(v),
            None => Err(self.fail(
                "MISSING_ARTIFACTS",
                None,
                format!("Missing required artifacts: {name}"),
            )),
        }
    }

    fn read_optional(&mut self, name: &str) -> Step<Option<Value>> {
        self.read(name, true)
    }

    /// Reads one JSON artifact. window_signature.json errors use the reader's wording;
    /// the model-validated artifacts use pydantic's (`Schema validation failed: Invalid JSON: ...`).
    fn read(&mut self, name: &str, schema_style: bool) -> Step<Option<Value>> {
        let bytes = match load::read_bytes(self.outdir, name) {
            Ok(b) => b,
            Err(e) => return Err(self.fail("ARTIFACT_UNREADABLE", Some(name), e.to_string())),
        };
        let Some(bytes) = bytes else { return Ok(None) };
        self.parse_artifact(name, &bytes, schema_style).map(Some)
    }

    fn parse_artifact(&mut self, name: &str, bytes: &[u8], schema_style: bool) -> Step<Value> {
        match load::parse_object(name, bytes) {
            Ok(v) => Ok(v),
            Err(LoadError::Parse { message, line, column, .. }) if schema_style => Err(self.fail(
                "JSON_PARSE_ERROR",
                Some(name),
                format!("Schema validation failed: Invalid JSON: {message} at line {line} column {column}"),
            )),
            Err(LoadError::NotObject { .. }) if schema_style => {
                Err(self.fail("SCHEMA_INVALID", Some(name), "Schema validation failed: Input should be an object"))
            }
            Err(e @ LoadError::Parse { .. }) => Err(self.fail("JSON_PARSE_ERROR", Some(name), e.to_string())),
            Err(e @ LoadError::NotObject { .. }) => Err(self.fail("NOT_AN_OBJECT", Some(name), e.to_string())),
            Err(e) => Err(self.fail("ARTIFACT_UNREADABLE", Some(name), e.to_string())),
        }
    }

    fn schema<T>(&mut self, name: &str, checked: Result<T, SchemaError>) -> Step<T> {
        checked.map_err(|e| {
            let stop = self.fail(
                "SCHEMA_INVALID",
                Some(name),
                format!("Schema validation failed: {}", e.render()),
            );
            if let Some(f) = self.report.findings.last_mut() {
                f.pointer = Some(e.pointer());
            }
            stop
        })
    }

    // ------------------------------------------------------------ steps 4-7

    /// Step 4 (A5.4, contract_v1 §Hashing Rules).
    fn window_hash(&mut self, ws: &Value) -> Step<String> {
        veriscope_canon::window_signature_hash(ws).map_err(|e| {
            let code = match e {
                veriscope_canon::CanonError::InvalidCreatedTs => "WINDOW_SIGNATURE_TS_INVALID",
                _ => "WINDOW_HASH_UNCOMPUTABLE",
            };
            let message = match e {
                veriscope_canon::CanonError::InvalidCreatedTs
                | veriscope_canon::CanonError::NonFinite => e.to_string(),
                other => format!("Failed to compute canonical hash: {other}"),
            };
            self.fail(code, Some(WINDOW_SIGNATURE), message)
        })
    }

    /// Steps 5-6 (A5.5-6): reference paths, then hashes, results before summary.
    fn window_refs(&mut self, p: &Parsed, hash: &str) -> Step {
        let headers = self.headers(p);
        for (name, h) in &headers {
            if h.window_path != WINDOW_SIGNATURE {
                let msg = format!(
                    "window_signature_ref.path mismatch in {name}: {} != 'window_signature.json'",
                    repr_str(&h.window_path)
                );
                return Err(self.fail("WINDOW_REF_PATH_MISMATCH", Some(name), msg));
            }
        }
        for (name, h) in &headers {
            if h.window_hash != hash {
                let msg = format!(
                    "window_signature_ref.hash mismatch in {name}: {} != {hash}",
                    h.window_hash
                );
                return Err(self.fail("WINDOW_HASH_MISMATCH", Some(name), msg));
            }
        }
        Ok(())
    }

    fn headers<'p>(&self, p: &'p Parsed) -> Vec<(&'static str, &'p Header)> {
        let mut out = Vec::with_capacity(2);
        if let Some(r) = &p.results {
            out.push((RESULTS, &r.results.header));
        }
        out.push((RESULTS_SUMMARY, &p.summary.header));
        out
    }

    /// Step 7 (A5.7): manual_judgement.json must name this run.
    fn manual_run_id(&mut self, p: &Parsed) -> Step {
        let Some(m) = &p.manual else { return Ok(()) };
        let (label, expected) = match &p.results {
            Some(r) => ("results", &r.results.header.run_id),
            None => ("summary", &p.summary.header.run_id),
        };
        if &m.run_id == expected {
            return Ok(());
        }
        let msg = format!(
            "run_id mismatch: manual_judgement={} {label}={}",
            repr_str(&m.run_id),
            repr_str(expected)
        );
        Err(self.fail(
            "MANUAL_JUDGEMENT_RUN_ID_MISMATCH",
            Some(MANUAL_JUDGEMENT),
            msg,
        ))
    }

    // ------------------------------------------------------------ steps 9-13

    /// Step 9 (A5.9): summary (expected) vs results (got), field by field.
    fn identity(&mut self, p: &Parsed) -> Step {
        let Some(CheckedResults { results: r, .. }) = &p.results else {
            return Ok(());
        };
        let (s, g) = (&p.summary.header, &r.header);
        let fields: [(&str, Value, Value); 5] = [
            (
                "schema_version",
                s.schema_version.clone(),
                g.schema_version.clone(),
            ),
            ("run_id", s.run_id.clone().into(), g.run_id.clone().into()),
            (
                "window_signature_ref.hash",
                s.window_hash.clone().into(),
                g.window_hash.clone().into(),
            ),
            (
                "window_signature_ref.path",
                s.window_path.clone().into(),
                g.window_path.clone().into(),
            ),
            (
                "profile.gate_preset",
                s.gate_preset.clone().into(),
                g.gate_preset.clone().into(),
            ),
        ];
        let soft = self.opts.soften_identity && !self.opts.strict_identity;
        let mut failed = false;
        for (field, expected, got) in fields {
            if same_value(&expected, &got) {
                continue;
            }
            let body = format!(
                "ARTIFACT_IDENTITY_MISMATCH field={field} expected={} got={}",
                repr_value(&expected),
                repr_value(&got)
            );
            if soft {
                self.warn(
                    "ARTIFACT_IDENTITY_MISMATCH",
                    Some(RESULTS_SUMMARY),
                    format!("WARNING:{body}"),
                );
                self.report.partial = true;
            } else {
                self.fail(
                    "ARTIFACT_IDENTITY_MISMATCH",
                    Some(RESULTS_SUMMARY),
                    format!("ERROR:{body}"),
                );
                failed = true;
            }
        }
        if failed { Err(Stop) } else { Ok(()) }
    }

    /// Steps 10-11 (A5.10-11, contract_v1 §Artifact Set).
    fn partial_rules(&mut self, p: &Parsed) -> Step {
        let s = &p.summary;
        if p.results.is_some() {
            if s.partial {
                let msg = "ERROR:FULL_CAPSULE_MARKED_PARTIAL results_summary.partial=true requires results.json to be absent";
                return Err(self.fail("FULL_CAPSULE_MARKED_PARTIAL", Some(RESULTS_SUMMARY), msg));
            }
            return Ok(());
        }
        self.report.partial = true;
        if !s.partial {
            let msg = "results.json missing but results_summary.json is not marked partial=true";
            return Err(self.fail("PARTIAL_NOT_MARKED", Some(RESULTS_SUMMARY), msg));
        }
        if s.counts != Counts::default() {
            let msg = format!(
                "results.json missing with partial=true requires neutral summary counts: counts={}",
                s.counts.repr()
            );
            return Err(self.fail("PARTIAL_COUNTS_NOT_NEUTRAL", Some(RESULTS_SUMMARY), msg));
        }
        Ok(())
    }

    /// Step 12 (A5.12): summary counts and first fail derived from the gates. A first fail
    /// at iter 0 is valid (A17.2 fixed).
    fn counts_and_first_fail(&mut self, p: &Parsed) -> Step {
        let Some(CheckedResults { results: r, .. }) = &p.results else {
            return Ok(());
        };
        let mut derived = Counts::default();
        for g in &r.gates {
            derived.add(&g.decision);
        }
        let s = &p.summary;
        if derived != s.counts {
            let msg = format!(
                "summary counts mismatch results gates: summary={} results_derived={}",
                s.counts.repr(),
                derived.repr()
            );
            return Err(self.fail("COUNTS_MISMATCH", Some(RESULTS_SUMMARY), msg));
        }
        if s.counts.fail > 0 {
            let first = r
                .gates
                .iter()
                .filter(|g| g.decision == "fail")
                .map(|g| g.iter)
                .min();
            if first != s.first_fail_iter {
                let msg = format!(
                    "first_fail_iter mismatch between summary and results gates: summary={} results_derived={}",
                    py_opt(s.first_fail_iter),
                    py_opt(first)
                );
                return Err(self.fail("FIRST_FAIL_ITER_MISMATCH", Some(RESULTS_SUMMARY), msg));
            }
        }
        Ok(())
    }

    /// Step 13 (A5.13, contract_v1 "Conditionally required"): the marker exists iff fail > 0
    /// and holds `<n>\n` equal to the summary.
    fn first_fail_marker(&mut self, s: &Summary) -> Step {
        let path = self.outdir.join(FIRST_FAIL_MARKER);
        let exists = path.exists();
        if s.counts.fail == 0 {
            if exists {
                let msg = "counts.fail == 0 but first_fail_iter.txt must be absent";
                return Err(self.fail(
                    "FIRST_FAIL_MARKER_UNEXPECTED",
                    Some(FIRST_FAIL_MARKER),
                    msg,
                ));
            }
            return Ok(());
        }
        if !exists {
            let msg = "counts.fail > 0 but first_fail_iter.txt is missing";
            return Err(self.fail("FIRST_FAIL_MARKER_MISSING", Some(FIRST_FAIL_MARKER), msg));
        }
        let text = match load::read_bytes(self.outdir, FIRST_FAIL_MARKER) {
            Ok(Some(b)) => String::from_utf8_lossy(&b)
                .replace("\r\n", "\n")
                .replace('\r', "\n"),
            Ok(None) => String::new(),
            Err(e) => {
                let msg = format!("Failed reading first_fail_iter.txt: {e}");
                return Err(self.fail(
                    "FIRST_FAIL_MARKER_UNREADABLE",
                    Some(FIRST_FAIL_MARKER),
                    msg,
                ));
            }
        };
        let digits = text
            .strip_suffix('\n')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        let Some(value) = digits.and_then(|d| d.parse::<u64>().ok()) else {
            let msg =
                "first_fail_iter.txt must contain a non-negative integer with trailing newline";
            return Err(self.fail("FIRST_FAIL_MARKER_INVALID", Some(FIRST_FAIL_MARKER), msg));
        };
        if Some(value) != s.first_fail_iter {
            let msg = format!(
                "first_fail_iter.txt mismatch: marker={value} summary.first_fail_iter={}",
                py_opt(s.first_fail_iter)
            );
            return Err(self.fail("FIRST_FAIL_MARKER_MISMATCH", Some(FIRST_FAIL_MARKER), msg));
        }
        Ok(())
    }

    // ------------------------------------------------------------ steps 14-15

    /// Step 14 (A6.4/A6.5). Returns the journal facts (the distributed check needs them
    /// even for partial capsules).
    fn governance(&mut self, p: &Parsed, hash: &str) -> Step<Option<BindingFacts>> {
        let path = self.outdir.join(GOVERNANCE_LOG);
        let has_results = p.results.is_some();
        if !path.is_file() {
            if has_results && self.opts.require_governance {
                let msg = "Missing governance_log.jsonl for results.json";
                return Err(self.fail("GOVERNANCE_LOG_MISSING", Some(GOVERNANCE_LOG), msg));
            }
            if has_results {
                let msg = "WARNING:GOVERNANCE_LOG_MISSING governance_log.jsonl not present";
                self.warn("GOVERNANCE_LOG_MISSING", Some(GOVERNANCE_LOG), msg);
            }
            return Ok(None);
        }
        let expected = self.expected(p, hash);
        let mut facts = BindingFacts::default();
        let opts = VerifyOptions {
            allow_legacy: self.opts.allow_legacy_governance,
        };
        let reader = FactsReader::new(&expected);
        let observe = &mut |_, line: &_| facts.observe(line, &expected);
        let log = match verify_log_extracting(&path, &opts, &reader, observe) {
            Ok(log) => log,
            Err(e) => {
                let msg = format!(
                    "Failed to read governance_log.jsonl: {}",
                    std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string())
                );
                return Err(self.fail("ARTIFACT_UNREADABLE", Some(GOVERNANCE_LOG), msg));
            }
        };
        if has_results {
            self.journal_validity(&log)?;
            self.report.governance = Some(log);
            if self
                .report
                .governance
                .as_ref()
                .is_some_and(LogReport::is_valid)
                && let Some(results) = &p.results
            {
                self.bindings(&facts, &expected, results)?;
            }
        } else {
            self.report.governance = Some(log);
        }
        Ok(Some(facts))
    }

    fn journal_validity(&mut self, log: &LogReport) -> Step {
        for w in &log.warnings {
            self.report.findings.push(Finding::from_token(
                w,
                Severity::Warning,
                Some(GOVERNANCE_LOG),
            ));
        }
        if log.is_valid() {
            return Ok(());
        }
        if !self.opts.strict_governance {
            let msg = "WARNING:GOVERNANCE_LOG_INVALID governance_log.jsonl invalid";
            self.warn("GOVERNANCE_LOG_INVALID", Some(GOVERNANCE_LOG), msg);
            return Ok(());
        }
        // Strict: the reader's invalidating warnings become the error lines (A6.4).
        self.report.findings.retain(|f| {
            !(f.artifact.as_deref() == Some(GOVERNANCE_LOG) && f.severity == Severity::Warning)
        });
        self.fail(
            "GOVERNANCE_LOG_INVALID",
            Some(GOVERNANCE_LOG),
            "governance_log.jsonl invalid",
        );
        for e in &log.errors {
            self.report.findings.push(Finding::from_token(
                e,
                Severity::Error,
                Some(GOVERNANCE_LOG),
            ));
        }
        Err(Stop)
    }

    fn expected(&self, p: &Parsed, hash: &str) -> Expected {
        let header = p
            .results
            .as_ref()
            .map_or(&p.summary.header, |r| &r.results.header);
        let cwd = self
            .opts
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok());
        Expected::new(
            &header.run_id,
            self.outdir,
            hash,
            cwd,
            self.strict_binding(),
        )
    }

    /// Whether overrides were applied: results profile overrides, or run_config `overrides`.
    fn overrides_required(&self, results: &Results) -> bool {
        if results.header.has_overrides {
            return true;
        }
        let run_config = load::read_object(self.outdir, RUN_CONFIG).ok().flatten();
        run_config
            .and_then(|rc| {
                rc.get("overrides")
                    .and_then(Value::as_object)
                    .map(|o| !o.is_empty())
            })
            .unwrap_or(false)
    }
}

/// Python `repr` of an optional integer (`None` or the number).
fn py_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "None".to_owned(), |n| n.to_string())
}

/// Equality as Python compares parsed JSON (`1 == 1.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => {
            x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok()
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
