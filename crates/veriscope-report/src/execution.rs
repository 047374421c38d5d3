//! The replay blocks of `run_config_resolved.json` as readers show them (docs/replay.md
//! §1-§3): the gate execution contract (hash, profile, fallback fields, `UNSUPPORTED_CONTRACT`
//! and `CONTRACT_MISMATCH` findings), the run manifest (hash, run seed and its source),
//! determinism mode and preconditions, and lineage (attempts, fork source).
//!
//! Everything is read from the run config; nothing here reads logs. Older capsules carry none
//! of these blocks: [`ExecutionInfo::from_run_config`] then returns `None` and the renderers
//! show nothing new.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use veriscope_contracts::execution;

use crate::fmt::prefix;

/// Length of the short hashes shown in headers.
pub const SHORT_HASH: usize = 12;

/// The persisted gate contract (`run_config_resolved.gate_contract`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GateContractInfo {
    /// `gate_contract.hash` as stored.
    pub hash: Option<String>,
    /// First 12 characters of the hash.
    pub hash_short: Option<String>,
    /// The profile (gate preset) of the normalized configuration.
    pub profile: Option<String>,
    /// `material.gate_policy_version`.
    pub gate_policy_version: Option<String>,
    /// A field came from the environment (`VERISCOPE_GATE_*`).
    pub fallback_used: bool,
    /// The fields that came from the environment.
    pub fallback_fields: Vec<String>,
    /// `UNSUPPORTED_CONTRACT field=... value=... supported=[...]` tokens: versions this build
    /// cannot run (the artifacts remain a valid record).
    pub unsupported: Vec<String>,
    /// `CONTRACT_MISMATCH` details: the stored hash, material and effective configuration do
    /// not agree.
    pub contract_mismatch: Vec<String>,
    /// The effective (normalized) configuration, for field-by-field comparisons.
    #[serde(skip)]
    pub effective: Value,
}

/// The run manifest (`run_config_resolved.manifest` / `manifest_hash`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ManifestInfo {
    /// A `manifest` object is recorded.
    pub present: bool,
    /// `manifest_hash` as stored.
    pub hash: Option<String>,
    /// First 12 characters of the stored hash.
    pub hash_short: Option<String>,
    /// The stored hash equals sha256(canonical_json(manifest)) (null without both).
    pub hash_verified: Option<bool>,
    /// `manifest.run_seed`.
    pub run_seed: Option<u64>,
    /// `manifest.seed_source` (`flag|env|default|persisted`).
    pub seed_source: Option<String>,
}

/// One determinism precondition.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PreconditionInfo {
    /// Precondition name, e.g. `run_seed_fixed`.
    pub name: String,
    /// It was met.
    pub met: bool,
    /// What was observed.
    pub observed: Option<String>,
    /// What it requires.
    pub required: Option<String>,
}

/// `run_config_resolved.determinism`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DeterminismInfo {
    /// `standard` or `strict`.
    pub mode: String,
    /// Every recorded precondition.
    pub preconditions: Vec<PreconditionInfo>,
    /// Names of the met preconditions.
    pub met: Vec<String>,
    /// Names of the unmet preconditions.
    pub unmet: Vec<String>,
}

/// One attempt of the run (start or resume).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AttemptInfo {
    /// Attempt number (1 = the start).
    pub attempt: Option<u64>,
    /// `start`, `resume`, ...
    pub reason: Option<String>,
    /// The last iteration recorded before this attempt resumed.
    pub resumed_after_iter: Option<u64>,
}

/// The source of a forked run.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ForkInfo {
    /// The source's run_id.
    pub run_id: Option<String>,
    /// The source's outdir as recorded.
    pub outdir: Option<String>,
    /// The source's gate contract hash.
    pub gate_contract_hash: Option<String>,
}

/// `run_config_resolved.lineage`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LineageInfo {
    /// Attempts in order.
    pub attempts: Vec<AttemptInfo>,
    /// The fork source, when this run is a fork.
    pub forked_from: Option<ForkInfo>,
}

