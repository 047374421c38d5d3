//! docs/replay.md on the trainer side: resume after an interruption emits the samples of an
//! uninterrupted run, SIGTERM saves a checkpoint and exits 128+signal, strict determinism,
//! `spec`/`seeds` in `--describe` and hello, and replicated ranks. Tiny configs, a few dozen
//! iterations each.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{TINY_MODEL, tiny_config, train_to};
use serde_json::Value;
use veriscope_gpt::config::TrainConfig;
use veriscope_gpt::interrupt::Interrupt;
use veriscope_gpt::stream::{ControlState, EndStatus};
use veriscope_gpt::trainer::Outcome;

/// What these checks add to the tiny model.
const REPLAY_ARGS: &[&str] = &[
    // Eval every 5 iterations: an eval at an odd iteration is reported by the next sample,
    // so an interruption there leaves a pending val_loss the checkpoint must carry.
    "--eval-interval",
    "5",
    "--eval-iters",
    "2",
    // A data-corruption window across the interruption point.
    "--data-corrupt-at",
    "12",
    "--data-corrupt-len",
    "8",
];

/// The full tiny argument list, for the binary.
fn tiny_args() -> Vec<&'static str> {
    [TINY_MODEL, REPLAY_ARGS].concat()
}

fn tiny(extra: &[&str]) -> TrainConfig {
    tiny_env(extra, |_| None)
}

fn tiny_env(extra: &[&str], env: impl Fn(&str) -> Option<String>) -> TrainConfig {
    tiny_config(&[REPLAY_ARGS, extra].concat(), env)
}

fn run(cfg: &TrainConfig, out: &Path, interrupt: &Interrupt) -> Outcome {
    train_to(cfg, out, &ControlState::default(), interrupt)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stream line is JSON"))
        .collect()
}

/// Sample lines as text without `timing` (wall clock) and, with `keep_metrics` false, without
/// `metrics`.
fn samples(path: &Path, keep_metrics: bool) -> Vec<(u64, String)> {
    lines(path)
        .into_iter()
        .filter(|l| l["type"] == "sample")
        .map(|mut l| {
            let o = l.as_object_mut().unwrap();
            o.remove("timing");
            if !keep_metrics {
                o.remove("metrics");
            }
            (l["iter"].as_u64().unwrap(), l.to_string())
        })
        .collect()
}

const SIGTERM: i32 = 15;

#[test]
fn resume_after_an_interruption_emits_the_samples_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let ck_straight = dir.path().join("ck_straight");
    let ck = dir.path().join("ck");
    let ck_flag = ["--ckpt-dir", ck.to_str().unwrap()];
    let base = ["--max-iters", "30", "--ckpt-every-s", "0"];

    let straight_out = dir.path().join("straight");
    let straight = run(
        &tiny(&[&base[..], &["--ckpt-dir", ck_straight.to_str().unwrap()]].concat()),
        &straight_out,
        &Interrupt::none(),
    );
    assert_eq!(straight.status, EndStatus::Completed);

    // "SIGTERM" during iteration 15: an eval iteration, odd (no sample), inside the
    // corruption window.
    let first_out = dir.path().join("first");
    let first = run(
        &tiny(&[&base[..], &ck_flag].concat()),
        &first_out,
        &Interrupt::after_iter(15, SIGTERM),
    );
    assert_eq!(first.status, EndStatus::Interrupted(SIGTERM));
    assert_eq!(first.last_iter, Some(15));
    assert!(ck.join("ckpt_00000015.json").exists());
    let first_lines = lines(&first_out);
    assert!(first_lines[0]["resume"].is_null());
    let end = first_lines.last().unwrap();
    assert_eq!(
        (&end["type"], &end["status"], &end["reason"], &end["iter"]),
        (
            &"end".into(),
            &"error".into(),
            &"interrupted:SIGTERM".into(),
            &15.into()
        )
    );
    // Every sample up to the interruption is in the stream, in order, before the end line.
    let before: Vec<u64> = samples(&first_out, true).iter().map(|s| s.0).collect();
    assert_eq!(before, (0..=14).step_by(2).collect::<Vec<u64>>());

    let resumed_out = dir.path().join("resumed");
    let resumed = run(
        &tiny(&[&base[..], &ck_flag, &["--resume"]].concat()),
        &resumed_out,
        &Interrupt::none(),
    );
    assert_eq!(resumed.resumed_from, Some(15));
    assert_eq!(resumed.status, EndStatus::Completed);
    assert_eq!(lines(&resumed_out)[0]["resume"]["from_iter"], 15);
    assert_eq!(
        resumed.final_loss.unwrap().to_bits(),
        straight.final_loss.unwrap().to_bits()
    );

    // Every field but timing is byte-identical after C = 15: the metrics (the checkpoint
    // carries the probe's gauge), loss, ewma_loss, grad_norm, lr, nonfinite,
    // injection_active, val_loss.
    let after = |all: Vec<(u64, String)>| -> Vec<(u64, String)> {
        all.into_iter().filter(|(it, _)| *it > 15).collect()
    };
    let want = after(samples(&straight_out, true));
    let got = after(samples(&resumed_out, true));
    assert_eq!(want.len(), 7);
    assert_eq!(got, want);
    // The pending eval of iteration 15 is reported by the resumed run's first sample.
    let first_after: Value = serde_json::from_str(&got[0].1).unwrap();
    assert!(first_after["val_loss"].is_number(), "{first_after}");
    // Samples up to C are identical too: the interrupted run is the straight run until then.
    let upto = |all: Vec<(u64, String)>| -> Vec<(u64, String)> {
        all.into_iter().filter(|(it, _)| *it <= 15).collect()
    };
    assert_eq!(
        upto(samples(&first_out, true)),
        upto(samples(&straight_out, true))
    );
    // Final weights and AdamW moments are bit-identical.
    assert!(checkpoint_values(&ck_straight, 29) == checkpoint_values(&ck, 29));
    // The newest two checkpoints are kept: 15 (interrupt) and 29 (last).
    let mut kept: Vec<String> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "ckpt_00000015.json",
            "ckpt_00000015.safetensors",
            "ckpt_00000029.json",
            "ckpt_00000029.safetensors"
        ]
    );
}

