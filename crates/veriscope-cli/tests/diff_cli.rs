//! `veriscope diff` end to end: Comparable(A,B) tokens, compact vs --all, JSON, warnings,
//! and snapshots over pairs of the committed fixture capsules.

mod support;

use assert_cmd::Command;
use serde_json::json;
use support::{transcripts, with_snapshot_dir};
use veriscope_capsule::fixture::{CapsuleSpec, write_capsule};

fn veriscope() -> Command {
    Command::cargo_bin("veriscope").unwrap()
}

fn capsule(tmp: &tempfile::TempDir, name: &str, spec: &CapsuleSpec) -> std::path::PathBuf {
    let dir = tmp.path().join(name);
    write_capsule(&dir, spec).unwrap();
    dir
}

#[test]
fn comparable_pair_shows_only_differences_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass", "pass"]));
    let b = capsule(&tmp, "b", &CapsuleSpec::gpt_run("run_b", &["pass", "warn"]));
    let out = veriscope()
        .arg("diff")
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Differences:\n  final_decision: pass -> warn\n  effective_decision: pass -> warn\n  counts: evaluated=2 skip=0 pass=2 warn=0 fail=0 -> evaluated=2 skip=0 pass=1 warn=1 fail=0\n"), "{text}");
    assert!(
        !text.contains("run_status"),
        "unchanged fields hidden: {text}"
    );
    let all = veriscope()
        .args(["diff", "--all"])
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let all = String::from_utf8(all).unwrap();
    assert!(all.starts_with("Run A:\n  outdir: "));
    assert!(
        all.contains("  run_status_differs: no\n")
            && all.contains("  final_decision_differs: yes\n")
    );
    assert!(all.ends_with("Comparability:\n  ok: yes\n  reason: -\n  details: -\n  policy: {'allow_gate_preset_mismatch': False}\n"));
}

#[test]
fn window_hash_mismatch_is_exit_2_and_json_still_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass"]));
    let mut d = CapsuleSpec::gpt_run("run_d", &["pass"]);
    d.window_signature["salt"] = json!("x");
    let d = capsule(&tmp, "d", &d);
    let err = veriscope()
        .arg("diff")
        .args([&a, &d])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with("INCOMPARABLE: WINDOW_HASH_MISMATCH\nComparability:\n  ok: no\n"),
        "{err}"
    );
    let out = veriscope()
        .args(["diff", "--json"])
        .args([&a, &d])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["comparability"]["reason"], "WINDOW_HASH_MISMATCH");
    assert_eq!(
        doc["comparability"]["details"]["window_signature_hash"]["expected"],
        doc["run_a"]["window_signature_hash"]
    );
    assert_eq!(doc["partial_mode"], false);
}

#[test]
fn preset_mismatch_needs_the_flag_and_tuned_alias_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass"]));
    let mut c = CapsuleSpec::gpt_run("run_c", &["pass"]);
    c.gate_preset = "beta".into();
    let c = capsule(&tmp, "c", &c);
    veriscope().arg("diff").args([&a, &c]).assert().code(2);
    veriscope()
        .args(["diff", "--allow-gate-preset-mismatch"])
        .args([&a, &c])
        .assert()
        .code(0);
    let mut t = CapsuleSpec::gpt_run("run_t", &["pass"]);
    t.gate_preset = "tuned".into();
    let t = capsule(&tmp, "t", &t);
    veriscope().arg("diff").args([&a, &t]).assert().code(0);
}

#[test]
fn partial_and_tampered_capsules_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass", "fail"]));
    let p = CapsuleSpec::gpt_run("run_p", &["pass"]).interrupted();
    let p = capsule(&tmp, "p", &p);
    let err = veriscope()
        .arg("diff")
        .args([&a, &p])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("expected: False\n      got: {'run_a': False, 'run_b': True}")
    );
    let t = capsule(&tmp, "t", &CapsuleSpec::gpt_run("run_t", &["pass", "fail"]));
    let log = t.join("governance_log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap().replacen(
        "\"decision\":\"fail\"",
        "\"decision\":\"pass\"",
        1,
    );
    std::fs::write(&log, text).unwrap();
    let err = veriscope()
        .arg("diff")
        .args([&a, &t])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(err).unwrap().starts_with("INVALID: "));
}

#[test]
fn distributed_difference_is_a_warning_only() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = CapsuleSpec::gpt_run("run_a", &["pass"]);
    a.distributed = Some(json!({"distributed_mode": "single_process", "world_size_observed": 1}));
    let a = capsule(&tmp, "a", &a);
    let mut b = CapsuleSpec::gpt_run("run_b", &["pass"]);
    b.distributed = Some(
        json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 2, "backend": "nccl", "ddp_wrapped": true, "rank": 0}),
    );
    let b = capsule(&tmp, "b", &b);
    let err = veriscope()
        .arg("diff")
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stderr
        .clone();
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "WARNING:DISTRIBUTED_METADATA_MISMATCH A(mode=single_process,world_size=1,backend=unknown) B(mode=ddp_wrapped,world_size=2,backend=nccl)\n"
    );
}

#[test]
fn diff_over_fixture_pairs() {
    let v = |n: &str| format!("fixtures/capsules/valid/{n}");
    // (snapshot, A, B): comparable with a manual overlay, with distributed metadata, with
    // different run ids and overrides; refused as partial, as a window-hash mismatch, and as
    // an invalid capsule (compare profile: governance required and strictly valid).
    let pairs = [
        (
            "four_gate__override_overlay",
            v("four_gate"),
            v("override_overlay"),
        ),
        (
            "four_gate__distributed_ddp",
            v("four_gate"),
            v("distributed_ddp"),
        ),
        (
            "four_gate__overrides_applied",
            v("four_gate"),
            v("overrides_applied"),
        ),
        ("four_gate__partial", v("four_gate"), v("partial")),
        ("four_gate__failing_run", v("four_gate"), v("failing_run")),
        (
            "four_gate__invalid_governance",
            v("four_gate"),
            "fixtures/capsules/invalid/GOVERNANCE_LOG_INVALID".to_owned(),
        ),
    ];
    with_snapshot_dir("diff", || {
        for (name, a, b) in &pairs {
            let runs = vec![
                vec!["diff", a.as_str(), b.as_str()],
                vec!["diff", "--all", a.as_str(), b.as_str()],
                vec!["diff", "--json", a.as_str(), b.as_str()],
            ];
            insta::assert_snapshot!(*name, transcripts(&runs));
        }
    });
}