/// The replay blocks of a capsule's run config.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ExecutionInfo {
    /// The persisted gate contract.
    pub gate_contract: Option<GateContractInfo>,
    /// The run manifest (`present: false` when the run config has replay blocks but no
    /// manifest).
    pub manifest: ManifestInfo,
    /// Determinism mode and preconditions.
    pub determinism: Option<DeterminismInfo>,
    /// Attempts and fork source.
    pub lineage: Option<LineageInfo>,
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// A JSON scalar as text (strings unquoted).
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl ExecutionInfo {
    /// Reads the replay blocks; `None` when the run config has none of them (older capsules).
    pub fn from_run_config(rc: &Value) -> Option<ExecutionInfo> {
        let keys = [
            "gate_contract",
            "manifest",
            "manifest_hash",
            "determinism",
            "lineage",
        ];
        if !keys.iter().any(|k| rc.get(*k).is_some()) {
            return None;
        }
        Some(ExecutionInfo {
            gate_contract: rc.get("gate_contract").map(gate_contract),
            manifest: manifest(rc),
            determinism: rc.get("determinism").map(determinism),
            lineage: rc.get("lineage").map(lineage),
        })
    }

    /// The `UNSUPPORTED_CONTRACT` / `CONTRACT_MISMATCH` lines for a banner (empty when none).
    pub fn contract_findings(&self) -> Vec<String> {
        let Some(gc) = &self.gate_contract else {
            return Vec::new();
        };
        let mut out = gc.unsupported.clone();
        out.extend(
            gc.contract_mismatch
                .iter()
                .map(|p| format!("CONTRACT_MISMATCH {p}")),
        );
        out
    }

    /// `3f2a9c1e7b4d (profile tuned_v0, policy tuned_v0@1)`, `UNSUPPORTED` appended.
    pub fn contract_text(&self) -> Option<String> {
        let gc = self.gate_contract.as_ref()?;
        let mut s = format!(
            "{} (profile {}, policy {})",
            gc.hash_short.as_deref().unwrap_or("-"),
            gc.profile.as_deref().unwrap_or("-"),
            gc.gate_policy_version.as_deref().unwrap_or("-")
        );
        if !gc.unsupported.is_empty() {
            s.push_str(" UNSUPPORTED by this build");
        }
        if !gc.contract_mismatch.is_empty() {
            s.push_str(" CONTRACT_MISMATCH");
        }
        Some(s)
    }

    /// `eps, gate_window (from VERISCOPE_GATE_*)` when a field came from the environment.
    pub fn fallback_text(&self) -> Option<String> {
        let gc = self.gate_contract.as_ref()?;
        (gc.fallback_used || !gc.fallback_fields.is_empty())
            .then(|| format!("{} (from VERISCOPE_GATE_*)", gc.fallback_fields.join(", ")))
    }

    /// `ab12cd34ef56` / `MISSING (older capsule; diff --replay cannot verify a replay)`.
    pub fn manifest_text(&self) -> String {
        let m = &self.manifest;
        match (&m.hash_short, m.present) {
            (Some(h), _) => match m.hash_verified {
                Some(false) => {
                    format!("{h} (does not match the recorded manifest: manifest_hash is stale)")
                }
                _ => h.clone(),
            },
            (None, true) => "recorded without manifest_hash".to_owned(),
            (None, false) => {
                "MISSING (older capsule; diff --replay cannot verify a replay)".to_owned()
            }
        }
    }

    /// `42 (flag)`.
    pub fn seed_text(&self) -> Option<String> {
        let seed = self.manifest.run_seed?;
        Some(format!(
            "{seed} ({})",
            self.manifest.seed_source.as_deref().unwrap_or("-")
        ))
    }

    /// `strict (2/2 preconditions met)` / `standard (1 unmet: run_seed_fixed)`.
    pub fn determinism_text(&self) -> Option<String> {
        let d = self.determinism.as_ref()?;
        let n = d.preconditions.len();
        Some(if n == 0 {
            d.mode.clone()
        } else if d.unmet.is_empty() {
            format!("{} ({n}/{n} preconditions met)", d.mode)
        } else {
            format!(
                "{} ({}/{n} preconditions met; unmet: {})",
                d.mode,
                d.met.len(),
                d.unmet.join(", ")
            )
        })
    }

    /// `2 attempts (attempt 2 resumed after iter 300); forked from run_x (contract 3f2a…)`.
    pub fn lineage_text(&self) -> Option<String> {
        let l = self.lineage.as_ref()?;
        let n = l.attempts.len();
        let mut s = format!("{n} attempt{}", if n == 1 { "" } else { "s" });
        let resumes: Vec<String> = l
            .attempts
            .iter()
            .filter_map(|a| {
                let after = a.resumed_after_iter?;
                Some(match a.attempt {
                    Some(k) => format!("attempt {k} resumed after iter {after}"),
                    None => format!("resumed after iter {after}"),
                })
            })
            .collect();
        if !resumes.is_empty() {
            s.push_str(&format!(" ({})", resumes.join("; ")));
        }
        if let Some(f) = &l.forked_from {
            s.push_str(&format!(
                "; forked from {} ({}, contract {})",
                f.run_id.as_deref().unwrap_or("-"),
                f.outdir.as_deref().unwrap_or("-"),
                f.gate_contract_hash
                    .as_deref()
                    .map_or("-", |h| prefix(h, SHORT_HASH))
            ));
        }
        Some(s)
    }
}

