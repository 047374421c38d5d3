//! Small formatting helpers shared by the renderers.

use serde_json::Value;

/// Markdown table cell: newlines joined by a space and `|` escaped (cli_contracts A8).
pub fn md_cell(s: &str) -> String {
    s.lines().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// HTML text escaping.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `YES` / `NO`.
pub fn upper_yes_no(b: bool) -> &'static str {
    if b { "YES" } else { "NO" }
}

/// A percentage with one decimal, e.g. `4.5%`.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// First `n` characters (hash prefixes).
pub fn prefix(s: &str, n: usize) -> &str {
    s.get(..n).unwrap_or(s)
}

/// Python `str()` of a JSON scalar (`-` for absent or null), used for exit codes.
pub fn py_str_or_dash(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A short float for tables and charts (4 significant decimals, trailing zeros kept).
pub fn short_float(x: f64) -> String {
    if x == 0.0 || (x.abs() >= 1e-3 && x.abs() < 1e6) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}
