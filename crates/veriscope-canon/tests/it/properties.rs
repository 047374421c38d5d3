//! Property tests of the canonical form (house_style §5.4): invariants that must hold for
//! every JSON value, whatever its shape.

use proptest::prelude::*;
use serde_json::{Map, Value};
use veriscope_canon::{CanonError, to_canonical_string, window_signature_hash};

/// Finite JSON floats, built through Python-repr text so they stay float tokens.
fn float() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        (-1e6f64..1e6),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1e16,
            1e-5,
            5e-324,
            1e-4,
            9_007_199_254_740_992.0,
        ]),
    ]
    .prop_map(veriscope_canon::float_value)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Integers beyond 64 bits must survive exactly.
        "[1-9][0-9]{19,40}".prop_map(|d| serde_json::from_str(&d).unwrap()),
        float(),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "\u{2028}",
            "\u{7f}",
            "\u{1F600}",
            "a\"b\\c",
            "\u{1}\n\t"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("\\PC{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Rebuilds every object with its keys inserted in reverse order.
fn reverse_key_order(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m.iter().rev() {
                out.insert(k.clone(), reverse_key_order(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(reverse_key_order).collect()),
        other => other.clone(),
    }
}

proptest! {
    /// canon(parse(canon(v))) == canon(v): the canonical text is a fixed point.
    #[test]
    fn canonical_text_is_a_fixed_point(v in json()) {
        let text = to_canonical_string(&v).unwrap();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(to_canonical_string(&reparsed).unwrap(), text);
    }

    /// Key insertion order never changes the bytes.
    #[test]
    fn key_order_never_changes_the_bytes(v in json()) {
        prop_assert_eq!(
            to_canonical_string(&v).unwrap(),
            to_canonical_string(&reverse_key_order(&v)).unwrap()
        );
    }

    /// A valid `created_ts_utc` never changes the window-signature hash; an invalid one is refused.
    #[test]
    fn created_ts_is_volatile_only_when_valid(
        body in prop::collection::vec(("[a-z]{1,8}", leaf()), 0..6),
        (h, m, s) in (0u32..24, 0u32..60, 0u32..60),
    ) {
        let mut map: Map<String, Value> = body.into_iter().collect();
        map.remove("created_ts_utc");
        let base = window_signature_hash(&Value::Object(map.clone())).unwrap();
        map.insert("created_ts_utc".into(), Value::String(format!("2026-03-04T{h:02}:{m:02}:{s:02}Z")));
        prop_assert_eq!(window_signature_hash(&Value::Object(map.clone())).unwrap(), base);
        map.insert("created_ts_utc".into(), Value::String(format!("2026-03-04T{h:02}:{m:02}:{s:02}+00:00")));
        prop_assert_eq!(window_signature_hash(&Value::Object(map)), Err(CanonError::InvalidCreatedTs));
    }

    /// Float tokens that overflow to infinity are always refused, never printed.
    #[test]
    fn overflowing_floats_are_refused(exp in 309u32..400, mantissa in 1u32..10) {
        let v: Value = serde_json::from_str(&format!("[{mantissa}e{exp}]")).unwrap();
        prop_assert_eq!(to_canonical_string(&v), Err(CanonError::NonFinite));
    }
}
