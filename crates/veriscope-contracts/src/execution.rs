//! The gate execution contract as it is persisted (docs/replay.md §1; execution_contract.md
//! "Contract Material", "Runtime Proof and Enforcement"): the closed contract material, its
//! hash, the versions this build can run, and the consistency checks behind the
//! `CONTRACT_MISMATCH` and `UNSUPPORTED_CONTRACT` tokens.
//!
//! The gate crate builds the normalized configuration; this module only knows its JSON form,
//! so `validate` and `report` can check a capsule's contract without the gate engine.

use serde_json::{Map, Value, json};

/// `contract_schema_version` of the material and `gate_contract.schema_version`.
pub const CONTRACT_SCHEMA_VERSION: u64 = 1;
/// Version of the metrics stream protocol (docs/metrics-stream.md) the gate reads.
pub const STREAM_PROTOCOL_VERSION: u64 = 1;
/// The gate draws no random numbers: a contract must say so (execution_contract
/// `randomnessSeed`).
pub const RANDOMNESS: &str = "forbidden:gate-is-deterministic";

/// Gate policy versions this build runs (one per preset; a decision-changing code change
/// bumps the `@N`). The gate crate's tests hold its presets to this list.
pub const SUPPORTED_GATE_POLICIES: &[&str] = &[
    "tuned_v0@1",
    "legacy@1",
    "spike_v1@1",
    "calibrated_v1@1",
    "calibrated_v2@1",
    "stationary_v1@1",
];
/// Transport versions this build runs.
pub const SUPPORTED_TRANSPORT: &[&str] = &["v1"];
/// Metric-definition versions this build runs.
pub const SUPPORTED_METRIC_DEFS: &[&str] = &["v1"];

/// The closed material keys, in the order they are reported.
pub const MATERIAL_KEYS: [&str; 7] = [
    "contract_schema_version",
    "normalized_gate_config",
    "gate_policy_version",
    "transport_version",
    "metric_defs_version",
    "stream_protocol_version",
    "randomness",
];

/// Builds the contract material of a normalized gate configuration.
pub fn material(
    normalized: Value,
    gate_policy_version: &str,
    transport_version: &str,
    metric_defs_version: &str,
) -> Value {
    json!({
        "contract_schema_version": CONTRACT_SCHEMA_VERSION,
        "normalized_gate_config": normalized,
        "gate_policy_version": gate_policy_version,
        "transport_version": transport_version,
        "metric_defs_version": metric_defs_version,
        "stream_protocol_version": STREAM_PROTOCOL_VERSION,
        "randomness": RANDOMNESS,
    })
}

/// `gate_contract_hash = sha256(canonical_json(material))`.
pub fn contract_hash(material: &Value) -> Result<String, veriscope_canon::CanonError> {
    veriscope_canon::sha256_hex(material)
}

/// One reason a contract cannot be run by this build (`UNSUPPORTED_CONTRACT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Material key.
    pub field: &'static str,
    /// The value found, as JSON text.
    pub value: String,
    /// What this build supports.
    pub supported: Vec<String>,
}

impl Unsupported {
    /// `UNSUPPORTED_CONTRACT field=<f> value=<v> supported=[...]`.
    pub fn token(&self) -> String {
        format!(
            "UNSUPPORTED_CONTRACT field={} value={} supported=[{}]",
            self.field,
            self.value,
            self.supported.join(", ")
        )
    }
}

