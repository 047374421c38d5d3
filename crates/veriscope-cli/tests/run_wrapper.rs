//! End-to-end tests of `veriscope run` with the fake runners in tests/fake_runners/:
//! every exit path must leave a capsule that validates, with the contract exit code.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use veriscope_capsule::validate::{ValidateOptions, validate_capsule};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_veriscope"))
}

fn fake(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fake_runners")
        .join(name);
    p.canonicalize().unwrap().display().to_string()
}

/// `veriscope run cmd` with a small cadence so a few dozen samples make gate checks.
fn run_cmd(outdir: &Path, wrapper: &[&str], runner: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["run", "cmd", "--outdir"]).arg(outdir);
    c.args([
        "--gate-window",
        "10",
        "--gate-warmup",
        "10",
        "--metric-interval",
        "1",
        "--kill-grace",
        "1",
    ]);
    c.args(wrapper)
        .arg("--")
        .arg("python3")
        .arg(fake("fake_runner.py"))
        .args(runner);
    c
}

fn json(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn assert_valid(dir: &Path, partial: bool) {
    let opts = ValidateOptions {
        allow_partial: partial,
        require_governance: true,
        strict_governance: true,
        ..Default::default()
    };
    let report = validate_capsule(dir, &opts);
    assert!(
        report.is_valid(),
        "capsule {} invalid: {} {:?}",
        dir.display(),
        report.message,
        report.findings
    );
    assert_eq!(report.partial, partial);
}

fn governance_events(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("governance_log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The run exited 0 and left a complete capsule that validates strictly.
fn assert_succeeded(o: &Output, out: &Path) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_valid(out, false);
}

fn output(mut c: Command) -> Output {
    c.output().unwrap()
}

fn spawn_quiet(mut c: Command) -> Child {
    c.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the runner's output log shows the runner started.
fn wait_for_runner(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if fs::read_to_string(dir.join("runner_output.log"))
            .is_ok_and(|s| s.contains("stdout ready"))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("runner never started in {}", dir.display());
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn normal_run_writes_a_complete_valid_capsule() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(&out, &[], &["--samples", "60"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("fake-runner: stdout ready"));
    assert_valid(&out, false);
    let summary = json(&out, "results_summary.json");
    let results = json(&out, "results.json");
    let rc = json(&out, "run_config_resolved.json");
    let run_id = summary["run_id"].as_str().unwrap();
    assert_eq!(run_id.len(), 12);
    assert_eq!(results["run_id"], run_id);
    assert_eq!(rc["run"]["run_id"], run_id);
    assert_eq!(summary["run_status"], "success");
    assert_eq!(summary["partial"], false);
    assert!(
        summary["counts"]["evaluated"].as_u64().unwrap()
            + summary["counts"]["skip"].as_u64().unwrap()
            >= 1
    );
    assert!(Path::new(rc["run"]["outdir"].as_str().unwrap()).is_absolute());
    assert_eq!(rc["lifecycle_state"], "FINALIZED");
    assert_eq!(rc["wrapper_exit_code"], 0);
    assert_eq!(results["stream"]["samples"], 60);
    let events = governance_events(&out);
    assert_eq!(events[0], "run_started_v1");
    assert_eq!(
        events.iter().filter(|e| *e == "gate_decision_v1").count(),
        results["gates"].as_array().unwrap().len()
    );
    let log = fs::read_to_string(out.join("runner_output.log")).unwrap();
    assert!(log.contains("fake-runner: stdout ready") && log.contains("fake-runner: stderr ready"));
    assert!(
        fs::read_to_string(out.join("environment.txt"))
            .unwrap()
            .contains("arch: ")
    );
    assert!(!out.join(".veriscope.lock").exists());
}

#[test]
fn shell_runner_speaks_the_stream_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let mut c = Command::new(bin());
    c.args(["run", "cmd", "--outdir"])
        .arg(&out)
        .args(["--", "sh", &fake("fake_stream.sh"), "12"]);
    let o = output(c);
    assert_succeeded(&o, &out);
    let results = json(&out, "results.json");
    assert_eq!(results["stream"]["samples"], 12);
    assert_eq!(results["stream"]["malformed_total"], 0);
}

#[test]
fn sigterm_to_the_wrapper_leaves_a_valid_partial_capsule() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let child = spawn_quiet(run_cmd(
        &out,
        &[],
        &["--samples", "30", "--sleep-after", "60"],
    ));
    wait_for_runner(&out);
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_valid(&out, true);
    let summary = json(&out, "results_summary.json");
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["run_status"], "user_code_failure");
    assert_eq!(summary["runner_signal"], "SIGTERM");
    assert!(!out.join("results.json").exists());
    assert!(governance_events(&out).contains(&"run_started_v1".to_string()));
}

#[test]
fn runner_segfault_is_exit_2_with_runner_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(&out, &[], &["--samples", "5", "--segv"]));
    assert_eq!(o.status.code(), Some(2));
    assert_valid(&out, true);
    let summary = json(&out, "results_summary.json");
    assert_eq!(summary["runner_signal"], "SIGSEGV");
    assert_eq!(summary["runner_exit_code"], Value::Null);
}

