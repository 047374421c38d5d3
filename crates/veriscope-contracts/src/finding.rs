//! The `FindingCode` catalogue: every stable token a check can report.
//!
//! Tokens come from cli_contracts A5 (validate), A6 (governance), A6.6 (distributed),
//! A10 (comparability), A12 (calibrate), contract_v1 and the execution contract
//! (`CONTRACT_MISMATCH`, `UNSUPPORTED_CONTRACT`). Where the original printed only a message
//! (A5 steps 1-13) we name the check here so findings stay machine-readable; the message
//! text stays the original's. `docs/contract.md` documents each code, and a test keeps the
//! two in step.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a finding affects the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the capsule (or comparison) invalid: exit 2.
    Error,
    /// Reported, never changes the exit code.
    Warning,
}

impl Severity {
    /// The token prefix used on stderr (`ERROR` / `WARNING`), as in `ERROR:DISTRIBUTED_MODE_MISSING`.
    pub const fn prefix(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        }
    }
}

macro_rules! finding_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident => $token:literal,)+) => {
        /// A stable finding code. `as_str()` is the token printed after `ERROR:` / `WARNING:`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum FindingCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl FindingCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant,)+];

            /// The stable token, e.g. `"WINDOW_HASH_MISMATCH"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(FindingCode::$variant => $token,)+
                }
            }

            /// One-line description of what the check guards (from the doc comment).
            pub fn description(self) -> &'static str {
                match self {
                    $(FindingCode::$variant => concat!($($doc),+).trim_ascii(),)+
                }
            }

            /// Parses a token back into a code.
            pub fn parse(token: &str) -> Option<FindingCode> {
                match token {
                    $($token => Some(FindingCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

finding_codes! {
    // --- capsule reading (A5 steps 1-3)
    /// A required artifact file is missing from the capsule.
    MissingArtifacts => "MISSING_ARTIFACTS",
    /// An artifact could not be read (OS error or invalid UTF-8).
    ArtifactReadError => "ARTIFACT_READ_ERROR",
    /// An artifact is not valid JSON, or not a JSON object.
    JsonParseError => "JSON_PARSE_ERROR",
    /// An artifact does not match its schema (type, range, required key, pattern).
    SchemaInvalid => "SCHEMA_INVALID",
    // --- artifact model rules (A4)
    /// An evaluated gate's audit lacks reason/policy or evidence_total/min_evidence.
    AuditIncomplete => "AUDIT_INCOMPLETE",
    /// A gate's decision disagrees with audit.evaluated or its legacy ok/warn booleans.
    GateDecisionInconsistent => "GATE_DECISION_INCONSISTENT",
    /// Summary counts violate pass+warn+fail == evaluated.
    CountsInconsistent => "COUNTS_INCONSISTENT",
    /// Summary final_decision differs from derive_final_decision(counts).
    FinalDecisionMismatch => "FINAL_DECISION_MISMATCH",
    /// first_fail_iter is null while counts.fail > 0, or set while counts.fail == 0.
    FirstFailIterInconsistent => "FIRST_FAIL_ITER_INCONSISTENT",
    /// ended_ts_utc precedes started_ts_utc.
    TimestampOrder => "TIMESTAMP_ORDER",
    // --- hashing and identity (A5 steps 4-10)
    /// window_signature.created_ts_utc is present but not an ISO-8601 UTC timestamp ending in Z.
    CreatedTsInvalid => "CREATED_TS_INVALID",
    /// A value has no canonical JSON form (NaN or infinite float).
    NonFiniteFloat => "NON_FINITE_FLOAT",
    /// window_signature_ref.path is not "window_signature.json".
    WindowRefPathMismatch => "WINDOW_REF_PATH_MISMATCH",
    /// window_signature_ref.hash differs from the hash of window_signature.json (or of the other run, in diff).
    WindowHashMismatch => "WINDOW_HASH_MISMATCH",
    /// manual_judgement.json names another run than the capsule.
    ManualJudgementRunIdMismatch => "MANUAL_JUDGEMENT_RUN_ID_MISMATCH",
    /// results.json and results_summary.json disagree on an identity field.
    ArtifactIdentityMismatch => "ARTIFACT_IDENTITY_MISMATCH",
    /// results.json exists but the summary says partial=true.
    FullCapsuleMarkedPartial => "FULL_CAPSULE_MARKED_PARTIAL",
    /// results.json is missing but the summary is not marked partial=true.
    PartialNotMarked => "PARTIAL_NOT_MARKED",
    /// A partial capsule's summary has non-zero counts.
    PartialCountsNotNeutral => "PARTIAL_COUNTS_NOT_NEUTRAL",
    // --- summary vs results (A5 steps 12-13)
    /// Summary counts differ from the counts derived from results gates.
    CountsMismatch => "COUNTS_MISMATCH",
    /// Summary first_fail_iter differs from the earliest fail gate in results.
    FirstFailIterMismatch => "FIRST_FAIL_ITER_MISMATCH",
    /// counts.fail > 0 but first_fail_iter.txt is missing.
    FirstFailMarkerMissing => "FIRST_FAIL_MARKER_MISSING",
    /// first_fail_iter.txt is unreadable or not a non-negative integer with a trailing newline.
    FirstFailMarkerInvalid => "FIRST_FAIL_MARKER_INVALID",
    /// first_fail_iter.txt disagrees with the summary.
    FirstFailMarkerMismatch => "FIRST_FAIL_MARKER_MISMATCH",
    /// counts.fail == 0 but first_fail_iter.txt exists.
    FirstFailMarkerUnexpected => "FIRST_FAIL_MARKER_UNEXPECTED",
    // --- governance journal (A6.3-A6.5)
    /// governance_log.jsonl is absent.
    GovernanceLogMissing => "GOVERNANCE_LOG_MISSING",
    /// A journal line was rejected, a payload lacks required fields, or the log as a whole is invalid.
    GovernanceLogInvalid => "GOVERNANCE_LOG_INVALID",
    /// A journal rev is not exactly the previous rev + 1 (the first must be 1).
    GovernanceLogRevNonmonotone => "GOVERNANCE_LOG_REV_NONMONOTONE",
    /// A journal timestamp goes backwards (informational).
    GovernanceLogTsDecrease => "GOVERNANCE_LOG_TS_DECREASE",
    /// A journal line carries both event and event_type (informational).
    GovernanceLogEventDualPresent => "GOVERNANCE_LOG_EVENT_DUAL_PRESENT",
    /// A journal line has no entry_hash (accepted only in legacy mode).
    GovernanceLogEntryHashMissing => "GOVERNANCE_LOG_ENTRY_HASH_MISSING",
    /// A journal line's entry_hash differs from the hash of its content.
    GovernanceLogHashMismatch => "GOVERNANCE_LOG_HASH_MISMATCH",
    /// A journal line's prev_hash differs from the previous entry's hash.
    GovernanceLogPrevHashMismatch => "GOVERNANCE_LOG_PREV_HASH_MISMATCH",
    /// Overrides were applied but no run_overrides_applied_v1 entry records them.
    GovernanceOverridesMissing => "GOVERNANCE_OVERRIDES_MISSING",
    /// Run events name another run_id than the artifacts.
    GovernanceRunIdMismatch => "GOVERNANCE_RUN_ID_MISMATCH",
    /// Run events name another outdir than the capsule.
    GovernanceOutdirMismatch => "GOVERNANCE_OUTDIR_MISMATCH",
    /// run_started_v1 recorded another window hash than the capsule's.
    GovernanceWindowHashMismatch => "GOVERNANCE_WINDOW_HASH_MISMATCH",
    /// No run_started_v1 entry binds the journal to this run.
    GovernanceRunStartedMissing => "GOVERNANCE_RUN_STARTED_MISSING",
    /// More than one run_started_v1 entry binds the journal to this run.
    GovernanceDuplicateRunStarted => "GOVERNANCE_DUPLICATE_RUN_STARTED",
    /// No matching run_started_v1 carries the capsule's window hash.
    GovernanceNotBoundToWindow => "GOVERNANCE_NOT_BOUND_TO_WINDOW",
    /// gate_decision_v1 entries and results gates differ.
    GovernanceResultsDivergence => "GOVERNANCE_RESULTS_DIVERGENCE",
    /// Fewer gate_decision_v1 entries than results gates.
    GovernanceGateDecisionsMissing => "GOVERNANCE_GATE_DECISIONS_MISSING",
    // --- manual judgements (A7)
    /// A manual_judgement.jsonl line (or manual_judgement.json) is unusable.
    ManualJudgementLogInvalid => "MANUAL_JUDGEMENT_LOG_INVALID",
    /// Manual judgement timestamps go backwards for one run (informational).
    ManualJudgementTsDecrease => "MANUAL_JUDGEMENT_TS_DECREASE",
    // --- distributed metadata (A6.6)
    /// Distributed hints (rank, backend, ...) are present without world_size_observed.
    DistributedWorldSizeMissing => "DISTRIBUTED_WORLD_SIZE_MISSING",
    /// world_size_observed > 1 without distributed_mode.
    DistributedModeMissing => "DISTRIBUTED_MODE_MISSING",
    /// distributed_mode is outside single_process | replicated_single_chief_emit | ddp_wrapped.
    DistributedModeInvalid => "DISTRIBUTED_MODE_INVALID",
    /// The run was distributed (informational).
    DistributedExecutionDetected => "DISTRIBUTED_EXECUTION_DETECTED",
    /// Two compared runs have different distributed metadata (informational).
    DistributedMetadataMismatch => "DISTRIBUTED_METADATA_MISMATCH",
    // --- comparability (A10)
    /// A compared capsule is partial.
    PartialCapsule => "PARTIAL_CAPSULE",
    /// A compared capsule has no window signature hash.
    WindowHashMissing => "WINDOW_HASH_MISSING",
    /// Compared capsules have different schema_version.
    SchemaMismatch => "SCHEMA_MISMATCH",
    /// Compared capsules used different gate presets.
    GatePresetMismatch => "GATE_PRESET_MISMATCH",
    // --- execution contract (execution_contract.md)
    /// The stored gate contract differs from the requested or recomputed one.
    ContractMismatch => "CONTRACT_MISMATCH",
    /// This build does not support the capsule's contract schema or policy versions.
    UnsupportedContract => "UNSUPPORTED_CONTRACT",
    // --- calibrate (A12)
    /// A calibration input has no usable results_summary.json.
    MissingResultsSummary => "MISSING_RESULTS_SUMMARY",
    /// The control capsule failed strict validation.
    InvalidControlCapsule => "INVALID_CONTROL_CAPSULE",
    /// The injected capsule failed strict validation.
    InvalidInjectedCapsule => "INVALID_INJECTED_CAPSULE",
    /// A calibration input's run_status is not success.
    RunStatusNotSuccess => "RUN_STATUS_NOT_SUCCESS",
    /// A calibration input has no window_signature.json.
    MissingWindowSignature => "MISSING_WINDOW_SIGNATURE",
    /// A calibration input's window_signature.json is unusable.
    InvalidWindowSignature => "INVALID_WINDOW_SIGNATURE",
    /// A calibration input's summary has no window_signature_ref.
    MissingWindowSignatureRef => "MISSING_WINDOW_SIGNATURE_REF",
    /// A calibration input's window_signature_ref has no hash.
    MissingWindowSignatureRefHash => "MISSING_WINDOW_SIGNATURE_REF_HASH",
    /// Control and injected runs have different window signatures.
    WindowSignatureHashMismatch => "WINDOW_SIGNATURE_HASH_MISMATCH",
    /// A calibration input records no gate preset.
    MissingGatePreset => "MISSING_GATE_PRESET",
    /// A calibration input's run_config_resolved.json is unusable.
    InvalidRunConfig => "INVALID_RUN_CONFIG",
    /// No gate window could be found for calibration.
    MissingGateWindow => "MISSING_GATE_WINDOW",
    /// A results gate has no iter.
    MissingGateIter => "MISSING_GATE_ITER",
    /// A results gate's iter is not a non-negative integer.
    InvalidGateIter => "INVALID_GATE_ITER",
    /// A results gate's decision is not pass|warn|fail|skip.
    InvalidGateDecision => "INVALID_GATE_DECISION",
    /// calibrate-from-run could not compute an epsilon.
    CalibrateFailed => "CALIBRATE_FAILED",
    /// calibrate hit an internal error.
    CalibrateInternal => "CALIBRATE_INTERNAL",
}

impl FindingCode {
    /// `ERROR:<TOKEN>` or `WARNING:<TOKEN>`, the prefix of a finding line.
    pub fn token(self, severity: Severity) -> String {
        format!("{}:{}", severity.prefix(), self.as_str())
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FindingCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let token = String::deserialize(d)?;
        FindingCode::parse(&token)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finding code `{token}`")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn tokens_are_unique_upper_snake_and_parse_back() {
        let mut seen = HashSet::new();
        for code in FindingCode::ALL {
            let token = code.as_str();
            assert!(seen.insert(token), "duplicate token {token}");
            assert!(
                token.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{token} is not UPPER_SNAKE"
            );
            assert_eq!(FindingCode::parse(token), Some(*code));
            assert!(!code.description().is_empty());
        }
    }

    #[test]
    fn contract_tokens_are_present() {
        for token in [
            "WINDOW_HASH_MISMATCH",
            "ARTIFACT_IDENTITY_MISMATCH",
            "FULL_CAPSULE_MARKED_PARTIAL",
            "GOVERNANCE_LOG_INVALID",
            "GOVERNANCE_RUN_ID_MISMATCH",
            "DISTRIBUTED_WORLD_SIZE_MISSING",
            "DISTRIBUTED_MODE_MISSING",
            "DISTRIBUTED_MODE_INVALID",
            "UNSUPPORTED_CONTRACT",
            "CONTRACT_MISMATCH",
        ] {
            assert!(FindingCode::parse(token).is_some(), "{token} missing");
        }
    }

    #[test]
    fn token_carries_severity_prefix() {
        assert_eq!(
            FindingCode::DistributedModeMissing.token(Severity::Error),
            "ERROR:DISTRIBUTED_MODE_MISSING"
        );
        assert_eq!(
            FindingCode::GovernanceLogMissing.token(Severity::Warning),
            "WARNING:GOVERNANCE_LOG_MISSING"
        );
    }
}
