//! Serde types of every Veriscope artifact (contract v1), with the contract's rules.
//!
//! This crate owns what appears on disk: `window_signature.json`, `results.json`,
//! `results_summary.json`, `run_config_resolved.json`, `manual_judgement.json(l)` and
//! `governance_log.jsonl` lines with their event payloads; the closed vocabularies
//! ([`Decision`], [`RunStatus`], [`DistributedMode`], [`EventKind`]); the [`FindingCode`]
//! catalogue; the [`exit`] code table; timestamp parsing; and JSON Schema generation.
//!
//! Rules of the house (contract_v1 preamble, productization §4):
//! - Extra keys are allowed and preserved: every struct keeps unknown keys in `extra`.
//! - `schema_version` is pinned to 1 ([`SchemaVersion`]).
//! - Typed parsing ([`Artifact::from_value`]) returns the first [`ContractViolation`], with a
//!   stable [`FindingCode`], a JSON Pointer and the original tool's message
//!   (cli_contracts A4); [`Artifact::check`] lists them all.
//! - Hashes are computed over raw values by `veriscope_canon`, never over these structs.
//!
//! It does no IO and reads no clock or environment; it must not depend on any other
//! Veriscope crate than `veriscope-canon`.

#![warn(missing_docs)]

mod common;
mod derive;
mod distributed;
mod enums;
pub mod execution;
pub mod exit;
mod finding;
mod governance;
mod manual;
mod num;
mod pyrepr;
mod results;
mod run_config;
pub mod schema;
pub mod seeds;
mod summary;
mod time;
mod violation;
mod window_signature;

pub use common::{
    Artifact, ProfileV1, SchemaVersion, WindowSignatureRefV1, is_sha256_hex, parse_typed,
};
pub use derive::{
    counts_from_gates, derive_final_decision, derive_gate_decision, first_fail_iter_from_gates,
};
pub use distributed::{DistributedV1, check_distributed};
pub use enums::{Decision, DistributedMode, EventKind, ManualStatus, RunStatus};
pub use finding::{FindingCode, Severity};
pub use governance::{
    EntrypointV1, EventPayload, FreeformPayloadV1, GateDecisionV1, GovernanceEntryV1,
    ManualJudgementSetV1, PayloadRequirementError, RunOverridesAppliedV1, RunStartedV1,
    check_payload_requirements, entry_hash,
};
pub use manual::{ManualJudgementLineV1, ManualJudgementV1};
pub use pyrepr::python_value_repr;
pub use results::{AuditV1, GateRecordV1, MetricRecordV1, MetricsRefV1, ResultsV1};
pub use run_config::{
    ArgvV1, DependenciesV1, DependencyMethod, DeterminismStatusV1, EnvCaptureV1, PackageV1,
    REDACTED, RunBlockV1, RunConfigResolvedV1,
};
pub use summary::{CountsV1, ResultsSummaryV1};
pub use time::{
    TimestampError, UNIX_SECONDS_LIMIT, UtcTimestamp, format_utc, parse_iso_micros, parse_utc,
};
pub use violation::{ContractViolation, pointer_join, python_str_repr};
pub use window_signature::WindowSignatureV1;
