//! The JSON report: a stable document (`schema: "veriscope.report/v1"`) with a JSON Schema
//! ([`report_schema`]), printed in Python `indent=2, sort_keys` style (canon::to_pretty_ascii).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::error::ReportError;
use crate::execution::ExecutionInfo;
use crate::overlay::ManualOverlay;
use crate::view::{ArtifactRow, CapsuleView, DistributedInfo, GovernanceView};

/// Identifier of this document's shape; bump on any breaking change.
pub const REPORT_SCHEMA_ID: &str = "veriscope.report/v1";

/// Gate counts and coverage.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GateSummaryDoc {
    /// evaluated + skip.
    pub total: u64,
    /// pass + warn + fail.
    pub evaluated: u64,
    /// Passing checks.
    pub pass: u64,
    /// Neutral checks.
    pub skip: u64,
    /// Warnings.
    pub warn: u64,
    /// Failures.
    pub fail: u64,
    /// Evaluated gates / all gates (null when partial or no gates).
    pub evaluated_fraction: Option<f64>,
    /// First evaluated gate iteration.
    pub first_evaluated_step: Option<u64>,
    /// First fail iteration.
    pub first_fail_iter: Option<u64>,
}

/// Post-warmup false-alarm rate (control runs).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FarDoc {
    /// warn + fail post-warmup.
    pub alarms: u64,
    /// Evaluated post-warmup gates.
    pub post_warmup_evaluated: u64,
    /// alarms / post_warmup_evaluated.
    pub rate: f64,
}

/// Detection after a recorded injection.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DetectionDoc {
    /// Recorded onset iteration.
    pub onset_iter: u64,
    /// max(onset, warmup): where delays are measured from.
    pub t0: u64,
    /// First warn-or-fail at or after t0.
    pub first_alarm_iter: Option<u64>,
    /// First fail at or after t0.
    pub first_fail_iter: Option<u64>,
    /// first_alarm_iter - t0, in gate windows.
    pub delay_w: Option<f64>,
}

/// Wall-clock overhead.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OverheadDoc {
    /// veriscope_wall_s / runner_wall_s - 1.
    pub fraction: f64,
    /// Wall seconds under Veriscope.
    pub veriscope_wall_s: f64,
    /// Wall seconds of the runner alone.
    pub runner_wall_s: f64,
}

/// Probe + metric overhead from the metrics stream's `timing` fields.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProbeOverheadDoc {
    /// Probe time taken from training over training time: sum(probe_ms + metric_ms) /
    /// sum(step_ms), or for an asynchronous probe sum(snapshot_ms + probe_wait_ms) /
    /// sum(step_ms).
    pub fraction: f64,
    /// The probe ran off the training thread (every timed sample carried `snapshot_ms`).
    pub asynchronous: bool,
    /// Sum of `timing.probe_ms`.
    pub probe_ms: f64,
    /// Sum of `timing.metric_ms`.
    pub metric_ms: f64,
    /// Sum of `timing.step_ms`.
    pub step_ms: f64,
    /// Samples that carried timing.
    pub samples: u64,
    /// The stream file, relative to OUTDIR.
    pub source: String,
}

/// The `veriscope report --format json` document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReportDocument {
    /// Always `veriscope.report/v1`.
    pub schema: String,
    /// OUTDIR as given.
    pub outdir: String,
    /// run_id.
    pub run_id: String,
    /// run_status.
    pub run_status: String,
    /// Automated final decision.
    pub final_decision: String,
    /// Displayed final status (contract_v1 §Precedence Map).
    pub effective_decision: String,
    /// `manual` or `automated`.
    pub decision_source: String,
    /// Partial (interrupted) capsule.
    pub partial: bool,
    /// wrapper_exit_code from the run config.
    pub wrapper_exit_code: Option<Value>,
    /// runner_exit_code from the summary.
    pub runner_exit_code: Option<Value>,
    /// Gate preset.
    pub gate_preset: String,
    /// Start time.
    pub started_ts_utc: String,
    /// End time (null when not ended).
    pub ended_ts_utc: Option<String>,
    /// Recomputed window-signature hash.
    pub window_signature_hash: String,
    /// Counts and coverage.
    pub gate_summary: GateSummaryDoc,
    /// FAR, when computable for a control run.
    pub far: Option<FarDoc>,
    /// Detection, when an injection is recorded.
    pub detection: Option<DetectionDoc>,
    /// Overhead, when timing fields exist.
    pub overhead: Option<OverheadDoc>,
    /// Probe + metric overhead vs training step, from metrics.jsonl sample timing.
    pub probe_overhead: Option<ProbeOverheadDoc>,
    /// Manual overlay, when one applies.
    pub manual_judgement: Option<ManualOverlay>,
    /// Journal summary.
    pub governance: GovernanceView,
    /// Distributed metadata.
    pub distributed: Option<DistributedInfo>,
    /// Artifacts present (paths relative to OUTDIR).
    pub artifacts: Vec<ArtifactRow>,
    /// Overlay warnings.
    pub warnings: Vec<String>,
    /// Gate contract (hash, profile, fallback fields, `UNSUPPORTED_CONTRACT` /
    /// `CONTRACT_MISMATCH` findings), manifest (hash, run seed and source), determinism (mode,
    /// met and unmet preconditions) and lineage; absent for capsules without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionInfo>,
}