/// Versions named by `material` that this build cannot run (empty when it can).
pub fn unsupported(material: &Value) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let int_check = |field: &'static str, want: u64, out: &mut Vec<Unsupported>| {
        let v = material.get(field).unwrap_or(&Value::Null);
        if v.as_u64() != Some(want) {
            out.push(Unsupported {
                field,
                value: v.to_string(),
                supported: vec![want.to_string()],
            });
        }
    };
    int_check("contract_schema_version", CONTRACT_SCHEMA_VERSION, &mut out);
    for (field, list) in [
        ("gate_policy_version", SUPPORTED_GATE_POLICIES),
        ("transport_version", SUPPORTED_TRANSPORT),
        ("metric_defs_version", SUPPORTED_METRIC_DEFS),
    ] {
        let v = material.get(field).unwrap_or(&Value::Null);
        if !v.as_str().is_some_and(|s| list.contains(&s)) {
            out.push(Unsupported {
                field,
                value: v.to_string(),
                supported: list.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    int_check("stream_protocol_version", STREAM_PROTOCOL_VERSION, &mut out);
    out
}

/// Consistency of a persisted `gate_contract` object (execution_contract "Worker execution
/// asserts"): the stored hash is the hash of the stored material, the effective config is the
/// material's normalized config, and the material has exactly the closed keys. Each problem
/// is one `CONTRACT_MISMATCH` detail.
pub fn persisted_problems(gate_contract: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(gc) = gate_contract.as_object() else {
        return vec!["gate_contract is not an object".into()];
    };
    let Some(material) = gc.get("material").and_then(Value::as_object) else {
        return vec!["gate_contract.material is missing or not an object".into()];
    };
    let extra: Vec<&String> = material
        .keys()
        .filter(|k| !MATERIAL_KEYS.contains(&k.as_str()))
        .collect();
    let missing: Vec<&str> = MATERIAL_KEYS
        .iter()
        .copied()
        .filter(|k| !material.contains_key(*k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        problems.push(format!(
            "material keys: missing={missing:?} unexpected={extra:?}"
        ));
    }
    let stored = gc.get("hash").and_then(Value::as_str);
    match contract_hash(&Value::Object(material.clone())) {
        Ok(h) if Some(h.as_str()) == stored => {}
        Ok(h) => problems.push(format!(
            "hash: stored={} recomputed={h}",
            stored.map_or("null".to_owned(), |s| format!("'{s}'"))
        )),
        Err(e) => problems.push(format!("material cannot be hashed: {e}")),
    }
    let normalized = material.get("normalized_gate_config");
    if gc.get("effective") != normalized {
        let diffs = diff_configs(
            normalized.unwrap_or(&Value::Null),
            gc.get("effective").unwrap_or(&Value::Null),
        );
        let fields: Vec<String> = diffs.iter().map(|d| d.field.clone()).collect();
        problems.push(format!(
            "effective config differs from the material's normalized config in [{}]",
            fields.join(", ")
        ));
    }
    if let Some(v) = gc.get("schema_version")
        && v.as_u64() != Some(CONTRACT_SCHEMA_VERSION)
    {
        problems.push(format!(
            "schema_version={v} does not match the material's contract_schema_version"
        ));
    }
    problems
}

/// One field that differs between two normalized configurations.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// Dotted path (`sequential.kappa`, `weights.eff_dim`).
    pub field: String,
    /// Value in the first configuration (`null` when absent).
    pub left: Value,
    /// Value in the second configuration (`null` when absent).
    pub right: Value,
}

/// Field-by-field differences of two normalized configurations (objects are walked; any
/// other value is compared whole), sorted by path.
pub fn diff_configs(left: &Value, right: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk("", left, right, &mut out);
    out
}

fn walk(prefix: &str, left: &Value, right: &Value, out: &mut Vec<FieldDiff>) {
    if let (Value::Object(a), Value::Object(b)) = (left, right) {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            walk(
                &path,
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null),
                out,
            );
        }
    } else if !same_value(left, right) {
        out.push(FieldDiff {
            field: if prefix.is_empty() {
                "(root)".into()
            } else {
                prefix.to_owned()
            },
            left: left.clone(),
            right: right.clone(),
        });
    }
}

/// JSON equality where numbers compare by value (`100` == `100.0`), as canonical JSON does
/// not: a contract persisted with `1e-05` and a flag typed as `0.00001` are the same setting.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        _ => a == b,
    }
}

/// Renders differences as `field: persisted=<a> requested=<b>` lines (`CONTRACT_MISMATCH`
/// details of `run --resume`).
pub fn render_diffs(diffs: &[FieldDiff], left_name: &str, right_name: &str) -> String {
    diffs
        .iter()
        .map(|d| {
            format!(
                "  {}: {left_name}={} {right_name}={}",
                d.field,
                compact(&d.left),
                compact(&d.right)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn compact(v: &Value) -> String {
    veriscope_canon::to_canonical_string(v).unwrap_or_else(|_| v.to_string())
}

/// The `gate_contract` object of `run_config_resolved.json` (docs/replay.md §1).
pub fn persisted_object(
    material: Value,
    hash: &str,
    fallback_fields: &[String],
    sources: Map<String, Value>,
) -> Value {
    let effective = material
        .get("normalized_gate_config")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "schema_version": CONTRACT_SCHEMA_VERSION,
        "hash": hash,
        "material": material,
        "effective": effective,
        "fallback_used": !fallback_fields.is_empty(),
        "fallback_fields": fallback_fields,
        "sources": sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        material(
            json!({"profile": "tuned_v0", "gate_window": 100, "eps": 0.15}),
            "tuned_v0@1",
            "v1",
            "v1",
        )
    }

    #[test]
    fn persisted_contract_round_trips_and_detects_tampering() {
        let m = sample();
        let h = contract_hash(&m).unwrap();
        assert_eq!(h.len(), 64);
        let gc = persisted_object(m, &h, &[], Map::new());
        assert!(persisted_problems(&gc).is_empty());
        assert!(unsupported(&gc["material"]).is_empty());

        let mut tampered = gc.clone();
        tampered["effective"]["gate_window"] = json!(50);
        let p = persisted_problems(&tampered);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("[gate_window]"), "{p:?}");

        let mut rehashed = gc.clone();
        rehashed["material"]["normalized_gate_config"]["eps"] = json!(0.2);
        let p = persisted_problems(&rehashed);
        assert!(p.iter().any(|x| x.starts_with("hash: stored=")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("[eps]")), "{p:?}");
    }

    #[test]
    fn unsupported_versions_are_named() {
        let mut m = sample();
        m["gate_policy_version"] = json!("tuned_v0@9");
        m["stream_protocol_version"] = json!(2);
        let u = unsupported(&m);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].field, "gate_policy_version");
        assert!(u[0].token().starts_with(
            "UNSUPPORTED_CONTRACT field=gate_policy_version value=\"tuned_v0@9\" supported=[tuned_v0@1"
        ));
        assert_eq!(u[1].field, "stream_protocol_version");
    }

    #[test]
    fn diffs_walk_objects_and_compare_numbers_by_value() {
        let a = json!({"gate_window": 100, "eps": 0.15, "sequential": {"kappa": 1.5}, "w": [1, 2]});
        let b = json!({"gate_window": 100.0, "eps": 0.2, "sequential": {"kappa": 1.5, "new": 1}, "w": [1, 3]});
        let d = diff_configs(&a, &b);
        let fields: Vec<&str> = d.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["eps", "sequential.new", "w"]);
        let text = render_diffs(&d, "persisted", "requested");
        assert!(
            text.contains("  eps: persisted=0.15 requested=0.2"),
            "{text}"
        );
    }
}
