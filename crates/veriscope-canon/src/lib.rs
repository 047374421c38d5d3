//! Canonical JSON text and SHA-256 hashes, byte-identical to the Python reference.
//!
//! The contract (contract_v1 §Hashing Rules) defines canonical JSON as CPython's
//! `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
//! allow_nan=False)` encoded as UTF-8. `serde_json`'s own writer differs (float text such
//! as `1e-5` vs Python's `1e-05`, `1e16` vs `1e+16`), so this crate renders values itself.
//!
//! Values come from `serde_json` built with `arbitrary_precision`: each number keeps its
//! source text, which lets us tell an integer token (`1`) from a float token (`1.0`, `1e5`)
//! exactly as Python's `json.loads` does, and print integers of any size exactly.
//!
//! This crate owns no IO and no clock; it only turns values into bytes.

#![warn(missing_docs)]

mod float;
mod render;
mod timestamp;
pub mod view;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use float::{python_float_repr, write_python_float_repr};
pub use timestamp::is_valid_utc_z_timestamp;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    /// A NaN or infinite float (or a float token that overflows to infinity, such as `1e400`).
    ///
    /// The message is CPython's, so users comparing with the reference see the same text.
    #[error("Out of range float values are not JSON compliant")]
    NonFinite,
    /// A number token that is neither a JSON integer nor a JSON float.
    #[error("invalid number token `{0}`")]
    InvalidNumber(String),
    /// `window_signature.created_ts_utc` is present but not an ISO-8601 UTC timestamp ending in `Z`.
    #[error("window_signature.created_ts_utc must be ISO8601 UTC with trailing 'Z'")]
    InvalidCreatedTs,
}

/// Canonical JSON text of `v` (no trailing newline).
pub fn to_canonical_string(v: &Value) -> Result<String, CanonError> {
    let mut out = String::with_capacity(256);
    render::write_compact(&mut out, v)?;
    Ok(out)
}

/// Appends the canonical JSON text of `v` to `out` (what [`to_canonical_string`] returns),
/// so a caller assembling canonical text from pieces reuses one buffer.
pub fn write_canonical(out: &mut String, v: &Value) -> Result<(), CanonError> {
    render::write_compact(out, v)
}

/// Appends the canonical JSON text of the string `s` (quoted, Python's escapes) to `out`.
pub fn write_canonical_str(out: &mut String, s: &str) {
    render::write_string(out, s, false);
}

/// Canonical JSON bytes of `v` (UTF-8 of [`to_canonical_string`]).
pub fn canonical_bytes(v: &Value) -> Result<Vec<u8>, CanonError> {
    to_canonical_string(v).map(String::into_bytes)
}

/// Lowercase hex SHA-256 of the canonical bytes of `v`.
pub fn sha256_hex(v: &Value) -> Result<String, CanonError> {
    Ok(sha256_hex_bytes(&canonical_bytes(v)?))
}

/// Lowercase hex SHA-256 of the canonical bytes of the object `map` (no clone into a
/// `Value`; the governance reader hashes every journal entry this way).
pub fn sha256_hex_object(map: &serde_json::Map<String, Value>) -> Result<String, CanonError> {
    let mut out = String::with_capacity(512);
    render::write_compact_object(&mut out, map)?;
    Ok(sha256_hex_bytes(out.as_bytes()))
}

/// Lowercase hex SHA-256 of raw bytes.
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    // A table lookup per nibble: journal verification hashes every entry, and the hex
    // crate's iterator showed up in its profile.
    hex_lower(&Sha256::digest(bytes))
}

