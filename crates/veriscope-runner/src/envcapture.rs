//! Environment capture and redaction for `run_config_resolved.json` (productization §4A, §5
//! "Secrets hygiene"): only allowlisted keys are recorded, deny rules mask secret-looking keys
//! with `***REDACTED***`, and secret-looking flags are masked in every recorded argv.
//!
//! The child process always receives the complete environment; only the *record* is filtered.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

/// Value written in place of a redacted environment variable or flag value (§4A).
pub const REDACTED: &str = "***REDACTED***";

/// Version of this policy, recorded so readers know which rules produced a capture.
pub const POLICY_REV: &str = "v1";

/// Prefixes whose keys are captured (§4A: "VERISCOPE_*, CUDA_*, SLURM_*, ...").
const ALLOW_PREFIXES: &[&str] = &[
    "VERISCOPE_",
    "CUDA_",
    "CUBLAS_",
    "CUDNN_",
    "NCCL_",
    "SLURM_",
    "TORCH_",
];

/// Exact keys that are captured: distributed launch variables and determinism knobs.
const ALLOW_KEYS: &[&str] = &[
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "NODE_RANK",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_CACHE",
    "TRANSFORMERS_OFFLINE",
];

/// Keys that are always masked even though an allow rule would capture them.
const DENY_EXACT: &[&str] = &[
    "VERISCOPE_API_KEY",
    "VERISCOPE_TOKEN",
    "SLURM_JOB_ACCOUNT",
    "NCCL_IB_HCA_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "WANDB_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Case-insensitive key patterns for secrets: tokens, keys, passwords, credentials, DSNs and
/// URLs (which may embed `user:password@`). Over-masking is the safe direction.
const DENY_REGEX: &[&str] = &[
    r"(?i)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|COOKIE|BEARER|SESSION|SIGNATURE)",
    r"(?i)(^|_)(KEY|KEYS|APIKEY|ACCESSKEY|AUTH|AUTHORIZATION|PASS|PWD|CERT|DSN|URL|URI|WEBHOOK|CONN|CONNSTR)($|_)",
    r"(?i)(API|ACCESS|AUTH|SIGNING|ENCRYPTION|CLIENT|MASTER)_?KEY",
];

/// The capture policy: which keys are recorded and which are masked.
#[derive(Debug, Clone)]
pub struct EnvPolicy {
    allow_prefixes: Vec<String>,
    allow_keys: Vec<String>,
    deny_exact: Vec<String>,
    deny_regex: Vec<Regex>,
}

/// The built-in policy, compiled once: its case-insensitive Unicode patterns take about 2 ms
/// to compile, and a run asks for the policy several times before its runner starts.
static BUILT_IN: LazyLock<EnvPolicy> = LazyLock::new(EnvPolicy::built_in);

impl Default for EnvPolicy {
    fn default() -> Self {
        BUILT_IN.clone()
    }
}

impl EnvPolicy {
    fn built_in() -> Self {
        Self {
            allow_prefixes: ALLOW_PREFIXES.iter().map(|s| s.to_string()).collect(),
            allow_keys: ALLOW_KEYS.iter().map(|s| s.to_string()).collect(),
            deny_exact: DENY_EXACT.iter().map(|s| s.to_string()).collect(),
            deny_regex: DENY_REGEX
                .iter()
                .map(|p| Regex::new(p).expect("built-in deny pattern compiles"))
                .collect(),
        }
    }
}

impl EnvPolicy {
    /// True when the key is captured at all.
    pub fn is_allowed(&self, key: &str) -> bool {
        self.allow_keys.iter().any(|k| k == key)
            || self
                .allow_prefixes
                .iter()
                .any(|p| key.starts_with(p.as_str()))
    }

    /// True when the key (env var name or flag name) looks secret.
    pub fn is_denied(&self, key: &str) -> bool {
        let upper = key.to_ascii_uppercase();
        self.deny_exact.contains(&upper) || self.deny_regex.iter().any(|r| r.is_match(key))
    }

    /// The `allowlist` list recorded in `env_capture`.
    pub fn allowlist(&self) -> Vec<String> {
        let prefixes = self.allow_prefixes.iter().map(|p| format!("prefix:{p}"));
        let keys = self.allow_keys.iter().map(|k| format!("key:{k}"));
        prefixes.chain(keys).collect()
    }
}

/// The recorded part of an environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvCapture {
    /// Allowlisted keys, secret-looking ones masked with [`REDACTED`].
    pub env: BTreeMap<String, String>,
    /// Names of the masked keys (sorted).
    pub redacted_keys: Vec<String>,
}

