//! Distributed execution metadata (contract_v1 §Distributed execution, distributed_mode.md,
//! cli_contracts A6.6): the typed payload and the fail-loud check.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::num;
use crate::pyrepr::python_value_repr;
use crate::violation::ContractViolation;
use crate::{DistributedMode, FindingCode};

/// `run_started_v1.payload.distributed`.
///
/// Legacy alias keys (`ddp_backend`, `rank_observed`, `local_rank_observed`, `ddp_active`)
/// are separate fields, not serde aliases, because writers record both spellings and a
/// round trip must keep all keys as given (cli_contracts B4). Use the accessors to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DistributedV1 {
    /// `single_process` | `replicated_single_chief_emit` | `ddp_wrapped` (kept as text so
    /// an invalid value reaches the check, which reports `DISTRIBUTED_MODE_INVALID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed_mode: Option<String>,
    /// Observed world size (>= 1).
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1))]
    pub world_size_observed: Option<u64>,
    /// Process-group backend (`nccl`, `gloo`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Global rank (>= 0).
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rank: Option<u64>,
    /// Local rank (>= 0) or null.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_rank: Option<u64>,
    /// torch.distributed initialized and world size > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddp_wrapped: Option<bool>,
    /// Legacy alias of `backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddp_backend: Option<String>,
    /// Legacy alias of `rank`.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rank_observed: Option<u64>,
    /// Legacy alias of `local_rank`.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_rank_observed: Option<u64>,
    /// Legacy alias of `ddp_wrapped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddp_active: Option<bool>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DistributedV1 {
    /// A writer's record: canonical keys plus the legacy aliases (as the original wrote).
    pub fn with_legacy_aliases(
        mode: DistributedMode,
        world_size: u64,
        backend: Option<String>,
        rank: u64,
        local_rank: Option<u64>,
        ddp_wrapped: bool,
    ) -> Self {
        Self {
            distributed_mode: Some(mode.as_str().to_string()),
            world_size_observed: Some(world_size),
            backend: backend.clone(),
            rank: Some(rank),
            local_rank,
            ddp_wrapped: Some(ddp_wrapped),
            ddp_backend: backend,
            rank_observed: Some(rank),
            local_rank_observed: local_rank,
            ddp_active: Some(ddp_wrapped),
            extra: Map::new(),
        }
    }

    /// The mode, if it is one of the contract's values.
    pub fn mode(&self) -> Option<DistributedMode> {
        self.distributed_mode
            .as_deref()
            .and_then(DistributedMode::parse)
    }
    /// `backend`, else legacy `ddp_backend`.
    pub fn backend(&self) -> Option<&str> {
        self.backend.as_deref().or(self.ddp_backend.as_deref())
    }
    /// `rank`, else legacy `rank_observed`.
    pub fn rank(&self) -> Option<u64> {
        self.rank.or(self.rank_observed)
    }
    /// `local_rank`, else legacy `local_rank_observed`.
    pub fn local_rank(&self) -> Option<u64> {
        self.local_rank.or(self.local_rank_observed)
    }
    /// `ddp_wrapped`, else legacy `ddp_active`.
    pub fn ddp_wrapped(&self) -> Option<bool> {
        self.ddp_wrapped.or(self.ddp_active)
    }
}

/// Hint keys, in the order the original lists them (A6.6).
const HINT_KEYS: [&str; 8] = [
    "rank",
    "rank_observed",
    "local_rank",
    "local_rank_observed",
    "backend",
    "ddp_backend",
    "ddp_wrapped",
    "ddp_active",
];

