//! End-to-end checks on a tiny config (about a second each): the loss falls, the same seed
//! reproduces, stream lines have the protocol's fields, stop on control, checkpoints resume,
//! and the binary's `--describe` / bad-input behaviour. The resume, preemption, strict and
//! replica checks of docs/replay.md are in `replay.rs`.

use std::path::Path;
use std::process::Command;

mod common;

use common::{tiny_config, train_to};
use serde_json::Value;
use veriscope_gpt::config::TrainConfig;
use veriscope_gpt::interrupt::Interrupt;
use veriscope_gpt::stream::{ControlState, EndStatus};
use veriscope_gpt::trainer::Outcome;

fn tiny(extra: &[&str]) -> TrainConfig {
    tiny_config(&[&["--eval-interval", "0"], extra].concat(), |_| None)
}

fn run(cfg: &TrainConfig, out: &Path, control: &ControlState) -> Outcome {
    train_to(cfg, out, control, &Interrupt::none())
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stream line is JSON"))
        .collect()
}

#[test]
fn loss_falls_and_stream_lines_follow_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.jsonl");
    let cfg = tiny(&[
        "--max-iters",
        "40",
        "--data-corrupt-at",
        "20",
        "--data-corrupt-len",
        "6",
    ]);
    let outcome = run(&cfg, &out, &ControlState::default());
    assert_eq!(outcome.status, EndStatus::Completed);
    assert_eq!(outcome.last_iter, Some(39));
    let first = outcome.first_losses[0];
    let last = outcome.final_loss.unwrap();
    assert!(last < first - 0.5, "loss should fall: {first} -> {last}");

    let lines = lines(&out);
    let hello = &lines[0];
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["runner"], "veriscope-gpt");
    assert_eq!(hello["metric_interval"], 2);
    assert_eq!(hello["injection"]["kind"], "data_corrupt");
    assert_eq!(hello["metrics"].as_array().unwrap().len(), 4);

    let samples: Vec<&Value> = lines.iter().filter(|l| l["type"] == "sample").collect();
    assert_eq!(samples.len(), 20, "one sample every 2 of 40 iterations");
    let iters: Vec<u64> = samples
        .iter()
        .map(|s| s["iter"].as_u64().unwrap())
        .collect();
    assert!(iters.windows(2).all(|w| w[1] > w[0]));
    for s in &samples {
        for key in ["var_out_k", "eff_dim", "rankme", "cos_disp"] {
            assert!(s["metrics"][key].is_number(), "{key} at {}: {s}", s["iter"]);
        }
        assert!(s["loss"].is_number() && s["ewma_loss"].is_number());
        assert!(s["grad_norm"].as_f64().unwrap() > 0.0);
        assert!(s["timing"]["step_ms"].is_number() && s["timing"]["probe_ms"].is_number());
        let it = s["iter"].as_u64().unwrap();
        assert_eq!(s["injection_active"], (20..26).contains(&it), "iter {it}");
    }
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["status"], "completed");
    assert_eq!(end["iter"], 39);
}

#[test]
fn same_seed_gives_identical_first_losses_and_other_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlState::default();
    let a = run(
        &tiny(&["--max-iters", "4", "--seed", "5"]),
        &dir.path().join("a"),
        &control,
    );
    let b = run(
        &tiny(&["--max-iters", "4", "--seed", "5"]),
        &dir.path().join("b"),
        &control,
    );
    let c = run(
        &tiny(&["--max-iters", "4", "--seed", "6"]),
        &dir.path().join("c"),
        &control,
    );
    assert_eq!(a.first_losses, b.first_losses);
    assert_ne!(a.first_losses, c.first_losses);
}

/// Sample lines without their timing (wall-clock, so never reproducible).
fn samples_without_timing(path: &Path) -> Vec<Value> {
    lines(path)
        .into_iter()
        .filter(|l| l["type"] == "sample")
        .map(|mut l| {
            l.as_object_mut().unwrap().remove("timing");
            l
        })
        .collect()
}

const COLLAPSE: &[&str] = &[
    "--max-iters",
    "30",
    "--collapse-at",
    "10",
    "--collapse-len",
    "8",
    "--ckpt-interval",
    "0",
];

#[test]
fn async_and_sync_probes_write_identical_samples() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlState::default();
    let mut runs = Vec::new();
    for mode in ["sync", "async"] {
        let out = dir.path().join(mode);
        let cfg = tiny(&[COLLAPSE, &["--probe-mode", mode]].concat());
        run(&cfg, &out, &control);
        let all = lines(&out);
        assert_eq!(all[0]["probe"]["mode"], mode);
        for s in all.iter().filter(|l| l["type"] == "sample") {
            let timing = s["timing"].as_object().unwrap();
            let async_fields =
                timing.contains_key("probe_wait_ms") && timing.contains_key("snapshot_ms");
            assert_eq!(async_fields, mode == "async", "{s}");
            assert!(timing["probe_ms"].is_number() && timing["metric_ms"].is_number());
        }
        runs.push(samples_without_timing(&out));
    }
    assert_eq!(runs[0].len(), 15);
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn same_seed_gives_identical_metric_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlState::default();
    let metric_text = |name: &str| -> Vec<String> {
        let out = dir.path().join(name);
        run(&tiny(COLLAPSE), &out, &control);
        lines(&out)
            .iter()
            .filter(|l| l["type"] == "sample")
            .map(|l| serde_json::to_string(&l["metrics"]).unwrap())
            .collect()
    };
    let (a, b) = (metric_text("a"), metric_text("b"));
    assert_eq!(a.len(), 15);
    assert!(a.iter().all(|m| m.contains("eff_dim")));
    assert_eq!(a, b);
}

