//! Strict number handling for typed fields.
//!
//! serde_json is built with `arbitrary_precision`, so a number reaches us as its source
//! text. Reading every numeric field through [`serde_json::Number`] keeps the rules exact
//! whatever path the value took (a `&Value`, a string, or a `#[serde(flatten)]` buffer):
//! integer fields accept only integer tokens (`1`, never `1.0`, `"1"` or `true`;
//! cli_contracts A4 "strict int"), float fields accept any number token or numeric string.
//!
//! These readers accept exactly what `veriscope validate` accepts (the capsule crate's raw
//! checks, which follow the original's pydantic JSON lax mode; cli_contracts A4): a document
//! validate accepts must parse into the typed structs. Writers are unaffected: every reader
//! here only widens what is read, never what is written.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

/// Message for a non-integer where a strict integer is required (pydantic's wording).
pub(crate) const NOT_AN_INTEGER: &str = "Input should be a valid integer";
/// Message for a negative value where `>= 0` is required.
pub(crate) const NOT_NON_NEGATIVE: &str = "Input should be greater than or equal to 0";

fn is_integer_token(n: &Number) -> bool {
    let text = n.to_string();
    !text.contains(['.', 'e', 'E'])
}

pub(crate) fn strict_u64_from(n: &Number) -> Result<u64, &'static str> {
    if !is_integer_token(n) {
        return Err(NOT_AN_INTEGER);
    }
    let text = n.to_string();
    // JSON `-0` is the integer 0 (pydantic reads it so; so does validate).
    if text == "-0" {
        return Ok(0);
    }
    match n.as_u64() {
        Some(v) => Ok(v),
        None if text.starts_with('-') => Err(NOT_NON_NEGATIVE),
        None => Err(NOT_AN_INTEGER),
    }
}

/// A strict non-negative integer (`iter`, counts, evidence).
pub(crate) fn strict_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = Number::deserialize(d)?;
    strict_u64_from(&n).map_err(D::Error::custom)
}

/// An optional strict non-negative integer (`null` or absent is `None`).
pub(crate) fn strict_u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => strict_u64_from(&n).map(Some).map_err(D::Error::custom),
    }
}

/// An optional strict integer of either sign.
pub(crate) fn strict_i64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) if is_integer_token(&n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(NOT_AN_INTEGER)),
        Some(_) => Err(D::Error::custom(NOT_AN_INTEGER)),
    }
}

/// A strict integer of either sign.
pub(crate) fn strict_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    strict_i64_opt(d)?.ok_or_else(|| D::Error::custom(NOT_AN_INTEGER))
}

/// Message for a value that is not a number (nor a numeric string).
const NOT_A_NUMBER: &str = "Input should be a valid number";

/// A lax float (pydantic JSON lax mode, cli_contracts A4): any number token, or a string
/// holding a number after trimming (`"0.5"`, `"inf"`, `"nan"`). Overflowing tokens such as
/// `1e400` read as infinity, as Python's float does. Range checks are the caller's.
fn lax_float_from(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// An optional lax float (`null` or absent is `None`); see [`lax_float_from`].
pub(crate) fn float_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => lax_float_from(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(NOT_A_NUMBER)),
    }
}

/// A map of lax floats (per-metric TV values); `null` reads as the empty map.
pub(crate) fn float_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, f64>, D::Error> {
    let raw = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    raw.into_iter()
        .map(|(k, v)| match lax_float_from(&v) {
            Some(f) => Ok((k, f)),
            None => Err(D::Error::custom(format!("{NOT_A_NUMBER} (key '{k}')"))),
        })
        .collect()
}

/// Message for a value that is not a boolean.
const NOT_A_BOOLEAN: &str = "Input should be a valid boolean";

