//! Value → text renderers: the compact canonical form and Python's `indent=2` form.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use crate::CanonError;
use crate::float::write_python_float_repr;

/// Appends the canonical (compact, sorted, non-ASCII raw) text of `v` to `out`.
pub(crate) fn write_compact(out: &mut String, v: &Value) -> Result<(), CanonError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s, false),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_compact_object(out, map)?,
    }
    Ok(())
}

/// Appends the canonical text of a JSON object given as its map.
pub(crate) fn write_compact_object(
    out: &mut String,
    map: &Map<String, Value>,
) -> Result<(), CanonError> {
    out.push('{');
    for (i, (key, item)) in sorted_entries(map).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key, false);
        out.push(':');
        write_compact(out, item)?;
    }
    out.push('}');
    Ok(())
}

/// Appends Python `json.dumps(v, indent=2, sort_keys=True)` text (ASCII-only) to `out`.
pub(crate) fn write_pretty_ascii(
    out: &mut String,
    v: &Value,
    depth: usize,
) -> Result<(), CanonError> {
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i > 0 { "," } else { "" });
                newline_indent(out, depth + 1);
                write_pretty_ascii(out, item, depth + 1)?;
            }
            newline_indent(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (key, item)) in sorted_entries(map).into_iter().enumerate() {
                out.push_str(if i > 0 { "," } else { "" });
                newline_indent(out, depth + 1);
                write_string(out, key, true);
                out.push_str(": ");
                write_pretty_ascii(out, item, depth + 1)?;
            }
            newline_indent(out, depth);
            out.push('}');
        }
        Value::String(s) => write_string(out, s, true),
        other => write_compact(out, other)?,
    }
    Ok(())
}

fn newline_indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Entries sorted by key code point. UTF-8 byte order equals code-point order, which is
/// Python's `str` ordering (not JCS's UTF-16 order; field_survey §3.4).
///
/// serde_json's default `Map` is a `BTreeMap<String, _>`, already in this order; the check
/// keeps us correct if feature unification ever switches it to insertion order.
fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    if !entries
        .windows(2)
        .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
    {
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    entries
}

/// Integers print exactly as Python ints; float tokens print as Python `repr(float)`.
fn write_number(out: &mut String, n: &Number) -> Result<(), CanonError> {
    let token = n.as_str();
    let is_float = token.contains(['.', 'e', 'E']);
    if is_float {
        let x: f64 = token
            .parse()
            .map_err(|_| CanonError::InvalidNumber(token.to_owned()))?;
        if !x.is_finite() {
            return Err(CanonError::NonFinite);
        }
        write_python_float_repr(out, x);
        return Ok(());
    }
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CanonError::InvalidNumber(token.to_owned()));
    }
    // Python parses `-0` to the int 0 and prints `0`.
    if digits.bytes().all(|b| b == b'0') {
        out.push('0');
    } else {
        out.push_str(token);
    }
    Ok(())
}

/// Python's JSON string escaping: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other controls as
/// lowercase `\u00XX`. With `ascii_only`, everything outside printable ASCII is escaped as
/// `\uXXXX` (astral characters as surrogate pairs), as `ensure_ascii=True` does.
pub(crate) fn write_string(out: &mut String, s: &str, ascii_only: bool) {
    out.push('"');
    // Copy runs of characters that need no escaping in one go; most keys and values are
    // plain ASCII, so this is one `push_str` per string.
    let needs_escape = |b: u8| b == b'"' || b == b'\\' || b < 0x20 || (ascii_only && b > b'~');
    let mut rest = s;
    while let Some(pos) = rest.bytes().position(needs_escape) {
        out.push_str(&rest[..pos]);
        let ch = rest[pos..].chars().next().unwrap_or_default();
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_u_escape(out, c as u32),
            // Only reachable with `ascii_only`: DEL and everything outside ASCII.
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u_escape(out, u32::from(*unit));
                }
            }
        }
        rest = &rest[pos + ch.len_utf8()..];
    }
    out.push_str(rest);
    out.push('"');
}

fn push_u_escape(out: &mut String, unit: u32) {
    // Writing into a String cannot fail.
    let _ = write!(out, "\\u{unit:04x}");
}