/// Every parameter and AdamW moment of the checkpoint in `dir`, by name.
fn checkpoint_values(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .expect("a checkpoint");
    let tensors = candle_core::safetensors::load(&file, &candle_core::Device::Cpu).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn training_is_bit_identical_with_and_without_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlState::default();
    let mut runs = Vec::new();
    for (name, flags) in [
        ("async", &["--probe-mode", "async"][..]),
        ("sync", &["--probe-mode", "sync"]),
        ("no_gate", &["--no-gate"]),
    ] {
        let ckpt = dir.path().join(format!("ckpt_{name}"));
        let out = dir.path().join(name);
        let cfg = tiny(&[COLLAPSE, flags, &["--ckpt-dir", ckpt.to_str().unwrap()]].concat());
        let outcome = run(&cfg, &out, &control);
        let training: Vec<[Value; 4]> = lines(&out)
            .iter()
            .filter(|l| l["type"] == "sample")
            .map(|l| {
                assert_eq!(
                    l["metrics"].as_object().unwrap().is_empty(),
                    name == "no_gate"
                );
                [
                    l["iter"].clone(),
                    l["loss"].clone(),
                    l["grad_norm"].clone(),
                    l["ewma_loss"].clone(),
                ]
            })
            .collect();
        runs.push((name, outcome.final_loss, training, checkpoint_values(&ckpt)));
    }
    let (_, loss0, train0, weights0) = &runs[0];
    assert_eq!(train0.len(), 15);
    for (name, loss, training, weights) in &runs[1..] {
        assert_eq!(loss, loss0, "{name}");
        assert_eq!(training, train0, "{name}");
        assert!(weights == weights0, "{name}: weights or moments differ");
    }
}

#[test]
fn stop_action_ends_the_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.jsonl");
    let control = ControlState::default();
    control.apply_line(r#"{"type":"decision","iter":0,"decision":"fail","action":"stop"}"#);
    let outcome = run(&tiny(&["--max-iters", "50"]), &out, &control);
    assert_eq!(outcome.status, EndStatus::StoppedOnFail);
    assert_eq!(outcome.last_iter, Some(0), "finishes the current step only");
    let mut all = lines(&out);
    let end = all.pop().unwrap();
    assert_eq!(end["status"], "stopped_on_fail");
    // The (async) probe of iteration 0 is written before the end line.
    let sample = all.pop().unwrap();
    assert_eq!(
        (&sample["type"], &sample["iter"]),
        (&"sample".into(), &0.into())
    );
    assert!(sample["metrics"]["eff_dim"].is_number());
}

#[test]
fn resume_continues_from_the_latest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let ck = ckpt.to_str().unwrap();
    let control = ControlState::default();
    // Straight 10 iterations vs 6 + resume to 10: the same final loss.
    let straight = run(
        &tiny(&["--max-iters", "10"]),
        &dir.path().join("s"),
        &control,
    );
    run(
        &tiny(&["--max-iters", "6", "--ckpt-dir", ck, "--ckpt-interval", "3"]),
        &dir.path().join("p1"),
        &control,
    );
    assert!(ckpt.join("ckpt_00000005.safetensors").exists());
    let out2 = dir.path().join("p2");
    let resumed = run(
        &tiny(&["--max-iters", "10", "--ckpt-dir", ck, "--resume"]),
        &out2,
        &control,
    );
    assert_eq!(resumed.last_iter, Some(9));
    let hello = &lines(&out2)[0];
    assert_eq!(hello["resumed_from_iter"], 5);
    assert_eq!(hello["resume"]["from_iter"], 5);
    let (a, b) = (straight.final_loss.unwrap(), resumed.final_loss.unwrap());
    assert!((a - b).abs() < 1e-4, "straight {a} vs resumed {b}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veriscope-gpt"))
}

#[test]
fn describe_prints_the_cadence_and_exits_zero() {
    let out = bin().args(["--describe"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["preset"], "cpu_small");
    assert_eq!(v["gate_cadence"]["metric_interval"], 2);
    assert_eq!(v["gate_cadence"]["gate_window"], 40);
    assert_eq!(v["gate_cadence"]["gate_warmup_iters"], 200);
    assert!(v["expected_gate_checks"].as_u64().unwrap() >= 10);
    assert!(v["vocab_size"].as_u64().unwrap() > 50);

    let gpu = bin()
        .args(["--describe", "--preset", "gpu"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&gpu.stdout).unwrap();
    assert_eq!(v["gate_cadence"]["gate_window"], 100);
    assert_eq!(v["model"]["n_embd"], 384);
}

#[test]
fn bad_input_exits_two_with_a_named_problem() {
    let out = bin()
        .args(["--describe", "--preset", "huge"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown preset 'huge'"));

    let out = bin()
        .args(["--describe", "--gate-window", "41"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple of metric_interval"));

    let out = bin()
        .args(["--data", "/nonexistent/file.txt", "--max-iters", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/file.txt"));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_refused() {
    let out = bin()
        .args(["--device", "cuda", "--max-iters", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`cuda` feature"));
}
