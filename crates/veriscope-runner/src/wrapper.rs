//! `veriscope run`: prepare (validate, lock, choose OUTDIR), then execute (write the start
//! artifacts, spawn, supervise, finalize). Preparation writes nothing into an existing capsule,
//! so every refusal leaves the disk as it was; after preparation the capsule is finalized on
//! every path (productization §2.1).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};
use thiserror::Error;
use veriscope_capsule::atomic::{write_json_atomic, write_text_atomic};
use veriscope_capsule::governance::Journal;

use crate::artifacts::{self, RunIdentity, WINDOW_SIGNATURE};
use crate::clock::{Clock, compact_stamp, utc_seconds};
use crate::distributed::env_distributed;
use crate::envcapture::{EnvPolicy, capture_env, env_capture_record, redact_argv};
use crate::environment::{self, ENVIRONMENT_TXT, GpuInfo, Platform};
use crate::gatelink::{Cadence, LiveGate, build_gate};
use crate::gpulock::{self, GpuLocks};
use crate::metrics_log::{METRICS_LOG, MetricsLog};
use crate::observer::{JOURNAL_DURABILITY, JournalContext, LiveRun};
use crate::outdir::{OutdirError, PreparedOutdir, prepare_outdir};
use crate::relay::{RUNNER_OUTPUT_LOG, TeeLog};
use crate::shellwords;
use crate::spawn::{SpawnSpec, spawn_runner};
use crate::supervise::{
    GateCheck, InterruptHandle, OnFail, SuperviseConfig, SuperviseOutcome, Supervisor,
};
use crate::verdict::{Verdict, VerdictInputs, decide};

/// Fallback metrics file inside the capsule (`VERISCOPE_METRICS_PATH`); removed when empty.
pub const METRICS_FALLBACK_FILE: &str = "metrics_stream.jsonl";
/// Governance journal file name.
pub const GOVERNANCE_LOG: &str = "governance_log.jsonl";

/// Which wrapper subcommand is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Cmd,
    Gpt,
    Hf,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Cmd => "cmd",
            RunKind::Gpt => "gpt",
            RunKind::Hf => "hf",
        }
    }
}

/// A fully resolved run request (the CLI resolves runner commands and cadence first).
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub kind: RunKind,
    pub gate_preset: String,
    pub outdir: PathBuf,
    pub force: bool,
    pub on_fail: OnFail,
    pub kill_grace: Duration,
    /// Cadence to apply over the preset's (flags or the trainer's `--describe`).
    pub cadence: Option<Cadence>,
    /// The runner command before the forwarded arguments (empty for `run cmd`).
    pub runner_base: Vec<String>,
    /// The user's arguments after `--`, verbatim (for `run cmd`: the whole command).
    pub forwarded_args: Vec<String>,
    /// `veriscope` argv as typed.
    pub veriscope_argv: Vec<String>,
    /// Environment the child inherits (the wrapper adds the protocol variables).
    pub env: BTreeMap<String, String>,
    /// Trainer self-description (`--describe`), recorded under `runner.describe`.
    pub runner_describe: Option<Value>,
    /// Interpreter of a Python runner (for `environment.txt`).
    pub python: Option<String>,
    /// Whether the runner uses GPUs (gpt/hf): devices from `CUDA_VISIBLE_DEVICES`/`nvidia-smi`.
    pub uses_gpu: bool,
}

/// Why a run was not started. Nothing was written into an existing capsule.
#[derive(Debug, Error)]
pub enum RunError {
    /// A policy refusal (exit 1): sentinels, capsule lock, GPU lock.
    #[error("{0}")]
    Refused(String),
    /// Invalid request (exit 2): unknown preset, cadence out of range, empty command.
    #[error("{0}")]
    Invalid(String),
}

impl RunError {
    /// The contract exit code of this refusal.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Refused(_) => veriscope_contracts::exit::REFUSED,
            RunError::Invalid(_) => veriscope_contracts::exit::INVALID,
        }
    }
}

/// Where the wrapper writes: child stdout/stderr relays and its own `[veriscope]` lines.
pub struct RunIo {
    pub child_stdout: Box<dyn Write + Send>,
    pub child_stderr: Box<dyn Write + Send>,
    pub status: Box<dyn Write + Send>,
}