fn gate_contract(gc: &Value) -> GateContractInfo {
    let material = gc.get("material").unwrap_or(&Value::Null);
    let effective = gc
        .get("effective")
        .or_else(|| material.get("normalized_gate_config"))
        .cloned()
        .unwrap_or(Value::Null);
    let hash = str_of(gc.get("hash"));
    let fallback_fields: Vec<String> = gc
        .get("fallback_fields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| str_of(Some(v))).collect())
        .unwrap_or_default();
    GateContractInfo {
        hash_short: hash.as_deref().map(|h| prefix(h, SHORT_HASH).to_owned()),
        hash,
        profile: str_of(effective.get("profile"))
            .or_else(|| str_of(material.pointer("/normalized_gate_config/profile"))),
        gate_policy_version: str_of(material.get("gate_policy_version")),
        fallback_used: gc
            .get("fallback_used")
            .and_then(Value::as_bool)
            .unwrap_or(!fallback_fields.is_empty()),
        fallback_fields,
        unsupported: execution::unsupported(material)
            .iter()
            .map(execution::Unsupported::token)
            .collect(),
        contract_mismatch: execution::persisted_problems(gc),
        effective,
    }
}

fn manifest(rc: &Value) -> ManifestInfo {
    let m = rc.get("manifest").filter(|m| m.is_object());
    let hash = str_of(rc.get("manifest_hash"));
    let recomputed = m.and_then(|m| veriscope_canon::sha256_hex(m).ok());
    ManifestInfo {
        present: m.is_some(),
        hash_short: hash.as_deref().map(|h| prefix(h, SHORT_HASH).to_owned()),
        hash_verified: match (&hash, &recomputed) {
            (Some(h), Some(r)) => Some(h == r),
            _ => None,
        },
        hash,
        run_seed: m.and_then(|m| m.get("run_seed")).and_then(Value::as_u64),
        seed_source: str_of(m.and_then(|m| m.get("seed_source"))),
    }
}

fn determinism(d: &Value) -> DeterminismInfo {
    let preconditions: Vec<PreconditionInfo> = d
        .get("preconditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| PreconditionInfo {
            name: str_of(p.get("name")).unwrap_or_else(|| "-".to_owned()),
            met: p.get("met").and_then(Value::as_bool).unwrap_or(false),
            observed: text_of(p.get("observed")),
            required: text_of(p.get("required")),
        })
        .collect();
    let names = |met: bool| {
        preconditions
            .iter()
            .filter(|p| p.met == met)
            .map(|p| p.name.clone())
            .collect()
    };
    DeterminismInfo {
        mode: str_of(d.get("mode")).unwrap_or_else(|| "standard".to_owned()),
        met: names(true),
        unmet: names(false),
        preconditions,
    }
}

fn lineage(l: &Value) -> LineageInfo {
    LineageInfo {
        attempts: l
            .get("attempts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| AttemptInfo {
                attempt: a.get("attempt").and_then(Value::as_u64),
                reason: str_of(a.get("reason")),
                resumed_after_iter: a.get("resumed_after_iter").and_then(Value::as_u64),
            })
            .collect(),
        forked_from: l
            .get("forked_from")
            .filter(|f| f.is_object())
            .map(|f| ForkInfo {
                run_id: str_of(f.get("run_id")),
                outdir: str_of(f.get("outdir")),
                gate_contract_hash: str_of(f.get("gate_contract_hash")),
            }),
    }
}