/// Python `int()` coercion of `world_size_observed` (A6.6): ints, floats (truncated),
/// bools and numeric strings; anything else is missing.
fn coerce_world_size(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Checks a raw `payload.distributed` object (the last run_started_v1 that has one).
///
/// `Err` is fatal whatever the flags (A6.6). `Ok(Some(warning))` is the
/// `WARNING:DISTRIBUTED_EXECUTION_DETECTED ...` line; `Ok(None)` means single process.
pub fn check_distributed(raw: &Map<String, Value>) -> Result<Option<String>, ContractViolation> {
    let world_size = coerce_world_size(raw.get("world_size_observed"));
    let hints: Vec<&str> = HINT_KEYS
        .iter()
        .copied()
        .filter(|k| raw.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let pointer = "/payload/distributed";
    if world_size.is_none() && !hints.is_empty() {
        let listed: Vec<String> = hints.iter().map(|h| format!("'{h}'")).collect();
        return Err(ContractViolation::new(
            FindingCode::DistributedWorldSizeMissing,
            pointer,
            format!(
                "ERROR:DISTRIBUTED_WORLD_SIZE_MISSING hints_present=[{}] distributed execution hints require world_size_observed",
                listed.join(", ")
            ),
        ));
    }
    let mode = raw.get("distributed_mode").filter(|v| !v.is_null());
    let mode_text = mode.map(|v| match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    });
    if let Some(ws) = world_size.filter(|ws| *ws > 1) {
        match (&mode_text, mode) {
            (None, _) | (Some(_), None) => return Err(mode_missing(ws)),
            (Some(t), _) if t.is_empty() => return Err(mode_missing(ws)),
            (Some(t), Some(raw_mode)) if DistributedMode::parse(t).is_none() => {
                return Err(ContractViolation::new(
                    FindingCode::DistributedModeInvalid,
                    pointer,
                    format!(
                        "ERROR:DISTRIBUTED_MODE_INVALID distributed_mode={} allowed=['ddp_wrapped', 'replicated_single_chief_emit', 'single_process']",
                        python_value_repr(raw_mode)
                    ),
                ));
            }
            _ => {}
        }
    }
    let single =
        mode_text.as_deref() == Some("single_process") && world_size.is_none_or(|ws| ws <= 1);
    if single {
        return Ok(None);
    }
    let backend = [raw.get("backend"), raw.get("ddp_backend")]
        .into_iter()
        .flatten()
        .find_map(|v| match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        });
    Ok(Some(format!(
        "WARNING:DISTRIBUTED_EXECUTION_DETECTED mode={} world_size={} backend={}",
        mode_text
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "unknown".into()),
        world_size.map_or_else(|| "unknown".into(), |w| w.to_string()),
        backend.unwrap_or_else(|| "unknown".into()),
    )))
}

fn mode_missing(world_size: i64) -> ContractViolation {
    ContractViolation::new(
        FindingCode::DistributedModeMissing,
        "/payload/distributed",
        format!(
            "ERROR:DISTRIBUTED_MODE_MISSING world_size_observed={world_size} requires distributed_mode"
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(v: Value) -> Result<Option<String>, ContractViolation> {
        check_distributed(v.as_object().unwrap())
    }

    #[test]
    fn world_size_two_without_mode_is_mode_missing() {
        let err = check(json!({"world_size_observed": 2, "rank": 0})).unwrap_err();
        assert_eq!(err.code, FindingCode::DistributedModeMissing);
        assert_eq!(
            err.message,
            "ERROR:DISTRIBUTED_MODE_MISSING world_size_observed=2 requires distributed_mode"
        );
    }

    #[test]
    fn invalid_mode_lists_allowed_values() {
        let err = check(json!({"world_size_observed": 2, "distributed_mode": "not_a_real_mode"}))
            .unwrap_err();
        assert_eq!(err.code, FindingCode::DistributedModeInvalid);
        assert!(err.message.contains("distributed_mode='not_a_real_mode' allowed=['ddp_wrapped', 'replicated_single_chief_emit', 'single_process']"));
    }

    #[test]
    fn hints_without_world_size_fail_loud() {
        let err = check(json!({"rank": 1, "ddp_backend": "nccl"})).unwrap_err();
        assert_eq!(err.code, FindingCode::DistributedWorldSizeMissing);
        assert!(
            err.message
                .contains("hints_present=['rank', 'ddp_backend']")
        );
    }

    #[test]
    fn ddp_wrapped_and_legacy_aliases_pass_with_a_warning() {
        let canonical = json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 2,
                               "backend": "gloo", "rank": 0, "local_rank": 0, "ddp_wrapped": true});
        assert_eq!(
            check(canonical).unwrap().unwrap(),
            "WARNING:DISTRIBUTED_EXECUTION_DETECTED mode=ddp_wrapped world_size=2 backend=gloo"
        );
        let legacy = json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 2,
                            "ddp_backend": "nccl", "rank_observed": 1, "local_rank_observed": 1, "ddp_active": true});
        assert!(
            check(legacy.clone())
                .unwrap()
                .unwrap()
                .ends_with("backend=nccl")
        );
        let typed: DistributedV1 = serde_json::from_value(legacy.clone()).unwrap();
        assert_eq!(typed.rank(), Some(1));
        assert_eq!(typed.backend(), Some("nccl"));
        assert_eq!(typed.ddp_wrapped(), Some(true));
        assert_eq!(serde_json::to_value(&typed).unwrap(), legacy);
    }

    #[test]
    fn single_process_is_silent() {
        assert_eq!(
            check(json!({"distributed_mode": "single_process", "world_size_observed": 1})).unwrap(),
            None
        );
        assert_eq!(
            check(json!({})).unwrap().unwrap(),
            "WARNING:DISTRIBUTED_EXECUTION_DETECTED mode=unknown world_size=unknown backend=unknown"
        );
    }
}
