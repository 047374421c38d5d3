//! results.json checked gate by gate, without one tree of the whole document.
//!
//! A capsule of a long run holds 10^5 gate records; parsing them into one `serde_json::Value`
//! tree cost most of validate's time and memory (docs/benchmarks.md, Foundation). Here the
//! top level is parsed with `gates` kept as raw text (the parser still checks the syntax of
//! every byte), then each gate is parsed, checked and dropped on its own, on worker threads.
//! The findings are the same as [`crate::schema::check_results`] on the whole tree: the same checks
//! in the same order, and the first failing gate by index wins.
//!
//! Anything unusual (not an object, a syntax error, a non-list `gates` that still parses)
//! returns `None`, and the caller takes the whole-tree path, which words every error exactly
//! as the reference does (cli_contracts A4).

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::bindings::audit_digest;
use crate::schema::{
    Gate, Results, SchemaError, Seg, check_gate, check_results_header, check_results_rest,
    gates_error,
};

/// One gate as the strict-binding divergence check compares it with the journal:
/// (iter, decision, audit digest) (cli_contracts A6.5 step 3).
pub(super) type GateKey = (i64, String, String);

/// Checked results.json plus, when asked for, the divergence keys of its gates.
pub(super) struct CheckedResults {
    pub results: Results,
    pub gate_keys: Option<Vec<GateKey>>,
}

