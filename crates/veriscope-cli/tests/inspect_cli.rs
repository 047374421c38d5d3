//! `veriscope inspect` end to end, with snapshots over the committed fixture capsules.

mod support;

use assert_cmd::Command;
use support::{fixtures, snapshot_name, transcripts, with_snapshot_dir};
use veriscope_capsule::fixture::{CapsuleSpec, write_capsule};

#[test]
fn one_screen_summary_with_strip_and_next_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(
        &dir,
        &CapsuleSpec::gpt_run(
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

#[test]
fn inspect_over_the_fixtures() {
    let valid = fixtures("valid");
    assert!(valid.len() >= 7, "{valid:?}");
    with_snapshot_dir("inspect", || {
        for rel in &valid {
            let rel = rel.as_str();
            let runs = vec![
                vec!["inspect", rel],
                vec![
                    "inspect",
                    rel,
                    "--economic",
                    "--price-per-gpu-hour",
                    "2.5",
                    "--gpus",
                    "2",
                ],
            ];
            insta::assert_snapshot!(snapshot_name(rel), transcripts(&runs));
        }
        let invalid = fixtures("invalid");
        let runs: Vec<Vec<&str>> = invalid
            .iter()
            .map(|d| vec!["inspect", d.as_str()])
            .collect();
        insta::assert_snapshot!("invalid", transcripts(&runs));
    });
}
