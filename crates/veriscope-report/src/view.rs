//! One capsule, validated and loaded into what every renderer shows.
//!
//! Data sources follow cli_contracts A8: identity, preset and times from results.json
//! (results_summary.json when partial), counts from the summary, exits from the run config and
//! summary, the window hash recomputed by validation. The displayed final status follows
//! contract_v1 §Precedence Map (jsonl overlay, then json overlay, else automated).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use veriscope_capsule::load::{
    self, FIRST_FAIL_MARKER, GOVERNANCE_LOG, MANUAL_JUDGEMENT, MANUAL_JUDGEMENT_LOG, RESULTS,
    RESULTS_SUMMARY, RUN_CONFIG, WINDOW_SIGNATURE,
};
use veriscope_capsule::validate::{
    ValidateOptions, ValidationReport, validate_capsule_keeping_results,
};

use crate::economic::EconomicInputs;
use crate::error::ReportError;
use crate::execution::ExecutionInfo;
use crate::overlay::{ManualOverlay, resolve_overlay};
use crate::results_lite;
use crate::stream::{MetricsStream, ProbeOverhead, injection_of, load_stream, stream_path};

/// Runner log captured by the wrapper (productization §6).
pub const RUNNER_OUTPUT_LOG: &str = "runner_output.log";
/// Dependency and platform capture (productization §4A).
pub const ENVIRONMENT_TXT: &str = "environment.txt";

/// Which validation a reader needs before it trusts a capsule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationProfile {
    /// `report`/`inspect`: partial allowed, strict identity, governance optional, an invalid
    /// journal is shown (not fatal), legacy entries tolerated (cli_contracts A8).
    Report,
    /// `diff`/`report --compare`: governance required and strictly valid, legacy refused
    /// (contract_v1 §Precedence Map "Comparisons", cli_contracts A9).
    Compare,
}

impl ValidationProfile {
    /// The validator switches of this profile.
    pub fn options(self) -> ValidateOptions {
        match self {
            ValidationProfile::Report => ValidateOptions {
                strict_identity: true,
                allow_legacy_governance: true,
                allow_partial: true,
                ..ValidateOptions::default()
            },
            ValidationProfile::Compare => ValidateOptions {
                strict_governance: true,
                require_governance: true,
                strict_identity: true,
                allow_partial: true,
                ..ValidateOptions::default()
            },
        }
    }
}

/// Gate decision counts (results_summary.counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Evaluated gate checks (pass + warn + fail).
    pub evaluated: u64,
    /// Neutral checks.
    pub skip: u64,
    /// Passing checks.
    pub pass: u64,
    /// Warnings.
    pub warn: u64,
    /// Failures.
    pub fail: u64,
}

impl Counts {
    /// Every gate check: evaluated + skip.
    pub fn total(&self) -> u64 {
        self.evaluated + self.skip
    }

    fn from_value(v: Option<&Value>) -> Counts {
        let get = |k: &str| {
            v.and_then(|c| c.get(k))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Counts {
            evaluated: get("evaluated"),
            skip: get("skip"),
            pass: get("pass"),
            warn: get("warn"),
            fail: get("fail"),
        }
    }
}

/// One gate check as the charts and timelines need it: the record as validation reads it
/// for display, so a validated capsule's gates come from validation's own parse.
pub use veriscope_capsule::validate::GateRecord as GatePoint;

/// The journal as the Governance section shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct GovernanceView {
    /// governance_log.jsonl exists.
    pub present: bool,
    /// The chain verifies (legacy entries tolerated for display, cli_contracts A6.4).
    pub valid: bool,
    /// Last accepted rev.
    pub last_rev: Option<i64>,
    /// Last effective entry hash.
    pub last_hash: Option<String>,
    /// Some entry lacks `entry_hash`.
    pub legacy_missing_hash: bool,
    /// Accepted entries per event.
    pub event_counts: BTreeMap<String, u64>,
    /// Number of reader warnings.
    pub warnings: usize,
    /// The invalidating warnings.
    pub errors: Vec<String>,
}

