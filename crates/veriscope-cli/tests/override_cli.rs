//! `veriscope override` end to end: writes all three records, refuses without side effects.

use assert_cmd::Command;
use veriscope_capsule::fixture::{CapsuleSpec, write_capsule};

fn veriscope() -> Command {
    Command::cargo_bin("veriscope").unwrap()
}

fn listing(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn writes_json_jsonl_and_governance_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(&dir, &CapsuleSpec::gpt_run("run_m", &["pass", "fail"])).unwrap();
    let results_before = std::fs::read(dir.join("results.json")).unwrap();
    let out = veriscope()
        .arg("override")
        .arg(&dir)
        .args([
            "--status",
            "pass",
            "--reason",
            "known false positive",
            "--reviewer",
            "alice",
            "--ts-utc",
            "2026-01-01T00:00:00",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "[veriscope] wrote {}/manual_judgement.json\n",
            dir.display()
        )
    );
    let snap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manual_judgement.json")).unwrap()).unwrap();
    assert_eq!(snap["ts_utc"], "2026-01-01T00:00:00Z");
    assert_eq!(snap["reviewer"], "alice");
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(dir.join("manual_judgement.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert_eq!(line["rev"], 1);
    let gov = std::fs::read_to_string(dir.join("governance_log.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(gov.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "manual_judgement_set");
    assert_eq!(last["ts_utc"], "2026-01-01T00:00:00Z");
    assert_eq!(last["actor"], "alice");
    assert_eq!(
        std::fs::read(dir.join("results.json")).unwrap(),
        results_before,
        "gate records untouched"
    );
    // A second override needs --force and then appends rev 2.
    veriscope()
        .arg("override")
        .arg(&dir)
        .args(["--status", "fail", "--reason", "again"])
        .assert()
        .code(2);
    veriscope()
        .arg("override")
        .arg(&dir)
        .args(["--status", "fail", "--reason", "again", "--force"])
        .assert()
        .code(0);
    let text = veriscope()
        .arg("report")
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(text)
            .unwrap()
            .contains("Final Status: MANUAL FAIL")
    );
}

#[test]
fn refuses_missing_outdir_without_creating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nope");
    let err = veriscope()
        .arg("override")
        .arg(&dir)
        .args(["--status", "pass", "--reason", "x"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(err)
            .unwrap()
            .starts_with("OUTDIR_NOT_FOUND: ")
    );
    assert!(!dir.exists(), "OUTDIR must not be created");
}

#[test]
fn broken_chain_or_bad_input_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(&dir, &CapsuleSpec::gpt_run("run_m", &["pass", "fail"])).unwrap();
    let log = dir.join("governance_log.jsonl");
    let tampered =
        std::fs::read_to_string(&log)
            .unwrap()
            .replacen("\"iter\":150", "\"iter\":151", 1);
    std::fs::write(&log, tampered).unwrap();
    let before = listing(&dir);
    let err = veriscope()
        .arg("override")
        .arg(&dir)
        .args(["--status", "pass", "--reason", "x"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("GOVERNANCE_LOG_INVALID") || err.contains("INVALID_CAPSULE"),
        "{err}"
    );
    assert_eq!(listing(&dir), before, "nothing written");
    let dir2 = tmp.path().join("cap2");
    write_capsule(&dir2, &CapsuleSpec::gpt_run("run_n", &["pass"])).unwrap();
    let before = listing(&dir2);
    for bad in [
        vec!["--reason", "   "],
        vec!["--reason", "x", "--ts-utc", "yesterday"],
        vec!["--reason", "x", "--ts-utc", " "],
    ] {
        veriscope()
            .arg("override")
            .arg(&dir2)
            .args(["--status", "pass"])
            .args(&bad)
            .assert()
            .code(2);
        assert_eq!(listing(&dir2), before, "nothing written for {bad:?}");
    }
}