impl CheckedResults {
    /// From a whole-document tree (the fallback path).
    pub(super) fn from_tree(raw: &Value, results: Results, want_keys: bool) -> Self {
        let gate_keys = want_keys.then(|| {
            raw.get("gates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(gate_key)
                .collect()
        });
        CheckedResults { results, gate_keys }
    }
}

/// Checks results.json `text` gate by gate; `None` when the caller must take the
/// whole-tree path (see the module docs).
pub(super) fn check_split(
    text: &str,
    want_keys: bool,
) -> Option<Result<CheckedResults, SchemaError>> {
    let split: SplitResults<'_> = serde_json::from_str(text).ok()?;
    let header = match check_results_header(&split.top) {
        Ok(h) => h,
        Err(e) => return Some(Err(e)),
    };
    let Some(raw_gates) = split.gates else {
        return Some(Err(gates_error(false)));
    };
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw_gates.get()) else {
        return Some(Err(gates_error(true)));
    };
    let checked = check_gates(&items, want_keys)?;
    let (gates, keys): (Vec<Gate>, Vec<Option<GateKey>>) = match checked {
        Ok(pairs) => pairs.into_iter().unzip(),
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = check_results_rest(&split.top) {
        return Some(Err(e));
    }
    Some(Ok(CheckedResults {
        results: Results { header, gates },
        gate_keys: want_keys.then(|| keys.into_iter().flatten().collect()),
    }))
}

/// Below this many gates the work stays on the calling thread.
const PARALLEL_MIN_GATES: usize = 4096;

/// A checked gate and, when asked for, its divergence key.
type CheckedGate = (Gate, Option<GateKey>);
type GateOutcome = Result<CheckedGate, SchemaError>;

/// Parses and checks every gate; the error of the lowest failing index, as a sequential
/// pass would stop at. `None` if a gate's text does not parse (cannot happen after the
/// top-level parse checked it; the whole-tree path then reports whatever it is).
fn check_gates(
    items: &[&RawValue],
    want_keys: bool,
) -> Option<Result<Vec<CheckedGate>, SchemaError>> {
    let workers = if items.len() < PARALLEL_MIN_GATES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let part = items.len().div_ceil(workers).max(1);
    let parts: Vec<Option<Vec<GateOutcome>>> = if workers == 1 {
        vec![check_chunk(items, 0, want_keys)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(part)
                .enumerate()
                .map(|(k, chunk)| scope.spawn(move || check_chunk(chunk, k * part, want_keys)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        for outcome in part? {
            match outcome {
                Ok(pair) => out.push(pair),
                Err(e) => return Some(Err(e)),
            }
        }
    }
    Some(Ok(out))
}

/// Checks `chunk` (gates `first..`), stopping at its first schema error.
fn check_chunk(chunk: &[&RawValue], first: usize, want_keys: bool) -> Option<Vec<GateOutcome>> {
    let mut out = Vec::with_capacity(chunk.len());
    for (k, raw) in chunk.iter().enumerate() {
        let gate: Value = serde_json::from_str(raw.get()).ok()?;
        let loc = [Seg::Key("gates".to_owned()), Seg::Index(first + k)];
        let outcome = check_gate(&gate, &loc).map(|g| (g, want_keys.then(|| gate_key(&gate))));
        let failed = outcome.is_err();
        out.push(outcome);
        if failed {
            break;
        }
    }
    Some(out)
}

/// The divergence key of one gate record, read as leniently as the journal side is.
fn gate_key(g: &Value) -> GateKey {
    let iter = g.get("iter").and_then(Value::as_i64).unwrap_or(-1);
    let decision = g
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let digest = audit_digest(g.get("audit").unwrap_or(&Value::Null), true);
    (iter, decision, digest)
}

/// results.json's top-level object with `gates` kept as raw text. Duplicate keys: the last
/// one wins, as in Python's `json` and serde_json's `Value`.
struct SplitResults<'a> {
    top: Map<String, Value>,
    gates: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for SplitResults<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SplitVisitor)
    }
}

struct SplitVisitor;

impl<'de> Visitor<'de> for SplitVisitor {
    type Value = SplitResults<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut top = Map::new();
        let mut gates = None;
        while let Some(key) = access.next_key::<String>()? {
            if key == "gates" {
                gates = Some(access.next_value::<&'de RawValue>()?);
            } else {
                top.insert(key, access.next_value::<Value>()?);
            }
        }
        Ok(SplitResults { top, gates })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn both(doc: &Value) -> (Result<Results, SchemaError>, Result<Results, SchemaError>) {
        let text = doc.to_string();
        let split = check_split(&text, true)
            .expect("split path taken")
            .map(|c| c.results);
        (crate::schema::check_results(doc), split)
    }

    fn gate(iter: u64, decision: &str) -> Value {
        let evaluated = decision != "skip";
        json!({"iter": iter, "decision": decision, "ok": decision != "fail",
               "warn": decision == "warn",
               "audit": {"evaluated": evaluated, "reason": "r", "policy": "p",
                         "per_metric_tv": {"a": 0.5}, "evidence_total": 20, "min_evidence": 16}})
    }

    fn doc(gates: Value) -> Value {
        json!({"schema_version": 1, "run_id": "r1",
               "window_signature_ref": {"hash": "a".repeat(64), "path": "window_signature.json"},
               "profile": {"gate_preset": "tuned_v0"}, "run_status": "success",
               "started_ts_utc": "2026-01-01T00:00:00Z", "gates": gates})
    }

    #[test]
    fn agrees_with_the_whole_tree_check_on_valid_and_broken_documents() {
        let many: Vec<Value> = (0..5000).map(|i| gate(i, "pass")).collect();
        let mut bad_late = many.clone();
        bad_late[4321]["decision"] = json!("maybe");
        let mut two_bad = many.clone();
        two_bad[4000]["iter"] = json!(-1);
        two_bad[10]["audit"]["evaluated"] = json!(false);
        let cases = [
            doc(json!([
                gate(0, "skip"),
                gate(100, "warn"),
                gate(200, "fail")
            ])),
            doc(json!(many)),
            doc(json!(bad_late)),
            doc(json!(two_bad)),
            doc(json!({"not": "a list"})),
            doc(json!(null)),
            {
                let mut d = doc(json!([]));
                d.as_object_mut().map(|m| m.remove("gates"));
                d
            },
            {
                let mut d = doc(json!([gate(0, "pass")]));
                d["run_id"] = json!("");
                d
            },
            {
                let mut d = doc(json!([gate(0, "pass")]));
                d["metrics"] = json!("nope");
                d
            },
        ];
        for d in &cases {
            let (tree, split) = both(d);
            assert_eq!(
                tree,
                split,
                "document: {}",
                &d.to_string()[..200.min(d.to_string().len())]
            );
        }
    }

    #[test]
    fn divergence_keys_match_the_tree_path_and_duplicate_gates_key_takes_the_last() {
        let d = doc(json!([gate(0, "skip"), gate(100, "warn")]));
        let text = d.to_string();
        let split = check_split(&text, true).expect("split").expect("valid");
        let tree = CheckedResults::from_tree(&d, split.results.clone(), true);
        assert_eq!(split.gate_keys, tree.gate_keys);
        assert_eq!(split.gate_keys.as_ref().map(Vec::len), Some(2));

        let dup = text.replacen("{", r#"{"gates":"first","#, 1);
        let again = check_split(&dup, false).expect("split").expect("valid");
        assert_eq!(again.results.gates.len(), 2);
        assert!(again.gate_keys.is_none());
    }

    #[test]
    fn unusual_documents_fall_back_to_the_whole_tree_path() {
        assert!(check_split("[1, 2]", false).is_none());
        assert!(check_split(r#"{"gates": [1, 2"#, false).is_none());
        assert!(check_split("", false).is_none());
    }
}