/// Distributed execution metadata from `run_started_v1.payload.distributed`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct DistributedInfo {
    /// `distributed_mode` (`unknown` when absent).
    pub mode: String,
    /// `world_size_observed`.
    pub world_size: Option<u64>,
    /// `backend` or legacy `ddp_backend` (`unknown` when absent).
    pub backend: String,
}

impl DistributedInfo {
    /// Whether more than one process took part (worth a banner).
    pub fn is_distributed(&self) -> bool {
        self.world_size.is_some_and(|n| n > 1)
            || (self.mode != "single_process" && self.mode != "unknown")
    }

    /// `(mode, world size, backend)` as compared by diff (cli_contracts A9).
    pub fn key(&self) -> (String, String, String) {
        let ws = self
            .world_size
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        (self.mode.clone(), ws, self.backend.clone())
    }
}

/// The recorded pathology injection (`run_config_resolved.json` runner.hello.injection).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Injection {
    /// Kind, e.g. `data_corrupt`.
    pub kind: Option<String>,
    /// Onset iteration.
    pub at: u64,
    /// Length in iterations, when recorded.
    pub len: Option<u64>,
}

/// Wall-clock overhead from the run config's timing fields (productization §0 acceptance).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Overhead {
    /// Wall seconds of the run under Veriscope.
    pub veriscope_wall_s: f64,
    /// Wall seconds of the runner alone.
    pub runner_wall_s: f64,
}

impl Overhead {
    /// Extra fraction: veriscope / runner - 1 (0.031 = 3.1%).
    pub fn fraction(&self) -> f64 {
        self.veriscope_wall_s / self.runner_wall_s - 1.0
    }
}

/// One artifact row of the Artifacts section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ArtifactRow {
    /// What it is, for people.
    pub label: String,
    /// Path relative to OUTDIR.
    pub path: String,
    /// It exists.
    pub present: bool,
}

/// Everything a renderer shows about one capsule.
#[derive(Debug, Clone, PartialEq)]
pub struct CapsuleView {
    /// OUTDIR as given on the command line.
    pub outdir: String,
    /// `run_id`.
    pub run_id: String,
    /// `schema_version` as recorded.
    pub schema_version: Value,
    /// `run_status`.
    pub run_status: String,
    /// Automated `final_decision`.
    pub final_decision: String,
    /// The manual overlay, when one applies.
    pub overlay: Option<ManualOverlay>,
    /// Warnings met while resolving the overlay.
    pub overlay_warnings: Vec<String>,
    /// `wrapper_exit_code` from the run config (raw).
    pub wrapper_exit_code: Option<Value>,
    /// `runner_exit_code` from the summary (raw).
    pub runner_exit_code: Option<Value>,
    /// `profile.gate_preset`.
    pub gate_preset: String,
    /// `started_ts_utc` for display.
    pub started: String,
    /// `ended_ts_utc` for display (empty when null).
    pub ended: String,
    /// Recomputed window-signature hash.
    pub window_hash: String,
    /// `results_summary.window_signature_ref.hash` as recorded (comparability uses it).
    pub window_ref_hash: Option<String>,
    /// Partial capsule (interrupted run).
    pub partial: bool,
    /// Summary counts.
    pub counts: Counts,
    /// `first_fail_iter`.
    pub first_fail_iter: Option<u64>,
    /// Gate checks from results.json, in file order.
    pub gates: Vec<GatePoint>,
    /// Metric samples from results.json `metrics` (name → (iter, value)), iter order.
    pub metrics: BTreeMap<String, Vec<(u64, f64)>>,
    /// Governance summary.
    pub governance: GovernanceView,
    /// Artifact rows (relative paths).
    pub artifacts: Vec<ArtifactRow>,
    /// Distributed metadata, when recorded.
    pub distributed: Option<DistributedInfo>,
    /// `gate_window`, when known.
    pub gate_window: Option<u64>,
    /// `gate_warmup_iters`, when known.
    pub gate_warmup_iters: Option<u64>,
    /// Recorded injection.
    pub injection: Option<Injection>,
    /// Timing-based overhead, when recorded.
    pub overhead: Option<Overhead>,
    /// The capsule's metrics stream copy (`metrics.jsonl`), when present.
    pub stream: Option<MetricsStream>,
    /// `(type, message)` of a run-config error capsule.
    pub error_capsule: Option<(String, String)>,
    /// Non-fatal validation warnings (for `inspect`).
    pub validation_warnings: Vec<String>,
    /// The full counts object (extras included) for diff's `counts_differs`.
    pub raw_counts: Value,
    /// Run config and results inputs of the economic estimate.
    pub economic_inputs: EconomicInputs,
    /// Gate contract, manifest, determinism and lineage (docs/replay.md), when recorded.
    pub execution: Option<ExecutionInfo>,
    /// `notify.log` (docs/notify.md): what `--notify-cmd` sent and how each ended.
    pub notifications: Vec<Notification>,
}

