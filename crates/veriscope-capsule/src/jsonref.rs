//! Read access to JSON held either as a parsed `serde_json` value or as a borrowed view of
//! canonical text ([`veriscope_canon::view`]).
//!
//! Journal lines and results.json gate records are written as canonical JSON, and such text
//! can be read through a view without building a `serde_json::Value` (tens of allocations
//! per record, most of strict validation's time on a 100k-gate capsule). Text that is not
//! provably canonical is parsed into a `Value` as before. The checks that read either form
//! take these references, so one implementation serves both and their findings cannot
//! drift apart.

use std::borrow::Cow;

use serde_json::{Map, Value};
use veriscope_canon::CanonError;
use veriscope_canon::view::{CanonObject, CanonValue};

/// A JSON object: parsed, or a view of canonical text.
#[derive(Debug, Clone, Copy)]
pub enum ObjRef<'a> {
    /// A parsed object.
    Parsed(&'a Map<String, Value>),
    /// A view of canonical text.
    Canonical(&'a CanonObject<'a>),
}

/// A JSON value: parsed, or a view of canonical text.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// A parsed value.
    Parsed(&'a Value),
    /// A view of canonical text.
    Canonical(&'a CanonValue<'a>),
}

impl<'a> ObjRef<'a> {
    /// The value of `key`.
    pub fn get(self, key: &str) -> Option<ValueRef<'a>> {
        match self {
            ObjRef::Parsed(m) => m.get(key).map(ValueRef::Parsed),
            ObjRef::Canonical(o) => o.get(key).map(ValueRef::Canonical),
        }
    }

    /// Members in key order (byte order of the keys, as canonical text and serde_json's
    /// sorted `Map` both keep them).
    pub fn members(self) -> impl Iterator<Item = (&'a str, ValueRef<'a>)> {
        let (parsed, canonical) = match self {
            ObjRef::Parsed(m) => (Some(m.iter()), None),
            ObjRef::Canonical(o) => (None, Some(o.iter())),
        };
        let parsed = parsed
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), ValueRef::Parsed(v)));
        let canonical = canonical
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, ValueRef::Canonical(v)));
        parsed.chain(canonical)
    }

    /// The `serde_json` map that parsing the object's text gives.
    pub fn to_map(self) -> Map<String, Value> {
        match self {
            ObjRef::Parsed(m) => m.clone(),
            ObjRef::Canonical(o) => o.to_map(),
        }
    }
}

impl<'a> ValueRef<'a> {
    /// Whether this is `null`.
    pub fn is_null(self) -> bool {
        match self {
            ValueRef::Parsed(v) => v.is_null(),
            ValueRef::Canonical(v) => v.is_null(),
        }
    }

