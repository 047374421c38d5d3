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
use veriscope_canon::view::{CanonObject, CanonValue, parse_canonical_object};

use super::bindings::{AuditDigest, audit_digest, decision_name};
use crate::jsonref::{ObjRef, ValueRef};
use crate::schema::{
    Gate, Results, SchemaError, Seg, check_gate, check_results_header, check_results_rest,
    clean_audit_evaluated, gate_consistency, gates_error,
};

/// One gate as the strict-binding divergence check compares it with the journal:
/// (iter, decision, audit digest) (cli_contracts A6.5 step 3).
pub(super) type GateKey = (i64, &'static str, AuditDigest);

/// A gate record as `report` and `diff` chart it: its fields read plainly, as recorded. No
/// coercion: a lax spelling that validation accepts (`"evaluated": "true"`, a numeric
/// string) reads as absent here, and non-finite numbers as absent.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRecord {
    /// Iteration of the check.
    pub iter: u64,
    /// `pass` | `warn` | `fail` | `skip`.
    pub decision: String,
    /// `audit.evaluated`.
    pub evaluated: bool,
    /// `audit.worst_DW`.
    pub worst_dw: Option<f64>,
    /// `audit.eps_eff`.
    pub eps_eff: Option<f64>,
    /// `audit.reason`.
    pub reason: String,
    /// `audit.per_metric_tv`, in key order.
    pub per_metric_tv: Vec<(String, f64)>,
}