/// One line of `notify.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `gate_fail`, `gate_warn` or `run_end`.
    pub event: String,
    pub iter: Option<u64>,
    /// `exit 0`, `timed out after 10 s`, `suppressed`, ...
    pub outcome: String,
}

/// Reads `notify.log` best effort: it is an operational record, not a contract artifact, so
/// a missing file or a line that does not parse is skipped, never an error.
fn notifications(outdir: &Path) -> Vec<Notification> {
    let Ok(text) = std::fs::read_to_string(outdir.join("notify.log")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            Some(Notification {
                event: v.get("event")?.as_str()?.to_owned(),
                iter: v.get("iter").and_then(Value::as_u64),
                outcome: v.get("outcome")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

impl CapsuleView {
    /// Probe + metric overhead from the stream's timing fields, when recorded.
    pub fn probe_overhead(&self) -> Option<ProbeOverhead> {
        self.stream.as_ref().and_then(|s| s.overhead)
    }

    /// Displayed final status: the overlay if present, else the automated decision.
    pub fn effective_decision(&self) -> &str {
        self.overlay
            .as_ref()
            .map_or(self.final_decision.as_str(), |o| o.status.as_str())
    }

    /// `manual` or `automated`.
    pub fn decision_source(&self) -> &'static str {
        if self.overlay.is_some() {
            "manual"
        } else {
            "automated"
        }
    }

    /// Text shown as Final Status: `MANUAL PASS` / `MANUAL FAIL` or the automated decision upper-cased.
    pub fn final_status_label(&self) -> String {
        match &self.overlay {
            Some(o) => format!("MANUAL {}", o.status.to_uppercase()),
            None => self.final_decision.to_uppercase(),
        }
    }

    /// Iteration of the first evaluated gate.
    pub fn first_evaluated_step(&self) -> Option<u64> {
        self.gates
            .iter()
            .filter(|g| g.evaluated)
            .map(|g| g.iter)
            .min()
    }

    /// Evaluated gates / all gates (None when partial or no gates).
    pub fn evaluated_fraction(&self) -> Option<f64> {
        if self.partial || self.gates.is_empty() {
            return None;
        }
        Some(self.gates.iter().filter(|g| g.evaluated).count() as f64 / self.gates.len() as f64)
    }

    /// Post-warmup false-alarm figures `(alarms, evaluated)`: warn+fail over evaluated gates with
    /// iter >= gate_warmup_iters (productization §0 "Post-warmup definition").
    pub fn far_counts(&self) -> Option<(u64, u64)> {
        let warmup = self
            .gate_warmup_iters
            .or_else(|| self.first_evaluated_step())?;
        let post: Vec<&GatePoint> = self
            .gates
            .iter()
            .filter(|g| g.evaluated && g.iter >= warmup)
            .collect();
        if post.is_empty() {
            return None;
        }
        let alarms = post
            .iter()
            .filter(|g| g.decision == "warn" || g.decision == "fail")
            .count() as u64;
        Some((alarms, post.len() as u64))
    }

    /// Detection after a recorded injection: `(onset t0, first warn/fail iter, first fail iter)`,
    /// measured from max(onset, warmup) (cli_contracts A12).
    pub fn detection(&self) -> Option<(u64, Option<u64>, Option<u64>)> {
        let inj = self.injection.as_ref()?;
        let t0 = inj.at.max(self.gate_warmup_iters.unwrap_or(0));
        let after = |pred: &dyn Fn(&str) -> bool| {
            self.gates
                .iter()
                .filter(|g| g.evaluated && g.iter >= t0 && pred(&g.decision))
                .map(|g| g.iter)
                .min()
        };
        Some((
            t0,
            after(&|d| d == "warn" || d == "fail"),
            after(&|d| d == "fail"),
        ))
    }
}

/// Validates `outdir` with `profile` and loads its view. `display_outdir` is the OUTDIR text
/// as the user typed it (shown in headers).
pub fn load_view(outdir: &Path, profile: ValidationProfile) -> Result<CapsuleView, ReportError> {
    if !outdir.is_dir() {
        return Err(ReportError::CannotReport(format!(
            "OUTDIR not found or not a directory: {}",
            outdir.display()
        )));
    }
    // Validation reads results.json for display while it checks it (the view's gates and
    // top-level fields), so the file is parsed once. Reading the other artifacts is
    // independent of validation, so it runs alongside.
    let (mut report, parts) = std::thread::scope(|scope| {
        let validation =
            scope.spawn(|| validate_capsule_keeping_results(outdir, &profile.options()));
        let parts = load_parts(outdir, ResultsFrom::Validation);
        let report = validation
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (report, parts)
    });
    if !report.is_valid() {
        return Err(ReportError::CannotReport(report.message.clone()));
    }
    let mut parts = parts?;
    // A valid capsule's results.json, when it has one, passed its checks, so validation
    // read it.
    if let Some(read) = report.results.take() {
        parts.capsule.results = Some(Value::Object(read.top));
        parts.gates = read.gates;
    }
    build_view(outdir, &report, parts)
}

/// [`load_view`] for several capsules, one thread each (diff and compare read two or more
/// large capsules; validation and parsing dominate and are independent). Results keep order.
pub fn load_views<P: AsRef<Path> + Sync>(
    dirs: &[P],
    profile: ValidationProfile,
) -> Vec<Result<CapsuleView, ReportError>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|d| scope.spawn(move || load_view(d.as_ref(), profile)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ReportError::CannotReport(
                        "capsule loader panicked".to_owned(),
                    ))
                })
            })
            .collect()
    })
}

