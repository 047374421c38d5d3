//! The hash-chained, append-only governance journal `governance_log.jsonl`.
//!
//! contract_v1 §Governance Journal: each line is one canonical JSON object with consecutive
//! `rev`, `prev_hash` = previous entry's hash, and
//! `entry_hash = sha256(canonical(entry without entry_hash))`. [`Journal::append`] holds an
//! exclusive file lock across read-verify-append so concurrent writers (wrapper, override,
//! another process) never interleave or fork the chain; [`verify_log`] reports every warning
//! with the contract's tokens and the first bad line.

mod payload;
mod verify;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use payload::{MANUAL_EVENTS, RUN_EVENTS, check_payload, is_known_event};
pub use verify::{BadLine, LineVisitor, LogReport, VerifyOptions};
use verify::{ChainState, Verifier};

use crate::atomic::{parent_dir, sync_dir};
use crate::isotime::parse_iso_utc;
use crate::pyrepr::repr_str;
use crate::schema::{check_audit_map, gate_consistency, present};

/// Why a journal operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    /// Reading, locking or writing the file failed.
    #[error("governance journal io error on `{path}`")]
    Io {
        /// The journal path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The existing journal does not verify strictly (A6.4 "Appending re-validates").
    #[error("Cannot append to invalid governance_log.jsonl: {}", py_tuple(.errors))]
    InvalidLog {
        /// The invalidating warnings.
        errors: Vec<String>,
        /// The first bad line.
        first_bad: Option<BadLine>,
    },
    /// Not one of the contract's event names.
    #[error("Unsupported governance event={}", repr_str(.0))]
    UnknownEvent(String),
    /// The payload is not a JSON object.
    #[error("payload missing or invalid for governance entry append")]
    PayloadNotObject,
    /// The payload misses required keys (A6.3 requirements).
    #[error("{0}")]
    PayloadRequiredFields(String),
    /// gate_decision_v1 decision inconsistent with ok/warn/evaluated (A6.7).
    #[error("{0}")]
    InconsistentGateDecision(String),
    /// `ts_utc` does not parse.
    #[error("ts_utc missing or invalid for governance entry append: {0}")]
    InvalidTimestamp(String),
    /// The payload holds a NaN/Infinity (contract_v1: never written, never silently nulled).
    #[error("governance payload holds a non-finite number; refusing to write it")]
    NonFinite,
}

fn py_tuple(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| repr_str(s)).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// The entry [`Journal::append`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendedEntry {
    /// Its `rev`.
    pub rev: i64,
    /// Its `entry_hash`.
    pub entry_hash: String,
    /// Its `prev_hash`.
    pub prev_hash: Option<String>,
    /// The object written (canonical form on disk).
    pub entry: Value,
    /// Non-fatal notes, e.g. `WARNING:GOVERNANCE_LOG_TS_DECREASE line=0` (A6.7).
    pub warnings: Vec<String>,
}

/// An open journal: the path plus the verified chain position.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    state: ChainState,
    verified_len: u64,
}

impl Journal {
    /// Opens `path` (it may not exist yet) and verifies the existing log strictly: legacy
    /// entries without `entry_hash` are refused for appending (A6.4).
    pub fn open(path: &Path) -> Result<Journal, GovernanceError> {
        let mut journal = Journal {
            path: path.to_path_buf(),
            state: ChainState::default(),
            verified_len: 0,
        };
        match File::open(path) {
            Ok(mut file) => journal.catch_up(&mut file)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(journal.io(e)),
        }
        Ok(journal)
    }

    /// The journal path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rev` of the last entry (0 when empty).
    pub fn last_rev(&self) -> i64 {
        self.state.last_rev
    }

