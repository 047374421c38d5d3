//! Python `repr()` of JSON values, for messages that quote values the way the original did
//! (`expected='x'`, dict reprs in count mismatches).

use serde_json::Value;

use crate::violation::python_str_repr;

/// Python `repr()` of the value `json.loads` would produce: `None`, `True`, `1`, `1.0`,
/// `'text'`, `[...]`, `{'k': v}` (keys in the value's order).
pub fn python_value_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => python_number_repr(n),
        Value::String(s) => python_str_repr(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(python_value_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str_repr(k), python_value_repr(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// Python's `str.strip()` without arguments: removes what `str.isspace()` calls whitespace,
/// i.e. Unicode White_Space (Rust's `char::is_whitespace`) plus U+001C..U+001F, which
/// Python counts as whitespace and Rust does not.
pub(crate) fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

fn python_number_repr(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if !text.contains(['.', 'e', 'E']) {
        // Integer token: Python ints print exactly; `-0` is 0.
        return if text == "-0" { "0".to_string() } else { text };
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => veriscope_canon::python_float_repr(f),
        Some(f) if f > 0.0 => "inf".to_string(),
        Some(_) => "-inf".to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_like_python() {
        assert_eq!(python_strip(" \t\u{a0}pass\u{1f}\u{1c}\n"), "pass");
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x");
    }

    #[test]
    fn reprs_like_python() {
        let v: Value =
            serde_json::from_str(r#"{"a": [null, true, 1, 1.0, 1e-05, "x'y"], "b": {}}"#).unwrap();
        assert_eq!(
            python_value_repr(&v),
            r#"{'a': [None, True, 1, 1.0, 1e-05, "x'y"], 'b': {}}"#
        );
    }
}
