//! The borrowed canonical view (`veriscope_canon::view`) against the `Value` path: whatever
//! it accepts must be exactly the canonical text of what serde_json parses, every canonical
//! text it can represent must be accepted, and its member-dropping hash must equal the hash
//! of the reduced map.

use proptest::prelude::*;
use serde_json::{Map, Value};
use veriscope_canon::view::{parse_canonical, parse_canonical_object};
use veriscope_canon::{sha256_hex_object, to_canonical_string};

use crate::random_json::{Rng, number_token, value_text};

/// Soundness: an accepted text parses and is its own canonical form.
fn assert_sound(text: &str) {
    if parse_canonical(text).is_some() {
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("accepted but not JSON ({e}): {text:?}"));
        assert_eq!(
            to_canonical_string(&v).as_deref(),
            Ok(text),
            "accepted a non-canonical text"
        );
    }
}

/// Whether some object key needs an escape (the view refuses those, by design).
fn has_escaped_key(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| {
            k.chars().any(|c| c == '"' || c == '\\' || c < ' ') || has_escaped_key(x)
        }),
        Value::Array(a) => a.iter().any(has_escaped_key),
        _ => false,
    }
}

/// Completeness: the canonical text of any parsed value is accepted (unless a key needs
/// an escape).
fn assert_complete(v: &Value) {
    let Ok(text) = to_canonical_string(v) else {
        return; // non-finite: no canonical text
    };
    if !has_escaped_key(v) {
        assert!(
            parse_canonical(&text).is_some(),
            "refused canonical {text:?}"
        );
    }
}

#[test]
fn random_texts_are_judged_like_the_value_path() {
    let mut rng = Rng::new(0x5eed_cafe);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let text = value_text(&mut rng, 3);
        assert_sound(&text);
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            assert_complete(&v);
            if let Ok(canon) = to_canonical_string(&v) {
                if let Some(view) = parse_canonical(&canon) {
                    accepted += 1;
                    let reparsed: Value = serde_json::from_str(&canon).unwrap();
                    assert_eq!(view.to_value(), reparsed, "{canon}");
                }
                // Single-character edits of canonical text: still sound.
                let chars: Vec<char> = canon.chars().collect();
                let at = rng.below(chars.len() as u64 + 1) as usize;
                let ins = [
                    ' ', ',', '"', '\\', 'e', 'E', '0', '-', '+', '.', '1', '}', ']', ':',
                ];
                let c = ins[rng.below(ins.len() as u64) as usize];
                let mut edited = chars.clone();
                match rng.below(3) {
                    0 => edited.insert(at, c),
                    1 if at < edited.len() => {
                        edited.remove(at);
                    }
                    _ if at + 1 < edited.len() => edited.swap(at, at + 1),
                    _ => {}
                }
                assert_sound(&edited.into_iter().collect::<String>());
            }
        }
    }
    assert!(
        accepted > 10_000,
        "too few canonical texts accepted: {accepted}"
    );
}

#[test]
fn number_tokens_are_accepted_exactly_when_canonical() {
    let mut rng = Rng::new(42);
    for _ in 0..50_000 {
        let token = number_token(&mut rng);
        let text = format!("[{token}]");
        assert_sound(&text);
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            assert_complete(&v);
        }
        if let Some(view) = parse_canonical(&text) {
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(view.to_value(), parsed, "{text}");
        }
    }
}

fn small_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(veriscope_canon::float_value),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_é]{0,5}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    /// Dropping top-level members from the text hashes like dropping them from the map.
    #[test]
    fn hash_without_equals_hash_of_reduced_map(
        members in prop::collection::vec(("[a-z_]{0,4}|entry_hash|line_no", small_value()), 0..8),
        drop_mask in any::<u8>(),
    ) {
        let map: Map<String, Value> = members.into_iter().collect();
        let text = to_canonical_string(&Value::Object(map.clone())).unwrap();
        let view = parse_canonical_object(&text).expect("canonical object accepted");
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut drop: Vec<&str> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| drop_mask & (1 << (i % 8)) != 0)
            .map(|(_, k)| *k)
            .collect();
        drop.push("entry_hash");
        drop.push("line_no");
        let mut reduced = map.clone();
        for k in &drop {
            reduced.remove(*k);
        }
        prop_assert_eq!(view.sha256_hex_without(&drop), sha256_hex_object(&reduced).unwrap());
    }

    /// Typed values read back what serde_json reads.
    #[test]
    fn typed_values_agree_with_serde(v in small_value()) {
        let text = to_canonical_string(&v).unwrap();
        let view = parse_canonical(&text).expect("accepted");
        fn same(view: &veriscope_canon::view::CanonValue<'_>, v: &Value) -> bool {
            use veriscope_canon::view::CanonValue as C;
            match (view, v) {
                (C::Null, Value::Null) => true,
                (C::Bool(a), Value::Bool(b)) => a == b,
                (C::Int(t), Value::Number(n)) => *t == n.to_string() || (*t == "0" && n.to_string() == "-0"),
                (C::Float(_, x), Value::Number(n)) => n.to_string().parse::<f64>().ok() == Some(*x),
                (C::Str(s), Value::String(t)) => s.decoded() == t.as_str(),
                (C::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
                (C::Object(o), Value::Object(m)) => {
                    o.len() == m.len() && m.iter().all(|(k, x)| o.get(k).is_some_and(|y| same(y, x)))
                }
                _ => false,
            }
        }
        prop_assert!(same(&view, &v), "{}", text);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(view.to_value(), parsed);
    }
}
