//! `veriscope calibrate` end to end: acceptance status, spread over seeds, tokens.

use assert_cmd::Command;
use veriscope_capsule::fixture::{CapsuleSpec, write_capsule};

fn capsule(tmp: &tempfile::TempDir, name: &str, spec: &CapsuleSpec) -> std::path::PathBuf {
    let dir = tmp.path().join(name);
    write_capsule(&dir, spec).unwrap();
    dir
}

fn injected(name: &str, warn_at: usize) -> CapsuleSpec {
    let mut d = vec!["pass"; 10];
    d[warn_at] = "warn";
    d[warn_at + 1] = "fail";
    let mut s = CapsuleSpec::gpt_run(name, &d);
    s.injection = Some((300, 200));
    if let Some(rc) = s.run_config.as_mut() {
        rc.timing = Some((102.0, 100.0));
    }
    s
}

#[test]
fn scores_control_and_injected_and_writes_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let control = capsule(&tmp, "c1", &CapsuleSpec::gpt_run("c1", &["pass"; 20]));
    let inj = capsule(&tmp, "i1", &injected("i1", 6));
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let stdout = Command::cargo_bin("veriscope")
        .unwrap()
        .current_dir(&out_dir)
        .args(["calibrate", "--control-dir"])
        .arg(&control)
        .arg("--injected-dir")
        .arg(&inj)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        "WROTE: calibration.json calibration.md\n"
    );
    let text = std::fs::read_to_string(out_dir.join("calibration.json")).unwrap();
    assert!(
        !text.ends_with('\n'),
        "Python indent=2 text without trailing newline"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["FAR"], 0.0);
    // onset 300, warmup 100 -> t0 300; first warn at iter 100 + 50*6 = 400 -> 100 iters = 2.0 W.
    assert_eq!(doc["Delay_W"], 2.0);
    assert_eq!(doc["overhead"], 1.02);
    assert_eq!(doc["calibration_status"], "targets_met");
    assert_eq!(
        doc["injection_onset_source"],
        "run_config_resolved.runner.hello.injection.at"
    );
    assert!(
        std::fs::read_to_string(out_dir.join("calibration.md"))
            .unwrap()
            .contains("| Detection delay (W) | 2 | <= 2 | met |")
    );
}

#[test]
fn several_seeds_report_spread_and_missed_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let mut noisy = vec!["pass"; 10];
    noisy[3] = "warn";
    let c1 = capsule(&tmp, "c1", &CapsuleSpec::gpt_run("c1", &noisy));
    let c2 = capsule(&tmp, "c2", &CapsuleSpec::gpt_run("c2", &["pass"; 10]));
    let i1 = capsule(&tmp, "i1", &injected("i1", 5));
    let i2 = capsule(&tmp, "i2", &injected("i2", 8));
    let out = tmp.path().join("cal.json");
    Command::cargo_bin("veriscope")
        .unwrap()
        .args(["calibrate", "--control-dir"])
        .arg(&c1)
        .arg("--control-dir")
        .arg(&c2)
        .arg("--injected-dir")
        .arg(&i1)
        .arg("--injected-dir")
        .arg(&i2)
        .arg("--out")
        .arg(&out)
        .arg("--out-md")
        .arg(tmp.path().join("cal.md"))
        .assert()
        .code(0);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["FAR"], 0.05, "pooled 1/20");
    assert_eq!(
        doc["FAR_spread"],
        serde_json::json!({"max": 0.1, "median": 0.05, "min": 0.0, "n": 2})
    );
    // i1 warns at iter 350 (50 iters after onset 300 = 1 W), i2 at iter 500 (4 W).
    assert_eq!(
        doc["Delay_W_spread"],
        serde_json::json!({"max": 4.0, "median": 2.5, "min": 1.0, "n": 2})
    );
    assert_eq!(
        doc["calibration_status"], "targets_not_met",
        "median delay 2.5 W > 2 W"
    );
    assert_eq!(doc["acceptance"]["Delay_ok"], false);
}

#[test]
fn missing_inputs_are_exit_2_with_token() {
    let tmp = tempfile::tempdir().unwrap();
    let control = capsule(&tmp, "c1", &CapsuleSpec::gpt_run("c1", &["pass"; 4]));
    let out = Command::cargo_bin("veriscope")
        .unwrap()
        .current_dir(tmp.path())
        .args(["calibrate", "--control-dir"])
        .arg(&control)
        .arg("--injected-dir")
        .arg(tmp.path().join("missing"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("MISSING_RESULTS_SUMMARY: ")
    );
    assert!(!tmp.path().join("calibration.json").exists());
    let no_onset = capsule(&tmp, "i0", &CapsuleSpec::gpt_run("i0", &["pass"; 4]));
    let out = Command::cargo_bin("veriscope")
        .unwrap()
        .current_dir(tmp.path())
        .args(["calibrate", "--control-dir"])
        .arg(&control)
        .arg("--injected-dir")
        .arg(&no_onset)
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("MISSING_INJECTION_ONSET: ")
    );
}
