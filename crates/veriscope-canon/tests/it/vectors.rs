//! Runs every line of `fixtures/canon/vectors.jsonl` (house style §5.4 "Pinned hashes").
//!
//! Each line holds an input JSON text and what CPython 3.11 made of it: the canonical text,
//! its sha256, the window-signature hash, or the error. All failures are collected and
//! reported together, so one run shows every diverging vector.

use serde_json::Value;

const VECTORS: &str = include_str!("../../../../fixtures/canon/vectors.jsonl");

struct Vector {
    name: String,
    input: String,
    canonical: Option<String>,
    sha256: Option<String>,
    window_sha256: Option<String>,
    window_error: bool,
    error: Option<String>,
}

fn field(rec: &Value, key: &str) -> Option<String> {
    rec.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn load() -> Vec<Vector> {
    VECTORS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let rec: Value = serde_json::from_str(line).expect("vectors.jsonl line is JSON");
            Vector {
                name: field(&rec, "name").expect("name"),
                input: field(&rec, "input").expect("input"),
                canonical: field(&rec, "canonical"),
                sha256: field(&rec, "sha256"),
                window_sha256: field(&rec, "window_signature_sha256"),
                window_error: rec.get("window_signature_error").is_some(),
                error: field(&rec, "error"),
            }
        })
        .collect()
}

/// Checks one vector; `Err` describes the divergence.
fn check(v: &Vector) -> Result<(), String> {
    let parsed: Result<Value, _> = serde_json::from_str(&v.input);
    if let Some(kind) = &v.error {
        // Python refused it (NaN/Infinity/overflow at hashing, lone surrogates at encoding).
        // We may refuse earlier (serde_json rejects NaN and lone surrogates while parsing).
        return match parsed {
            Err(_) => Ok(()),
            Ok(value) => match veriscope_canon::to_canonical_string(&value) {
                Err(_) => Ok(()),
                Ok(text) => Err(format!("expected error {kind}, got canonical {text:?}")),
            },
        };
    }
    let value = parsed.map_err(|e| format!("parse error: {e}"))?;
    let want = v.canonical.as_deref().unwrap_or_default();
    let got =
        veriscope_canon::to_canonical_string(&value).map_err(|e| format!("canon error: {e}"))?;
    if got != want {
        return Err(format!("canonical {got:?} != expected {want:?}"));
    }
    let hash = veriscope_canon::sha256_hex(&value).map_err(|e| e.to_string())?;
    if Some(&hash) != v.sha256.as_ref() {
        return Err(format!("sha256 {hash} != expected {:?}", v.sha256));
    }
    if hash != veriscope_canon::sha256_hex_bytes(got.as_bytes()) {
        return Err("sha256_hex disagrees with sha256_hex_bytes(canonical)".into());
    }
    check_window(v, &value)
}

fn check_window(v: &Vector, value: &Value) -> Result<(), String> {
    let result = veriscope_canon::window_signature_hash(value);
    match (&v.window_sha256, v.window_error, result) {
        (Some(want), _, Ok(got)) if *want == got => Ok(()),
        (Some(want), _, got) => Err(format!("window hash {got:?} != expected {want}")),
        (None, true, Err(_)) => Ok(()),
        (None, true, Ok(got)) => Err(format!(
            "window hash {got} where Python refused created_ts_utc"
        )),
        (None, false, _) => Ok(()), // not an object: the rule does not apply
    }
}

#[test]
fn every_vector_matches_cpython() {
    let vectors = load();
    assert!(
        vectors.len() > 1000,
        "vectors.jsonl looks truncated: {}",
        vectors.len()
    );
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| {
            check(v)
                .err()
                .map(|e| format!("{} | input {:?} | {e}", v.name, v.input))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} canon vectors fail:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

/// Guards compatibility: the three hashes verified against the reference packet
/// (cli_contracts A3) are present in the vectors with these exact values.
#[test]
fn verified_reference_hashes_are_in_the_vectors() {
    let vectors = load();
    let hash_of = |name: &str| {
        vectors
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.window_sha256.clone())
    };
    assert_eq!(
        hash_of("verified gpt wrapper placeholder").as_deref(),
        Some("0b77e84a5d512ff9895524a60324906e8a3231e99d75a55afe8d48d63700b35b")
    );
    assert_eq!(
        hash_of("verified hf preflight placeholder").as_deref(),
        Some("b3240a2e9ae7e7e68fc02d0896592b7256f36ebb65f718a182b77a0ccc3ed853")
    );
    assert_eq!(
        hash_of("verified tests minimal window signature").as_deref(),
        Some("7f3bffa5e2f3ead1456ee1a5bf34f794a7e29b00651dc9070abfd59c8303f5fd")
    );
    assert_eq!(
        hash_of("window created_ts_utc valid Z").as_deref(),
        Some("7f3bffa5e2f3ead1456ee1a5bf34f794a7e29b00651dc9070abfd59c8303f5fd")
    );
}
