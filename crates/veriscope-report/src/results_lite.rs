//! results.json read for display: gate records straight into [`GatePoint`] rows, everything
//! else as a (small) JSON object.
//!
//! A 100k-gate results.json parsed into one `serde_json::Value` tree cost ~0.5 s and most of
//! the report's memory (docs/report.md, Benchmark). The report only needs a few audit fields
//! per gate, so gates are deserialized into typed rows and their other keys are skipped.
//! The capsule was validated first; a document the typed rows cannot take (e.g. a lax bool
//! such as `"evaluated": "true"`, which validation accepts as pydantic does) falls back to the
//! whole-tree reading, with the same result.
//!
//! `load_view` does not come here: validation reads the records for display while it checks
//! them (`ValidateOptions::keep_results`), so the file is parsed once. This reader serves a
//! view built from a validation report that did not keep them (`view_from_report`).

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use veriscope_capsule::jsonref::ObjRef;

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
            gates: split.gates.0,
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

/// Gate rows from a parsed `gates` value (the whole-tree path): validation's reading of a
/// record for display ([`GatePoint::read`]).
pub(crate) fn gate_points(gates: &Value) -> Vec<GatePoint> {
    let Some(gates) = gates.as_array() else {
        return Vec::new();
    };
    gates
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|g| GatePoint::read(ObjRef::Parsed(g)))
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
    per_metric_tv: Option<MetricTv>,
}

/// `per_metric_tv` as `(name, value)` entries in key order, the last of duplicate names
/// winning: what a `BTreeMap` reading gives, without building a tree per gate (at 10^5
/// gates the trees were most of this reader's allocations).
struct MetricTv(Vec<(String, Option<f64>)>);

impl<'de> Deserialize<'de> for MetricTv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MetricTvVisitor)
    }
}

struct MetricTvVisitor;

impl<'de> Visitor<'de> for MetricTvVisitor {
    type Value = MetricTv;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of metric values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<MetricTv, A::Error> {
        let mut entries: Vec<(String, Option<f64>)> =
            Vec::with_capacity(access.size_hint().unwrap_or(0));
        while let Some(entry) = access.next_entry::<String, Option<f64>>()? {
            entries.push(entry);
        }
        // Canonical text (what the wrapper writes) is already in strict key order.
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            // Stable: duplicates stay in file order, so after reversing, the first of each
            // name is the last one written.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.reverse();
            entries.dedup_by(|later, kept| later.0 == kept.0);
            entries.reverse();
        }
        Ok(MetricTv(entries))
    }
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
                    m.0.into_iter()
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
    gates: GatePoints,
}

/// The `gates` list read straight into [`GatePoint`] rows (records without an `iter` or a
/// `decision` are left out, as [`gate_points`] does), with no list of intermediate rows.
#[derive(Default)]
struct GatePoints(Vec<GatePoint>);

impl<'de> Deserialize<'de> for GatePoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(GatePointsVisitor)
    }
}

struct GatePointsVisitor;

impl<'de> Visitor<'de> for GatePointsVisitor {
    type Value = GatePoints;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of gate records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GatePoints, A::Error> {
        let mut points = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element::<GateRow>()? {
            points.extend(row.into_point());
        }
        Ok(GatePoints(points))
    }
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
        let mut gates = GatePoints::default();
        while let Some(key) = access.next_key::<String>()? {
            if key == "gates" {
                gates = access.next_value::<GatePoints>()?;
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
    fn unsorted_and_duplicate_metric_names_read_as_a_map_does() {
        let text = r#"{"gates": [{"iter": 1, "decision": "pass", "audit": {"evaluated": true,
            "per_metric_tv": {"b": 1, "a": 2, "b": 3, "c": null, "a": 0.5}}}]}"#;
        let lite = parse_results(text).expect("object");
        let tree: Value = serde_json::from_str(text).unwrap();
        assert_eq!(lite.gates, gate_points(&tree["gates"]));
        assert_eq!(
            lite.gates[0].per_metric_tv,
            vec![("a".to_owned(), 0.5), ("b".to_owned(), 3.0)]
        );
    }

    #[test]
    fn non_objects_are_none() {
        assert!(parse_results("[1]").is_none());
        assert!(parse_results("{").is_none());
    }
}
