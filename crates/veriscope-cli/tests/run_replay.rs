//! Execution contract, resume, fork and replay end to end (docs/replay.md), with the real
//! built-in trainer on a tiny model: strict replays are byte-identical, a SIGTERM'd run
//! resumed with `--resume` equals an uninterrupted one, and every refusal names its token.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_veriscope"))
}

/// The trainer binary beside `veriscope` (the workspace build puts it there).
fn trainer() -> PathBuf {
    let p = bin().with_file_name("veriscope-gpt");
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --workspace --release)",
        p.display()
    );
    p
}

const TINY: &[&str] = &[
    "--n-layer",
    "1",
    "--n-head",
    "2",
    "--n-embd",
    "32",
    "--block-size",
    "16",
    "--batch-size",
    "8",
    "--probe-batch",
    "4",
    "--gate-window",
    "20",
    "--gate-warmup",
    "20",
    "--metric-interval",
    "2",
    "--eval-interval",
    "100",
    // A fixed schedule length: runs of different --max-iters share their trajectory.
    "--lr-decay-iters",
    "100000",
];

fn veriscope(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env("VERISCOPE_GPT_RUNNER_CMD", trainer())
        .env_remove("VERISCOPE_SEED")
        .env_remove("VERISCOPE_GATE_EPS");
    c
}

/// `veriscope run gpt --outdir DIR [extra] -- TINY --max-iters N`.
fn run_gpt(dir: &Path, extra: &[&str], iters: u64) -> Command {
    let mut c = veriscope(&["run", "gpt", "--outdir"]);
    c.arg(dir).args(extra).arg("--").args(TINY);
    c.args(["--max-iters", &iters.to_string()]);
    c
}

fn output(mut c: Command) -> Output {
    c.output().unwrap()
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn json(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn journal(dir: &Path) -> Vec<Value> {
    fs::read_to_string(dir.join("governance_log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count(entries: &[Value], event: &str) -> usize {
    entries.iter().filter(|e| e["event"] == event).count()
}

fn gates(dir: &Path) -> Value {
    json(dir, "results.json")["gates"].clone()
}

/// Every file of a capsule, for "nothing was mutated" checks.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn validate(dir: &Path, strict: bool) -> Output {
    let mut c = veriscope(&["validate"]);
    c.arg(dir);
    if strict {
        c.args([
            "--strict-governance",
            "--require-governance",
            "--strict-identity",
        ]);
    }
    output(c)
}

/// A run interrupted by SIGTERM once the journal holds at least three gate decisions.
fn interrupted(dir: &Path, extra: &[&str]) {
    let mut c = run_gpt(dir, extra, 200_000);
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&journal(dir), "gate_decision_v1") < 3 {
        assert!(Instant::now() < deadline, "no gate decisions in time");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix_kill(child.id() as i32, 15);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "an interrupted run exits 2");
    assert_eq!(json(dir, "results_summary.json")["partial"], true);
}

fn nix_kill(pid: i32, sig: i32) {
    let out = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn strict_runs_with_the_same_seed_replay_byte_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&a, &b] {
        ok(&output(run_gpt(
            dir,
            &["--seed", "5", "--strict-determinism"],
            200,
        )));
    }
    assert_eq!(gates(&a), gates(&b));
    let rc = json(&a, "run_config_resolved.json");
    assert_eq!(rc["determinism"]["mode"], "strict");
    assert_eq!(rc["manifest"]["run_seed"], 5);
    assert_eq!(rc["manifest"]["seed_source"], "flag");
    assert_eq!(
        rc["manifest_hash"],
        json(&b, "run_config_resolved.json")["manifest_hash"]
    );
    assert_eq!(
        rc["gate_contract"]["hash"],
        journal(&a)[0]["payload"]["gate_contract_hash"]
    );
    let mut c = veriscope(&["diff", "--replay"]);
    c.arg(&a).arg(&b);
    let o = output(c);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("REPLAY OK"), "{text}");
    assert!(text.contains("byte-identical"), "{text}");
}

#[test]
fn a_sigterm_then_resume_gives_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let straight = tmp.path().join("straight");
    let resumed = tmp.path().join("resumed");
    interrupted(&resumed, &["--seed", "9"]);
    let first_run_id = json(&resumed, "run_config_resolved.json")["run"]["run_id"].clone();
    // The recorded arguments ask for 200,000 iterations: resume with a shorter run (new
    // arguments after `--` replace the recorded ones).
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&resumed)
        .arg("--")
        .args(TINY)
        .args(["--max-iters", "3000"]);
    ok(&output(c));
    ok(&output(run_gpt(&straight, &["--seed", "9"], 3000)));

    assert_eq!(gates(&resumed), gates(&straight));
    let rc = json(&resumed, "run_config_resolved.json");
    assert_eq!(rc["run"]["run_id"], first_run_id);
    let attempts = rc["lineage"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1]["reason"], "resume");
    let j = journal(&resumed);
    assert_eq!(count(&j, "run_started_v1"), 1);
    assert_eq!(count(&j, "capsule_opened_v1"), 1);
    assert_eq!(
        count(&j, "gate_decision_v1"),
        gates(&resumed).as_array().unwrap().len(),
        "no decision journaled twice"
    );
    ok(&validate(&resumed, true));
}

