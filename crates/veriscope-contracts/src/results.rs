//! `results.json` (productization §4C, cli_contracts A4): the detailed audit record.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::common::{
    Artifact, ProfileV1, SchemaVersion, WindowSignatureRefV1, check_non_empty, check_non_empty_opt,
    is_sha256_hex,
};
use crate::num::{self, NOT_NON_NEGATIVE};
use crate::time::UtcTimestamp;
use crate::violation::{ContractViolation, pointer_join};
use crate::{Decision, FindingCode, RunStatus};

/// The audit record of one gate check (productization §4C "AuditV1").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditV1 {
    /// Whether the gate had enough evidence to decide (`false` means decision `skip`).
    // Read laxly (`"true"`, `1`, ... accepted; cli_contracts A4), always written as a bool.
    #[serde(deserialize_with = "num::lax_bool")]
    pub evaluated: bool,
    /// Why: `insufficient_evidence`, `metric_unavailable`, `pass`, `warn`, `fail`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Policy that decided, e.g. `either`, `persistence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Largest windowed divergence D_W over metrics (>= 0).
    // Numeric strings and overflowing tokens (read as +inf) are read too, as validate does.
    #[serde(
        rename = "worst_DW",
        default,
        deserialize_with = "num::float_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub worst_dw: Option<f64>,
    /// Effective epsilon threshold (>= 0).
    #[serde(
        default,
        deserialize_with = "num::float_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub eps_eff: Option<f64>,
    /// Total-variation distance per metric (values >= 0; always written, may be empty).
    // `null` reads as empty; values are read like `worst_DW`.
    #[serde(default, deserialize_with = "num::float_map")]
    pub per_metric_tv: BTreeMap<String, f64>,
    /// Distributed aggregation mode, when aggregated across ranks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddp_agg: Option<String>,
    /// Distributed barrier outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddp_barrier_status: Option<String>,
    /// Samples available to the check.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub evidence_total: Option<u64>,
    /// Samples required to evaluate.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_evidence: Option<u64>,
    /// Unknown keys (regime fields, diagnostics), preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuditV1 {
    /// Field rules, then the evaluated-requires-evidence rule (A4).
    pub fn check(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        check_non_empty_opt(&mut out, "/reason", self.reason.as_deref());
        check_non_empty_opt(&mut out, "/policy", self.policy.as_deref());
        check_non_negative(&mut out, "/worst_DW", self.worst_dw);
        check_non_negative(&mut out, "/eps_eff", self.eps_eff);
        for (name, tv) in &self.per_metric_tv {
            check_non_negative(&mut out, &pointer_join("/per_metric_tv", name), Some(*tv));
        }
        if !out.is_empty() || !self.evaluated {
            return out;
        }
        if self.reason.is_none() || self.policy.is_none() {
            out.push(ContractViolation::new(
                FindingCode::AuditIncomplete,
                "",
                "audit.reason and audit.policy are required when audit.evaluated=True",
            ));
        } else if self.evidence_total.is_none() || self.min_evidence.is_none() {
            out.push(ContractViolation::new(
                FindingCode::AuditIncomplete,
                "",
                "audit.evidence_total and audit.min_evidence are required when audit.evaluated=True",
            ));
        }
        out
    }
}

fn check_non_negative(out: &mut Vec<ContractViolation>, pointer: &str, value: Option<f64>) {
    // NaN fails too: `!(x >= 0)` (cli_contracts A4: "NaN fails the >=0 check").
    if let Some(x) = value
        && (x.is_nan() || x < 0.0)
    {
        out.push(ContractViolation::schema(pointer, NOT_NON_NEGATIVE));
    }
}

