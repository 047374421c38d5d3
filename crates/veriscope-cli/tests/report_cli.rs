//! `veriscope report` end to end: formats, exit codes, compare mode.

use assert_cmd::Command;
use veriscope_report::synth::{CapsuleSpec, write_capsule};

fn veriscope() -> Command {
    Command::cargo_bin("veriscope").unwrap()
}

fn capsule(tmp: &tempfile::TempDir, name: &str, spec: &CapsuleSpec) -> std::path::PathBuf {
    let dir = tmp.path().join(name);
    write_capsule(&dir, spec).unwrap();
    dir
}

#[test]
fn renders_text_md_json_html() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = capsule(
        &tmp,
        "a",
        &CapsuleSpec::new("run_a", &["skip", "pass", "warn", "fail"]),
    );
    let text = veriscope()
        .arg("report")
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("Run ID: run_a\nStatus: SUCCESS\nFinal Status: FAIL\n"));
    assert!(text.ends_with("governance_log.jsonl: YES\n\n"));
    assert!(text.contains("  Total: 4\n  Evaluated: 3\n  PASS: 1\n  SKIP: 1\n  WARN: 1\n  FAIL: 1\n  evaluated_fraction: 0.750\n  first_evaluated_step: 150\n"));
    let md = veriscope()
        .args(["report", "--format", "md"])
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.starts_with(&format!(
        "# Veriscope Report: `{}`\n\n| Field            | Value |\n",
        dir.display()
    )));
    for section in [
        "## Gate Summary",
        "## Artifacts",
        "## Governance",
        "| Provenance | `run_config_resolved.json` |",
    ] {
        assert!(md.contains(section), "{section}");
    }
    let json = veriscope()
        .args(["report", "--json"])
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["schema"], "veriscope.report/v1");
    assert_eq!(doc["gate_summary"]["fail"], 1);
    let html = veriscope()
        .args(["report", "--format", "html"])
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(html).unwrap().contains("<svg"));
}

#[test]
fn missing_artifacts_exit_2_with_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = capsule(&tmp, "a", &CapsuleSpec::new("run_a", &["pass"]));
    std::fs::remove_file(dir.join("window_signature.json")).unwrap();
    let out = veriscope()
        .arg("report")
        .arg(&dir)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("Cannot report: "), "{err}");
    assert!(err.contains("window_signature.json"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn compare_group_and_incompatible_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::new("run_a", &["pass", "fail"]));
    let b = capsule(&tmp, "b", &CapsuleSpec::new("run_b", &["pass", "fail"]));
    let mut c_spec = CapsuleSpec::new("run_c", &["pass", "fail"]);
    c_spec.gate_preset = "beta".into();
    let c = capsule(&tmp, "c", &c_spec);
    let out = veriscope()
        .args(["report", "--compare"])
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .ends_with("\nComparable group: yes, reason=OK\n")
    );
    let refused = veriscope()
        .args(["report", "--compare"])
        .args([&a, &b, &c])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(refused.stderr).unwrap();
    assert!(err.contains("INCOMPARABLE: GATE_PRESET_MISMATCH\n  ok: no\n  reason: GATE_PRESET_MISMATCH\n  details:\n    gate_preset: expected=tuned_v0 got=beta\n"), "{err}");
    let allowed = veriscope()
        .args(["report", "--compare", "--allow-incompatible"])
        .args([&a, &b, &c])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(allowed).unwrap();
    assert!(
        table.contains("| run_c | success | 0 | 0 | fail | fail | automated |"),
        "{table}"
    );
    assert!(table.contains("| no | GATE_PRESET_MISMATCH |\n\nComparable group: no, reason=GATE_PRESET_MISMATCH\n\nComparable details:\n- run_index=2\n"), "{table}");
    let json = veriscope()
        .args(["report", "--compare", "--format", "json"])
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["reference_run_id"], "run_a");
    assert_eq!(doc["comparisons"][1]["comparability"]["ok"], true);
}

#[test]
fn compare_rejects_partial_and_missing_governance() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::new("run_a", &["pass"]));
    let mut p = CapsuleSpec::new("run_p", &["pass"]);
    p.partial = true;
    let p = capsule(&tmp, "p", &p);
    let err = veriscope()
        .args(["report", "--compare"])
        .args([&a, &p])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("INCOMPARABLE: PARTIAL_CAPSULE")
    );
    let mut n = CapsuleSpec::new("run_n", &["pass"]);
    n.governance = false;
    let n = capsule(&tmp, "n", &n);
    let err = veriscope()
        .args(["report", "--compare"])
        .args([&a, &n])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with("INVALID: ") && err.contains("governance_log.jsonl"),
        "{err}"
    );
}