/// `WARNING:GATE_CONTRACT_MISMATCH A=<hash12> B=<hash12> fields: f (A=.. B=..), ...` when
/// both capsules record a gate contract and the hashes differ (fields from
/// `veriscope_contracts::execution::diff_configs` on the effective configurations).
pub fn contract_warning(a: Option<&ExecutionInfo>, b: Option<&ExecutionInfo>) -> Option<String> {
    let ga = a?.gate_contract.as_ref()?;
    let gb = b?.gate_contract.as_ref()?;
    if ga.hash == gb.hash {
        return None;
    }
    let diffs = execution::diff_configs(&ga.effective, &gb.effective);
    let compact =
        |v: &Value| veriscope_canon::to_canonical_string(v).unwrap_or_else(|_| v.to_string());
    let fields = if diffs.is_empty() {
        "none in the effective configuration (the contract versions differ)".to_owned()
    } else {
        diffs
            .iter()
            .map(|d| {
                format!(
                    "{} (A={} B={})",
                    d.field,
                    compact(&d.left),
                    compact(&d.right)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "WARNING:GATE_CONTRACT_MISMATCH A={} B={} fields: {fields}",
        ga.hash_short.as_deref().unwrap_or("-"),
        gb.hash_short.as_deref().unwrap_or("-"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract(eps: f64, policy: &str) -> Value {
        let m = execution::material(
            json!({"profile": "tuned_v0", "gate_window": 50, "eps": eps}),
            policy,
            "v1",
            "v1",
        );
        let h = execution::contract_hash(&m).unwrap();
        execution::persisted_object(m, &h, &["eps".to_owned()], serde_json::Map::new())
    }

    #[test]
    fn reads_every_block_and_flags_unsupported_contracts() {
        let manifest = json!({"schema_version": 1, "run_seed": 7, "seed_source": "flag"});
        let rc = json!({
            "gate_contract": contract(0.2, "tuned_v0@9"),
            "manifest": manifest,
            "manifest_hash": veriscope_canon::sha256_hex(&manifest).unwrap(),
            "determinism": {"mode": "strict", "preconditions": [
                {"name": "run_seed_fixed", "met": true, "observed": "flag:7", "required": "--seed"},
                {"name": "cublas_workspace", "met": false, "observed": null, "required": ":4096:8"}]},
            "lineage": {"attempts": [{"attempt": 1, "resumed_after_iter": null, "reason": "start"},
                                     {"attempt": 2, "resumed_after_iter": 300, "reason": "resume"}],
                        "forked_from": {"run_id": "src", "outdir": "/x/src", "gate_contract_hash": "abcdef0123456789"}},
        });
        let x = ExecutionInfo::from_run_config(&rc).unwrap();
        let gc = x.gate_contract.as_ref().unwrap();
        assert_eq!(gc.profile.as_deref(), Some("tuned_v0"));
        assert_eq!(gc.unsupported.len(), 1);
        assert!(
            gc.unsupported[0]
                .starts_with("UNSUPPORTED_CONTRACT field=gate_policy_version value=\"tuned_v0@9\"")
        );
        assert!(gc.contract_mismatch.is_empty());
        assert!(
            x.contract_text()
                .unwrap()
                .ends_with("UNSUPPORTED by this build")
        );
        assert_eq!(
            x.fallback_text().as_deref(),
            Some("eps (from VERISCOPE_GATE_*)")
        );
        assert_eq!(x.manifest.hash_verified, Some(true));
        assert_eq!(x.seed_text().as_deref(), Some("7 (flag)"));
        assert_eq!(
            x.determinism_text().as_deref(),
            Some("strict (1/2 preconditions met; unmet: cublas_workspace)")
        );
        assert_eq!(
            x.lineage_text().as_deref(),
            Some(
                "2 attempts (attempt 2 resumed after iter 300); forked from src (/x/src, contract abcdef012345)"
            )
        );
        assert!(ExecutionInfo::from_run_config(&json!({"schema_version": 1})).is_none());
    }

    #[test]
    fn tampered_contract_and_stale_manifest_hash_are_reported() {
        let mut gc = contract(0.2, "tuned_v0@1");
        gc["effective"]["eps"] = json!(0.3);
        let rc = json!({"gate_contract": gc, "manifest": {"run_seed": 1}, "manifest_hash": "00"});
        let x = ExecutionInfo::from_run_config(&rc).unwrap();
        let findings = x.contract_findings();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].starts_with("CONTRACT_MISMATCH effective config differs"));
        assert_eq!(x.manifest.hash_verified, Some(false));
        assert!(x.manifest_text().contains("stale"));
        let missing =
            ExecutionInfo::from_run_config(&json!({"gate_contract": contract(0.2, "tuned_v0@1")}))
                .unwrap();
        assert!(missing.manifest_text().starts_with("MISSING"));
    }

    #[test]
    fn contract_warning_names_the_differing_fields() {
        let a =
            ExecutionInfo::from_run_config(&json!({"gate_contract": contract(0.2, "tuned_v0@1")}));
        let b =
            ExecutionInfo::from_run_config(&json!({"gate_contract": contract(0.25, "tuned_v0@1")}));
        let w = contract_warning(a.as_ref(), b.as_ref()).unwrap();
        assert!(w.starts_with("WARNING:GATE_CONTRACT_MISMATCH A="), "{w}");
        assert!(w.ends_with("fields: eps (A=0.2 B=0.25)"), "{w}");
        assert!(contract_warning(a.as_ref(), a.as_ref()).is_none());
        assert!(contract_warning(a.as_ref(), None).is_none());
    }
}