/// One gate check (productization §4C "GateRecordV1"); `decision` is canonical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GateRecordV1 {
    /// Training iteration of the check (strict integer >= 0).
    #[serde(deserialize_with = "num::strict_u64")]
    #[schemars(range(min = 0))]
    pub iter: u64,
    /// The canonical decision.
    pub decision: Decision,
    /// The audit record.
    pub audit: AuditV1,
    /// Legacy boolean: false exactly for `fail`.
    // Read laxly, like `audit.evaluated`.
    #[serde(
        default,
        deserialize_with = "num::lax_bool_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ok: Option<bool>,
    /// Legacy boolean: true only for `warn`.
    // Read laxly, like `audit.evaluated`.
    #[serde(
        default,
        deserialize_with = "num::lax_bool_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub warn: Option<bool>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GateRecordV1 {
    /// Audit rules, then decision consistency with `audit.evaluated` and `ok`/`warn` (A4).
    pub fn check(&self) -> Vec<ContractViolation> {
        let out: Vec<ContractViolation> = self
            .audit
            .check()
            .into_iter()
            .map(|v| v.under("/audit"))
            .collect();
        if !out.is_empty() {
            return out;
        }
        self.decision_rule().into_iter().collect()
    }

    fn decision_rule(&self) -> Option<ContractViolation> {
        let message = match (self.audit.evaluated, self.decision) {
            (true, Decision::Skip) => "gate.decision cannot be 'skip' when audit.evaluated=True",
            (false, d) if d != Decision::Skip => {
                "gate.decision must be 'skip' when audit.evaluated=False"
            }
            (_, Decision::Pass) if self.ok == Some(false) => {
                "gate.ok cannot be False when decision=='pass'"
            }
            (_, Decision::Warn) if self.ok == Some(false) => {
                "gate.ok cannot be False when decision=='warn'"
            }
            (_, Decision::Fail) if self.ok == Some(true) => {
                "gate.ok cannot be True when decision=='fail'"
            }
            (_, d) if d != Decision::Warn && self.warn == Some(true) => {
                "gate.warn cannot be True when decision!='warn'"
            }
            _ => return None,
        };
        Some(ContractViolation::new(
            FindingCode::GateDecisionInconsistent,
            "",
            message,
        ))
    }
}

/// One metric sample kept in results (cli_contracts A4 "MetricRecordV1").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricRecordV1 {
    /// Metric name (non-empty).
    pub name: String,
    /// Iteration (strict integer >= 0), when known.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub iter: Option<u64>,
    /// Any JSON value; writers store non-finite floats as null.
    #[serde(default)]
    pub value: Value,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Pointer to an external metrics file (cli_contracts A4 "MetricsRefV1").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricsRefV1 {
    /// Path of the metrics file (non-empty).
    pub path: String,
    /// Format name (non-empty; default `legacy_v0`).
    // `null` reads as the default.
    #[serde(
        default = "default_metrics_format",
        deserialize_with = "metrics_format"
    )]
    pub format: String,
    /// Number of records (>= 0).
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<u64>,
    /// sha256 of the file (64 hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_metrics_format() -> String {
    "legacy_v0".to_string()
}

fn metrics_format<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(default_metrics_format))
}

impl MetricsRefV1 {
    /// Field rules: non-empty path and format, 64-hex sha256.
    pub fn check(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        check_non_empty(&mut out, "/path", &self.path);
        check_non_empty(&mut out, "/format", &self.format);
        if let Some(h) = &self.sha256
            && !is_sha256_hex(h)
        {
            out.push(ContractViolation::schema(
                "/sha256",
                "String should match pattern '^[a-fA-F0-9]{64}$'",
            ));
        }
        out
    }
}

