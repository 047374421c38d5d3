//! Strict number handling for typed fields.
//!
//! serde_json is built with `arbitrary_precision`, so a number reaches us as its source
//! text. Reading every numeric field through [`serde_json::Number`] keeps the rules exact
//! whatever path the value took (a `&Value`, a string, or a `#[serde(flatten)]` buffer):
//! integer fields accept only integer tokens (`1`, never `1.0`, `"1"` or `true`;
//! cli_contracts A4 "strict int"), float fields accept any number token.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Number;

/// Message for a non-integer where a strict integer is required (pydantic's wording).
pub(crate) const NOT_AN_INTEGER: &str = "Input should be a valid integer";
/// Message for a negative value where `>= 0` is required.
pub(crate) const NOT_NON_NEGATIVE: &str = "Input should be greater than or equal to 0";

fn is_integer_token(n: &Number) -> bool {
    let text = n.to_string();
    !text.contains(['.', 'e', 'E'])
}

fn strict_u64_from(n: &Number) -> Result<u64, &'static str> {
    if !is_integer_token(n) {
        return Err(NOT_AN_INTEGER);
    }
    match n.as_u64() {
        Some(v) => Ok(v),
        None if n.to_string().starts_with('-') => Err(NOT_NON_NEGATIVE),
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

/// An optional float; integer tokens are accepted and become floats (pydantic lax mode).
pub(crate) fn float_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| D::Error::custom("Input should be a valid number")),
    }
}

/// A map of floats (per-metric TV values).
pub(crate) fn float_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, f64>, D::Error> {
    let raw = std::collections::BTreeMap::<String, Number>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, n)| match n.as_f64() {
            Some(f) => Ok((k, f)),
            None => Err(D::Error::custom("Input should be a valid number")),
        })
        .collect()
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
}
