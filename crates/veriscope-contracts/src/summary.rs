//! `results_summary.json` (productization §4D, cli_contracts A4): the compiled summary.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::common::{Artifact, ProfileV1, SchemaVersion, WindowSignatureRefV1};
use crate::derive::{counts_from_gates, derive_final_decision, first_fail_iter_from_gates};
use crate::num;
use crate::pyrepr::python_value_repr;
use crate::results::HeaderRef;
use crate::results::ResultsV1;
use crate::time::UtcTimestamp;
use crate::violation::ContractViolation;
use crate::{Decision, FindingCode, RunStatus};

/// Gate decision counts. On disk the pass count's key is `pass` (`pass_` is read too).
//
// Read by hand (see the `Deserialize` impl) so that `pass` and `pass_` resolve the way
// validate resolves them: `pass` when present and not null, else `pass_`; a `pass_` that
// is not used stays in `extra`. A `null` count reads as absent ("Field required").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CountsV1 {
    /// Gates with `audit.evaluated = true`.
    pub evaluated: u64,
    /// Gates with decision `skip`.
    pub skip: u64,
    /// Gates with decision `pass`.
    pub pass: u64,
    /// Gates with decision `warn`.
    pub warn: u64,
    /// Gates with decision `fail`.
    pub fail: u64,
    /// Unknown keys, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The five count keys, in field order.
const COUNT_KEYS: [&str; 5] = ["evaluated", "skip", "pass", "warn", "fail"];

/// One count value: a strict integer >= 0, or `None` for `null`.
struct StrictCount(Option<u64>);

impl<'de> Deserialize<'de> for StrictCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        num::strict_u64_opt(d).map(StrictCount)
    }
}

impl<'de> Deserialize<'de> for CountsV1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(CountsVisitor)
    }
}

struct CountsVisitor;

impl<'de> Visitor<'de> for CountsVisitor {
    type Value = CountsV1;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct CountsV1")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CountsV1, A::Error> {
        let mut core: [Option<u64>; 5] = [None; 5];
        let mut pass_alias: Option<Value> = None;
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(i) = COUNT_KEYS.iter().position(|k| *k == key) {
                core[i] = map.next_value::<StrictCount>()?.0;
            } else if key == "pass_" {
                pass_alias = Some(map.next_value()?);
            } else {
                let value: Value = map.next_value()?;
                extra.insert(key, value);
            }
        }
        match pass_alias {
            // `pass_` stands in for an absent (or null) `pass`.
            Some(alias) if core[2].is_none() => {
                core[2] = match &alias {
                    Value::Null => None,
                    Value::Number(n) => Some(num::strict_u64_from(n).map_err(A::Error::custom)?),
                    _ => return Err(A::Error::custom(num::NOT_AN_INTEGER)),
                };
            }
            Some(alias) => {
                extra.insert("pass_".to_string(), alias);
            }
            None => {}
        }
        let take = |i: usize| core[i].ok_or_else(|| A::Error::missing_field(COUNT_KEYS[i]));
        Ok(CountsV1 {
            evaluated: take(0)?,
            skip: take(1)?,
            pass: take(2)?,
            warn: take(3)?,
            fail: take(4)?,
            extra,
        })
    }
}

impl CountsV1 {
    /// True when every count is zero (a partial capsule's neutral counts, A5 step 11).
    pub fn is_neutral(&self) -> bool {
        self.evaluated == 0 && self.skip == 0 && self.pass == 0 && self.warn == 0 && self.fail == 0
    }

    /// `pass + warn + fail == evaluated` (A4), summed without overflow (the original's
    /// Python ints cannot overflow, so huge counts never wrap into a match).
    pub fn check(&self) -> Vec<ContractViolation> {
        let sum = u128::from(self.pass) + u128::from(self.warn) + u128::from(self.fail);
        if sum == u128::from(self.evaluated) {
            return Vec::new();
        }
        vec![ContractViolation::new(
            FindingCode::CountsInconsistent,
            "",
            format!(
                "counts must satisfy pass+warn+fail == evaluated: {sum} != {}",
                self.evaluated
            ),
        )]
    }

