//! `veriscope override`: record a human pass/fail judgement, all-or-nothing.
//!
//! productization §2.5 / §4E and contract_v1 §Manual Judgement Artifacts: writes
//! `manual_judgement.json` (snapshot), appends `manual_judgement.jsonl` (with `rev`) and a
//! `manual_judgement_set` governance event; never touches gate records. Fixes cli_contracts
//! A17.9: OUTDIR is never created, everything is validated and every byte prepared before the
//! first write, a failure after a partial write rolls back what was written, and the
//! governance timestamp equals the judgement's (seconds, `Z`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use jiff::Timestamp;
use serde_json::{Value, json};
use veriscope_capsule::atomic::write_bytes_atomic;
use veriscope_capsule::governance::Journal;
use veriscope_capsule::load::{GOVERNANCE_LOG, MANUAL_JUDGEMENT, MANUAL_JUDGEMENT_LOG, RESULTS};
use veriscope_capsule::validate::{ValidateOptions, validate_capsule};
use veriscope_contracts::{format_utc, parse_utc};

use crate::error::ReportError;

/// What the reviewer asked for.
#[derive(Debug, Clone)]
pub struct OverrideRequest {
    /// Capsule directory (must exist).
    pub outdir: PathBuf,
    /// `pass` or `fail`.
    pub status: String,
    /// Why (non-empty).
    pub reason: String,
    /// Who (blank means unknown).
    pub reviewer: Option<String>,
    /// When; `None` means `now`.
    pub ts_utc: Option<String>,
    /// Overwrite an existing manual_judgement.json.
    pub force: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct OverrideOutcome {
    /// Path of manual_judgement.json.
    pub json_path: PathBuf,
    /// `rev` of the jsonl line.
    pub jsonl_rev: i64,
    /// `rev` of the governance entry.
    pub governance_rev: i64,
    /// Non-fatal warnings (e.g. governance timestamp decrease).
    pub warnings: Vec<String>,
}

fn refuse(token: &str, message: impl Into<String>) -> ReportError {
    ReportError::invalid(token, message)
}

/// Resolves `--ts-utc` (cli_contracts A7 step 3): absent → now; blank → error; naive → UTC.
pub fn resolve_ts(raw: Option<&str>, now: Timestamp) -> Result<String, ReportError> {
    match raw {
        None => Ok(format_utc(now)),
        Some(s) if s.trim().is_empty() => Err(refuse("OVERRIDE_INVALID", "ts_utc cannot be empty")),
        Some(s) => parse_utc(s)
            .map(format_utc)
            .map_err(|_| refuse("OVERRIDE_INVALID", format!("Invalid ts_utc format: '{s}'"))),
    }
}

/// Bytes prepared before any write.
struct Plan {
    run_id: String,
    json_bytes: Vec<u8>,
    jsonl_line: Vec<u8>,
    jsonl_rev: i64,
    payload: Value,
    actor: Option<String>,
    ts: String,
}

/// Validates everything, then writes json, jsonl and the governance event; rolls back on failure.
pub fn apply_override(
    req: &OverrideRequest,
    now: Timestamp,
) -> Result<OverrideOutcome, ReportError> {
    let (plan, mut journal) = prepare(req, now)?;
    let json_path = req.outdir.join(MANUAL_JUDGEMENT);
    let jsonl_path = req.outdir.join(MANUAL_JUDGEMENT_LOG);
    let undo = Undo::capture(&json_path, &jsonl_path)?;
    let written = (|| {
        append_line(&jsonl_path, &plan.jsonl_line)?;
        write_bytes_atomic(&json_path, &plan.json_bytes)
    })();
    if let Err(source) = written {
        undo.restore();
        return Err(ReportError::Io {
            path: json_path,
            source,
        });
    }
    match journal.append(
        "manual_judgement_set",
        plan.payload.clone(),
        plan.actor.as_deref(),
        &plan.ts,
    ) {
        Ok(entry) => Ok(OverrideOutcome {
            json_path,
            jsonl_rev: plan.jsonl_rev,
            governance_rev: entry.rev,
            warnings: entry.warnings,
        }),
        Err(e) => {
            undo.restore();
            Err(refuse(
                "GOVERNANCE_APPEND_FAILED",
                format!("{e} (manual judgement rolled back; run_id={})", plan.run_id),
            ))
        }
    }
}

fn prepare(req: &OverrideRequest, now: Timestamp) -> Result<(Plan, Journal), ReportError> {
    let dir = &req.outdir;
    if !dir.is_dir() {
        return Err(refuse(
            "OUTDIR_NOT_FOUND",
            format!("{} does not exist or is not a directory", dir.display()),
        ));
    }
    if !dir.join(RESULTS).is_file() {
        return Err(refuse(
            "MISSING_RESULTS",
            format!(
                "{}/{RESULTS} not found. Run results must exist before override.",
                dir.display()
            ),
        ));
    }
    if req.status != "pass" && req.status != "fail" {
        return Err(refuse(
            "OVERRIDE_INVALID",
            format!("status must be 'pass' or 'fail', got '{}'", req.status),
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(refuse(
            "OVERRIDE_INVALID",
            "reason must be a non-empty string",
        ));
    }
    let reviewer = req
        .reviewer
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let ts = resolve_ts(req.ts_utc.as_deref(), now)?;
    if dir.join(MANUAL_JUDGEMENT).exists() && !req.force {
        return Err(refuse(
            "MANUAL_JUDGEMENT_EXISTS",
            format!(
                "{}/{MANUAL_JUDGEMENT} already exists. Use --force to overwrite.",
                dir.display()
            ),
        ));
    }
    let report = validate_capsule(
        dir,
        &ValidateOptions {
            strict_identity: true,
            ..ValidateOptions::default()
        },
    );
    if !report.is_valid() {
        return Err(refuse("INVALID_CAPSULE", report.message));
    }
    // Journal::open verifies the existing chain strictly (legacy refused): a broken chain
    // refuses the override before anything is written.
    let journal = Journal::open(&dir.join(GOVERNANCE_LOG))
        .map_err(|e| refuse("GOVERNANCE_LOG_INVALID", e.to_string()))?;
    let results: Value = std::fs::read(dir.join(RESULTS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refuse("INVALID_CAPSULE", "results.json unreadable"))?;
    let run_id = results
        .get("run_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut snapshot = json!({"schema_version": 1, "run_id": run_id, "status": req.status, "reason": reason, "ts_utc": ts});
    if let Some(r) = &reviewer {
        snapshot["reviewer"] = json!(r);
    }
    let jsonl_rev = next_jsonl_rev(&dir.join(MANUAL_JUDGEMENT_LOG));
    let line = json!({"schema_version": 1, "run_id": run_id, "status": req.status, "reason": reason, "reviewer": reviewer, "ts_utc": ts, "rev": jsonl_rev});
    let mut json_bytes = veriscope_canon::canonical_bytes(&snapshot)?;
    json_bytes.push(b'\n');
    let mut jsonl_line = veriscope_canon::canonical_bytes(&line)?;
    jsonl_line.push(b'\n');
    let payload = json!({"status": req.status, "reason": reason, "reviewer": reviewer, "run_id": run_id, "source_path": MANUAL_JUDGEMENT});
    Ok((
        Plan {
            run_id,
            json_bytes,
            jsonl_line,
            jsonl_rev,
            payload,
            actor: reviewer,
            ts,
        },
        journal,
    ))
}

/// max valid `rev` in the jsonl + 1 (cli_contracts A7 step 4).
fn next_jsonl_rev(path: &Path) -> i64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let max = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("rev").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    max + 1
}

/// Appends one line, fsynced. If the file did not end in a newline the line still starts fresh.
fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let needs_newline = std::fs::read(path)
        .ok()
        .is_some_and(|b| !b.is_empty() && !b.ends_with(b"\n"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if needs_newline {
        f.write_all(b"\n")?;
    }
    f.write_all(line)?;
    f.sync_all()
}

/// Prior state of the two overlay files, to restore on failure.
struct Undo {
    json: (PathBuf, Option<Vec<u8>>),
    jsonl: (PathBuf, Option<Vec<u8>>),
}

impl Undo {
    fn capture(json: &Path, jsonl: &Path) -> Result<Undo, ReportError> {
        let read = |p: &Path| match std::fs::read(p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReportError::Io {
                path: p.to_path_buf(),
                source,
            }),
        };
        Ok(Undo {
            json: (json.to_path_buf(), read(json)?),
            jsonl: (jsonl.to_path_buf(), read(jsonl)?),
        })
    }

    /// Best effort: puts both files back as they were (removes them if they did not exist).
    fn restore(&self) {
        for (path, before) in [&self.json, &self.jsonl] {
            let _ = match before {
                Some(bytes) => write_bytes_atomic(path, bytes),
                None => std::fs::remove_file(path).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }),
            };
        }
    }
}