#[test]
fn runner_exit_code_is_user_code_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(&out, &[], &["--samples", "3", "--exit-code", "3"]));
    assert_eq!(o.status.code(), Some(2));
    assert_valid(&out, true);
    assert_eq!(json(&out, "results_summary.json")["runner_exit_code"], 3);
}

#[test]
fn runner_ignoring_sigterm_is_killed_within_grace() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let child = spawn_quiet(run_cmd(
        &out,
        &[],
        &["--samples", "3", "--ignore-term", "--sleep-after", "60"],
    ));
    wait_for_runner(&out);
    let t0 = Instant::now();
    signal(&child, "-TERM");
    let o = child.wait_with_output().unwrap();
    let waited = t0.elapsed();
    assert_eq!(o.status.code(), Some(2));
    // --kill-grace 1 then SIGKILL; the bound is loose because finalization (pip freeze of the
    // python runner) shares a loaded CI machine. The precise timing is checked in
    // veriscope-runner's supervise tests; without escalation the runner would sleep 60 s.
    assert!(waited < Duration::from_secs(40), "took {waited:?}");
    assert_eq!(
        json(&out, "results_summary.json")["runner_signal"],
        "SIGKILL"
    );
    assert_valid(&out, true);
}

#[test]
fn flooding_runner_does_not_deadlock_and_every_line_is_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(&out, &[], &["--samples", "5", "--flood", "20000"]));
    assert_eq!(o.status.code(), Some(0));
    let log = fs::read_to_string(out.join("runner_output.log")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("flood line ")).count(),
        20000
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with("flood err ")).count(),
        20000
    );
    assert_valid(&out, false);
}

#[test]
fn malformed_and_cut_lines_are_counted_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(
        &out,
        &[],
        &["--samples", "4", "--malformed", "--cut-mid-line"],
    ));
    assert_eq!(o.status.code(), Some(0));
    let stream = &json(&out, "results.json")["stream"];
    assert_eq!(stream["malformed"]["not_json"], 1);
    assert_eq!(stream["malformed"]["not_object"], 1);
    assert_eq!(stream["malformed"]["bad_iter"], 1);
    assert_eq!(stream["malformed"]["truncated_line"], 1);
    assert_eq!(stream["notes"]["unknown_type"], 1);
    assert_eq!(stream["samples"], 4);
    assert_valid(&out, false);
}

#[test]
fn metrics_file_fallback_is_tailed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(&out, &[], &["--samples", "7", "--use-path"]));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&out, "results.json")["stream"]["samples"], 7);
}