/// Builds the view of a capsule that was already validated (`report` must be valid); lets a
/// caller that ran `validate_capsule` itself avoid validating twice.
pub fn view_from_report(
    outdir: &Path,
    report: &ValidationReport,
) -> Result<CapsuleView, ReportError> {
    let Some(read) = &report.results else {
        return build_view(outdir, report, load_parts(outdir, ResultsFrom::File)?);
    };
    let mut parts = load_parts(outdir, ResultsFrom::Validation)?;
    parts.capsule.results = Some(Value::Object(read.top.clone()));
    parts.gates = read.gates.clone();
    build_view(outdir, report, parts)
}

/// Where the view's results.json comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResultsFrom {
    /// Read and parsed here (when the validation report does not carry it).
    File,
    /// Validation's reading ([`ValidationReport::results`]), filled in by the caller.
    Validation,
}

/// The capsule's artifacts as the view reads them: results.json without its `gates` (those
/// come as typed rows, from validation or results_lite), the others whole.
struct Parts {
    capsule: load::Capsule,
    gates: Vec<GatePoint>,
}

fn load_parts(outdir: &Path, from: ResultsFrom) -> Result<Parts, ReportError> {
    let err = |e: load::LoadError| ReportError::CannotReport(e.to_string());
    let bytes = match from {
        ResultsFrom::File => load::read_bytes(outdir, load::RESULTS).map_err(err)?,
        ResultsFrom::Validation => None,
    };
    let results = match bytes {
        None => None,
        Some(bytes) => {
            // The whole-object reader words a broken file exactly as validate does.
            let lite = std::str::from_utf8(&bytes)
                .ok()
                .and_then(results_lite::parse_results);
            match lite {
                Some(lite) => Some(lite),
                None => {
                    load::parse_object(load::RESULTS, &bytes).map_err(err)?;
                    None
                }
            }
        }
    };
    let (results, gates) = match results {
        Some(r) => (Some(r.top), r.gates),
        None => (None, Vec::new()),
    };
    let capsule = load::Capsule {
        outdir: outdir.to_path_buf(),
        window_signature: load::read_object(outdir, load::WINDOW_SIGNATURE).map_err(err)?,
        results,
        summary: load::read_object(outdir, load::RESULTS_SUMMARY).map_err(err)?,
        run_config: load::read_object(outdir, load::RUN_CONFIG).map_err(err)?,
        manual_judgement: load::read_object(outdir, load::MANUAL_JUDGEMENT).map_err(err)?,
        has_manual_judgement_log: outdir.join(load::MANUAL_JUDGEMENT_LOG).is_file(),
        has_governance_log: outdir.join(load::GOVERNANCE_LOG).is_file(),
        has_first_fail_marker: outdir.join(load::FIRST_FAIL_MARKER).exists(),
    };
    Ok(Parts { capsule, gates })
}