    /// The counts as the original printed them: a Python dict in the order evaluated, skip,
    /// pass, warn, fail, then extras (e.g. `{'evaluated': 3, 'skip': 1, 'pass': 1, 'warn': 1, 'fail': 1}`).
    pub fn python_repr(&self) -> String {
        let mut parts = vec![
            format!("'evaluated': {}", self.evaluated),
            format!("'skip': {}", self.skip),
            format!("'pass': {}", self.pass),
            format!("'warn': {}", self.warn),
            format!("'fail': {}", self.fail),
        ];
        for (k, v) in &self.extra {
            parts.push(format!(
                "{}: {}",
                crate::violation::python_str_repr(k),
                python_value_repr(v)
            ));
        }
        format!("{{{}}}", parts.join(", "))
    }

    /// The five counts without extras, for comparisons that ignore unknown keys.
    pub fn core(&self) -> [u64; 5] {
        [self.evaluated, self.skip, self.pass, self.warn, self.fail]
    }
}

/// `results_summary.json` (productization §4D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResultsSummaryV1 {
    /// Always 1.
    pub schema_version: SchemaVersion,
    /// Run identifier (non-empty).
    pub run_id: String,
    /// Hash and path of `window_signature.json`.
    pub window_signature_ref: WindowSignatureRefV1,
    /// Gate preset and overrides.
    pub profile: ProfileV1,
    /// Outcome of the wrapped run.
    pub run_status: RunStatus,
    /// Runner exit code, 0..=255.
    #[serde(
        default,
        deserialize_with = "num::strict_i64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0, max = 255))]
    pub runner_exit_code: Option<i64>,
    /// Signal that ended the runner, e.g. `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_signal: Option<String>,
    /// When the run started.
    pub started_ts_utc: UtcTimestamp,
    /// When the run ended (not before `started_ts_utc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ts_utc: Option<UtcTimestamp>,
    /// Decision counts over all gates.
    pub counts: CountsV1,
    /// `derive_final_decision(counts)`.
    pub final_decision: Decision,
    /// Iteration of the earliest fail gate; null (absent) when no gate failed.
    #[serde(
        default,
        deserialize_with = "num::strict_u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_fail_iter: Option<u64>,
    /// True for a partial capsule (results.json absent).
    // Read laxly, like `audit.evaluated`.
    #[serde(
        default,
        deserialize_with = "num::lax_bool_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub partial: Option<bool>,
    /// Unknown keys (`note`, `wrapper_emitted`, ...), preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResultsSummaryV1 {
    /// The summary of a complete run: header copied from `results`, counts, final decision
    /// and first fail derived from its gates (productization §4D). Extras are not copied.
    pub fn from_results(results: &ResultsV1) -> Self {
        let counts = counts_from_gates(&results.gates);
        Self {
            schema_version: SchemaVersion,
            run_id: results.run_id.clone(),
            window_signature_ref: results.window_signature_ref.clone(),
            profile: results.profile.clone(),
            run_status: results.run_status,
            runner_exit_code: results.runner_exit_code,
            runner_signal: results.runner_signal.clone(),
            started_ts_utc: results.started_ts_utc,
            ended_ts_utc: results.ended_ts_utc,
            final_decision: derive_final_decision(&counts),
            first_fail_iter: first_fail_iter_from_gates(&results.gates),
            counts,
            partial: None,
            extra: Map::new(),
        }
    }

    /// Cross-artifact rules against `results` gates (cli_contracts A5 step 12): counts equal
    /// the derived counts (extras ignored), and `first_fail_iter` equals the earliest fail
    /// gate, iteration 0 included (A17.2 fixed).
    pub fn check_against_results(&self, results: &ResultsV1) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        let derived = counts_from_gates(&results.gates);
        if self.counts.core() != derived.core() {
            out.push(ContractViolation::new(
                FindingCode::CountsMismatch,
                "/counts",
                format!(
                    "summary counts mismatch results gates: summary={} results_derived={}",
                    self.counts.python_repr(),
                    derived.python_repr()
                ),
            ));
        }
        let derived_first = first_fail_iter_from_gates(&results.gates);
        if self.counts.fail > 0 && self.first_fail_iter != derived_first {
            let repr = |v: Option<u64>| v.map_or_else(|| "None".to_string(), |i| i.to_string());
            out.push(ContractViolation::new(
                FindingCode::FirstFailIterMismatch,
                "/first_fail_iter",
                format!(
                    "first_fail_iter mismatch between summary and results gates: summary={} results_derived={}",
                    repr(self.first_fail_iter),
                    repr(derived_first)
                ),
            ));
        }
        out
    }

    pub(crate) fn header(&self) -> HeaderRef<'_> {
        HeaderRef {
            run_id: &self.run_id,
            window_signature_ref: &self.window_signature_ref,
            profile: &self.profile,
            runner_exit_code: self.runner_exit_code,
            runner_signal: self.runner_signal.as_deref(),
            started_ts_utc: self.started_ts_utc,
            ended_ts_utc: self.ended_ts_utc,
        }
    }

    /// True when the summary marks the capsule partial.
    pub fn is_partial(&self) -> bool {
        self.partial == Some(true)
    }

    fn decision_rules(&self) -> Vec<ContractViolation> {
        let mut out = Vec::new();
        let derived = derive_final_decision(&self.counts);
        if self.final_decision != derived {
            out.push(ContractViolation::new(
                FindingCode::FinalDecisionMismatch,
                "",
                format!(
                    "final_decision must match derive_final_decision(counts): '{}' != '{}'",
                    self.final_decision, derived
                ),
            ));
        }
        match (self.counts.fail > 0, self.first_fail_iter) {
            (true, None) => out.push(ContractViolation::new(
                FindingCode::FirstFailIterInconsistent,
                "",
                "first_fail_iter is required when counts.fail > 0",
            )),
            (false, Some(_)) => out.push(ContractViolation::new(
                FindingCode::FirstFailIterInconsistent,
                "",
                "first_fail_iter must be null when counts.fail == 0",
            )),
            _ => {}
        }
        out
    }
}