/// Pydantic's lax boolean (cli_contracts A4 "evaluated bool (lax: `"true"`, `1` accepted)"):
/// `true`/`false`, the integer tokens `0`/`1`, and (case-insensitively) the strings
/// `true 1 yes on t y` / `false 0 no off f n`.
fn lax_bool_from(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.to_string().as_str() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A required lax boolean (`audit.evaluated`).
pub(crate) fn lax_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    lax_bool_from(&v).ok_or_else(|| D::Error::custom(NOT_A_BOOLEAN))
}

/// An optional lax boolean (`ok`, `warn`, `partial`); `null` or absent is `None`.
pub(crate) fn lax_bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => lax_bool_from(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(NOT_A_BOOLEAN)),
    }
}

/// A defaulted field where `null` reads as absent, i.e. the default (validate treats a null
/// optional key as absent): `profile.overrides`, `metrics`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Probe {
        #[serde(deserialize_with = "super::strict_u64")]
        iter: u64,
        #[serde(default, deserialize_with = "super::float_opt")]
        x: Option<f64>,
        #[serde(default, deserialize_with = "super::lax_bool_opt")]
        b: Option<bool>,
    }

    fn probe(text: &str) -> Result<Probe, String> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        serde_json::from_value::<Probe>(v).map_err(|e| e.to_string())
    }

    #[test]
    fn strict_u64_accepts_only_integer_tokens() {
        assert_eq!(probe(r#"{"iter": 7}"#).unwrap().iter, 7);
        for bad in [
            r#"{"iter": 1.0}"#,
            r#"{"iter": "1"}"#,
            r#"{"iter": true}"#,
            r#"{"iter": 1e2}"#,
        ] {
            assert!(probe(bad).is_err(), "{bad} accepted");
        }
        assert!(
            probe(r#"{"iter": -1}"#)
                .unwrap_err()
                .contains("greater than or equal to 0")
        );
    }

    #[test]
    fn floats_accept_any_number_text() {
        for (text, want) in [("0.50", 0.5), ("1e5", 1e5), ("2", 2.0), ("1E-05", 1e-5)] {
            let p = probe(&format!(r#"{{"iter": 0, "x": {text}}}"#)).unwrap();
            assert_eq!(p.x, Some(want), "{text}");
        }
    }

    #[test]
    fn minus_zero_is_the_integer_zero() {
        assert_eq!(probe(r#"{"iter": -0}"#).unwrap().iter, 0);
    }

    #[test]
    fn floats_read_numeric_strings_and_overflow_to_infinity() {
        for (text, want) in [
            (r#""0.5""#, 0.5),
            (r#"" 2 ""#, 2.0),
            (r#""inf""#, f64::INFINITY),
            ("1e400", f64::INFINITY),
            ("-1e400", f64::NEG_INFINITY),
        ] {
            let p = probe(&format!(r#"{{"iter": 0, "x": {text}}}"#)).unwrap();
            assert_eq!(p.x, Some(want), "{text}");
        }
        let nan = probe(r#"{"iter": 0, "x": "nan"}"#).unwrap().x.unwrap();
        assert!(nan.is_nan());
        assert_eq!(probe(r#"{"iter": 0, "x": null}"#).unwrap().x, None);
        for bad in [r#""""#, r#""x""#, "true", "[]"] {
            let err = probe(&format!(r#"{{"iter": 0, "x": {bad}}}"#)).unwrap_err();
            assert!(err.contains("valid number"), "{bad}: {err}");
        }
    }

    #[test]
    fn booleans_read_like_pydantic_lax_mode() {
        for (text, want) in [
            ("true", true),
            ("0", false),
            ("1", true),
            (r#""YES""#, true),
            (r#""off""#, false),
            (r#""t""#, true),
            (r#""N""#, false),
        ] {
            let p = probe(&format!(r#"{{"iter": 0, "b": {text}}}"#)).unwrap();
            assert_eq!(p.b, Some(want), "{text}");
        }
        for bad in ["2", "1.0", r#"" true""#, r#""""#, "[]"] {
            let err = probe(&format!(r#"{{"iter": 0, "b": {bad}}}"#)).unwrap_err();
            assert!(err.contains("valid boolean"), "{bad}: {err}");
        }
    }
}