fn build_view(
    outdir: &Path,
    report: &ValidationReport,
    parts: Parts,
) -> Result<CapsuleView, ReportError> {
    let Parts { capsule, gates } = parts;
    let summary = capsule.summary.clone().unwrap_or_default();
    let partial = capsule.is_partial();
    let header = capsule.results.as_ref().unwrap_or(&summary);
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let run_id = text(header, "run_id");
    let resolution = resolve_overlay(outdir, &run_id);
    let run_config = capsule.run_config.clone().unwrap_or_default();
    let gate_controls = capsule
        .window_signature
        .as_ref()
        .and_then(|w| w.get("gate_controls"));
    let control = |k: &str| {
        gate_controls
            .and_then(|c| c.get(k))
            .or_else(|| run_config.get("resolved_gate_cfg").and_then(|c| c.get(k)))
            .and_then(Value::as_u64)
    };
    let first_fail_iter = summary.get("first_fail_iter").and_then(Value::as_u64);
    let stream = load_stream(outdir, &stream_path(capsule.results.as_ref()));
    Ok(CapsuleView {
        outdir: outdir.display().to_string(),
        schema_version: header.get("schema_version").cloned().unwrap_or(Value::Null),
        run_status: text(header, "run_status"),
        final_decision: text(&summary, "final_decision"),
        overlay: resolution.overlay,
        overlay_warnings: resolution.warnings,
        wrapper_exit_code: run_config.get("wrapper_exit_code").cloned(),
        runner_exit_code: summary.get("runner_exit_code").cloned(),
        gate_preset: header
            .pointer("/profile/gate_preset")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        started: display_ts(header.get("started_ts_utc")),
        ended: display_ts(header.get("ended_ts_utc")),
        window_hash: report.window_signature_hash.clone().unwrap_or_default(),
        window_ref_hash: header
            .pointer("/window_signature_ref/hash")
            .and_then(Value::as_str)
            .map(str::to_owned),
        partial,
        counts: Counts::from_value(summary.get("counts")),
        raw_counts: summary.get("counts").cloned().unwrap_or(Value::Null),
        first_fail_iter,
        gates,
        metrics: capsule
            .results
            .as_ref()
            .map(metric_series)
            .unwrap_or_default(),
        governance: governance_view(report, capsule.has_governance_log),
        artifacts: artifact_rows(outdir),
        distributed: distributed_info(outdir),
        gate_window: control("gate_window"),
        gate_warmup_iters: control("gate_warmup_iters").or_else(|| control("gate_warmup")),
        injection: stream
            .as_ref()
            .and_then(|s| s.injection.clone())
            .or_else(|| injection(&run_config)),
        overhead: overhead(&run_config),
        stream,
        error_capsule: error_capsule(&run_config),
        economic_inputs: EconomicInputs::from_artifacts(
            &run_config,
            capsule.results.as_ref().unwrap_or(&Value::Null),
        ),
        validation_warnings: report.warnings().map(|f| f.message.clone()).collect(),
        execution: ExecutionInfo::from_run_config(&run_config),
        notifications: notifications(outdir),
        run_id,
    })
}