/// SHA-256 of raw bytes (for callers that need only part of the hex text).
pub fn sha256_digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of a digest.
fn hex_lower(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(2 * digest.len());
    for &byte in digest {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
    // ASCII digits only: the check cannot fail and costs less than pushing `char`s.
    String::from_utf8(out).unwrap_or_default()
}

/// Hash of a window signature document, after the volatile-key rule.
///
/// contract_v1 §Hashing Rules: the top-level `created_ts_utc` is excluded only when it is
/// a valid ISO-8601 UTC string with trailing `Z`; any other value makes hashing fail.
/// Nested keys are never touched.
pub fn window_signature_hash(v: &Value) -> Result<String, CanonError> {
    match v {
        Value::Object(map) if map.contains_key("created_ts_utc") => {
            match map.get("created_ts_utc") {
                Some(Value::String(ts)) if is_valid_utc_z_timestamp(ts) => {}
                _ => return Err(CanonError::InvalidCreatedTs),
            }
            let mut stripped = map.clone();
            stripped.remove("created_ts_utc");
            sha256_hex(&Value::Object(stripped))
        }
        _ => sha256_hex(v),
    }
}

/// Python `json.dumps(v, indent=2, sort_keys=True)` text (ASCII-only, `": "` separator).
///
/// Used for human-facing JSON outputs (`diff --json`, compare, calibrate), which the
/// reference writes in this form (cli_contracts A3, "Other writers").
pub fn to_pretty_ascii(v: &Value) -> Result<String, CanonError> {
    let mut out = String::with_capacity(256);
    render::write_pretty_ascii(&mut out, v, 0)?;
    Ok(out)
}

/// A JSON float value for `x` whose text is Python's `repr(x)` (so `1.0` keeps its `.0`).
///
/// Returns `Value::Null` for non-finite `x`: JSON has no NaN, and callers that must refuse
/// non-finite values check before calling.
pub fn float_value(x: f64) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    // The repr text is always a valid JSON float token, so parsing cannot fail.
    serde_json::from_str(&python_float_repr(x)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        to_canonical_string(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        assert_eq!(
            canon(r#"{ "b": 1, "a": [true, null] }"#),
            r#"{"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn keeps_integer_and_float_tokens_apart() {
        assert_eq!(
            canon("[1, 1.0, 1E2, -0, -0.0, 1e5]"),
            "[1,1.0,100.0,0,-0.0,100000.0]"
        );
    }

    #[test]
    fn prints_huge_integers_exactly() {
        assert_eq!(
            canon("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn rejects_overflowing_float_tokens() {
        let v: Value = serde_json::from_str("[1e400]").unwrap();
        assert_eq!(to_canonical_string(&v), Err(CanonError::NonFinite));
    }

    #[test]
    fn escapes_like_python() {
        assert_eq!(
            canon(r#""a\"b\\c\n\u0001\u007f\u2028é😀/""#),
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}\u{2028}é😀/\""
        );
    }

    #[test]
    fn reference_placeholder_hash_matches() {
        // cli_contracts A3: the shipped reviewer-packet placeholder hash.
        let v = json!({"placeholder": true, "reason": "wrapper_start", "run_kind": "gpt", "schema_version": 1});
        assert_eq!(
            sha256_hex(&v).unwrap(),
            "0b77e84a5d512ff9895524a60324906e8a3231e99d75a55afe8d48d63700b35b"
        );
    }

    #[test]
    fn window_signature_hash_ignores_valid_created_ts_only() {
        let text = r#"{"schema_version":1,"code_identity":{"package_version":"test"},
            "gate_controls":{"gate_window":16,"gate_epsilon":0.08,"min_evidence":16},
            "metric_interval":16,"metric_pipeline":{"transport":"test"}}"#;
        let mut v: Value = serde_json::from_str(text).unwrap();
        let expected = "7f3bffa5e2f3ead1456ee1a5bf34f794a7e29b00651dc9070abfd59c8303f5fd";
        assert_eq!(window_signature_hash(&v).unwrap(), expected);
        v["created_ts_utc"] = json!("2026-01-18T12:34:56Z");
        assert_eq!(window_signature_hash(&v).unwrap(), expected);
        v["created_ts_utc"] = json!("2026-01-18T12:34:56+00:00");
        assert_eq!(window_signature_hash(&v), Err(CanonError::InvalidCreatedTs));
        v["created_ts_utc"] = json!({"nested": true});
        assert_eq!(window_signature_hash(&v), Err(CanonError::InvalidCreatedTs));
    }

    #[test]
    fn pretty_ascii_matches_python_indent_two() {
        let v: Value =
            serde_json::from_str(r#"{"b":[],"a":{"x":[1,2.5]},"c":"é","d":{}}"#).unwrap();
        let expected = "{\n  \"a\": {\n    \"x\": [\n      1,\n      2.5\n    ]\n  },\n  \"b\": [],\n  \"c\": \"\\u00e9\",\n  \"d\": {}\n}";
        assert_eq!(to_pretty_ascii(&v).unwrap(), expected);
    }

    #[test]
    fn float_value_keeps_python_text() {
        assert_eq!(to_canonical_string(&float_value(100.0)).unwrap(), "100.0");
        assert_eq!(to_canonical_string(&float_value(1e-5)).unwrap(), "1e-05");
        assert_eq!(float_value(f64::NAN), Value::Null);
    }
}
