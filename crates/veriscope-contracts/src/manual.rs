//! Manual judgements (productization §4E, contract_v1 §Manual Judgement Artifacts):
//! `manual_judgement.json` (snapshot) and `manual_judgement.jsonl` (one line per judgement,
//! the same fields plus `rev`; lines are not hash-chained).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ManualStatus;
use crate::common::{Artifact, SchemaVersion, check_non_empty, check_non_empty_opt};
use crate::num;
use crate::time::UtcTimestamp;
use crate::violation::ContractViolation;

/// `manual_judgement.json`: a human overlay; never changes gate records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManualJudgementV1 {
    /// Always 1.
    pub schema_version: SchemaVersion,
    /// Run the judgement is about (non-empty).
    pub run_id: String,
    /// The reviewer's verdict.
    pub status: ManualStatus,
    /// Why (non-empty).
    pub reason: String,
    /// Who (non-empty when present; omitted when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
    /// When (written as UTC seconds with `Z`).
    pub ts_utc: UtcTimestamp,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn manual_field_rules(
    run_id: &str,
    reason: &str,
    reviewer: Option<&str>,
) -> Vec<ContractViolation> {
    let mut out = Vec::new();
    check_non_empty(&mut out, "/run_id", run_id);
    check_non_empty(&mut out, "/reason", reason);
    check_non_empty_opt(&mut out, "/reviewer", reviewer);
    out
}

impl Artifact for ManualJudgementV1 {
    const FILE_NAME: &'static str = "manual_judgement.json";

    fn check(&self) -> Vec<ContractViolation> {
        manual_field_rules(&self.run_id, &self.reason, self.reviewer.as_deref())
    }
}

/// One line of `manual_judgement.jsonl`: [`ManualJudgementV1`] plus `rev`; `reviewer` is
/// always written (null when unknown), as the original's lines were (cli_contracts A7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManualJudgementLineV1 {
    /// Always 1.
    pub schema_version: SchemaVersion,
    /// Run the judgement is about (non-empty).
    pub run_id: String,
    /// The reviewer's verdict.
    pub status: ManualStatus,
    /// Why (non-empty).
    pub reason: String,
    /// Who, or null.
    #[serde(default)]
    pub reviewer: Option<String>,
    /// When (written as UTC seconds with `Z`).
    pub ts_utc: UtcTimestamp,
    /// Position in the file: max valid rev + 1.
    #[serde(deserialize_with = "num::strict_u64")]
    pub rev: u64,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ManualJudgementLineV1 {
    /// The line for `judgement` at `rev`.
    pub fn new(judgement: &ManualJudgementV1, rev: u64) -> Self {
        Self {
            schema_version: SchemaVersion,
            run_id: judgement.run_id.clone(),
            status: judgement.status,
            reason: judgement.reason.clone(),
            reviewer: judgement.reviewer.clone(),
            ts_utc: judgement.ts_utc,
            rev,
            extra: judgement.extra.clone(),
        }
    }

    /// The judgement this line records (without `rev`).
    pub fn judgement(&self) -> ManualJudgementV1 {
        ManualJudgementV1 {
            schema_version: SchemaVersion,
            run_id: self.run_id.clone(),
            status: self.status,
            reason: self.reason.clone(),
            reviewer: self.reviewer.clone(),
            ts_utc: self.ts_utc,
            extra: self.extra.clone(),
        }
    }
}

impl Artifact for ManualJudgementLineV1 {
    const FILE_NAME: &'static str = "manual_judgement.jsonl";

    fn check(&self) -> Vec<ContractViolation> {
        manual_field_rules(&self.run_id, &self.reason, self.reviewer.as_deref())
    }
}