#[test]
fn sentinels_refuse_without_force_and_force_uses_a_fresh_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    fs::write(out.join("results_summary.json"), "{\"keep\":1}").unwrap();
    let o = output(run_cmd(out, &[], &["--samples", "2"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already contains capsule artifacts"));
    assert_eq!(fs::read_dir(out).unwrap().count(), 1);
    let o = output(run_cmd(out, &["--force"], &["--samples", "2"]));
    assert_eq!(o.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("using fresh outdir"), "{stderr}");
    assert_eq!(
        fs::read_to_string(out.join("results_summary.json")).unwrap(),
        "{\"keep\":1}"
    );
    let fresh: Vec<_> = fs::read_dir(out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("force_cmd_"))
        .collect();
    assert_eq!(fresh.len(), 1);
    assert_valid(&fresh[0].path(), false);
}

#[test]
fn a_locked_capsule_is_refused_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = fs::File::create(tmp.path().join(".veriscope.lock")).unwrap();
    lock.try_lock().unwrap();
    let o = output(run_cmd(tmp.path(), &[], &["--samples", "2"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another veriscope run"));
    assert!(!tmp.path().join("run_config_resolved.json").exists());
}

#[test]
fn bad_preset_is_exit_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(&out, &["--gate-preset", "nope"], &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    assert!(!out.exists());
}

#[test]
fn secrets_never_reach_the_capsule() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let mut c = run_cmd(
        &out,
        &[],
        &[
            "--samples",
            "3",
            "--api_key=argvsecret0001",
            "--token",
            "argvsecret0002",
            "--print-env",
            "VERISCOPE_PLAIN",
        ],
    );
    let mut secrets = vec!["argvsecret0001".to_string(), "argvsecret0002".to_string()];
    let names = [
        "VERISCOPE_API_KEY",
        "VERISCOPE_TOKEN",
        "VERISCOPE_SECRET",
        "VERISCOPE_PASSWORD",
        "VERISCOPE_DB_PASSWORD",
        "VERISCOPE_AUTH",
        "VERISCOPE_ACCESS_KEY",
        "VERISCOPE_PRIVATE_KEY",
        "VERISCOPE_SESSION",
        "VERISCOPE_COOKIE",
        "VERISCOPE_DSN",
        "VERISCOPE_DATABASE_URL",
        "VERISCOPE_WEBHOOK",
        "VERISCOPE_CREDENTIALS",
        "VERISCOPE_BEARER",
        "CUDA_TOKEN",
        "CUDA_SECRET_KEY",
        "SLURM_PASSWORD",
        "SLURM_JOB_TOKEN",
        "NCCL_AUTH_KEY",
        "TORCH_API_KEY",
        "HF_TOKEN",
        "WANDB_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "MY_PASSWORD",
        "DB_PASS",
        "SENTRY_DSN",
        "PGPASSWORD",
        "MYSQL_PWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "VERISCOPE_GH_TOKEN",
        "VERISCOPE_SIGNING_KEY",
        "VERISCOPE_CLIENT_SECRET",
        "VERISCOPE_PASSPHRASE",
        "VERISCOPE_KEY",
        "CUDA_CREDENTIAL",
        "CUBLAS_PRIVATE",
        "SLURM_COOKIE",
        "TORCH_HOME_TOKEN",
        "CUDNN_PASSWD",
        "VERISCOPE_URI",
        "VERISCOPE_CONN_STR",
        "VERISCOPE_ENCRYPTION_KEY",
        "VERISCOPE_MASTER_KEY",
        "VERISCOPE_APIKEY",
        "VERISCOPE_AUTHORIZATION",
        "VERISCOPE_PRIVATE_TOKEN",
    ];
    assert!(names.len() >= 50);
    for (i, name) in names.iter().enumerate() {
        let value = format!("s3cr3t-value-{i:04}-xyzzy");
        c.env(name, &value);
        secrets.push(value);
    }
    c.env("VERISCOPE_PLAIN", "visible-value");
    let o = output(c);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut haystack = String::new();
    for entry in fs::read_dir(&out).unwrap().flatten() {
        let mut s = String::new();
        fs::File::open(entry.path())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        haystack.push_str(&s);
    }
    assert!(
        haystack.contains("visible-value"),
        "non-secret allowlisted value is recorded"
    );
    for secret in &secrets {
        assert!(
            !haystack.contains(secret.as_str()),
            "secret {secret} leaked into the capsule"
        );
    }
    let rc = json(&out, "run_config_resolved.json");
    assert_eq!(rc["env"]["VERISCOPE_API_KEY"], "***REDACTED***");
    assert_eq!(rc["env_capture"]["redactions_applied"], true);
}

#[test]
fn hf_preflight_failure_is_exit_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let mut c = Command::new(bin());
    c.args(["run", "hf", "--outdir"])
        .arg(&out)
        .env("VERISCOPE_HF_PYTHON", "/nonexistent/python3");
    let o = output(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("HF dependency preflight failed"));
    assert!(!out.exists());
}

#[test]
fn gpt_learns_cadence_from_describe() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let mut c = Command::new(bin());
    c.args(["run", "gpt", "--outdir"]).arg(&out).args([
        "--",
        "--samples",
        "30",
        "--gate-window",
        "12",
        "--gate-warmup",
        "6",
    ]);
    c.env(
        "VERISCOPE_GPT_RUNNER_CMD",
        format!("python3 {}", fake("fake_runner.py")),
    );
    let o = output(c);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rc = json(&out, "run_config_resolved.json");
    assert_eq!(rc["gate"]["cadence"]["gate_window"], 12);
    assert_eq!(rc["runner"]["describe"]["runner"], "fake");
    assert!(governance_events(&out).contains(&"run_overrides_applied_v1".to_string()));
    assert_valid(&out, false);
}

/// A runner that streams 40 samples, waits until the wrapper has sent it at least two
/// decisions on the control pipe, records them (and its pid) in `argv[1]`, then sleeps.
const DECISION_RECORDER: &str = r#"
import json, os, select, sys, time
fd = int(os.environ["VERISCOPE_METRICS_FD"])
ctl = int(os.environ["VERISCOPE_CONTROL_FD"])
os.write(fd, b'{"type":"hello","protocol":1,"runner":"recorder"}\n')
for i in range(40):
    m = 0.4 + (i % 7) * 0.01
    line = {"type": "sample", "iter": i, "loss": 2.0,
            "metrics": {"var_out_k": m, "eff_dim": 12 + m, "rankme": 20 + m, "cos_disp": 0.2 + m}}
    os.write(fd, (json.dumps(line) + "\n").encode())
got, buf, deadline = [], b"", time.time() + 60
while len(got) < 2 and time.time() < deadline:
    if select.select([ctl], [], [], 0.1)[0]:
        buf += os.read(ctl, 65536)
        *lines, buf = buf.split(b"\n")
        got += [json.loads(l) for l in lines if l.strip()]
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    json.dump({"pid": os.getpid(), "decisions": got}, f)
os.rename(tmp, sys.argv[1])
time.sleep(120)
"#;

#[test]
fn sigkill_of_the_wrapper_keeps_every_journaled_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let record = tmp.path().join("decisions.json");
    let mut c = Command::new(bin());
    c.args(["run", "cmd", "--outdir"]).arg(&out);
    c.args([
        "--gate-window",
        "10",
        "--gate-warmup",
        "10",
        "--metric-interval",
        "1",
    ]);
    c.args(["--", "python3", "-c", DECISION_RECORDER])
        .arg(&record);
    let mut wrapper = spawn_quiet(c);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !record.exists() {
        assert!(
            Instant::now() < deadline,
            "runner never recorded its decisions"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A decision reaches the control pipe only after its journal line was written, and the
    // group commit syncs at most every 250 ms: a SIGKILL now finds them written, not synced.
    signal(&wrapper, "-KILL");
    wrapper.wait().unwrap();
    let recorded: Value = serde_json::from_str(&fs::read_to_string(&record).unwrap()).unwrap();
    let runner_pid = recorded["pid"].as_i64().unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &runner_pid.to_string()])
        .status();
    let decisions = recorded["decisions"].as_array().unwrap();
    assert!(decisions.len() >= 2, "{recorded}");

    let log = out.join("governance_log.jsonl");
    let report = veriscope_capsule::governance::verify_log(&log, &Default::default()).unwrap();
    assert!(report.is_valid(), "journal invalid: {:?}", report.errors);
    let entries: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries[0]["event"], "run_started_v1");
    for d in decisions {
        assert!(
            entries.iter().any(|e| e["event"] == "gate_decision_v1"
                && e["payload"]["iter"] == d["iter"]
                && e["payload"]["decision"] == d["decision"]),
            "decision {d} sent to the runner is missing from the journal"
        );
    }
    // Finalization never ran: no summary, so this is not a capsule that claims to be whole.
    assert!(!out.join("results_summary.json").exists());
}