/// Builds the JSON document of a view.
pub fn report_document(view: &CapsuleView) -> ReportDocument {
    let c = view.counts;
    ReportDocument {
        schema: REPORT_SCHEMA_ID.to_owned(),
        outdir: view.outdir.clone(),
        run_id: view.run_id.clone(),
        run_status: view.run_status.clone(),
        final_decision: view.final_decision.clone(),
        effective_decision: view.effective_decision().to_owned(),
        decision_source: view.decision_source().to_owned(),
        partial: view.partial,
        wrapper_exit_code: view.wrapper_exit_code.clone(),
        runner_exit_code: view.runner_exit_code.clone(),
        gate_preset: view.gate_preset.clone(),
        started_ts_utc: view.started.clone(),
        ended_ts_utc: Some(view.ended.clone()).filter(|s| !s.is_empty()),
        window_signature_hash: view.window_hash.clone(),
        gate_summary: GateSummaryDoc {
            total: c.total(),
            evaluated: c.evaluated,
            pass: c.pass,
            skip: c.skip,
            warn: c.warn,
            fail: c.fail,
            evaluated_fraction: view.evaluated_fraction(),
            first_evaluated_step: view.first_evaluated_step(),
            first_fail_iter: view.first_fail_iter,
        },
        far: view
            .far_counts()
            .filter(|_| view.injection.is_none())
            .map(|(alarms, n)| FarDoc {
                alarms,
                post_warmup_evaluated: n,
                rate: alarms as f64 / n as f64,
            }),
        detection: view.detection().map(|(t0, alarm, fail)| DetectionDoc {
            onset_iter: view.injection.as_ref().map_or(t0, |i| i.at),
            t0,
            first_alarm_iter: alarm,
            first_fail_iter: fail,
            delay_w: alarm
                .zip(view.gate_window.filter(|w| *w > 0))
                .map(|(a, w)| (a - t0) as f64 / w as f64),
        }),
        overhead: view.overhead.map(|o| OverheadDoc {
            fraction: o.fraction(),
            veriscope_wall_s: o.veriscope_wall_s,
            runner_wall_s: o.runner_wall_s,
        }),
        probe_overhead: view.stream.as_ref().and_then(|s| {
            let o = s.overhead?;
            Some(ProbeOverheadDoc {
                fraction: o.fraction(),
                asynchronous: o.is_async(),
                probe_ms: o.probe_ms,
                metric_ms: o.metric_ms,
                step_ms: o.step_ms,
                samples: o.samples,
                source: s.path.clone(),
            })
        }),
        manual_judgement: view.overlay.clone(),
        governance: view.governance.clone(),
        distributed: view.distributed.clone(),
        artifacts: view
            .artifacts
            .iter()
            .filter(|a| a.present)
            .cloned()
            .collect(),
        warnings: view.overlay_warnings.clone(),
        execution: view.execution.clone(),
    }
}

/// Renders the JSON report (Python indent=2 style, no trailing newline).
pub fn render(view: &CapsuleView) -> Result<String, ReportError> {
    let value = serde_json::to_value(report_document(view)).expect("report document serializes");
    Ok(veriscope_canon::to_pretty_ascii(&value)?)
}

/// JSON Schema of [`ReportDocument`] (served by `veriscope schema report`).
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ReportDocument)).expect("schema serializes")
}
