//! Helpers for audit JSON: numbers that can never be NaN (productization §4C AuditV1 — JSON
//! cannot carry NaN, so non-finite values become `null`).

use serde_json::{Map, Value};

/// A finite number as JSON, anything else as `null`.
pub fn num(x: f64) -> Value {
    if x.is_finite() {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    } else {
        Value::Null
    }
}

/// An optional number as JSON (`None` and non-finite → `null`).
pub fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
}

/// `{name: value}` for the finite entries only (contract: `per_metric_tv` values are floats).
pub fn finite_map(names: &[String], values: &[Option<f64>]) -> Value {
    let map: Map<String, Value> = names
        .iter()
        .zip(values)
        .filter_map(|(n, v)| v.filter(|x| x.is_finite()).map(|x| (n.clone(), num(x))))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_become_null() {
        assert_eq!(num(f64::NAN), Value::Null);
        assert_eq!(num(f64::INFINITY), Value::Null);
        assert_eq!(num(0.5).as_f64(), Some(0.5));
        let names = ["a".to_string(), "b".to_string()];
        let m = finite_map(&names, &[Some(1.0), Some(f64::NAN)]);
        assert_eq!(m.as_object().unwrap().len(), 1);
    }
}
