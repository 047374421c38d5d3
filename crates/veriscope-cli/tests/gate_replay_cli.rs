//! `veriscope gate replay FILE --gate-preset stationary_v1` (docs/gate.md §stationary_v1,
//! §CLI) on seeded synthetic metric streams: the CLI re-gates the file exactly as the engine
//! does in process, with the preset's controls in the JSON output.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};
use veriscope_gate::engine::{Decision, GateConfig, GateEngine};
use veriscope_gate::synthetic::{Pathology, Scenario};

/// Writes the scenario as a metrics stream (docs/metrics-stream.md: hello, samples, end).
fn write_stream(path: &Path, s: &Scenario) {
    let samples = s.samples();
    let mut lines = vec![json!({"type": "hello", "protocol": 1}).to_string()];
    for x in &samples {
        lines.push(
            json!({
                "type": "sample",
                "iter": x.iter,
                "metrics": x.metrics,
                "loss": x.loss,
                "ewma_loss": x.ewma_loss,
            })
            .to_string(),
        );
    }
    lines.push(json!({"type": "end", "iter": samples.last().unwrap().iter}).to_string());
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn replay_json(path: &Path, preset: &str) -> Value {
    let out = Command::cargo_bin("veriscope")
        .unwrap()
        .args(["gate", "replay"])
        .arg(path)
        .args(["--gate-preset", preset, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// First fail of the engine run in process on the same samples (values written with
/// shortest round-trip formatting, so the file holds the same numbers).
fn first_fail_in_process(preset: &str, s: &Scenario) -> Option<u64> {
    let mut engine = GateEngine::new(GateConfig::preset(preset).unwrap());
    s.samples()
        .iter()
        .filter_map(|x| engine.observe(x))
        .find(|r| r.decision == Decision::Fail)
        .map(|r| r.iter)
}

#[test]
fn replay_with_stationary_v1_flags_a_slow_drift_that_calibrated_v2_treats_as_trend() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("drift.jsonl");
    let s = Scenario::pilot(4, 0.25, Pathology::Drift { per_iter: -0.01 });
    write_stream(&path, &s);

    let out = replay_json(&path, "stationary_v1");
    assert_eq!(out["gate_preset"], "stationary_v1");
    let controls = &out["gate_controls"];
    assert_eq!(controls["policy"], "calibrated_trend_cusum_level_drift");
    assert_eq!(controls["sequential"]["family_size"], 24);
    assert_eq!(controls["level_drift"]["ref_windows"], 10);
    assert_eq!(out["counts"]["evaluated"], 40);
    assert_eq!(out["final_decision"], "fail");
    let first = out["first_fail_iter"].as_u64().expect("drift detected");
    assert!((2600..=2800).contains(&first), "first fail at {first}");
    assert_eq!(Some(first), first_fail_in_process("stationary_v1", &s));
    let gate = out["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["iter"] == first)
        .unwrap();
    assert_eq!(gate["audit"]["reason"], "level_drift_detected");

    let v2 = replay_json(&path, "calibrated_v2");
    assert_eq!(v2["final_decision"], "pass");
    assert!(v2["gate_controls"].get("level_drift").is_none());
}

#[test]
fn replay_with_stationary_v1_passes_a_stationary_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("flat.jsonl");
    write_stream(&path, &Scenario::pilot(6, 0.25, Pathology::None));
    let out = replay_json(&path, "stationary_v1");
    assert_eq!(out["final_decision"], "pass");
    assert_eq!(out["counts"]["fail"], 0);
    assert_eq!(out["first_fail_iter"], Value::Null);
}

#[test]
fn an_unknown_preset_names_stationary_v1_among_the_known_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("flat.jsonl");
    write_stream(&path, &Scenario::pilot(6, 0.25, Pathology::None));
    let out = Command::cargo_bin("veriscope")
        .unwrap()
        .args(["gate", "replay"])
        .arg(&path)
        .args(["--gate-preset", "stationary_v9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stationary_v9") && err.contains("stationary_v1"),
        "{err}"
    );
}