/// ISO text as the original prints it: `+00:00` shown as `Z` (cli_contracts A8).
fn display_ts(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(s) => s
            .strip_suffix("+00:00")
            .map_or_else(|| s.to_owned(), |head| format!("{head}Z")),
        None => String::new(),
    }
}

fn f64_of(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|x| x.is_finite())
}

fn metric_series(results: &Value) -> BTreeMap<String, Vec<(u64, f64)>> {
    let mut out: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for rec in results
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(iter), Some(value)) = (
            rec.get("name").and_then(Value::as_str),
            rec.get("iter").and_then(Value::as_u64),
            f64_of(rec.get("value")),
        ) else {
            continue;
        };
        out.entry(name.to_owned()).or_default().push((iter, value));
    }
    for series in out.values_mut() {
        series.sort_by_key(|p| p.0);
    }
    out
}

fn governance_view(report: &ValidationReport, present: bool) -> GovernanceView {
    let Some(log) = report.governance.as_ref().filter(|_| present) else {
        return GovernanceView {
            present,
            ..GovernanceView::default()
        };
    };
    GovernanceView {
        present,
        valid: log.is_valid(),
        last_rev: log.last_rev,
        last_hash: log.last_hash.clone(),
        legacy_missing_hash: log.legacy_missing_hash,
        event_counts: log.event_counts.clone(),
        warnings: log.warnings.len(),
        errors: log.errors.clone(),
    }
}

/// Known artifacts with their labels (productization Appendix A), in display order.
pub const ARTIFACTS: [(&str, &str); 10] = [
    ("Provenance", RUN_CONFIG),
    ("Window signature", WINDOW_SIGNATURE),
    ("Detailed results", RESULTS),
    ("Summary", RESULTS_SUMMARY),
    ("First-fail marker", FIRST_FAIL_MARKER),
    ("Manual judgement", MANUAL_JUDGEMENT),
    ("Manual judgement log", MANUAL_JUDGEMENT_LOG),
    ("Governance log", GOVERNANCE_LOG),
    ("Dependencies", ENVIRONMENT_TXT),
    ("Runner logs", RUNNER_OUTPUT_LOG),
];

fn artifact_rows(outdir: &Path) -> Vec<ArtifactRow> {
    ARTIFACTS
        .iter()
        .map(|(label, name)| ArtifactRow {
            label: (*label).to_owned(),
            path: (*name).to_owned(),
            present: outdir.join(name).is_file(),
        })
        .collect()
}

/// The last `run_started_v1.payload.distributed` in the journal (raw scan, read-only).
/// `None` when the journal cannot be read or is not UTF-8.
pub(crate) fn distributed_info(outdir: &Path) -> Option<DistributedInfo> {
    let mut found = None;
    for_each_line_block(&outdir.join(GOVERNANCE_LOG), |text| {
        for line in text.lines().filter(|l| l.contains("run_started_v1")) {
            let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let event = entry
                .get("event")
                .or_else(|| entry.get("event_type"))
                .and_then(Value::as_str);
            if event != Some("run_started_v1") {
                continue;
            }
            if let Some(Value::Object(d)) = entry.get("payload").and_then(|p| p.get("distributed"))
            {
                found = Some(distributed_from(d));
            }
        }
    })?;
    found
}