impl GateRecord {
    /// Reads one gate record; `None` when it has no non-negative integer `iter` or no
    /// string `decision` (such a record is not charted).
    pub fn read(g: ObjRef<'_>) -> Option<GateRecord> {
        let audit = g.get("audit").and_then(ValueRef::as_object);
        let a = |k: &str| audit.and_then(|a| a.get(k));
        Some(GateRecord {
            iter: g.get("iter")?.as_u64()?,
            decision: g.get("decision")?.as_str()?.into_owned(),
            evaluated: a("evaluated").and_then(ValueRef::as_bool).unwrap_or(false),
            worst_dw: a("worst_DW").and_then(ValueRef::as_f64),
            eps_eff: a("eps_eff").and_then(ValueRef::as_f64),
            reason: a("reason")
                .and_then(ValueRef::as_str)
                .unwrap_or_default()
                .into_owned(),
            per_metric_tv: a("per_metric_tv")
                .and_then(ValueRef::as_object)
                .map(|m| {
                    m.members()
                        .filter_map(|(k, v)| Some((k.to_owned(), v.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// results.json as validation read it, handed to a caller that displays it
/// ([`super::validate_capsule_keeping_results`]), so the file is parsed once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultsRead {
    /// Every top-level member except `gates` (the last of duplicate keys).
    pub top: Map<String, Value>,
    /// The charted gate records ([`GateRecord::read`]), in file order.
    pub gates: Vec<GateRecord>,
}

/// What the results check reads of each gate besides checking it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Wanted {
    /// Divergence keys (strict binding).
    pub keys: bool,
    /// Gate records for display.
    pub records: bool,
}

/// Checked results.json plus, when asked for, the divergence keys of its gates and the
/// document as read for display.
pub(super) struct CheckedResults {
    pub results: Results,
    pub gate_keys: Option<Vec<GateKey>>,
    pub read: Option<ResultsRead>,
}

impl CheckedResults {
    /// From a whole-document tree (the fallback path).
    pub(super) fn from_tree(raw: &Value, results: Results, wanted: Wanted) -> Self {
        // Only reached when `check_results` passed: every record is an object and
        // `results.gates` holds them in the same order.
        let records = || {
            raw.get("gates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
        };
        let gate_keys = wanted.keys.then(|| {
            records()
                .zip(&results.gates)
                .map(|(g, gate)| gate_key(ObjRef::Parsed(g), gate))
                .collect()
        });
        let read = wanted.records.then(|| ResultsRead {
            top: raw
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "gates")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            gates: records()
                .filter_map(|g| GateRecord::read(ObjRef::Parsed(g)))
                .collect(),
        });
        CheckedResults {
            results,
            gate_keys,
            read,
        }
    }
}

/// Checks results.json `text` gate by gate; `None` when the caller must take the
/// whole-tree path (see the module docs).
pub(super) fn check_split(
    text: &str,
    wanted: Wanted,
) -> Option<Result<CheckedResults, SchemaError>> {
    let split: SplitResults<'_> = serde_json::from_str(text).ok()?;
    let header = match check_results_header(&split.top) {
        Ok(h) => h,
        Err(e) => return Some(Err(e)),
    };
    let Some(items) = split.gates else {
        return Some(Err(gates_error(false)));
    };
    let checked = match check_gates(&items, wanted)? {
        Ok(checked) => checked,
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = check_results_rest(&split.top) {
        return Some(Err(e));
    }
    let mut gates = Vec::with_capacity(checked.len());
    let mut keys = Vec::with_capacity(if wanted.keys { checked.len() } else { 0 });
    let mut records = Vec::with_capacity(if wanted.records { checked.len() } else { 0 });
    for c in checked {
        gates.push(c.gate);
        keys.extend(c.key);
        records.extend(c.record);
    }
    Some(Ok(CheckedResults {
        results: Results { header, gates },
        gate_keys: wanted.keys.then_some(keys),
        read: wanted.records.then_some(ResultsRead {
            top: split.top,
            gates: records,
        }),
    }))
}

/// Below this many gates the work stays on the calling thread.
const PARALLEL_MIN_GATES: usize = 4096;

/// A checked gate and what else was wanted of it.
struct CheckedGate {
    gate: Gate,
    key: Option<GateKey>,
    /// `None` when not wanted or not charted.
    record: Option<GateRecord>,
}

type GateOutcome = Result<CheckedGate, SchemaError>;

/// Parses and checks every gate; the error of the lowest failing index, as a sequential
/// pass would stop at. `None` if a gate's text does not parse (cannot happen after the
/// top-level parse checked it; the whole-tree path then reports whatever it is).
fn check_gates(
    items: &[&RawValue],
    wanted: Wanted,
) -> Option<Result<Vec<CheckedGate>, SchemaError>> {
    let workers = if items.len() < PARALLEL_MIN_GATES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let part = items.len().div_ceil(workers).max(1);
    let parts: Vec<Option<Vec<GateOutcome>>> = if workers == 1 {
        vec![check_chunk(items, 0, wanted)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(part)
                .enumerate()
                .map(|(k, chunk)| scope.spawn(move || check_chunk(chunk, k * part, wanted)))
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
                Ok(checked) => out.push(checked),
                Err(e) => return Some(Err(e)),
            }
        }
    }
    Some(Ok(out))
}

/// Checks `chunk` (gates `first..`), stopping at its first schema error.
///
/// The wrapper writes results.json as canonical JSON, so a record normally reads through a
/// borrowed view ([`clean_gate`]) without becoming a `Value`; a record the view cannot vouch
/// for (not canonical text, a finding to word, a lax spelling) takes the `Value` path of
/// [`check_gate`], which owns every message. Both give the same gate, key and record.
fn check_chunk(chunk: &[&RawValue], first: usize, wanted: Wanted) -> Option<Vec<GateOutcome>> {
    let read = |g: ObjRef<'_>, gate: Gate| CheckedGate {
        key: wanted.keys.then(|| gate_key(g, &gate)),
        record: if wanted.records {
            GateRecord::read(g)
        } else {
            None
        },
        gate,
    };
    let mut out = Vec::with_capacity(chunk.len());
    for (k, raw) in chunk.iter().enumerate() {
        if let Some(view) = parse_canonical_object(raw.get())
            && let Some(gate) = clean_gate(&view)
        {
            out.push(Ok(read(ObjRef::Canonical(&view), gate)));
            continue;
        }
        let value: Value = serde_json::from_str(raw.get()).ok()?;
        let loc = [Seg::Key("gates".to_owned()), Seg::Index(first + k)];
        // A record that passes `check_gate` is an object.
        let outcome = check_gate(&value, &loc).map(|gate| match value.as_object() {
            Some(g) => read(ObjRef::Parsed(g), gate),
            None => CheckedGate {
                gate,
                key: None,
                record: None,
            },
        });
        let failed = outcome.is_err();
        out.push(outcome);
        if failed {
            break;
        }
    }
    Some(out)
}

/// `Some(gate)` exactly when [`check_gate`] passes on the parsed record, with the gate it
/// gives, for the spellings writers use; `None` for a failure or a lax spelling (`"ok": 1`,
/// numeric strings), which the `Value` path judges.
fn clean_gate(g: &CanonObject<'_>) -> Option<Gate> {
    // A strict non-negative integer: an integer token without a sign that fits a u64.
    let CanonValue::Int(iter) = g.get("iter")? else {
        return None;
    };
    let iter: u64 = iter.parse().ok()?;
    let decision = decision_name(g.get("decision")?.as_str()?.plain()?)?;
    let evaluated = clean_audit_evaluated(g.get("audit")?.as_object()?)?;
    let flag = |k: &str| match g.get(k) {
        None | Some(CanonValue::Null) => Some(None),
        Some(CanonValue::Bool(b)) => Some(Some(*b)),
        Some(_) => None,
    };
    gate_consistency(decision, evaluated, flag("ok")?, flag("warn")?).ok()?;
    Some(Gate {
        iter,
        decision: decision.to_owned(),
    })
}

/// The divergence key of a checked gate record, read as leniently as the journal side is.
fn gate_key(g: ObjRef<'_>, gate: &Gate) -> GateKey {
    let iter = g.get("iter").and_then(|v| v.as_i64()).unwrap_or(-1);
    // A checked record's decision is one of the contract's names.
    let decision = decision_name(&gate.decision).unwrap_or_default();
    (iter, decision, audit_digest(g.get("audit"), true))
}

/// results.json's top-level object with each gate record kept as raw text. Duplicate keys:
/// the last one wins, as in Python's `json` and serde_json's `Value`. A `gates` that is not
/// a list fails the split (the whole-tree path then words it, after the header checks as
/// here), so the records are found in the same pass that checks the document's syntax.
struct SplitResults<'a> {
    top: Map<String, Value>,
    gates: Option<Vec<&'a RawValue>>,
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
                gates = Some(access.next_value::<Vec<&'de RawValue>>()?);
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

    const ALL: Wanted = Wanted {
        keys: true,
        records: true,
    };

    /// What the validator gets from `text`: the split check, or the whole-tree check when
    /// the split declines the document; and whether the split took it.
    fn checked(text: &str, doc: &Value) -> (Result<CheckedResults, SchemaError>, bool) {
        match check_split(text, ALL) {
            Some(split) => (split, true),
            None => {
                let tree = crate::schema::check_results(doc)
                    .map(|r| CheckedResults::from_tree(doc, r, ALL));
                (tree, false)
            }
        }
    }

    /// The document as the wrapper writes it (canonical: records read through views) and
    /// pretty-printed (every record through the `Value` path).
    fn texts(doc: &Value) -> [String; 2] {
        [
            veriscope_canon::to_canonical_string(doc).unwrap(),
            serde_json::to_string_pretty(doc).unwrap(),
        ]
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
        for (i, d) in cases.iter().enumerate() {
            let tree = crate::schema::check_results(d);
            let mut reads = Vec::new();
            for text in texts(d) {
                let (got, split) = checked(&text, d);
                let shown = &text[..200.min(text.len())];
                let got = got.map(|c| {
                    reads.push(c.read);
                    c.results
                });
                assert_eq!(got, tree, "document: {shown}");
                // Only a `gates` that is not a list is left to the whole-tree path.
                assert_eq!(split, !(4..=5).contains(&i), "document: {shown}");
            }
            assert!(reads.windows(2).all(|w| w[0] == w[1]));
        }
    }

    #[test]
    fn records_read_through_views_give_the_value_path_gates_and_keys() {
        // Lax and unusual spellings a view cannot vouch for, next to plain records.
        let mut gates: Vec<Value> = (0..6).map(|i| gate(i * 10, "pass")).collect();
        gates[1]["audit"]["evaluated"] = json!("true");
        gates[2]["ok"] = json!(1);
        gates[3]["audit"]["per_metric_tv"] = json!({"a": -0.0, "b": 0, "c": "0.25", "d": 1e-05});
        gates[4]["audit"]["worst_DW"] = json!(" 1e-3 ");
        gates[4]["audit"]["regime_ref_windows"] = json!([1, 2.5, "z", {"k": null}]);
        gates[5]["audit"]["reason"] = json!("a\"b\n\u{1}é");
        gates[5]["iter"] = json!(u64::MAX);
        let d = doc(json!(gates));
        let [canonical, pretty] = texts(&d);
        let (a, split_a) = checked(&canonical, &d);
        let (b, split_b) = checked(&pretty, &d);
        assert!(split_a && split_b);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.results, b.results);
        assert_eq!(a.gate_keys, b.gate_keys);
        assert_eq!(a.read, b.read);
        let tree = CheckedResults::from_tree(&d, a.results.clone(), ALL);
        assert_eq!(a.gate_keys, tree.gate_keys);
        assert_eq!(a.read, tree.read);
        // Lax spellings read as absent for display; u64::MAX still charts.
        let read = a.read.expect("records wanted");
        assert_eq!(read.gates.len(), 6);
        assert!(!read.gates[1].evaluated);
        assert_eq!(read.gates[4].worst_dw, None);
        assert_eq!(
            read.gates[3].per_metric_tv,
            vec![
                ("a".to_owned(), -0.0),
                ("b".to_owned(), 0.0),
                ("d".to_owned(), 1e-05)
            ]
        );
        assert!(read.top.contains_key("run_id") && !read.top.contains_key("gates"));
        assert_eq!(a.results.gates[5].iter, u64::MAX);
        // i64 overflow reads as -1, as `Value::as_i64` gives.
        assert_eq!(a.gate_keys.as_ref().map(|k| k[5].0), Some(-1));
    }

    #[test]
    fn divergence_keys_match_the_tree_path_and_duplicate_gates_key_takes_the_last() {
        let d = doc(json!([gate(0, "skip"), gate(100, "warn")]));
        let text = d.to_string();
        let split = check_split(&text, ALL).expect("split").expect("valid");
        let tree = CheckedResults::from_tree(&d, split.results.clone(), ALL);
        assert_eq!(split.gate_keys, tree.gate_keys);
        assert_eq!(split.gate_keys.as_ref().map(Vec::len), Some(2));

        // A first `gates` that is not a list leaves the document to the whole-tree path,
        // which takes the last one.
        let dup = text.replacen("{", r#"{"gates":"first","#, 1);
        assert!(check_split(&dup, Wanted::default()).is_none());
        let tree: Value = serde_json::from_str(&dup).unwrap();
        assert_eq!(crate::schema::check_results(&tree).unwrap().gates.len(), 2);
        let dup = text.replacen("{", r#"{"gates":[],"#, 1);
        let again = check_split(&dup, Wanted::default())
            .expect("split")
            .expect("valid");
        assert_eq!(again.results.gates.len(), 2);
        assert!(again.gate_keys.is_none());
    }

    #[test]
    fn unusual_documents_fall_back_to_the_whole_tree_path() {
        assert!(check_split("[1, 2]", Wanted::default()).is_none());
        assert!(check_split(r#"{"gates": [1, 2"#, Wanted::default()).is_none());
        assert!(check_split("", Wanted::default()).is_none());
    }
}
