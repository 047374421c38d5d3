//! Python `repr()` / `str()` text for JSON values.
//!
//! The reference embeds Python reprs in its messages (`expected='run_a'`,
//! `observed=['a', 'b']`, `counts={'evaluated': 0, ...}`, cli_contracts "Conventions"), and
//! scripts grep for them, so messages reproduce that text.

use serde_json::Value;

/// Python `repr(s)` of a string (single source: `veriscope_contracts::python_str_repr`).
pub fn repr_str(s: &str) -> String {
    veriscope_contracts::python_str_repr(s)
}

/// Python `repr()` of a parsed JSON value (`None`, `True`, `1.0`, `['a']`, `{'k': 1}`).
pub fn repr_value(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => repr_number(n),
        Value::String(s) => repr_str(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(repr_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr_str(k), repr_value(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// Python `str()` of a parsed JSON value: strings raw, everything else as `repr`.
pub fn str_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr_value(other),
    }
}

/// Python list repr of strings: `['a', 'b']`.
pub fn repr_str_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| repr_str(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

fn repr_number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    let is_float = text.contains(['.', 'e', 'E']);
    if !is_float {
        // Python ints print exactly; `-0` parses to 0.
        return if text == "-0" { "0".to_owned() } else { text };
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => veriscope_canon::python_float_repr(x),
        Ok(x) if x.is_nan() => "nan".to_owned(),
        Ok(x) if x > 0.0 => "inf".to_owned(),
        _ => "-inf".to_owned(),
    }
}

/// Python `str.strip()` with no arguments: strips what `str.isspace()` calls whitespace,
/// which is Unicode White_Space plus the separators U+001C..U+001F (cli_contracts A6.3
/// "non-empty strings (after strip)").
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Python `s.strip().lower()`: full Unicode lowercasing (U+212A KELVIN SIGN becomes `k`).
pub(crate) fn py_strip_lower(s: &str) -> String {
    py_strip(s).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reprs_match_python() {
        assert_eq!(repr_str("run_a"), "'run_a'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a\nb"), "'a\\nb'");
        assert_eq!(repr_value(&json!(null)), "None");
        assert_eq!(repr_value(&json!([true, "x", 1])), "[True, 'x', 1]");
        let v: Value = serde_json::from_str(r#"{"a":1E2,"b":{"c":false}}"#).unwrap();
        assert_eq!(repr_value(&v), "{'a': 100.0, 'b': {'c': False}}");
        assert_eq!(str_value(&json!("plain")), "plain");
        assert_eq!(repr_str_list(&["b", "a"]), "['b', 'a']");
    }
}
