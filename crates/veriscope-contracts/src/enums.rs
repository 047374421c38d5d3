//! Closed vocabularies of the contract: decisions, run statuses, distributed modes,
//! governance event kinds and manual judgement statuses.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Generates `as_str`, `ALL`, `parse` and `Display` for a unit enum whose serde names are
/// the contract tokens.
macro_rules! token_enum {
    ($ty:ident { $($variant:ident => $token:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in contract order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The contract token (the exact text on disk).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $token),+
                }
            }

            /// Parses the exact contract token (case sensitive, no trimming).
            pub fn parse(token: &str) -> Option<Self> {
                match token {
                    $($token => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The canonical gate decision (productization §0: do not infer it from booleans).
///
/// `skip` means the gate was neutral (`audit.evaluated = false`); it is neither pass nor fail.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Evaluated, no divergence beyond thresholds.
    Pass,
    /// Evaluated, divergence worth investigating.
    Warn,
    /// Evaluated, stop/rollback signal under the configured preset.
    Fail,
    /// Not evaluated (insufficient evidence, missing metrics, warmup).
    Skip,
}

token_enum!(Decision { Pass => "pass", Warn => "warn", Fail => "fail", Skip => "skip" });

impl Decision {
    /// Parses a governance payload decision the way the journal reader does (A6.3: the
    /// value's Python `strip().lower()` form): surrounding whitespace (Python's set) is
    /// ignored and case is folded with Unicode rules.
    pub fn parse_lenient(token: &str) -> Option<Self> {
        Self::parse(&crate::pyrepr::python_strip(token).to_lowercase())
    }
}

/// Outcome of the wrapped run (productization §4C, "Run status mapping").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Runner exited 0 and the wrapper succeeded.
    Success,
    /// Runner exited non-zero or was signalled; the wrapper itself was fine.
    UserCodeFailure,
    /// The wrapper failed (validation error, emission failure, internal exception).
    VeriscopeFailure,
}

token_enum!(RunStatus {
    Success => "success",
    UserCodeFailure => "user_code_failure",
    VeriscopeFailure => "veriscope_failure",
});

/// How a run was distributed (contract_v1 §Distributed execution, distributed_mode.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DistributedMode {
    /// World size 1, or no distributed environment.
    SingleProcess,
    /// World size > 1 without an initialized process group; rank 0 emits artifacts.
    ReplicatedSingleChiefEmit,
    /// torch.distributed initialized and world size > 1.
    DdpWrapped,
}

token_enum!(DistributedMode {
    SingleProcess => "single_process",
    ReplicatedSingleChiefEmit => "replicated_single_chief_emit",
    DdpWrapped => "ddp_wrapped",
});

/// Governance journal event kinds (contract_v1 §Governance Journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A human judgement was recorded (`override`).
    ManualJudgementSet,
    /// A human judgement was withdrawn.
    ManualJudgementCleared,
    /// Free-form note about an artifact.
    ArtifactNote,
    /// The summary was recomputed from results.
    RecomputeSummary,
    /// The wrapper started a run into this capsule.
    #[serde(rename = "run_started_v1")]
    RunStartedV1,
    /// Reserved by the contract; never emitted.
    #[serde(rename = "capsule_opened_v1")]
    CapsuleOpenedV1,
    /// Default-divergent settings (gate preset, overrides) applied to the run.
    #[serde(rename = "run_overrides_applied_v1")]
    RunOverridesAppliedV1,
    /// One gate decision, mirrored from `results.json`.
    #[serde(rename = "gate_decision_v1")]
    GateDecisionV1,
}

token_enum!(EventKind {
    ManualJudgementSet => "manual_judgement_set",
    ManualJudgementCleared => "manual_judgement_cleared",
    ArtifactNote => "artifact_note",
    RecomputeSummary => "recompute_summary",
    RunStartedV1 => "run_started_v1",
    CapsuleOpenedV1 => "capsule_opened_v1",
    RunOverridesAppliedV1 => "run_overrides_applied_v1",
    GateDecisionV1 => "gate_decision_v1",
});

impl EventKind {
    /// Run events bind the journal to the capsule's identity (A6.5); `capsule_opened_v1` counts.
    pub const fn is_run_event(self) -> bool {
        matches!(
            self,
            EventKind::RunStartedV1
                | EventKind::CapsuleOpenedV1
                | EventKind::RunOverridesAppliedV1
                | EventKind::GateDecisionV1
        )
    }

    /// Manual events carry no payload requirements (A6.3).
    pub const fn is_manual_event(self) -> bool {
        !self.is_run_event()
    }
}

/// A human judgement's status (productization §4E): only pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManualStatus {
    /// The reviewer accepts the run.
    Pass,
    /// The reviewer rejects the run.
    Fail,
}

token_enum!(ManualStatus { Pass => "pass", Fail => "fail" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_tokens_round_trip_through_serde() {
        for d in Decision::ALL {
            let text = serde_json::to_string(d).unwrap();
            assert_eq!(text, format!("\"{}\"", d.as_str()));
            let back: Decision = serde_json::from_str(&text).unwrap();
            assert_eq!(back, *d);
        }
    }

    #[test]
    fn decision_is_case_sensitive_on_disk_but_lenient_in_payloads() {
        assert!(serde_json::from_str::<Decision>("\"PASS\"").is_err());
        assert_eq!(Decision::parse("PASS"), None);
        assert_eq!(Decision::parse_lenient(" PASS "), Some(Decision::Pass));
    }

    #[test]
    fn event_kind_tokens_match_serde_names() {
        for k in EventKind::ALL {
            let text = serde_json::to_string(k).unwrap();
            assert_eq!(text, format!("\"{}\"", k.as_str()));
        }
        assert!(EventKind::GateDecisionV1.is_run_event());
        assert!(EventKind::CapsuleOpenedV1.is_run_event());
        assert!(EventKind::ArtifactNote.is_manual_event());
    }

    #[test]
    fn run_status_and_mode_tokens() {
        assert_eq!(RunStatus::UserCodeFailure.as_str(), "user_code_failure");
        assert_eq!(
            serde_json::to_string(&DistributedMode::ReplicatedSingleChiefEmit).unwrap(),
            "\"replicated_single_chief_emit\""
        );
        assert_eq!(DistributedMode::parse("not_a_real_mode"), None);
    }
}