/// What a finished run reports to its caller.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outdir: PathBuf,
    pub run_id: String,
    pub verdict: Verdict,
    pub final_decision: String,
    pub checks: usize,
    /// Exit code of `veriscope run`.
    pub exit_code: u8,
    pub outcome: Option<SuperviseOutcome>,
}

/// A run that passed every check and holds its locks; nothing written yet but the lock file.
pub struct PreparedRun {
    req: RunRequest,
    runner_argv: Vec<String>,
    gate: Box<dyn LiveGate>,
    overrides: serde_json::Map<String, Value>,
    outdir: PreparedOutdir,
    gpu_locks: GpuLocks,
    gpu: Option<GpuInfo>,
    run_id: String,
    supervisor: Supervisor,
    clock: Arc<dyn Clock>,
}

/// Validates the request, takes the GPU and capsule locks and chooses the capsule directory.
pub fn prepare(req: RunRequest, clock: Arc<dyn Clock>) -> Result<PreparedRun, RunError> {
    if req.runner_base.is_empty() && req.forwarded_args.is_empty() {
        return Err(RunError::Invalid(
            "no command to run: give it after `--`".into(),
        ));
    }
    let (gate, overrides) = build_gate(&req.gate_preset, req.cadence)
        .map_err(|e| RunError::Invalid(format!("invalid gate configuration: {e}")))?;
    let gpu = if req.uses_gpu {
        environment::gpu_info(&req.env)
    } else {
        None
    };
    let gpu_locks = if req.uses_gpu && !req.force {
        let devices = gpulock::devices_in_use(&req.env, gpu.as_ref().map_or(0, |g| g.names.len()));
        gpulock::acquire(&gpulock::lock_dir(&req.env), &devices)
            .map_err(|e| RunError::Refused(e.to_string()))?
    } else {
        GpuLocks::default()
    };
    let now = clock.now();
    let suffix = random_hex(8);
    let outdir = prepare_outdir(
        &req.outdir,
        req.force,
        req.kind.as_str(),
        &compact_stamp(now),
        &suffix,
    )
    .map_err(|e| match e {
        OutdirError::Io { .. } => RunError::Invalid(e.to_string()),
        other => RunError::Refused(other.to_string()),
    })?;
    let supervisor = Supervisor::new(SuperviseConfig {
        kill_grace: req.kill_grace,
        drain_timeout: Duration::from_secs(2),
        on_fail: req.on_fail,
        metrics_path: Some(outdir.path.join(METRICS_FALLBACK_FILE)),
    });
    let gate: Box<dyn LiveGate> = Box::new(gate);
    let run_id = random_hex(12);
    let runner_argv = runner_argv(&req, &outdir.path, &run_id);
    Ok(PreparedRun {
        req,
        runner_argv,
        gate,
        overrides,
        outdir,
        gpu_locks,
        gpu,
        run_id,
        supervisor,
        clock,
    })
}

