//! `run_config_resolved.json` (productization §4A): provenance, join key anchor and safe
//! environment capture. Recommended, best effort; extra keys allowed and preserved.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::RunStatus;
use crate::common::{Artifact, SchemaVersion, check_non_empty};
use crate::num;
use crate::time::UtcTimestamp;
use crate::violation::ContractViolation;

/// The value a redacted environment variable keeps (productization §4A).
pub const REDACTED: &str = "***REDACTED***";

/// `package`: which build wrote the capsule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PackageV1 {
    /// Package name, `veriscope`.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `run`: the run's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunBlockV1 {
    /// Runner kind: `gpt`, `hf`, `cmd`.
    pub kind: String,
    /// Run identifier, shared by every artifact.
    pub run_id: String,
    /// The capsule directory as given on the command line.
    pub outdir: String,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `argv`: how Veriscope and the runner were invoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArgvV1 {
    /// Veriscope's own argv (secrets redacted).
    pub veriscope_argv: Vec<String>,
    /// The runner command actually spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_cmd: Option<Vec<String>>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `env_capture`: the allowlist and redaction rules applied to `env`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvCaptureV1 {
    /// Captured prefixes/keys (e.g. `VERISCOPE_*`, `CUDA_*`, `WORLD_SIZE`).
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// Exact keys whose values are redacted.
    #[serde(default)]
    pub deny_exact: Vec<String>,
    /// Regexes of keys whose values are redacted.
    #[serde(default)]
    pub deny_regex: Vec<String>,
    /// False only if no deny rule matched any captured key.
    #[serde(default)]
    pub redactions_applied: bool,
    /// Unknown keys (the original's single `denylist`, `policy_rev`), preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `determinism_status`: what was checked about determinism (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeterminismStatusV1 {
    /// PYTHONHASHSEED set (Python runners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyhashseed_ok: Option<bool>,
    /// CUBLAS_WORKSPACE_CONFIG set for deterministic cuBLAS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cublas_config_ok: Option<bool>,
    /// cuDNN deterministic mode on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cudnn_deterministic: Option<bool>,
    /// Free-form notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How dependencies were captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyMethod {
    /// `pip freeze` output was captured.
    PipFreeze,
    /// Nothing could be captured.
    #[default]
    Unavailable,
}

/// `dependencies`: where the dependency list is, if anywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DependenciesV1 {
    /// Capture method.
    pub method: DependencyMethod,
    /// Path of the captured list, relative to the capsule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Free-form notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `run_config_resolved.json` (productization §4A).
///
/// Reading is tolerant of capsules written by the original tool, which lacked
/// `deny_exact`/`deny_regex`, `determinism_status` and `dependencies` (cli_contracts A17.6):
/// those default; our writers always emit them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunConfigResolvedV1 {
    /// Always 1.
    pub schema_version: SchemaVersion,
    /// When the config was resolved.
    pub ts_utc: UtcTimestamp,
    /// The build that wrote the capsule.
    pub package: PackageV1,
    /// Code revision; null outside a git checkout.
    #[serde(default)]
    pub git_sha: Option<String>,
    /// Run identity.
    pub run: RunBlockV1,
    /// Invocation.
    pub argv: ArgvV1,
    /// Allowlisted, redacted environment (redacted values are `***REDACTED***`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Capture rules.
    #[serde(default)]
    pub env_capture: EnvCaptureV1,
    /// Determinism checks.
    #[serde(default)]
    pub determinism_status: DeterminismStatusV1,
    /// Dependency capture.
    #[serde(default)]
    pub dependencies: DependenciesV1,
    /// Notes such as `"dirty"` (git tree had local changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    /// Applied gate overrides (A6.5: non-empty means governance must record them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Map<String, Value>>,
    /// Final run status, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_status: Option<RunStatus>,
    /// Runner exit code, once known.
    #[serde(
        default,
        deserialize_with = "num::strict_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub runner_exit_code: Option<i64>,
    /// Wrapper exit code, once known.
    #[serde(
        default,
        deserialize_with = "num::strict_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub wrapper_exit_code: Option<i64>,
    /// Unknown keys (lifecycle_state, resolved gate config, timing, seeds...), preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RunConfigResolvedV1 {
    /// True when `overrides` is a non-empty object.
    pub fn has_overrides(&self) -> bool {
        self.overrides.as_ref().is_some_and(|m| !m.is_empty())
    }
}

impl Artifact for RunConfigResolvedV1 {
    const FILE_NAME: &'static str = "run_config_resolved.json";

    fn check(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        check_non_empty(&mut out, "/run/run_id", &self.run.run_id);
        check_non_empty(&mut out, "/run/outdir", &self.run.outdir);
        check_non_empty(&mut out, "/run/kind", &self.run.kind);
        out
    }
}
