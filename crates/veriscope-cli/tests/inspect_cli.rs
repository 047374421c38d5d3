//! `veriscope inspect` end to end.

use assert_cmd::Command;
use veriscope_report::synth::{CapsuleSpec, write_capsule};

#[test]
fn one_screen_summary_with_strip_and_next_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(
        &dir,
        &CapsuleSpec::new(
            "run_i",
            &["skip", "pass", "pass", "warn", "pass", "fail", "pass"],
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("veriscope")
        .unwrap()
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("  Status      FAIL (automated)\n"), "{text}");
    assert!(
        text.contains("  Timeline    -..W.F.  (iters 100..400; 1 check(s)/char;"),
        "{text}"
    );
    assert!(
        text.contains("  First fail  iter 350 (worst D_W 0.3100 vs eps_eff 0.2000; reason fail)"),
        "{text}"
    );
    assert!(text.contains("  Governance  valid, rev 8 ("), "{text}");
    assert!(
        text.contains("veriscope override"),
        "suggests override for a fail: {text}"
    );
    assert!(text.lines().count() <= 24, "fits one screen");
}

#[test]
fn invalid_capsule_lists_expected_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("veriscope")
        .unwrap()
        .arg("inspect")
        .arg(tmp.path())
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.starts_with("INVALID: "));
    assert!(
        err.contains("Expected canonical artifacts under OUTDIR:\n  - window_signature.json\n")
    );
}