/// `--notify-cmd` (docs/notify.md): the gate's turn into FAIL and the run's end each run the
/// hook once, with the message on stdin and the run in the environment; the outcome is in
/// notify.log; the command itself (a webhook URL, say) appears nowhere in the capsule.
#[test]
fn notify_cmd_reports_the_fail_and_the_end_and_is_never_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let hook = r#"{ cat; echo "run=$VERISCOPE_RUN_ID iter=${VERISCOPE_ITER:--} json=$VERISCOPE_NOTIFY_JSON"; } > "$VERISCOPE_OUTDIR/../$VERISCOPE_NOTIFY_EVENT.msg" # https://hooks.example/T0/B0/SECRETMARKER"#;
    let o = output(run_cmd(
        &out,
        &["--gate-preset", "calibrated_v2", "--notify-cmd", hook],
        &["--samples", "80", "--shift-at", "45"],
    ));
    assert_succeeded(&o, &out);
    let summary = json(&out, "results_summary.json");
    let run_id = summary["run_id"].as_str().unwrap();
    assert_eq!(
        summary["counts"]["fail"], 1,
        "the scenario makes exactly one FAIL"
    );

    let fail = fs::read_to_string(tmp.path().join("gate_fail.msg")).unwrap();
    assert!(
        fail.starts_with("veriscope: gate FAIL at iter 50 (run "),
        "{fail}"
    );
    assert!(fail.contains("reason: level_shift_detected"), "{fail}");
    assert!(
        fail.contains(&format!("run={run_id} iter=50 json={{\"text\":")),
        "{fail}"
    );
    let end = fs::read_to_string(tmp.path().join("run_end.msg")).unwrap();
    assert!(
        end.contains("ended success: final decision FAIL, 7 checks (1 fail, 0 warn), exit 0"),
        "{end}"
    );

    let log: Vec<Value> = fs::read_to_string(out.join("notify.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<_> = log
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(events, [("gate_fail", "exit 0"), ("run_end", "exit 0")]);

    for entry in fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("SECRETMARKER"),
                "the notify command leaked into {}",
                path.display()
            );
        }
    }
    let rc = json(&out, "run_config_resolved.json");
    let argv: Vec<&str> = rc["argv"]["veriscope_argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = argv.iter().position(|a| *a == "--notify-cmd").unwrap();
    assert_eq!(argv[at + 1], "***REDACTED***");
    let inspect = output({
        let mut c = Command::new(bin());
        c.arg("inspect").arg(&out);
        c
    });
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        shown.contains("Notified    gate_fail@50 exit 0 · run_end exit 0"),
        "{shown}"
    );
}

#[test]
fn notify_flags_are_checked_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = output(run_cmd(
        &out,
        &["--notify-cmd", "true", "--notify-on", "fail,never"],
        &[],
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown event `never`"), "{err}");
    let o = output(run_cmd(&out, &["--notify-cmd", " "], &[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--notify-cmd: the command is empty"));
    let o = output(run_cmd(&out, &["--notify-on", "end"], &[]));
    assert_eq!(o.status.code(), Some(2), "--notify-on needs --notify-cmd");
    assert!(!out.exists(), "nothing written");
}
