//! Distributed context of a run (distributed_mode.md; contract_v1 §Distributed execution):
//! what the launch environment says (torchrun / SLURM variables) and how the runner's own
//! `distributed` report is merged over it for `run_started_v1.payload.distributed`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Distributed context of the launch environment (torchrun / SLURM variables).
pub fn env_distributed(env: &BTreeMap<String, String>) -> Value {
    let int = |k: &str| env.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let world = int("WORLD_SIZE")
        .or_else(|| int("SLURM_NTASKS"))
        .unwrap_or(1)
        .max(1);
    let rank = int("RANK").or_else(|| int("SLURM_PROCID")).unwrap_or(0);
    let mode = if world > 1 {
        "replicated_single_chief_emit"
    } else {
        "single_process"
    };
    json!({
        "distributed_mode": mode,
        "world_size_observed": world,
        "backend": Value::Null,
        "rank": rank,
        "local_rank": int("LOCAL_RANK"),
        "ddp_wrapped": false,
    })
}

/// Merges the runner's `distributed` object over the env defaults, keeping only well-typed
/// fields and deriving a valid `distributed_mode`, so a sloppy runner cannot make the capsule
/// fail distributed validation (contract_v1 §Distributed execution).
pub fn normalize_distributed(reported: &Map<String, Value>, defaults: &Value) -> Value {
    let mut d = defaults.as_object().cloned().unwrap_or_default();
    let uint = |k: &str| reported.get(k).and_then(Value::as_u64);
    if let Some(w) = uint("world_size_observed").filter(|w| *w >= 1) {
        d.insert("world_size_observed".into(), json!(w));
    }
    if let Some(r) = uint("rank") {
        d.insert("rank".into(), json!(r));
    }
    match reported.get("local_rank") {
        Some(Value::Null) => {
            d.insert("local_rank".into(), Value::Null);
        }
        Some(v) if v.as_u64().is_some() => {
            d.insert("local_rank".into(), v.clone());
        }
        _ => {}
    }
    if let Some(b) = reported
        .get("backend")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
    {
        d.insert("backend".into(), json!(b));
    }
    if let Some(w) = reported.get("ddp_wrapped").and_then(Value::as_bool) {
        d.insert("ddp_wrapped".into(), json!(w));
    }
    let world = d
        .get("world_size_observed")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let wrapped = d
        .get("ddp_wrapped")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let valid = [
        "single_process",
        "replicated_single_chief_emit",
        "ddp_wrapped",
    ];
    let mode = match reported.get("distributed_mode").and_then(Value::as_str) {
        Some(m) if valid.contains(&m) => m,
        _ if world <= 1 => "single_process",
        _ if wrapped => "ddp_wrapped",
        _ => "replicated_single_chief_emit",
    };
    d.insert("distributed_mode".into(), json!(mode));
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_distributed_defaults_to_single_process() {
        let d = env_distributed(&BTreeMap::new());
        assert_eq!(d["distributed_mode"], "single_process");
        assert_eq!(d["world_size_observed"], 1);
    }

    #[test]
    fn runner_distributed_is_normalized() {
        let defaults = env_distributed(&BTreeMap::new());
        let reported = json!({"world_size_observed": 4, "rank": 2, "distributed_mode": "bogus", "ddp_wrapped": true});
        let d = normalize_distributed(reported.as_object().unwrap(), &defaults);
        assert_eq!(d["distributed_mode"], "ddp_wrapped");
        assert_eq!(d["rank"], 2);
        assert_eq!(d["world_size_observed"], 4);
    }
}