/// `results.json` (productization §4C).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResultsV1 {
    /// Always 1.
    pub schema_version: SchemaVersion,
    /// Run identifier (non-empty), shared by every artifact of the run.
    pub run_id: String,
    /// Hash and path of `window_signature.json`.
    pub window_signature_ref: WindowSignatureRefV1,
    /// Gate preset and overrides.
    pub profile: ProfileV1,
    /// Outcome of the wrapped run.
    pub run_status: RunStatus,
    /// Runner exit code, 0..=255.
    #[serde(
        default,
        deserialize_with = "num::strict_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0, max = 255))]
    pub runner_exit_code: Option<i64>,
    /// Signal that ended the runner, e.g. `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_signal: Option<String>,
    /// When the run started.
    pub started_ts_utc: UtcTimestamp,
    /// When the run ended (not before `started_ts_utc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ts_utc: Option<UtcTimestamp>,
    /// One record per gate check (every `gate_window` iterations).
    pub gates: Vec<GateRecordV1>,
    /// Metric samples (may be empty).
    // `null` reads as empty.
    #[serde(default, deserialize_with = "num::null_as_default")]
    pub metrics: Vec<MetricRecordV1>,
    /// Optional pointer to an external metrics file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_ref: Option<MetricsRefV1>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The identity and timing fields `results.json` and `results_summary.json` share.
pub(crate) struct HeaderRef<'a> {
    pub run_id: &'a str,
    pub window_signature_ref: &'a WindowSignatureRefV1,
    pub profile: &'a ProfileV1,
    pub runner_exit_code: Option<i64>,
    pub runner_signal: Option<&'a str>,
    pub started_ts_utc: UtcTimestamp,
    pub ended_ts_utc: Option<UtcTimestamp>,
}

impl HeaderRef<'_> {
    /// Field rules of the shared header.
    pub(crate) fn field_rules(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        check_non_empty(&mut out, "/run_id", self.run_id);
        out.extend(
            self.window_signature_ref
                .check()
                .into_iter()
                .map(|v| v.under("/window_signature_ref")),
        );
        out.extend(
            self.profile
                .check()
                .into_iter()
                .map(|v| v.under("/profile")),
        );
        match self.runner_exit_code {
            Some(c) if c < 0 => out.push(ContractViolation::schema(
                "/runner_exit_code",
                NOT_NON_NEGATIVE,
            )),
            Some(c) if c > 255 => out.push(ContractViolation::schema(
                "/runner_exit_code",
                "Input should be less than or equal to 255",
            )),
            _ => {}
        }
        check_non_empty_opt(&mut out, "/runner_signal", self.runner_signal);
        out
    }

    /// `ended_ts_utc` must not precede `started_ts_utc` (A4).
    pub(crate) fn order_rule(&self) -> Option<ContractViolation> {
        match self.ended_ts_utc {
            Some(end) if end < self.started_ts_utc => Some(ContractViolation::new(
                FindingCode::TimestampOrder,
                "",
                "ended_ts_utc cannot precede started_ts_utc",
            )),
            _ => None,
        }
    }
}

impl ResultsV1 {
    pub(crate) fn header(&self) -> HeaderRef<'_> {
        HeaderRef {
            run_id: &self.run_id,
            window_signature_ref: &self.window_signature_ref,
            profile: &self.profile,
            runner_exit_code: self.runner_exit_code,
            runner_signal: self.runner_signal.as_deref(),
            started_ts_utc: self.started_ts_utc,
            ended_ts_utc: self.ended_ts_utc,
        }
    }
}

impl Artifact for ResultsV1 {
    const FILE_NAME: &'static str = "results.json";

    fn check(&self) -> Vec<ContractViolation> {
        let header = self.header();
        let mut out = header.field_rules();
        for (i, gate) in self.gates.iter().enumerate() {
            let at = format!("/gates/{i}");
            out.extend(gate.check().into_iter().map(|v| v.under(&at)));
        }
        for (i, metric) in self.metrics.iter().enumerate() {
            check_non_empty(&mut out, &format!("/metrics/{i}/name"), &metric.name);
        }
        if let Some(mref) = &self.metrics_ref {
            out.extend(mref.check().into_iter().map(|v| v.under("/metrics_ref")));
        }
        out.extend(header.order_rule());
        out
    }
}
