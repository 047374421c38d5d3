//! `window_signature.json` (productization §4B): the compatibility key, hashed as an
//! opaque object. Only a few fields are typed, through helpers; everything is preserved.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use veriscope_canon::CanonError;

use crate::common::Artifact;
use crate::violation::ContractViolation;

/// The window signature: an opaque JSON object (extra keys are the point).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WindowSignatureV1(pub Map<String, Value>);

impl WindowSignatureV1 {
    /// The placeholder the wrapper writes before the runner has declared its window
    /// (cli_contracts A3: `{"placeholder":true,"reason":...,"run_kind":...,"schema_version":1}`).
    pub fn placeholder(run_kind: &str, reason: &str) -> Self {
        let value = json!({
            "placeholder": true,
            "reason": reason,
            "run_kind": run_kind,
            "schema_version": 1,
        });
        match value {
            Value::Object(map) => WindowSignatureV1(map),
            _ => unreachable!("json! object literal"),
        }
    }

    /// The raw value (what is hashed).
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// `window_signature_ref.hash` for this signature: canonical sha256 with a valid
    /// `created_ts_utc` dropped (contract_v1 §Hashing Rules).
    pub fn hash(&self) -> Result<String, CanonError> {
        veriscope_canon::window_signature_hash(&self.to_json())
    }

    /// `schema_version` as written (any JSON value), if present.
    pub fn schema_version(&self) -> Option<&Value> {
        self.0.get("schema_version")
    }

    /// `created_ts_utc` as written, if present.
    pub fn created_ts_utc(&self) -> Option<&Value> {
        self.0.get("created_ts_utc")
    }

    /// True for the wrapper's placeholder signature.
    pub fn is_placeholder(&self) -> bool {
        self.0.get("placeholder") == Some(&Value::Bool(true))
    }

    /// The `gate_controls` object, if present.
    pub fn gate_controls(&self) -> Option<&Map<String, Value>> {
        self.0.get("gate_controls").and_then(Value::as_object)
    }

    /// `gate_controls.<key>` as an unsigned integer (e.g. `gate_window`).
    pub fn gate_control_u64(&self, key: &str) -> Option<u64> {
        self.gate_controls()?.get(key)?.as_u64()
    }

    /// `gate_controls.<key>` as a float (e.g. `gate_epsilon`).
    pub fn gate_control_f64(&self, key: &str) -> Option<f64> {
        self.gate_controls()?.get(key)?.as_f64()
    }
}

impl Artifact for WindowSignatureV1 {
    const FILE_NAME: &'static str = "window_signature.json";

    /// The only rule on the opaque object is hashability, which the validator checks with
    /// the hash itself; nothing to add here.
    fn check(&self) -> Vec<ContractViolation> {
        Vec::new()
    }
}

impl JsonSchema for WindowSignatureV1 {
    fn schema_name() -> Cow<'static, str> {
        "WindowSignatureV1".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Compatibility key, hashed as an opaque object: window_signature_ref.hash = sha256(canonical_json(object without a valid created_ts_utc)). Extra keys are allowed and hashed.",
            "type": "object",
            "properties": {
                "schema_version": {"const": 1},
                "created_ts_utc": {
                    "description": "Excluded from the hash only when it is an ISO-8601 UTC string ending in Z; any other value fails validation.",
                    "type": "string"
                },
                "gate_controls": {
                    "description": "Fixed object of gate controls; absent controls are null, never omitted (productization §4B).",
                    "type": "object"
                }
            },
            "additionalProperties": true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_hash_matches_the_reference_packet() {
        // Guards compatibility: cli_contracts A3 verified hashes.
        let gpt = WindowSignatureV1::placeholder("gpt", "wrapper_start");
        assert_eq!(
            gpt.hash().unwrap(),
            "0b77e84a5d512ff9895524a60324906e8a3231e99d75a55afe8d48d63700b35b"
        );
        let hf = WindowSignatureV1::placeholder("hf", "wrapper_preflight_failed");
        assert_eq!(
            hf.hash().unwrap(),
            "b3240a2e9ae7e7e68fc02d0896592b7256f36ebb65f718a182b77a0ccc3ed853"
        );
        assert!(gpt.is_placeholder());
    }

    #[test]
    fn round_trips_opaquely_and_reads_gate_controls() {
        let text = r#"{"schema_version":1,"gate_controls":{"gate_window":16,"gate_epsilon":0.08},"x":[1.0]}"#;
        let ws = WindowSignatureV1::from_json_str(text).unwrap();
        assert_eq!(ws.gate_control_u64("gate_window"), Some(16));
        assert_eq!(ws.gate_control_f64("gate_epsilon"), Some(0.08));
        let back = veriscope_canon::to_canonical_string(&ws.to_value().unwrap()).unwrap();
        assert_eq!(
            back,
            r#"{"gate_controls":{"gate_epsilon":0.08,"gate_window":16},"schema_version":1,"x":[1.0]}"#
        );
    }
}
