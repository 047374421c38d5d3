//! `Comparable(A, B)` (contract_v1 §Comparable(A,B), cli_contracts A10): may two capsules
//! be compared at all? `diff` and `report --compare` build on this.
//!
//! Checked in the reference's order: partial, window hash missing, schema version, window
//! hash, gate preset (with `tuned` == `tuned_v0`, unless the mismatch is explicitly allowed).
//! Distributed-metadata differences never block; they come back as warnings.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The facts of one capsule that comparability looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapsuleFacts {
    /// `schema_version` (normally 1).
    pub schema_version: Option<Value>,
    /// Partial capsule (results.json absent or summary `partial=true`).
    pub partial: bool,
    /// `window_signature_ref.hash`.
    pub window_hash: Option<String>,
    /// `profile.gate_preset`.
    pub gate_preset: Option<String>,
    /// `run_started_v1.payload.distributed`, when recorded.
    pub distributed: Option<Map<String, Value>>,
}

impl CapsuleFacts {
    /// Facts from a parsed results_summary.json (or results.json) and the presence of results.
    pub fn from_summary(summary: &Value, results_present: bool) -> Self {
        CapsuleFacts {
            schema_version: summary.get("schema_version").cloned(),
            partial: !results_present
                || summary.get("partial").and_then(Value::as_bool) == Some(true),
            window_hash: summary
                .pointer("/window_signature_ref/hash")
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(str::to_ascii_lowercase),
            gate_preset: summary
                .pointer("/profile/gate_preset")
                .and_then(Value::as_str)
                .map(str::to_owned),
            distributed: None,
        }
    }
}

/// Why two capsules are not comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// A capsule is partial.
    PartialCapsule,
    /// A window hash is missing.
    WindowHashMissing,
    /// schema_version differs.
    SchemaMismatch,
    /// Window hashes differ.
    WindowHashMismatch,
    /// Gate presets differ and the mismatch was not allowed.
    GatePresetMismatch,
}

impl Reason {
    /// The contract token.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PartialCapsule => "PARTIAL_CAPSULE",
            Reason::WindowHashMissing => "WINDOW_HASH_MISSING",
            Reason::SchemaMismatch => "SCHEMA_MISMATCH",
            Reason::WindowHashMismatch => "WINDOW_HASH_MISMATCH",
            Reason::GatePresetMismatch => "GATE_PRESET_MISMATCH",
        }
    }
}

/// The verdict, shaped like the reference's JSON (`ok`, `reason`, `details`, `policy`, `warnings`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparability {
    /// Comparable.
    pub ok: bool,
    /// First failing reason.
    pub reason: Option<Reason>,
    /// `{field: {expected: A, got: B}}` for the failing reason.
    pub details: Map<String, Value>,
    /// `{allow_gate_preset_mismatch: bool}`.
    pub policy: Map<String, Value>,
    /// Non-blocking notes, e.g. `WARNING:DISTRIBUTED_METADATA_MISMATCH ...`.
    pub warnings: Vec<String>,
}

/// Canonical preset name: trimmed, `tuned` (any case) is an alias of `tuned_v0`.
pub fn canonical_preset(name: &str) -> String {
    let t = name.trim();
    if t.eq_ignore_ascii_case("tuned") {
        "tuned_v0".to_owned()
    } else {
        t.to_owned()
    }
}