/// Calls `f` with the text of the file at `path` in blocks of whole lines, through one
/// reused buffer: a 10^5-gate journal is ~50 MB, and reading it whole into a fresh string
/// cost more (page faults) than scanning it. `None` when the file cannot be read or a block
/// is not UTF-8 (blocks end at a `\n`, so no character is split: as `read_to_string`).
fn for_each_line_block(path: &Path, mut f: impl FnMut(&str)) -> Option<()> {
    const BLOCK: u64 = 8 << 20;
    let file = std::fs::File::open(path).ok()?;
    veriscope_capsule::governance::for_each_line_block(file, BLOCK, |bytes| {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        f(text);
        Ok(())
    })
    .ok()
}

fn distributed_from(d: &Map<String, Value>) -> DistributedInfo {
    let s = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_owned);
    DistributedInfo {
        mode: s("distributed_mode").unwrap_or_else(|| "unknown".to_owned()),
        world_size: d.get("world_size_observed").and_then(Value::as_u64),
        backend: s("backend")
            .or_else(|| s("ddp_backend"))
            .unwrap_or_else(|| "unknown".to_owned()),
    }
}

fn injection(run_config: &Value) -> Option<Injection> {
    let inj = run_config
        .pointer("/runner/hello/injection")
        .or_else(|| run_config.pointer("/runner/injection"))?;
    injection_of(inj)
}

fn overhead(run_config: &Value) -> Option<Overhead> {
    let timing = run_config.get("timing")?;
    let veriscope_wall_s = f64_of(timing.get("veriscope_wall_s"))?;
    let runner_wall_s = f64_of(timing.get("runner_wall_s")).filter(|x| *x > 0.0)?;
    Some(Overhead {
        veriscope_wall_s,
        runner_wall_s,
    })
}

fn error_capsule(run_config: &Value) -> Option<(String, String)> {
    let err = run_config.get("error")?.as_object()?;
    let s = |k: &str, dflt: &str| {
        err.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(dflt)
            .to_owned()
    };
    Some((
        s("type", "UnknownError"),
        s("message", "No message provided"),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use veriscope_capsule::validate::validate_capsule;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/capsules/valid")
            .join(name)
    }

    /// The gates and results fields validation reads for the view are those the view's own
    /// reader gives, lax spellings included.
    #[test]
    fn validation_reads_results_as_the_view_reader_does() {
        let tmp = tempfile::tempdir().unwrap();
        let lax = tmp.path().join("lax");
        std::fs::create_dir(&lax).unwrap();
        for entry in std::fs::read_dir(fixture("four_gate")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), lax.join(entry.file_name())).unwrap();
        }
        // Pretty-printed (no record reads through a view) with lax values validation accepts.
        let mut doc: Value =
            serde_json::from_slice(&std::fs::read(lax.join(load::RESULTS)).unwrap()).unwrap();
        doc["gates"][0]["audit"]["evaluated"] = Value::from("true");
        doc["gates"][1]["audit"]["worst_DW"] = Value::from("0.25");
        std::fs::write(
            lax.join(load::RESULTS),
            serde_json::to_string_pretty(&doc).unwrap(),
        )
        .unwrap();
        let dirs = [
            "four_gate",
            "failing_run",
            "distributed_ddp",
            "partial",
            "override_overlay",
        ]
        .map(fixture)
        .into_iter()
        .chain([lax]);
        let mut compared = Vec::new();
        for dir in dirs {
            for profile in [ValidationProfile::Report, ValidationProfile::Compare] {
                // Some fixtures are not comparable (no journal); Report loads them all.
                let Ok(loaded) = load_view(&dir, profile) else {
                    continue;
                };
                let report = validate_capsule(&dir, &profile.options());
                assert!(report.results.is_none());
                let read_here = view_from_report(&dir, &report).unwrap();
                assert_eq!(loaded, read_here, "{}", dir.display());
                compared.push((dir.file_name().unwrap().to_owned(), profile));
            }
        }
        assert!(compared.len() >= 7, "{compared:?}");
        assert!(compared.iter().any(|(d, _)| d == "lax"));
    }
}