    /// The string, if this is one (decoded; borrowed when no escape had to be undone).
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        match self {
            ValueRef::Parsed(v) => v.as_str().map(Cow::Borrowed),
            ValueRef::Canonical(v) => v.as_str().map(|s| s.decoded()),
        }
    }

    /// The object, if this is one.
    pub fn as_object(self) -> Option<ObjRef<'a>> {
        match self {
            ValueRef::Parsed(v) => v.as_object().map(ObjRef::Parsed),
            ValueRef::Canonical(v) => v.as_object().map(ObjRef::Canonical),
        }
    }

    /// The number's source token (`serde_json` is built with `arbitrary_precision`, so a
    /// parsed number keeps it too), if this is a number.
    pub fn number_token(self) -> Option<&'a str> {
        match self {
            ValueRef::Parsed(Value::Number(n)) => Some(n.as_str()),
            ValueRef::Canonical(CanonValue::Int(t) | CanonValue::Float(t, _)) => Some(t),
            _ => None,
        }
    }

    /// `serde_json::Value::as_i64`: an integer token that fits an `i64`.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            ValueRef::Parsed(v) => v.as_i64(),
            ValueRef::Canonical(CanonValue::Int(t)) => t.parse().ok(),
            ValueRef::Canonical(_) => None,
        }
    }

    /// `serde_json::Value::as_u64`: an integer token that fits a `u64`.
    pub fn as_u64(self) -> Option<u64> {
        match self {
            ValueRef::Parsed(v) => v.as_u64(),
            ValueRef::Canonical(CanonValue::Int(t)) => t.parse().ok(),
            ValueRef::Canonical(_) => None,
        }
    }

    /// `serde_json::Value::as_f64`: a number whose value is finite.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::Parsed(v) => v.as_f64(),
            ValueRef::Canonical(CanonValue::Int(t)) => {
                t.parse().ok().filter(|x: &f64| x.is_finite())
            }
            ValueRef::Canonical(CanonValue::Float(_, x)) => Some(*x),
            ValueRef::Canonical(_) => None,
        }
    }

    /// `serde_json::Value::as_bool`.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            ValueRef::Parsed(v) => v.as_bool(),
            ValueRef::Canonical(CanonValue::Bool(b)) => Some(*b),
            ValueRef::Canonical(_) => None,
        }
    }

    /// Calls `f` with the parsed value: borrowed when there is one, else built from the view
    /// (for rare paths that reuse a `Value`-based helper, such as Python `repr` text).
    pub fn with_value<R>(self, f: impl FnOnce(&Value) -> R) -> R {
        match self {
            ValueRef::Parsed(v) => f(v),
            ValueRef::Canonical(v) => f(&v.to_value()),
        }
    }

    /// Appends the value's canonical text to `out` ([`veriscope_canon::write_canonical`]).
    /// Only a parsed value can fail (a float token that overflows); a view is canonical.
    pub fn write_canonical(self, out: &mut String) -> Result<(), CanonError> {
        match self {
            ValueRef::Parsed(v) => veriscope_canon::write_canonical(out, v),
            ValueRef::Canonical(v) => {
                v.write_canonical(out);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use veriscope_canon::view::parse_canonical_object;

    use super::*;

    /// Every accessor answers the same for a view and for the parsed text.
    #[test]
    fn views_and_parsed_values_read_alike() {
        let text = r#"{"a":"x\ny","b":-3,"c":1e-05,"d":null,"e":{"k":[1,true]},"f":18446744073709551615,"g":true,"h":123456789012345678901234567890,"i":7}"#;
        let view = parse_canonical_object(text).expect("canonical");
        let parsed: Value = serde_json::from_str(text).unwrap();
        let (v, p) = (
            ObjRef::Canonical(&view),
            ObjRef::Parsed(parsed.as_object().unwrap()),
        );
        let keys = |o: ObjRef<'_>| o.members().map(|(k, _)| k.to_owned()).collect::<Vec<_>>();
        assert_eq!(keys(v), keys(p));
        assert_eq!(v.to_map(), p.to_map());
        for k in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "zz"] {
            let (x, y) = (v.get(k), p.get(k));
            assert_eq!(x.is_some(), y.is_some(), "{k}");
            let (Some(x), Some(y)) = (x, y) else { continue };
            assert_eq!(x.is_null(), y.is_null(), "{k}");
            assert_eq!(x.as_str(), y.as_str(), "{k}");
            assert_eq!(x.as_object().is_some(), y.as_object().is_some(), "{k}");
            assert_eq!(x.number_token(), y.number_token(), "{k}");
            assert_eq!(x.as_i64(), y.as_i64(), "{k}");
            assert_eq!(x.as_u64(), y.as_u64(), "{k}");
            assert_eq!(x.as_f64(), y.as_f64(), "{k}");
            assert_eq!(x.as_bool(), y.as_bool(), "{k}");
            assert_eq!(
                x.with_value(Value::clone),
                y.with_value(Value::clone),
                "{k}"
            );
            let (mut a, mut b) = (String::new(), String::new());
            x.write_canonical(&mut a).unwrap();
            y.write_canonical(&mut b).unwrap();
            assert_eq!(a, b, "{k}");
        }
    }
}
