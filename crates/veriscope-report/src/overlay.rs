//! Manual judgement overlay resolution (contract_v1 §Precedence Map, cli_contracts A7).
//!
//! The last valid `manual_judgement.jsonl` entry for the run wins; else a valid, matching
//! `manual_judgement.json`; else none. Problems are warnings, never errors: an overlay never
//! blocks a report.

use std::path::Path;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use veriscope_capsule::load::{MANUAL_JUDGEMENT, MANUAL_JUDGEMENT_LOG};
use veriscope_contracts::parse_utc;

/// Where the displayed overlay came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverlaySource {
    /// `manual_judgement.jsonl` (last matching valid line).
    Jsonl,
    /// `manual_judgement.json` snapshot.
    Json,
}

impl OverlaySource {
    /// `jsonl` / `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            OverlaySource::Jsonl => "jsonl",
            OverlaySource::Json => "json",
        }
    }
}

/// A human judgement shown over the automated decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ManualOverlay {
    /// `pass` or `fail`.
    pub status: String,
    /// Why.
    pub reason: String,
    /// Who, when recorded.
    pub reviewer: Option<String>,
    /// When (as recorded).
    pub ts_utc: String,
    /// Which artifact it came from.
    pub source: OverlaySource,
    /// `rev` of the jsonl line, when from the log.
    pub rev: Option<i64>,
}

/// The overlay (if any) and the warnings met while resolving it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayResolution {
    /// The winning overlay.
    pub overlay: Option<ManualOverlay>,
    /// `WARNING:MANUAL_JUDGEMENT_*` tokens (cli_contracts A7).
    pub warnings: Vec<String>,
}

/// Checks one judgement object; `Err` is the schema problem text.
fn parse_judgement(
    obj: &Map<String, Value>,
    source: OverlaySource,
) -> Result<ManualOverlay, String> {
    if obj.get("schema_version").and_then(Value::as_i64) != Some(1) {
        return Err("schema_version must be 1".to_owned());
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let status = text("status")
        .filter(|s| s == "pass" || s == "fail")
        .ok_or("status must be 'pass' or 'fail'")?;
    let reason = text("reason")
        .filter(|s| !s.is_empty())
        .ok_or("reason must be a non-empty string")?;
    text("run_id")
        .filter(|s| !s.is_empty())
        .ok_or("run_id must be a non-empty string")?;
    let ts_utc = text("ts_utc").ok_or("ts_utc must be a string")?;
    parse_utc(&ts_utc).map_err(|e| e.to_string())?;
    let reviewer = match obj.get("reviewer") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("reviewer must be a string or null".to_owned()),
    };
    Ok(ManualOverlay {
        status,
        reason,
        reviewer,
        ts_utc,
        source,
        rev: obj.get("rev").and_then(Value::as_i64),
    })
}

/// Resolves the overlay of `run_id` in `outdir` (read-only).
pub fn resolve_overlay(outdir: &Path, run_id: &str) -> OverlayResolution {
    let mut res = OverlayResolution::default();
    if let Ok(text) = std::fs::read_to_string(outdir.join(MANUAL_JUDGEMENT_LOG)) {
        res.overlay = last_jsonl_entry(&text, run_id, &mut res.warnings);
    }
    if res.overlay.is_none() {
        res.overlay = snapshot_entry(outdir, run_id, &mut res.warnings);
    }
    res
}

fn last_jsonl_entry(text: &str, run_id: &str, warnings: &mut Vec<String>) -> Option<ManualOverlay> {
    let mut best = None;
    let mut last_ts = None;
    for (idx, line) in text.lines().enumerate() {
        let n = idx + 1;
        if line.trim().is_empty() {
            continue;
        }
        let obj = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => {
                warnings.push(format!(
                    "WARNING:MANUAL_JUDGEMENT_LOG_INVALID line={n} not_object"
                ));
                continue;
            }
            Err(e) => {
                warnings.push(format!(
                    "WARNING:MANUAL_JUDGEMENT_LOG_INVALID line={n} json_error={e}"
                ));
                continue;
            }
        };
        if obj.get("rev").and_then(Value::as_i64).is_none() {
            warnings.push(format!(
                "WARNING:MANUAL_JUDGEMENT_LOG_INVALID line={n} rev_missing_or_invalid"
            ));
            continue;
        }
        let entry = match parse_judgement(&obj, OverlaySource::Jsonl) {
            Ok(entry) => entry,
            Err(e) => {
                warnings.push(format!(
                    "WARNING:MANUAL_JUDGEMENT_LOG_INVALID line={n} schema_error={e}"
                ));
                continue;
            }
        };
        let got = obj
            .get("run_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if got != run_id {
            warnings.push(format!(
                "WARNING:MANUAL_JUDGEMENT_RUN_ID_MISMATCH line={n} expected={run_id} got={got}"
            ));
            continue;
        }
        let ts = parse_utc(&entry.ts_utc).ok();
        if let (Some(prev), Some(cur)) = (last_ts, ts)
            && cur < prev
        {
            warnings.push(format!("WARNING:MANUAL_JUDGEMENT_TS_DECREASE line={n}"));
        }
        last_ts = ts.or(last_ts);
        best = Some(entry);
    }
    best
}

fn snapshot_entry(
    outdir: &Path,
    run_id: &str,
    warnings: &mut Vec<String>,
) -> Option<ManualOverlay> {
    let bytes = std::fs::read(outdir.join(MANUAL_JUDGEMENT)).ok()?;
    let parsed = serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|v| match v {
            Value::Object(obj) => parse_judgement(&obj, OverlaySource::Json).map(|o| (o, obj)),
            _ => Err("not a JSON object".to_owned()),
        });
    match parsed {
        Ok((overlay, obj)) => {
            let got = obj
                .get("run_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if got == run_id {
                Some(overlay)
            } else {
                warnings.push(format!(
                    "WARNING:MANUAL_JUDGEMENT_RUN_ID_MISMATCH line=0 expected={run_id} got={got}"
                ));
                None
            }
        }
        Err(e) => {
            warnings.push(format!(
                "WARNING:MANUAL_JUDGEMENT_LOG_INVALID line=0 manual_judgement_json_invalid={e}"
            ));
            None
        }
    }
}