/// The launched command: base + (hf: `--outdir`/`--run_id` when missing, §2.2) + forwarded.
fn runner_argv(req: &RunRequest, outdir: &std::path::Path, run_id: &str) -> Vec<String> {
    let mut argv = req.runner_base.clone();
    if req.kind == RunKind::Hf {
        let has = |flag: &str| {
            req.forwarded_args
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        if !has("--outdir") {
            argv.extend(["--outdir".to_string(), outdir.display().to_string()]);
        }
        if !has("--run_id") {
            argv.extend(["--run_id".to_string(), run_id.to_string()]);
        }
    }
    argv.extend(req.forwarded_args.iter().cloned());
    argv
}

fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Start-time facts carried into finalization.
struct Started {
    id: RunIdentity,
    run_config: Value,
    /// The platform capture and whether it could write environment.txt.
    platform: std::thread::JoinHandle<(Platform, Result<(), String>)>,
}

impl PreparedRun {
    /// Handle for delivering signals to the run (install the signal watcher with it first).
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.supervisor.interrupt_handle()
    }

    /// The capsule directory.
    pub fn outdir(&self) -> &std::path::Path {
        &self.outdir.path
    }

    /// Runs to completion and finalizes the capsule. Never panics on IO trouble: failures to
    /// write are reported as `veriscope_failure` (exit 3).
    pub fn execute(self, mut io: RunIo) -> RunReport {
        let dir = self.outdir.path.clone();
        if self.outdir.forced {
            let _ = writeln!(
                io.status,
                "[veriscope] --force preserved existing capsule artifacts in {}; using fresh outdir {}",
                self.outdir.requested.display(),
                dir.display()
            );
        }
        let _ = writeln!(io.status, "[veriscope] outdir={}", dir.display());
        let _ = writeln!(io.status, "[veriscope] run_id={}", self.run_id);
        let (shown, _) = redact_argv(&self.runner_argv, &EnvPolicy::default());
        let _ = writeln!(io.status, "[veriscope] cmd={}", shellwords::join(&shown));
        match self.start_artifacts() {
            Ok(started) => self.supervise_and_finalize(started, io),
            Err(e) => self.fail_before_spawn(e, io),
        }
    }

    fn child_env(&self, id: &RunIdentity) -> BTreeMap<String, String> {
        let c = self.gate.cadence();
        let mut env = self.req.env.clone();
        for (k, v) in [
            ("VERISCOPE_RUN_ID", id.run_id.clone()),
            ("VERISCOPE_OUTDIR", id.outdir.clone()),
            ("VERISCOPE_GATE_PRESET", id.gate_preset.clone()),
            ("VERISCOPE_METRIC_INTERVAL", c.metric_interval.to_string()),
            ("VERISCOPE_GATE_WINDOW", c.gate_window.to_string()),
            (
                "VERISCOPE_GATE_WARMUP_ITERS",
                c.gate_warmup_iters.to_string(),
            ),
            ("VERISCOPE_ON_FAIL", self.req.on_fail.as_str().to_string()),
            (
                "VERISCOPE_METRICS_PATH",
                self.outdir
                    .path
                    .join(METRICS_FALLBACK_FILE)
                    .display()
                    .to_string(),
            ),
        ] {
            env.insert(k.to_string(), v);
        }
        env
    }

    /// Writes window_signature.json and the initial run_config_resolved.json, and starts
    /// the platform capture, which writes environment.txt as soon as it is done.
    ///
    /// Both start artifacts are on the path to the runner's start, so window_signature.json
    /// is written (and synced) while this thread probes `git` and writes the run config.
    fn start_artifacts(&self) -> anyhow::Result<Started> {
        let dir = &self.outdir.path;
        let now = utc_seconds(self.clock.now());
        let ws = artifacts::window_signature(&self.gate.window_signature_content(), &now);
        let window_hash = veriscope_canon::window_signature_hash(&ws)?;
        let id = RunIdentity {
            run_id: self.run_id.clone(),
            outdir: dir.display().to_string(),
            window_hash,
            gate_preset: self.gate.preset_name(),
            overrides: self.overrides.clone(),
            started_ts_utc: now.clone(),
        };
        let ws_path = dir.join(WINDOW_SIGNATURE);
        let (ws_written, run_config) = std::thread::scope(|s| {
            let ws_writer = s.spawn(|| write_json_atomic(&ws_path, &ws));
            let run_config = self.initial_run_config(&id);
            let rc_written = write_json_atomic(&dir.join("run_config_resolved.json"), &run_config);
            let ws_written = ws_writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("window signature writer panicked")));
            (ws_written.and(rc_written), run_config)
        });
        ws_written?;
        let env = self.req.env.clone();
        let python = self.req.python.clone();
        let gpu = self.gpu.clone();
        let env_path = dir.join(ENVIRONMENT_TXT);
        // environment.txt depends on nothing the run decides, so it is written when the
        // capture is done (mid-run) instead of adding its sync to finalization.
        let platform = std::thread::spawn(move || {
            let platform = environment::capture_platform(&env, python.as_deref(), gpu);
            let written = write_text_atomic(&env_path, &platform.text)
                .map_err(|e| format!("cannot write {ENVIRONMENT_TXT}: {e}"));
            (platform, written)
        });
        Ok(Started {
            id,
            run_config,
            platform,
        })
    }

    fn initial_run_config(&self, id: &RunIdentity) -> Value {
        let policy = EnvPolicy::default();
        let child_env = self.child_env(id);
        let capture = capture_env(&child_env, &policy);
        let (veriscope_argv, n1) = redact_argv(&self.req.veriscope_argv, &policy);
        let (forwarded, n2) = redact_argv(&self.req.forwarded_args, &policy);
        let (runner_cmd, n3) = redact_argv(&self.runner_argv, &policy);
        let mut rc = json!({
            "schema_version": 1,
            "ts_utc": id.started_ts_utc,
            "package": { "name": "veriscope", "version": env!("CARGO_PKG_VERSION") },
            "git_sha": git_sha(&self.req.env),
            "run": { "kind": self.req.kind.as_str(), "run_id": id.run_id, "outdir": id.outdir },
            "argv": { "veriscope_argv": veriscope_argv, "raw_forwarded_args": forwarded, "runner_cmd": runner_cmd },
            "env": capture.env,
            "env_capture": env_capture_record(&policy, &capture, n1 + n2 + n3),
            "determinism_status": environment::determinism_status(&child_env),
            "dependencies": { "method": "unavailable", "notes": ["capture pending"] },
            "provenance": { "policy_rev": "v1", "outdir_requested": self.outdir.requested.display().to_string(), "forced_subdir": self.outdir.forced },
            "gate": {
                "gate_preset": id.gate_preset,
                "cadence": self.gate.cadence().to_json(),
                "controls": self.gate.gate_controls(),
                "on_fail": self.req.on_fail.as_str(),
                "kill_grace_s": self.req.kill_grace.as_secs_f64(),
            },
            "runner": { "describe": self.req.runner_describe, "hello": Value::Null },
            "gpu_locks": self.gpu_locks.devices(),
            "lifecycle_state": "RUNNING",
            "run_status": "running",
            "started_ts_utc": id.started_ts_utc,
            "ended_ts_utc": Value::Null,
            "wrapper_exit_code": Value::Null,
            "runner_exit_code": Value::Null,
            "runner_signal": Value::Null,
        });
        if !id.overrides.is_empty() {
            rc["overrides"] = Value::Object(id.overrides.clone());
        }
        rc
    }

    fn supervise_and_finalize(self, started: Started, mut io: RunIo) -> RunReport {
        let dir = self.outdir.path.clone();
        let id = started.id.clone();
        let mut spawn_error = None;
        let mut outcome = None;
        let mut internal = Vec::new();
        let tee = TeeLog::create(&dir.join(RUNNER_OUTPUT_LOG));
        let journal = Journal::open_with(&dir.join(GOVERNANCE_LOG), JOURNAL_DURABILITY);
        let policy = EnvPolicy::default();
        let ctx = JournalContext {
            argv: redact_argv(&self.runner_argv, &policy).0,
            entrypoint: json!({ "kind": "wrapper", "name": format!("veriscope run {}", self.req.kind.as_str()) }),
            code_identity: json!({ "package": "veriscope", "package_version": env!("CARGO_PKG_VERSION"), "git_sha": started.run_config["git_sha"] }),
            env_distributed: env_distributed(&self.req.env),
        };
        let _ = fs::File::create(dir.join(METRICS_FALLBACK_FILE));
        let child_env = self.child_env(&id);
        let mut live = None;
        let mut metrics_ref = None;
        match (tee, journal) {
            (Ok(tee), Ok(journal)) => {
                let mut run = LiveRun::new(self.gate, journal, id.clone(), ctx, self.clock.clone());
                match MetricsLog::create(&dir) {
                    Ok(log) => run = run.with_metrics_log(log),
                    Err(e) => internal.push(format!("cannot create {METRICS_LOG}: {e}")),
                }
                match spawn_runner(&SpawnSpec {
                    argv: self.runner_argv.clone(),
                    env: child_env,
                }) {
                    Ok(runner) => {
                        match self.supervisor.run(
                            runner,
                            &mut run,
                            tee.clone(),
                            io.child_stdout,
                            io.child_stderr,
                        ) {
                            Ok(o) => outcome = Some(o),
                            Err(e) => internal.push(format!("supervision failed: {e}")),
                        }
                    }
                    Err(e) => {
                        let _ = writeln!(
                            io.status,
                            "[veriscope] ERROR: cannot start runner `{}`: {e}",
                            self.runner_argv[0]
                        );
                        spawn_error = Some(e.to_string());
                    }
                }
                if let Err(e) = run.ensure_started() {
                    internal.push(format!("{e:#}"));
                }
                // Every path (normal end, runner crash, signals, spawn failure) comes through
                // here: the journal's group commit ends with a sync, and so do metrics.jsonl
                // and runner_output.log (docs/wrapper.md "Durability"; contract_v1
                // §Governance Journal). The three files are synced concurrently.
                let (journal_synced, metrics) = std::thread::scope(|s| {
                    let tee_synced = s.spawn(|| tee.flush());
                    let records = run.finish_records();
                    // The tee stays best effort (productization §3), as during the run.
                    let _ = tee_synced.join();
                    records
                });
                if let Err(e) = journal_synced {
                    internal.push(e);
                }
                match metrics {
                    Ok(r) => metrics_ref = r,
                    Err(e) => internal.push(e),
                }
                live = Some(run);
            }
            (Err(e), _) => internal.push(format!("cannot create {RUNNER_OUTPUT_LOG}: {e}")),
            (_, Err(e)) => internal.push(format!("cannot open {GOVERNANCE_LOG}: {e}")),
        }
        let mut inputs = outcome
            .as_ref()
            .map(VerdictInputs::from_outcome)
            .unwrap_or_default();
        inputs.spawn_error = spawn_error;
        inputs.internal_errors.extend(internal);
        if inputs.exit.is_none()
            && inputs.spawn_error.is_none()
            && inputs.internal_errors.is_empty()
        {
            inputs.internal_errors.push("runner outcome unknown".into());
        }
        let hello = live
            .as_ref()
            .and_then(|l| l.hello())
            .map(|h| Value::Object(h.fields.clone()));
        let fin = Finalizer {
            dir: dir.clone(),
            id,
            clock: self.clock.clone(),
        };
        let report = fin.finalize(
            started,
            &inputs,
            outcome,
            hello,
            metrics_ref.as_ref(),
            &mut *io.status,
        );
        drop(self.gpu_locks);
        drop(self.outdir);
        report
    }

    fn fail_before_spawn(self, err: anyhow::Error, mut io: RunIo) -> RunReport {
        let _ = writeln!(
            io.status,
            "[veriscope] ERROR: cannot write the capsule start artifacts: {err:#}"
        );
        let verdict = decide(&VerdictInputs {
            internal_errors: vec![format!("{err:#}")],
            ..Default::default()
        });
        RunReport {
            outdir: self.outdir.path.clone(),
            run_id: self.run_id.clone(),
            exit_code: verdict.exit_code(),
            verdict,
            final_decision: "skip".into(),
            checks: 0,
            outcome: None,
        }
    }
}

