//! JSON Schemas of the artifacts, generated from the serde types (house style §5.4:
//! committed under `schemas/` and compared in a test).

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;

use crate::{
    GovernanceEntryV1, ManualJudgementLineV1, ManualJudgementV1, ResultsSummaryV1, ResultsV1,
    RunConfigResolvedV1, WindowSignatureV1,
};

/// Names accepted by [`schema_for_name`] (and `veriscope schema NAME`), in display order.
pub const SCHEMA_NAMES: &[&str] = &[
    "window_signature",
    "results",
    "results_summary",
    "run_config_resolved",
    "manual_judgement",
    "manual_judgement_line",
    "governance_entry",
];

fn generate<T: JsonSchema>(id: &str) -> Value {
    let schema = SchemaGenerator::default().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.insert(
            "$id".into(),
            Value::String(format!(
                "https://veriscope.invalid/schemas/{id}.schema.json"
            )),
        );
    }
    value
}

/// The JSON Schema of the artifact called `name`, or `None` for an unknown name.
pub fn schema_for_name(name: &str) -> Option<Value> {
    let value = match name {
        "window_signature" => generate::<WindowSignatureV1>(name),
        "results" => generate::<ResultsV1>(name),
        "results_summary" => generate::<ResultsSummaryV1>(name),
        "run_config_resolved" => generate::<RunConfigResolvedV1>(name),
        "manual_judgement" => generate::<ManualJudgementV1>(name),
        "manual_judgement_line" => generate::<ManualJudgementLineV1>(name),
        "governance_entry" => generate::<GovernanceEntryV1>(name),
        _ => return None,
    };
    Some(value)
}

/// The committed text of a schema: pretty JSON (2-space indent, sorted keys) and a newline.
pub fn schema_text(name: &str) -> Option<String> {
    let value = schema_for_name(name)?;
    let mut text = serde_json::to_string_pretty(&value).ok()?;
    text.push('\n');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_a_schema_and_unknown_has_none() {
        for name in SCHEMA_NAMES {
            let schema = schema_for_name(name).unwrap();
            assert!(schema.get("$schema").is_some(), "{name}");
        }
        assert!(schema_for_name("nope").is_none());
    }

    #[test]
    fn results_schema_requires_gates_and_allows_extras() {
        let s = schema_for_name("results").unwrap();
        let required = s["required"].as_array().unwrap();
        assert!(required.contains(&Value::from("gates")));
        assert!(required.contains(&Value::from("run_id")));
        assert_ne!(s.get("additionalProperties"), Some(&Value::Bool(false)));
    }
}