#[test]
fn resume_mismatch_override_and_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("cap");
    interrupted(&cap, &["--seed", "4"]);
    let before = snapshot(&cap);

    // A different contract without --override-contract / --fork: refused, nothing touched.
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&cap).args(["--gate-set", "eps=0.2"]);
    let o = output(c);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("CONTRACT_MISMATCH"), "{err}");
    assert!(err.contains("eps: persisted=0.15 requested=0.2"), "{err}");
    assert_eq!(snapshot(&cap), before, "a refused resume mutates nothing");

    // A different seed on resume: refused.
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&cap).args(["--seed", "5"]);
    let o = output(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run seed mismatch"));

    // --fork: a new capsule under the requested contract, linked both ways.
    let fork = tmp.path().join("fork");
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&cap)
        .args(["--fork", "--gate-set", "eps=0.2", "--outdir"])
        .arg(&fork)
        .arg("--")
        .args(TINY)
        .args(["--max-iters", "400"]);
    ok(&output(c));
    let src_id = json(&cap, "run_config_resolved.json")["run"]["run_id"].clone();
    let frc = json(&fork, "run_config_resolved.json");
    assert_ne!(frc["run"]["run_id"], src_id);
    assert_eq!(frc["lineage"]["forked_from"]["run_id"], src_id);
    assert_eq!(frc["gate_contract"]["effective"]["eps"], 0.2);
    let fj = journal(&fork);
    assert_eq!(fj[0]["event"], "run_started_v1");
    assert_eq!(fj[0]["payload"]["forked_from"]["run_id"], src_id);
    let note = journal(&cap).pop().unwrap();
    assert_eq!(note["event"], "artifact_note");
    assert_eq!(note["payload"]["fork_run_id"], frc["run"]["run_id"]);
    ok(&validate(&fork, true));

    // --override-contract: the capsule continues under the new contract, visibly.
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&cap)
        .args(["--override-contract", "--gate-set", "eps=0.2", "--"])
        .args(TINY)
        .args(["--max-iters", "400"]);
    ok(&output(c));
    let rc = json(&cap, "run_config_resolved.json");
    assert_eq!(rc["gate_contract"]["effective"]["eps"], 0.2);
    assert_eq!(rc["lineage"]["contract_changes"][0]["fields"][0], "eps");
    let j = journal(&cap);
    let ov = j
        .iter()
        .find(|e| {
            e["event"] == "run_overrides_applied_v1"
                && e["payload"]["contract_override"].is_object()
        })
        .expect("the override is journaled");
    assert_eq!(ov["payload"]["contract_override"]["fields"][0], "eps");
    let lenient = validate(&cap, false);
    ok(&lenient);
    let text = String::from_utf8_lossy(&lenient.stdout).to_string()
        + &String::from_utf8_lossy(&lenient.stderr);
    assert!(text.contains("GOVERNANCE_WINDOW_HASH_MISMATCH"), "{text}");
    assert_eq!(validate(&cap, true).status.code(), Some(2));

    // The capsule is complete now: a plain resume has nothing to do.
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&cap);
    let o = output(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--fork"));
}

#[test]
fn contract_tokens_in_validate_report_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = tmp.path().join("cap");
    interrupted(&cap, &["--seed", "2"]);
    let rc_path = cap.join("run_config_resolved.json");
    let original = fs::read_to_string(&rc_path).unwrap();

    // A version this build cannot run: a warning for validate and report, a refusal for resume.
    let mut rc: Value = serde_json::from_str(&original).unwrap();
    rc["gate_contract"]["material"]["gate_policy_version"] = "tuned_v0@9".into();
    let hash =
        veriscope_contracts::execution::contract_hash(&rc["gate_contract"]["material"]).unwrap();
    rc["gate_contract"]["hash"] = hash.into();
    fs::write(&rc_path, serde_json::to_string_pretty(&rc).unwrap()).unwrap();
    let mut c = veriscope(&["validate"]);
    c.arg(&cap);
    let o = output(c);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("WARNING:UNSUPPORTED_CONTRACT field=gate_policy_version"),
        "{text}"
    );
    let mut c = veriscope(&["run", "gpt", "--resume"]);
    c.arg(&cap);
    let o = output(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("UNSUPPORTED_CONTRACT"));

    // An effective config that is not the hashed material: invalid.
    let mut rc: Value = serde_json::from_str(&original).unwrap();
    rc["gate_contract"]["effective"]["eps"] = 0.3.into();
    fs::write(&rc_path, serde_json::to_string_pretty(&rc).unwrap()).unwrap();
    let mut c = veriscope(&["validate"]);
    c.arg(&cap);
    let o = output(c);
    assert_eq!(o.status.code(), Some(2));
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("ERROR:CONTRACT_MISMATCH"), "{text}");
    assert!(text.contains("[eps]"), "{text}");
}

#[test]
fn refusals_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    // Strict determinism without a fixed seed.
    let o = output(run_gpt(&out, &["--strict-determinism"], 50));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("DETERMINISM_PRECONDITION_UNMET run_seed_fixed"),
        "{err}"
    );
    assert!(!out.exists());
    // A gate control out of range names the field, the value and the allowed range.
    let o = output(run_gpt(&out, &["--gate-set", "eps=7"], 50));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`eps`") && err.contains('7') && err.contains("(0, 1]"),
        "{err}"
    );
    assert!(!out.exists());
    // An unknown control names the settable ones.
    let o = output(run_gpt(&out, &["--gate-set", "window=7"], 50));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gate_window"));
    assert!(!out.exists());
}

#[test]
fn environment_fallback_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let mut c = run_gpt(&out, &[], 100);
    c.env("VERISCOPE_GATE_EPS", "0.2");
    ok(&output(c));
    let gc = json(&out, "run_config_resolved.json")["gate_contract"].clone();
    assert_eq!(gc["fallback_used"], true);
    assert_eq!(gc["fallback_fields"], serde_json::json!(["eps"]));
    assert_eq!(gc["sources"]["eps"], "env");
    assert_eq!(gc["sources"]["gate_window"], "runner");
    assert_eq!(gc["effective"]["eps"], 0.2);
    ok(&validate(&out, true));
}