/// Writes the end-of-run artifacts.
struct Finalizer {
    dir: PathBuf,
    id: RunIdentity,
    clock: Arc<dyn Clock>,
}

impl Finalizer {
    fn finalize(
        &self,
        started: Started,
        inputs: &VerdictInputs,
        outcome: Option<SuperviseOutcome>,
        hello: Option<Value>,
        metrics_ref: Option<&Value>,
        status: &mut dyn Write,
    ) -> RunReport {
        let mut verdict = decide(inputs);
        let (checks, records): (&[GateCheck], Option<&[String]>) = match &outcome {
            Some(o) => (&o.checks, o.gate_records.as_deref()),
            None => (&[], Some(&[])),
        };
        let stream = outcome.as_ref().map_or(Value::Null, |o| {
            artifacts::stream_record(&o.stream, o.control_dropped)
        });
        let (platform, env_written) = started.platform.join().unwrap_or_else(|_| {
            let text = Platform::default().text;
            let written = write_text_atomic(&self.dir.join(ENVIRONMENT_TXT), &text)
                .map_err(|e| format!("cannot write {ENVIRONMENT_TXT}: {e}"));
            (Platform::default(), written)
        });
        let mut errors = Vec::new();
        let ended = self.ended_ts();
        let results = Results {
            ended: &ended,
            checks,
            records,
            stream: &stream,
            metrics_ref,
        };
        if let Err(e) = self.write_results(&verdict, &results) {
            errors.push(e);
        }
        if let Err(e) = env_written {
            errors.push(e);
        }
        if !errors.is_empty() {
            // Our own failure: re-decide as veriscope_failure and try once more (§2.7, A17.5).
            let mut again = inputs.clone();
            again.internal_errors.extend(errors.iter().cloned());
            verdict = decide(&again);
            if let Err(e) = self.write_results(&verdict, &results) {
                errors.push(e);
            }
        }
        let mut rc = started.run_config;
        rc["dependencies"] = platform.dependencies;
        rc["runner"]["hello"] = hello.unwrap_or(Value::Null);
        rc["lifecycle_state"] = json!("FINALIZED");
        rc["run_status"] = json!(verdict.run_status.as_str());
        rc["ended_ts_utc"] = json!(ended);
        rc["wrapper_exit_code"] = json!(verdict.exit_code());
        rc["runner_exit_code"] = json!(verdict.runner_exit_code);
        rc["runner_signal"] = json!(verdict.runner_signal);
        rc["partial"] = json!(verdict.partial);
        if let Err(e) = write_json_atomic(&self.dir.join("run_config_resolved.json"), &rc) {
            errors.push(format!("cannot write run_config_resolved.json: {e}"));
        }
        let fallback = self.dir.join(METRICS_FALLBACK_FILE);
        if fs::metadata(&fallback).is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(&fallback);
        }
        for e in &errors {
            let _ = writeln!(status, "[veriscope] ERROR: {e}");
        }
        let final_decision = if verdict.partial {
            "skip"
        } else {
            artifacts::final_decision(checks)
        };
        let n_checks = checks.len();
        let exit_code = if errors.is_empty() {
            verdict.exit_code()
        } else {
            veriscope_contracts::exit::INTERNAL
        };
        let _ = writeln!(
            status,
            "[veriscope] run_status={} final_decision={} partial={} gates={} exit={}{}",
            verdict.run_status.as_str(),
            final_decision,
            verdict.partial,
            n_checks,
            exit_code,
            verdict
                .note
                .as_deref()
                .map(|n| format!(" note=\"{n}\""))
                .unwrap_or_default()
        );
        RunReport {
            outdir: self.dir.clone(),
            run_id: self.id.run_id.clone(),
            final_decision: final_decision.to_string(),
            checks: n_checks,
            exit_code,
            verdict,
            outcome,
        }
    }

    /// Ended timestamp, never before the start (the results header requires it).
    fn ended_ts(&self) -> String {
        let ended = utc_seconds(self.clock.now());
        if ended < self.id.started_ts_utc {
            self.id.started_ts_utc.clone()
        } else {
            ended
        }
    }

    /// results.json (complete runs only), results_summary.json and the fail marker.
    fn write_results(&self, v: &Verdict, r: &Results<'_>) -> Result<(), String> {
        let results_path = self.dir.join("results.json");
        if v.partial {
            let _ = fs::remove_file(&results_path);
        } else {
            let text = match r.records {
                // The records were rendered during the run; only the frame is left to do.
                Some(records) if records.len() == r.checks.len() => artifacts::results_text(
                    &self.id,
                    v,
                    r.ended,
                    records,
                    r.stream.clone(),
                    r.metrics_ref,
                ),
                _ => veriscope_canon::to_canonical_string(&artifacts::results(
                    &self.id,
                    v,
                    r.ended,
                    r.checks,
                    r.stream.clone(),
                    r.metrics_ref,
                )),
            };
            text.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                .and_then(|text| write_text_atomic(&results_path, &(text + "\n")))
                .map_err(|e| format!("cannot write results.json: {e}"))?;
        }
        let summary = artifacts::summary(&self.id, v, r.ended, r.checks, r.stream.clone());
        write_json_atomic(&self.dir.join("results_summary.json"), &summary)
            .map_err(|e| format!("cannot write results_summary.json: {e}"))?;
        let marker = self.dir.join("first_fail_iter.txt");
        match summary.get("first_fail_iter").and_then(Value::as_u64) {
            Some(iter) => write_text_atomic(&marker, &format!("{iter}\n"))
                .map_err(|e| format!("cannot write first_fail_iter.txt: {e}"))?,
            None => {
                let _ = fs::remove_file(&marker);
            }
        }
        Ok(())
    }
}

/// What results.json and results_summary.json are made of.
struct Results<'a> {
    ended: &'a str,
    checks: &'a [GateCheck],
    /// Canonical texts of the checks' records, when the run rendered them all.
    records: Option<&'a [String]>,
    stream: &'a Value,
    metrics_ref: Option<&'a Value>,
}

/// `git rev-parse HEAD` in the working directory, null when unavailable (§4A).
fn git_sha(env: &BTreeMap<String, String>) -> Value {
    environment::probe(&["git", "rev-parse", "HEAD"], env, Duration::from_secs(5))
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() >= 7)
        .map_or(Value::Null, Value::String)
}