/// Captures the allowlisted, redacted view of `env`.
pub fn capture_env(env: &BTreeMap<String, String>, policy: &EnvPolicy) -> EnvCapture {
    let mut out = EnvCapture::default();
    for (key, value) in env.iter().filter(|(k, _)| policy.is_allowed(k)) {
        if policy.is_denied(key) {
            out.env.insert(key.clone(), REDACTED.to_string());
            out.redacted_keys.push(key.clone());
        } else {
            out.env.insert(key.clone(), value.clone());
        }
    }
    out
}

/// The `env_capture` object of `run_config_resolved.json` (§4A).
pub fn env_capture_record(
    policy: &EnvPolicy,
    capture: &EnvCapture,
    argv_redactions: usize,
) -> Value {
    json!({
        "policy_rev": POLICY_REV,
        "allowlist": policy.allowlist(),
        "deny_exact": policy.deny_exact,
        "deny_regex": policy.deny_regex.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "redacted_keys": capture.redacted_keys,
        "argv_redactions": argv_redactions,
        "redactions_applied": !capture.redacted_keys.is_empty() || argv_redactions > 0,
    })
}

/// Masks the values of secret-looking long flags in `args`: `--api_key=x` becomes
/// `--api_key=***REDACTED***` and `--token x` becomes `--token ***REDACTED***`.
/// Returns the redacted copy and how many values were masked.
pub fn redact_argv(args: &[String], policy: &EnvPolicy) -> (Vec<String>, usize) {
    let mut out = Vec::with_capacity(args.len());
    let mut count = 0;
    let mut mask_next = false;
    for arg in args {
        if mask_next {
            out.push(REDACTED.to_string());
            count += 1;
            mask_next = false;
            continue;
        }
        match flag_name(arg) {
            Some((name, Some(_))) if policy.is_denied(&flag_key(name)) => {
                out.push(format!("--{name}={REDACTED}"));
                count += 1;
            }
            Some((name, None)) if policy.is_denied(&flag_key(name)) => {
                out.push(arg.clone());
                mask_next = true;
            }
            _ => out.push(arg.clone()),
        }
    }
    (out, count)
}

/// Splits `--name=value` / `--name` into the name and the inline value.
fn flag_name(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg.strip_prefix("--")?;
    if body.is_empty() {
        return None;
    }
    Some(match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    })
}

/// Flag names are matched like env keys: `api-key` -> `API_KEY`.
fn flag_key(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env::env;

    #[test]
    fn captures_allowlisted_and_masks_denied() {
        let policy = EnvPolicy::default();
        let cap = capture_env(
            &env(&[
                ("VERISCOPE_OK", "1"),
                ("VERISCOPE_API_KEY", "s3cret"),
                ("CUDA_VISIBLE_DEVICES", "0"),
                ("HOME", "/root"),
                ("MY_PASSWORD", "hunter2"),
                ("SLURM_JOB_ID", "77"),
                ("VERISCOPE_DB_URL", "postgres://u:p@h/db"),
            ]),
            &policy,
        );
        assert_eq!(cap.env["VERISCOPE_OK"], "1");
        assert_eq!(cap.env["VERISCOPE_API_KEY"], REDACTED);
        assert_eq!(cap.env["VERISCOPE_DB_URL"], REDACTED);
        assert_eq!(cap.env["SLURM_JOB_ID"], "77");
        assert!(!cap.env.contains_key("HOME"));
        assert!(!cap.env.contains_key("MY_PASSWORD"));
        assert_eq!(
            cap.redacted_keys,
            vec!["VERISCOPE_API_KEY", "VERISCOPE_DB_URL"]
        );
        let rec = env_capture_record(&policy, &cap, 0);
        assert_eq!(rec["redactions_applied"], Value::Bool(true));
    }

    #[test]
    fn clean_env_reports_no_redactions() {
        let policy = EnvPolicy::default();
        let cap = capture_env(&env(&[("VERISCOPE_OK", "1"), ("RANK", "0")]), &policy);
        let rec = env_capture_record(&policy, &cap, 0);
        assert_eq!(rec["redactions_applied"], Value::Bool(false));
        assert_eq!(cap.env.len(), 2);
    }

    #[test]
    fn redacts_secret_flags_in_argv() {
        let policy = EnvPolicy::default();
        let args: Vec<String> = [
            "--api_key=abc",
            "--token",
            "xyz",
            "--other",
            "v",
            "--api-key",
            "k",
            "-t",
            "z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (out, n) = redact_argv(&args, &policy);
        assert_eq!(
            out,
            vec![
                "--api_key=***REDACTED***",
                "--token",
                REDACTED,
                "--other",
                "v",
                "--api-key",
                REDACTED,
                "-t",
                "z"
            ]
        );
        assert_eq!(n, 3);
    }
}
