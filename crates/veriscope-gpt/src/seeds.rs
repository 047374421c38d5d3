//! Derived seeds: every random stream of a run (init, batches, probe batch, corruption,
//! collapse basis, eval batches) is a pure function of the run seed, a stream tag and an
//! index, so a resumed run draws exactly what an uninterrupted one would (docs/replay.md §2).
//!
//! The derivation and the shared stream tags are `veriscope_contracts::seeds`, the one
//! implementation the wrapper's run manifest (`derived_seeds`) and the Python SDK follow; only
//! the streams that exist nowhere but in this trainer are tagged here.

pub use veriscope_contracts::seeds::{
    DEFAULT_RUN_SEED, STREAM_DATA_ORDER, STREAM_INIT, STREAM_INJECTION, STREAM_PROBE, derive_seed,
    derived_seeds,
};

/// Collapse basis (index = layer). Trainer-only: no counterpart in the manifest.
pub const STREAM_COLLAPSE: u64 = 5;
/// Validation batches for eval loss (index = eval iteration · 1000 + batch). Trainer-only.
pub const STREAM_EVAL: u64 = 6;

/// `"seeds"` of the hello line and `--describe`: the run seed and the manifest's derived
/// seeds (`derive_seed(run, stream, 0)`), so the capsule can check they agree.
pub fn seeds_json(run_seed: u64) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("run".into(), run_seed.into());
    for (name, value) in derived_seeds(run_seed) {
        m.insert(name.into(), value.into());
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_indices_give_distinct_seeds() {
        let a = derive_seed(42, STREAM_DATA_ORDER, 0);
        assert_ne!(a, derive_seed(42, STREAM_DATA_ORDER, 1));
        assert_ne!(a, derive_seed(42, STREAM_PROBE, 0));
        assert_ne!(a, derive_seed(43, STREAM_DATA_ORDER, 0));
        assert_eq!(a, derive_seed(42, STREAM_DATA_ORDER, 0));
    }

    #[test]
    fn local_tags_do_not_collide_with_the_shared_ones() {
        let shared = [
            STREAM_DATA_ORDER,
            STREAM_PROBE,
            STREAM_INJECTION,
            STREAM_INIT,
        ];
        for local in [STREAM_COLLAPSE, STREAM_EVAL] {
            assert!(!shared.contains(&local), "{local}");
        }
    }

    #[test]
    fn seeds_json_reports_the_run_seed_and_the_manifest_streams() {
        let v = seeds_json(42);
        assert_eq!(v["run"], 42);
        assert_eq!(v["data_order"], derive_seed(42, STREAM_DATA_ORDER, 0));
        assert_eq!(v["init"], derive_seed(42, STREAM_INIT, 0));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5);
    }
}
