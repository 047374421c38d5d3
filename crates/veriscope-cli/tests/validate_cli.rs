//! `veriscope validate` wiring: exit codes, flags, formats (contract_v1 §Exit Codes).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn veriscope() -> Command {
    let mut cmd = Command::cargo_bin("veriscope").expect("veriscope binary");
    cmd.current_dir(repo_root());
    cmd
}

#[test]
fn valid_capsule_prints_ok_and_exits_zero() {
    veriscope()
        .args(["validate", "fixtures/capsules/valid/four_gate", "--strict-gov", "--require-gov", "--strict-id"])
        .assert()
        .code(0)
        .stdout("OK window_signature_hash=7f3bffa5e2f3ead1456ee1a5bf34f794a7e29b00651dc9070abfd59c8303f5fd\n")
        .stderr("");
}

#[test]
fn missing_directory_is_invalid_not_internal() {
    let dir = tempfile::tempdir().expect("tempdir");
    veriscope()
        .arg("validate")
        .arg(dir.path().join("nope"))
        .assert()
        .code(2)
        .stderr(
            "INVALID: Missing required artifacts: window_signature.json, results_summary.json\n",
        );
}

#[test]
fn partial_capsule_is_valid_unless_complete_is_required() {
    veriscope()
        .args(["validate", "fixtures/capsules/valid/partial"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("NOTE:PARTIAL_CAPSULE"));
    veriscope()
        .args([
            "validate",
            "fixtures/capsules/valid/partial",
            "--require-complete",
        ])
        .assert()
        .code(2)
        .stderr("INVALID: Missing required artifacts: results.json\n");
}

#[test]
fn strict_governance_lists_journal_errors_after_invalid() {
    veriscope()
        .args([
            "validate",
            "fixtures/capsules/invalid/GOVERNANCE_LOG_INVALID",
            "--strict-governance",
        ])
        .assert()
        .code(2)
        .stderr(
            "INVALID: governance_log.jsonl invalid\nWARNING:GOVERNANCE_LOG_HASH_MISMATCH line=2\n",
        );
}

#[test]
fn json_format_is_parseable_and_carries_codes() {
    let out = veriscope()
        .args([
            "validate",
            "fixtures/capsules/invalid/COUNTS_MISMATCH",
            "--format",
            "json",
        ])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["findings"][0]["code"], "COUNTS_MISMATCH");
    assert_eq!(v["findings"][0]["severity"], "error");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    veriscope()
        .args(["validate", "x", "--bogus"])
        .assert()
        .code(2);
}