/// Comparable(A, B).
pub fn comparable(
    a: &CapsuleFacts,
    b: &CapsuleFacts,
    allow_gate_preset_mismatch: bool,
) -> Comparability {
    let mut policy = Map::new();
    policy.insert(
        "allow_gate_preset_mismatch".into(),
        Value::Bool(allow_gate_preset_mismatch),
    );
    let mut out = Comparability {
        ok: true,
        reason: None,
        details: Map::new(),
        policy,
        warnings: distributed_warnings(a, b),
    };
    let fail =
        |out: &mut Comparability, reason: Reason, field: &str, expected: Value, got: Value| {
            out.ok = false;
            out.reason = Some(reason);
            out.details
                .insert(field.into(), json!({"expected": expected, "got": got}));
        };
    if a.partial || b.partial {
        fail(
            &mut out,
            Reason::PartialCapsule,
            "partial",
            json!(false),
            json!({"run_a": a.partial, "run_b": b.partial}),
        );
    } else if a.window_hash.is_none() || b.window_hash.is_none() {
        fail(
            &mut out,
            Reason::WindowHashMissing,
            "window_signature_hash",
            json!(a.window_hash),
            json!(b.window_hash),
        );
    } else if !same_schema(a.schema_version.as_ref(), b.schema_version.as_ref()) {
        fail(
            &mut out,
            Reason::SchemaMismatch,
            "schema_version",
            json!(a.schema_version),
            json!(b.schema_version),
        );
    } else if a.window_hash != b.window_hash {
        fail(
            &mut out,
            Reason::WindowHashMismatch,
            "window_signature_hash",
            json!(a.window_hash),
            json!(b.window_hash),
        );
    } else {
        let (pa, pb) = (
            a.gate_preset.as_deref().map(canonical_preset),
            b.gate_preset.as_deref().map(canonical_preset),
        );
        if pa != pb && !allow_gate_preset_mismatch {
            fail(
                &mut out,
                Reason::GatePresetMismatch,
                "gate_preset",
                json!(pa),
                json!(pb),
            );
        }
    }
    out
}

fn same_schema(a: Option<&Value>, b: Option<&Value>) -> bool {
    let num = |v: Option<&Value>| v.and_then(Value::as_f64);
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `WARNING:DISTRIBUTED_METADATA_MISMATCH field=<f> run_a=<x> run_b=<y>` for differing
/// `distributed_mode` / `world_size_observed` (contract_v1 NOTE under Comparable).
pub fn distributed_warnings(a: &CapsuleFacts, b: &CapsuleFacts) -> Vec<String> {
    let get = |f: &CapsuleFacts, k: &str| {
        f.distributed
            .as_ref()
            .and_then(|d| d.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    ["distributed_mode", "world_size_observed"]
        .iter()
        .filter_map(|k| {
            let (x, y) = (get(a, k), get(b, k));
            (x != y).then(|| {
                format!(
                    "WARNING:DISTRIBUTED_METADATA_MISMATCH field={k} run_a={} run_b={}",
                    crate::pyrepr::repr_value(&x),
                    crate::pyrepr::repr_value(&y)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(preset: &str, hash: &str) -> CapsuleFacts {
        CapsuleFacts {
            schema_version: Some(json!(1)),
            partial: false,
            window_hash: Some(hash.into()),
            gate_preset: Some(preset.into()),
            distributed: None,
        }
    }

    #[test]
    fn reasons_in_contract_order() {
        let a = facts("tuned", "aa");
        assert!(comparable(&a, &facts("tuned_v0", "aa"), false).ok);
        let c = comparable(&a, &facts("beta", "aa"), false);
        assert_eq!(
            (c.reason, c.details["gate_preset"].clone()),
            (
                Some(Reason::GatePresetMismatch),
                json!({"expected": "tuned_v0", "got": "beta"})
            )
        );
        assert!(comparable(&a, &facts("beta", "aa"), true).ok);
        let c = comparable(&a, &facts("beta", "bb"), false);
        assert_eq!(
            c.details["window_signature_hash"],
            json!({"expected": "aa", "got": "bb"})
        );
        let mut p = facts("tuned", "aa");
        p.partial = true;
        assert_eq!(
            comparable(&a, &p, false).reason,
            Some(Reason::PartialCapsule)
        );
        let mut s = facts("tuned", "aa");
        s.schema_version = Some(json!(2));
        assert_eq!(
            comparable(&a, &s, false).reason,
            Some(Reason::SchemaMismatch)
        );
        s.window_hash = None;
        assert_eq!(
            comparable(&a, &s, false).reason,
            Some(Reason::WindowHashMissing)
        );
    }

    #[test]
    fn distributed_differences_only_warn() {
        let a = facts("x", "aa");
        let mut b = facts("x", "aa");
        b.distributed = Some(
            json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 2})
                .as_object()
                .unwrap()
                .clone(),
        );
        let c = comparable(&a, &b, false);
        assert!(c.ok);
        assert_eq!(
            c.warnings[0],
            "WARNING:DISTRIBUTED_METADATA_MISMATCH field=distributed_mode run_a=None run_b='ddp_wrapped'"
        );
    }
}