    /// Appends one entry under an exclusive lock, fsyncs it, and returns what was written.
    ///
    /// Lines other writers appended since the last call are verified before ours is added;
    /// a journal that no longer verifies is refused ([`GovernanceError::InvalidLog`]).
    pub fn append(
        &mut self,
        event: &str,
        payload: Value,
        actor: Option<&str>,
        ts_utc: &str,
    ) -> Result<AppendedEntry, GovernanceError> {
        check_new_entry(event, &payload)?;
        let ts = parse_iso_utc(ts_utc, "ts_utc").map_err(GovernanceError::InvalidTimestamp)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        file.lock().map_err(|e| self.io(e))?;
        // The lock is released when `file` drops, on every path below.
        self.catch_up(&mut file)?;
        let mut warnings = Vec::new();
        if self.state.last_ts.is_some_and(|prev| ts.micros < prev) {
            warnings.push("WARNING:GOVERNANCE_LOG_TS_DECREASE line=0".to_owned());
        }
        let (entry, line) = self.build_entry(event, payload, actor, ts_utc)?;
        let created = self.verified_len == 0;
        file.write_all(line.as_bytes()).map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))?;
        if created {
            sync_dir(&parent_dir(&self.path)).map_err(|e| self.io(e))?;
        }
        self.verified_len += line.len() as u64;
        self.state.lines += 1;
        self.state.last_ts = Some(ts.micros);
        let entry_hash = entry["entry_hash"].as_str().unwrap_or_default().to_owned();
        let prev_hash = self.state.last_hash.replace(entry_hash.clone());
        self.state.last_rev += 1;
        Ok(AppendedEntry {
            rev: self.state.last_rev,
            entry_hash,
            prev_hash,
            entry,
            warnings,
        })
    }

    /// Builds the next entry and its canonical line (with trailing `\n`).
    fn build_entry(
        &self,
        event: &str,
        payload: Value,
        actor: Option<&str>,
        ts_utc: &str,
    ) -> Result<(Value, String), GovernanceError> {
        let mut map = Map::new();
        map.insert("schema_version".into(), Value::from(1));
        map.insert("rev".into(), Value::from(self.state.last_rev + 1));
        map.insert("ts_utc".into(), Value::from(ts_utc));
        map.insert("actor".into(), actor.map_or(Value::Null, Value::from));
        map.insert("event".into(), Value::from(event));
        map.insert("payload".into(), payload);
        map.insert(
            "prev_hash".into(),
            self.state
                .last_hash
                .clone()
                .map_or(Value::Null, Value::from),
        );
        let mut entry = Value::Object(map);
        let hash = veriscope_canon::sha256_hex(&entry).map_err(|_| GovernanceError::NonFinite)?;
        entry["entry_hash"] = Value::from(hash);
        let mut line =
            veriscope_canon::to_canonical_string(&entry).map_err(|_| GovernanceError::NonFinite)?;
        line.push('\n');
        Ok((entry, line))
    }

    /// Verifies whatever was appended after `verified_len`; re-verifies from scratch if the
    /// file shrank (it was replaced or truncated).
    fn catch_up(&mut self, file: &mut File) -> Result<(), GovernanceError> {
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        if len == self.verified_len {
            return Ok(());
        }
        if len < self.verified_len {
            self.state = ChainState::default();
            self.verified_len = 0;
        }
        file.seek(SeekFrom::Start(self.verified_len))
            .map_err(|e| self.io(e))?;
        let mut tail = Vec::with_capacity((len - self.verified_len) as usize);
        file.read_to_end(&mut tail).map_err(|e| self.io(e))?;
        let mut verifier = Verifier::new(
            VerifyOptions {
                allow_legacy: false,
            },
            self.state.clone(),
        );
        verifier.feed_all(&tail, &mut |_, _| {});
        let (report, state) = verifier.finish();
        if !report.is_valid() {
            return Err(GovernanceError::InvalidLog {
                errors: report.errors,
                first_bad: report.first_bad,
            });
        }
        if !tail.ends_with(b"\n") && !tail.is_empty() {
            // A valid but unterminated last line: ours must start on a new line.
            return Err(GovernanceError::InvalidLog {
                errors: vec![
                    "WARNING:GOVERNANCE_LOG_INVALID last line has no trailing newline".to_owned(),
                ],
                first_bad: None,
            });
        }
        self.state = state;
        self.verified_len += tail.len() as u64;
        Ok(())
    }

    fn io(&self, source: io::Error) -> GovernanceError {
        GovernanceError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// Writer-side checks of a new entry (A6.7): known event, object payload, A6.3 payload
/// requirements, gate decision consistency, no non-finite numbers.
fn check_new_entry(event: &str, payload: &Value) -> Result<(), GovernanceError> {
    if !is_known_event(event) {
        return Err(GovernanceError::UnknownEvent(event.to_owned()));
    }
    let Value::Object(map) = payload else {
        return Err(GovernanceError::PayloadNotObject);
    };
    let problems = check_payload(event, map);
    if !problems.is_empty() {
        return Err(GovernanceError::PayloadRequiredFields(
            problems.detail(event),
        ));
    }
    if veriscope_canon::canonical_bytes(payload).is_err() {
        return Err(GovernanceError::NonFinite);
    }
    if event == "gate_decision_v1" {
        check_gate_decision(map)?;
    }
    Ok(())
}

/// A gate decision must equal the one derived from ok/warn/evaluated (A6.7).
fn check_gate_decision(map: &Map<String, Value>) -> Result<(), GovernanceError> {
    let decision = map
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if decision != decision.trim().to_ascii_lowercase() {
        return Err(GovernanceError::InconsistentGateDecision(format!(
            "Invalid gate decision={}",
            repr_str(decision)
        )));
    }
    let evaluated = map
        .get("audit")
        .and_then(Value::as_object)
        .map(|a| check_audit_map(a, &[]).unwrap_or(false))
        .unwrap_or(false);
    let ok = present(map, "ok").and_then(Value::as_bool);
    let warn = present(map, "warn").and_then(Value::as_bool);
    if decision != "skip" && ok.is_none() {
        return Err(GovernanceError::InconsistentGateDecision(
            "gate_decision_v1 payload requires ok for non-skip decisions".to_owned(),
        ));
    }
    let derived = derive_gate_decision(
        evaluated,
        ok.unwrap_or(true),
        warn.unwrap_or(false) && ok != Some(false),
    );
    if decision != derived || gate_consistency(decision, evaluated, ok, warn).is_err() {
        let py = |b: bool| if b { "True" } else { "False" };
        return Err(GovernanceError::InconsistentGateDecision(format!(
            "Inconsistent gate decision payload: decision={} expected={} evaluated={} ok={} warn={}",
            repr_str(decision),
            repr_str(derived),
            py(evaluated),
            py(ok.unwrap_or(true)),
            py(warn.unwrap_or(false))
        )));
    }
    Ok(())
}

/// derive_gate_decision (cli_contracts A4): not evaluated → skip; not ok → fail; warn → warn; else pass.
pub fn derive_gate_decision(evaluated: bool, ok: bool, warn: bool) -> &'static str {
    match (evaluated, ok, warn) {
        (false, _, _) => "skip",
        (true, false, _) => "fail",
        (true, true, true) => "warn",
        (true, true, false) => "pass",
    }
}

/// Verifies the journal at `path`. `Err` only when the file cannot be read.
pub fn verify_log(path: &Path, opts: &VerifyOptions) -> Result<LogReport, GovernanceError> {
    verify_log_with(path, opts, &mut |_, _| {})
}

/// [`verify_log`], calling `visit` with every line that parses as a JSON object.
pub fn verify_log_with(
    path: &Path,
    opts: &VerifyOptions,
    visit: &mut LineVisitor<'_>,
) -> Result<LogReport, GovernanceError> {
    let data = std::fs::read(path).map_err(|source| GovernanceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(verify_bytes_with(&data, opts, visit))
}

/// Verifies journal content already in memory.
pub fn verify_bytes(data: &[u8], opts: &VerifyOptions) -> LogReport {
    verify_bytes_with(data, opts, &mut |_, _| {})
}

/// [`verify_bytes`] with a line visitor.
pub fn verify_bytes_with(
    data: &[u8],
    opts: &VerifyOptions,
    visit: &mut LineVisitor<'_>,
) -> LogReport {
    let mut verifier = Verifier::new(*opts, ChainState::default());
    verifier.feed_all(data, visit);
    verifier.finish().0
}

#[cfg(test)]
mod tests;