impl Artifact for ResultsSummaryV1 {
    const FILE_NAME: &'static str = "results_summary.json";

    fn check(&self) -> Vec<ContractViolation> {
        let header = self.header();
        let mut out = header.field_rules();
        out.extend(self.counts.check().into_iter().map(|v| v.under("/counts")));
        if !out.is_empty() {
            return out;
        }
        out.extend(header.order_rule());
        out.extend(self.decision_rules());
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::CountsV1;
    use crate::common::parse_typed;

    fn counts(v: Value) -> Result<CountsV1, String> {
        parse_typed::<CountsV1>(&v).map_err(|e| format!("{} at {}", e.message, e.pointer))
    }

    #[test]
    fn pass_wins_over_pass_underscore_and_null_reads_as_absent() {
        let both = counts(
            json!({"evaluated": 1, "skip": 0, "pass": 1, "pass_": "x", "warn": 0, "fail": 0}),
        )
        .unwrap();
        assert_eq!(both.pass, 1);
        assert_eq!(both.extra["pass_"], json!("x"));
        let alias = counts(
            json!({"evaluated": 2, "skip": 0, "pass": null, "pass_": 2, "warn": 0, "fail": 0}),
        )
        .unwrap();
        assert_eq!((alias.pass, alias.extra.len()), (2, 0));
        let missing =
            counts(json!({"evaluated": 0, "skip": 0, "pass": null, "warn": 0, "fail": 0}));
        assert!(missing.unwrap_err().starts_with("Field required"));
        let typed = counts(json!({"evaluated": 0, "skip": "0", "pass": 0, "warn": 0, "fail": 0}));
        assert!(typed.unwrap_err().ends_with(" at /skip"));
        let not_object = counts(json!([1]));
        assert!(
            not_object
                .unwrap_err()
                .starts_with("Input should be an object")
        );
    }

    #[test]
    fn counts_sum_does_not_overflow() {
        let c = CountsV1 {
            pass: u64::MAX,
            warn: 1,
            ..CountsV1::default()
        };
        let v = c.check();
        assert_eq!(
            v[0].message,
            "counts must satisfy pass+warn+fail == evaluated: 18446744073709551616 != 0"
        );
    }
}
