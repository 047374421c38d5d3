//! Pieces shared by several artifacts: `schema_version`, `window_signature_ref`, `profile`,
//! the [`Artifact`] trait and typed parsing with locations.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::violation::{ContractViolation, pointer_join};

/// `schema_version`, pinned to 1 (contract_v1: "schema_version is pinned to 1").
///
/// Reads JSON `1` or `1.0`; rejects `2`, `"1"`, `true`. Always writes `1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SchemaVersion;

impl SchemaVersion {
    /// The only supported version.
    pub const V1: u64 = 1;
}

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(Self::V1)
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(SchemaVersion),
            _ => Err(D::Error::custom("Input should be 1")),
        }
    }
}

impl JsonSchema for SchemaVersion {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Contract version, pinned to 1 (JSON 1 or 1.0).",
            "const": 1
        })
    }
}

/// Pointer from results / summary to the window signature (productization §4C).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WindowSignatureRefV1 {
    /// sha256 of the canonical window signature (64 hex; lower-cased on read).
    #[serde(deserialize_with = "lowercase_string")]
    pub hash: String,
    /// Always `"window_signature.json"` in a valid capsule.
    pub path: String,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WindowSignatureRefV1 {
    /// The `path` every valid capsule records.
    pub const PATH: &'static str = "window_signature.json";

    /// A reference to `window_signature.json` with the given hash.
    pub fn new(hash: impl Into<String>) -> Self {
        Self {
            hash: hash.into().to_ascii_lowercase(),
            path: Self::PATH.to_string(),
            extra: Map::new(),
        }
    }

    /// Field rules: 64-hex hash, non-empty path.
    pub fn check(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        if !is_sha256_hex(&self.hash) {
            out.push(ContractViolation::schema(
                "/hash",
                "String should match pattern '^[a-fA-F0-9]{64}$'",
            ));
        }
        check_non_empty(&mut out, "/path", &self.path);
        out
    }
}

/// Gate preset and overrides (productization §4C).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileV1 {
    /// Preset name, e.g. `tuned_v0`.
    pub gate_preset: String,
    /// Applied overrides (default `{}`, always written).
    // `null` reads as `{}`.
    #[serde(default, deserialize_with = "crate::num::null_as_default")]
    pub overrides: Map<String, Value>,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProfileV1 {
    /// A profile with no overrides.
    pub fn new(gate_preset: impl Into<String>) -> Self {
        Self {
            gate_preset: gate_preset.into(),
            overrides: Map::new(),
            extra: Map::new(),
        }
    }

    /// Field rules: non-empty gate_preset.
    pub fn check(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        check_non_empty(&mut out, "/gate_preset", &self.gate_preset);
        out
    }
}

/// An on-disk artifact: typed parsing from the raw value plus the contract's rules.
pub trait Artifact: Serialize + DeserializeOwned {
    /// File name inside a capsule (`results.json`, ...).
    const FILE_NAME: &'static str;

    /// Every rule the parsed value breaks, field rules first, in document order.
    fn check(&self) -> Vec<ContractViolation>;

    /// Parses `value` and applies [`Artifact::check`]; the first violation is the error
    /// (the original reports only the first error, cli_contracts A4).
    fn from_value(value: &Value) -> Result<Self, ContractViolation> {
        let typed: Self = parse_typed(value)?;
        match typed.check().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(typed),
        }
    }

    /// Parses JSON text (as read from the file) with [`Artifact::from_value`].
    fn from_json_str(text: &str) -> Result<Self, ContractViolation> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            ContractViolation::new(
                crate::FindingCode::JsonParseError,
                "",
                format!("Invalid JSON: {e}"),
            )
        })?;
        Self::from_value(&value)
    }

    /// The JSON value writers hash and store (through `veriscope_canon`).
    fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

/// Deserializes `T` from `value`, reporting the first structural error with its location.
pub fn parse_typed<T: DeserializeOwned>(value: &Value) -> Result<T, ContractViolation> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let pointer = path_to_pointer(err.path());
        let message = humanize_serde_message(&err.inner().to_string());
        ContractViolation::schema(pointer, message)
    })
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer = match segment {
            Segment::Seq { index } => pointer_join(&pointer, index.to_string()),
            Segment::Map { key } => pointer_join(&pointer, key),
            Segment::Enum { variant } => pointer_join(&pointer, variant),
            Segment::Unknown => pointer,
        };
    }
    pointer
}

/// serde's "missing field `x`" and "invalid type" messages, reworded in the contract's
/// (pydantic's) terms where they map one to one.
fn humanize_serde_message(message: &str) -> String {
    if message.starts_with("missing field") {
        return format!("Field required ({message})");
    }
    if message.starts_with("invalid type:") && message.contains("expected struct") {
        return format!("Input should be an object ({message})");
    }
    message.to_string()
}

fn lowercase_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|s| s.to_ascii_lowercase())
}

/// True for exactly 64 hex digits (either case), the contract's hash pattern.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Pushes "String should have at least 1 character" when `value` is empty.
pub(crate) fn check_non_empty(out: &mut Vec<ContractViolation>, pointer: &str, value: &str) {
    if value.is_empty() {
        out.push(ContractViolation::schema(
            pointer,
            "String should have at least 1 character",
        ));
    }
}

/// Same as [`check_non_empty`] for an optional string.
pub(crate) fn check_non_empty_opt(
    out: &mut Vec<ContractViolation>,
    pointer: &str,
    value: Option<&str>,
) {
    if let Some(v) = value {
        check_non_empty(out, pointer, v);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schema_version_accepts_1_and_1_0_only() {
        for ok in ["1", "1.0"] {
            let v: Value = serde_json::from_str(ok).unwrap();
            assert!(serde_json::from_value::<SchemaVersion>(v).is_ok(), "{ok}");
        }
        for bad in ["2", "\"1\"", "true", "null", "1.5"] {
            let v: Value = serde_json::from_str(bad).unwrap();
            let err = serde_json::from_value::<SchemaVersion>(v).unwrap_err();
            assert!(err.to_string().contains("Input should be 1"), "{bad}");
        }
        assert_eq!(serde_json::to_string(&SchemaVersion).unwrap(), "1");
    }

    #[test]
    fn window_ref_hash_is_lowercased_and_pattern_checked() {
        let upper = "A".repeat(64);
        let r: WindowSignatureRefV1 =
            serde_json::from_value(json!({"hash": upper, "path": "window_signature.json"}))
                .unwrap();
        assert_eq!(r.hash, "a".repeat(64));
        assert!(r.check().is_empty());
        for bad in ["a".repeat(63), "g".repeat(64)] {
            let r = WindowSignatureRefV1::new(bad);
            let v = r.check();
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].pointer, "/hash");
            assert!(v[0].message.contains("should match pattern"));
        }
    }

    #[test]
    fn profile_requires_non_empty_preset_and_keeps_extras() {
        let p: ProfileV1 = serde_json::from_value(json!({"gate_preset": "", "x": [1, 2]})).unwrap();
        assert_eq!(p.check()[0].pointer, "/gate_preset");
        assert_eq!(p.extra["x"], json!([1, 2]));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"gate_preset": "", "overrides": {}, "x": [1, 2]})
        );
    }
}
