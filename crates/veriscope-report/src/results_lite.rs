//! results.json read for display: gate records straight into [`GatePoint`] rows, everything
//! else as a (small) JSON object.
//!
//! A 100k-gate results.json parsed into one `serde_json::Value` tree cost ~0.5 s and most of
//! the report's memory (docs/report.md, Benchmark). The report only needs a few audit fields
//! per gate, so gates are deserialized into typed rows and their other keys are skipped.
//! The capsule was validated first; a document the typed rows cannot take (e.g. a lax bool
//! such as `"evaluated": "true"`, which validation accepts as pydantic does) falls back to the
//! whole-tree reading, with the same result.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::view::GatePoint;

/// results.json split for the view.
pub(crate) struct ResultsLite {
    /// Every top-level key except `gates`.
    pub top: Value,
    /// Gate rows, in file order.
    pub gates: Vec<GatePoint>,
}

/// Parses results.json `text`: typed gate rows when they fit, else the whole tree.
/// `None` when the text is not a JSON object (validation has reported it already).
pub(crate) fn parse_results(text: &str) -> Option<ResultsLite> {
    if let Ok(split) = serde_json::from_str::<SplitView>(text) {
        return Some(ResultsLite {
            top: Value::Object(split.top),
            gates: split
                .gates
                .into_iter()
                .filter_map(GateRow::into_point)
                .collect(),
        });
    }
    let Value::Object(mut top) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let gates = top
        .remove("gates")
        .map(|g| gate_points(&g))
        .unwrap_or_default();
    Some(ResultsLite {
        top: Value::Object(top),
        gates,
    })
}

/// Gate rows from a parsed `gates` value (the whole-tree path).
pub(crate) fn gate_points(gates: &Value) -> Vec<GatePoint> {
    let Some(gates) = gates.as_array() else {
        return Vec::new();
    };
    gates
        .iter()
        .filter_map(|g| {
            let audit = g.get("audit").and_then(Value::as_object);
            let a = |k: &str| audit.and_then(|m| m.get(k));
            Some(GatePoint {
                iter: g.get("iter")?.as_u64()?,
                decision: g.get("decision")?.as_str()?.to_owned(),
                evaluated: a("evaluated").and_then(Value::as_bool).unwrap_or(false),
                worst_dw: finite(a("worst_DW").and_then(Value::as_f64)),
                eps_eff: finite(a("eps_eff").and_then(Value::as_f64)),
                reason: a("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                per_metric_tv: a("per_metric_tv")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), finite(v.as_f64())?)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|x| x.is_finite())
}

/// One gate record, typed; unknown keys skipped. Same reading as [`gate_points`].
#[derive(Deserialize)]
struct GateRow {
    iter: Option<u64>,
    decision: Option<String>,
    #[serde(default)]
    audit: Option<AuditRow>,
}

#[derive(Deserialize)]
struct AuditRow {
    #[serde(default)]
    evaluated: Option<bool>,
    #[serde(default, rename = "worst_DW")]
    worst_dw: Option<f64>,
    #[serde(default)]
    eps_eff: Option<f64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    per_metric_tv: Option<BTreeMap<String, Option<f64>>>,
}

impl GateRow {
    fn into_point(self) -> Option<GatePoint> {
        let audit = self.audit;
        let a = audit.as_ref();
        Some(GatePoint {
            iter: self.iter?,
            decision: self.decision?,
            evaluated: a.and_then(|a| a.evaluated).unwrap_or(false),
            worst_dw: finite(a.and_then(|a| a.worst_dw)),
            eps_eff: finite(a.and_then(|a| a.eps_eff)),
            reason: a.and_then(|a| a.reason.clone()).unwrap_or_default(),
            per_metric_tv: audit
                .and_then(|a| a.per_metric_tv)
                .map(|m| {
                    m.into_iter()
                        .filter_map(|(k, v)| Some((k, finite(v)?)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// The top level with `gates` typed; the last duplicate key wins, as in a tree parse.
struct SplitView {
    top: Map<String, Value>,
    gates: Vec<GateRow>,
}

impl<'de> Deserialize<'de> for SplitView {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SplitViewVisitor)
    }
}

struct SplitViewVisitor;

impl<'de> Visitor<'de> for SplitViewVisitor {
    type Value = SplitView;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SplitView, A::Error> {
        let mut top = Map::new();
        let mut gates = Vec::new();
        while let Some(key) = access.next_key::<String>()? {
            if key == "gates" {
                gates = access.next_value::<Vec<GateRow>>()?;
            } else {
                top.insert(key, access.next_value::<Value>()?);
            }
        }
        Ok(SplitView { top, gates })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(gates: Value) -> String {
        json!({"schema_version": 1, "run_id": "r", "metrics": [{"name": "loss", "iter": 1, "value": 2.5}],
               "gates": gates})
        .to_string()
    }

    #[test]
    fn typed_rows_equal_the_tree_reading() {
        let gates = json!([
            {"iter": 0, "decision": "skip", "audit": {"evaluated": false, "per_metric_tv": {}}},
            {"iter": 100, "decision": "warn", "ok": true, "warn": true,
             "audit": {"evaluated": true, "worst_DW": 0.31, "eps_eff": 0.2, "reason": "change",
                       "per_metric_tv": {"var_out_k": 0.3, "eff_dim": 1}, "extra": [1, 2]}},
            {"iter": 200, "decision": "pass", "audit": {"evaluated": true, "worst_DW": null}}
        ]);
        let lite = parse_results(&doc(gates.clone())).expect("object");
        assert_eq!(lite.gates, gate_points(&gates));
        assert_eq!(lite.gates.len(), 3);
        assert_eq!(
            lite.gates[1].per_metric_tv,
            vec![("eff_dim".to_owned(), 1.0), ("var_out_k".to_owned(), 0.3)]
        );
        assert!(lite.top.get("gates").is_none());
        assert_eq!(lite.top["metrics"][0]["name"], "loss");
    }

    #[test]
    fn lax_values_take_the_tree_path_with_the_same_rows() {
        let gates = json!([
            {"iter": 5, "decision": "pass", "audit": {"evaluated": "true", "reason": "x"}},
            {"iter": -1, "decision": "pass", "audit": {"evaluated": true}}
        ]);
        let lite = parse_results(&doc(gates.clone())).expect("object");
        assert_eq!(lite.gates, gate_points(&gates));
        assert_eq!(lite.gates.len(), 1);
        assert!(!lite.gates[0].evaluated);
    }

    #[test]
    fn non_objects_are_none() {
        assert!(parse_results("[1]").is_none());
        assert!(parse_results("{").is_none());
    }
}