/// Every parameter and AdamW moment of checkpoint `iter` in `dir`, by name, as bits.
fn checkpoint_values(dir: &Path, iter: u64) -> Vec<(String, Vec<u32>)> {
    let file = dir.join(format!("ckpt_{iter:08}.safetensors"));
    let tensors = candle_core::safetensors::load(&file, &candle_core::Device::Cpu).unwrap();
    let mut out: Vec<(String, Vec<u32>)> = tensors
        .into_iter()
        .map(|(k, t)| {
            let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            (k, v.into_iter().map(f32::to_bits).collect())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn resume_without_a_checkpoint_starts_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("empty");
    let env = {
        let ck = ck.to_str().unwrap().to_string();
        move |k: &str| match k {
            "VERISCOPE_CKPT_DIR" => Some(ck.clone()),
            "VERISCOPE_RESUME" => Some("1".to_string()),
            _ => None,
        }
    };
    let cfg = tiny_env(&["--max-iters", "4"], env);
    assert!(cfg.resume && cfg.ckpt_every_s == 300);
    let out = dir.path().join("m");
    let o = run(&cfg, &out, &Interrupt::none());
    assert_eq!((o.resumed_from, o.last_iter), (None, Some(3)));
    assert!(lines(&out)[0]["resume"].is_null());
    // Under the wrapper's dir the final iteration is saved.
    assert!(ck.join("ckpt_00000003.json").exists());
}

#[test]
fn a_gate_stop_saves_a_checkpoint_to_fork_from() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let control = ControlState::default();
    control.apply_line(r#"{"type":"decision","iter":0,"decision":"fail","action":"stop"}"#);
    let cfg = tiny(&["--max-iters", "50", "--ckpt-dir", ck.to_str().unwrap()]);
    let o = train_to(&cfg, &dir.path().join("m"), &control, &Interrupt::none());
    assert_eq!(
        (o.status, o.last_iter, o.ckpt_saves),
        (EndStatus::StoppedOnFail, Some(0), 1)
    );
    assert!(ck.join("ckpt_00000000.json").exists());
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_veriscope-gpt"));
    // The wrapper's variables must come from each test alone.
    for k in [
        "VERISCOPE_SEED",
        "VERISCOPE_CKPT_DIR",
        "VERISCOPE_RESUME",
        "VERISCOPE_STRICT_DETERMINISM",
        "VERISCOPE_METRICS_FD",
        "VERISCOPE_METRICS_PATH",
        "VERISCOPE_CONTROL_FD",
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "SLURM_NTASKS",
        "SLURM_PROCID",
        "CUBLAS_WORKSPACE_CONFIG",
    ] {
        c.env_remove(k);
    }
    c
}

fn bin_tiny(extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(tiny_args()).args(extra);
    c
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until the stream at `path` has a sample at or after `iter`.
fn wait_for_sample(path: &Path, iter: u64, child: &mut std::process::Child) {
    let t0 = Instant::now();
    loop {
        let reached = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                serde_json::from_str::<Value>(l)
                    .is_ok_and(|v| v["type"] == "sample" && v["iter"].as_u64() >= Some(iter))
            });
        if reached {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "trainer ended early");
        assert!(t0.elapsed() < Duration::from_secs(120), "no sample {iter}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigterm_saves_a_checkpoint_writes_end_and_exits_143_and_resume_continues() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    // Long enough that the signal always lands mid-run; the lr schedule does not depend on
    // when it lands.
    let args = ["--max-iters", "100000", "--lr-decay-iters", "100000"];
    let spawn = |out: &Path, resume: bool| {
        let mut c = bin_tiny(&args);
        c.env("VERISCOPE_METRICS_PATH", out)
            .env("VERISCOPE_CKPT_DIR", &ck)
            .stderr(Stdio::piped());
        if resume {
            c.env("VERISCOPE_RESUME", "1");
        }
        c.spawn().unwrap()
    };
    let first_out = dir.path().join("first");
    let mut first = spawn(&first_out, false);
    wait_for_sample(&first_out, 6, &mut first);
    kill(Pid::from_raw(first.id() as i32), Signal::SIGTERM).unwrap();
    let done = first.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let all = lines(&first_out);
    let end = all.last().unwrap();
    assert_eq!(
        (&end["status"], &end["reason"]),
        (&"error".into(), &"interrupted:SIGTERM".into())
    );
    let c = end["iter"].as_u64().unwrap();
    assert!(
        dir.path()
            .join("ck")
            .join(format!("ckpt_{c:08}.json"))
            .exists()
    );
    // Every sample up to C was written before the end line.
    let got: Vec<u64> = samples(&first_out, true).iter().map(|s| s.0).collect();
    assert_eq!(got, (0..=c).step_by(2).collect::<Vec<u64>>());

    // Resume under the wrapper's variables, run a little, stop it again.
    let second_out = dir.path().join("second");
    let mut second = spawn(&second_out, true);
    wait_for_sample(&second_out, c + 8, &mut second);
    kill(Pid::from_raw(second.id() as i32), Signal::SIGINT).unwrap();
    let done = second.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(130));
    let resumed = lines(&second_out);
    assert_eq!(resumed[0]["resume"]["from_iter"], c);
    assert_eq!(resumed.last().unwrap()["reason"], "interrupted:SIGINT");
    let resumed_samples = samples(&second_out, true);
    assert!(resumed_samples.iter().all(|(it, _)| *it > c));

    // An uninterrupted run gives the same sample lines after C, metrics included.
    let straight_out = dir.path().join("straight");
    let last = resumed_samples.last().unwrap().0;
    // last + 2: the final iteration's eval (odd iteration) then reaches no compared sample.
    let out = bin_tiny(&[
        "--max-iters",
        &(last + 2).to_string(),
        "--lr-decay-iters",
        "100000",
    ])
    .env("VERISCOPE_METRICS_PATH", &straight_out)
    .output()
    .unwrap();
    ok(&out);
    let want: Vec<(u64, String)> = samples(&straight_out, true)
        .into_iter()
        .filter(|(it, _)| *it > c)
        .collect();
    assert_eq!(resumed_samples, want);
}

#[test]
fn strict_runs_with_the_same_seed_write_identical_samples() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for name in ["a", "b"] {
        let out = dir.path().join(name);
        let o = bin_tiny(&["--max-iters", "24", "--seed", "7"])
            .env("VERISCOPE_STRICT_DETERMINISM", "1")
            .env("VERISCOPE_METRICS_PATH", &out)
            .output()
            .unwrap();
        ok(&o);
        let hello = &lines(&out)[0];
        assert_eq!(hello["determinism"]["strict_requested"], true);
        assert_eq!(hello["seeds"]["run"], 7);
        // The spec the wrapper records from `--describe` is the one the run reports.
        let described = describe(
            &[&tiny_args()[..], &["--max-iters", "24", "--seed", "7"]].concat(),
            &[],
        );
        assert_eq!(hello["spec"].to_string(), described["spec"].to_string());
        assert_eq!(hello["seeds"], described["seeds"]);
        runs.push(samples(&out, true));
    }
    assert_eq!(runs[0].len(), 12);
    assert!(runs[0].iter().all(|(_, s)| s.contains("eff_dim")));
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn strict_run_with_an_unmet_precondition_is_refused() {
    let o = bin()
        .args(["--device", "cuda", "--max-iters", "1"])
        .env("VERISCOPE_STRICT_DETERMINISM", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("DETERMINISM_PRECONDITION_UNMET cublas_workspace_config"),
        "{err}"
    );
    // --describe still answers, so the wrapper can name the precondition itself.
    let d = bin()
        .args(["--describe", "--device", "cuda"])
        .env("VERISCOPE_STRICT_DETERMINISM", "1")
        .output()
        .unwrap();
    ok(&d);
    let v: Value = serde_json::from_slice(&d.stdout).unwrap();
    let p = &v["determinism"]["preconditions"][0];
    assert_eq!(p["name"], "cublas_workspace_config");
    assert_eq!(
        (&p["met"], &p["observed"]),
        (&false.into(), &"unset".into())
    );
    assert!(p["required"].as_str().unwrap().contains(":4096:8"));
}

fn describe(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut c = bin();
    c.arg("--describe").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn describe_reports_seeds_spec_determinism_and_distributed() {
    let dir = tempfile::tempdir().unwrap();
    let v = describe(&[], &[("VERISCOPE_SEED", "9")]);
    let seeds = &v["seeds"];
    assert_eq!(seeds["run"], 9);
    for (name, value) in veriscope_contracts::seeds::derived_seeds(9) {
        assert_eq!(seeds[name], value, "{name}");
    }
    assert_eq!(
        v["determinism"],
        serde_json::json!({"strict_requested": false, "preconditions": []})
    );
    assert_eq!(v["distributed"]["distributed_mode"], "single_process");
    let spec = &v["spec"];
    assert_eq!(spec["preset"], "cpu_small");
    assert_eq!(spec["model"]["n_embd"], 64);
    assert_eq!(spec["data"]["text_sha256"].as_str().unwrap().len(), 64);

    // Same config, different paths, seed and plumbing: byte-identical spec.
    let a = dir.path().join("a.txt");
    let b = dir.path().join("sub").join("b.txt");
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    let text = veriscope_gpt::data::EMBEDDED_CORPUS;
    std::fs::write(&a, text).unwrap();
    std::fs::write(&b, text).unwrap();
    let spec_of = |args: &[&str], env: &[(&str, &str)]| describe(args, env)["spec"].to_string();
    let sa = spec_of(
        &[
            "--data",
            a.to_str().unwrap(),
            "--ckpt-dir",
            "/x",
            "--metrics-out",
            "/m",
        ],
        &[("VERISCOPE_SEED", "1")],
    );
    let sb = spec_of(
        &["--data", b.to_str().unwrap()],
        &[("VERISCOPE_SEED", "2"), ("VERISCOPE_CKPT_DIR", "/y")],
    );
    assert_eq!(sa, sb);
    assert!(!sa.contains(dir.path().to_str().unwrap()) && !sa.contains("\"/x\""));
    assert!(!sa.contains("_ms") && !sa.contains("wall"));
    assert_ne!(
        sa,
        spec_of(&["--data", a.to_str().unwrap(), "--lr", "1e-3"], &[])
    );
    // The embedded corpus has the same text, but another source name.
    assert_ne!(sa, spec_of(&[], &[]));
}

#[test]
fn only_rank_zero_of_replicated_ranks_writes_stream_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let rank = |r: &str, out: &Path| {
        let o = bin_tiny(&["--max-iters", "6"])
            .env("WORLD_SIZE", "2")
            .env("RANK", r)
            .env("LOCAL_RANK", r)
            .env("VERISCOPE_METRICS_PATH", out)
            .env("VERISCOPE_CKPT_DIR", &ck)
            .output()
            .unwrap();
        ok(&o);
    };
    let out1 = dir.path().join("rank1");
    rank("1", &out1);
    assert!(!out1.exists(), "rank 1 wrote the stream");
    assert!(!ck.exists(), "rank 1 wrote checkpoints");

    let out0 = dir.path().join("rank0");
    rank("0", &out0);
    let all = lines(&out0);
    assert_eq!(
        all[0]["distributed"],
        serde_json::json!({
            "distributed_mode": "replicated_single_chief_emit", "world_size_observed": 2,
            "backend": null, "rank": 0, "local_rank": 0, "ddp_wrapped": false
        })
    );
    assert_eq!(all.last().unwrap()["status"], "completed");
    assert!(ck.join("ckpt_00000005.json").exists());

    // A rank above the world size, or a world without ranks, is refused before training.
    let o = bin_tiny(&["--max-iters", "1"])
        .env("WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
