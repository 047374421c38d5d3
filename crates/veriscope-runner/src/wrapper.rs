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
use crate::distributed::launch_distributed;
use crate::envcapture::{EnvPolicy, capture_env, env_capture_record, redact_argv};
use crate::environment::{self, ENVIRONMENT_TXT, GpuInfo, Platform};
use crate::execution::{
    self, GateRequest, ManifestInputs, Precondition, ResolvedGate, RunSeed, RunnerTraits,
};
use crate::gatelink::{EngineGate, LiveGate};
use crate::gpulock::{self, GpuLocks};
use crate::metrics_log::{METRICS_LOG, MetricsLog};
use crate::notify::{Notifier, NotifySpec, RunEnd};
use crate::observer::{JOURNAL_DURABILITY, JournalContext, LiveRun, Opening, ResumeState};
use crate::outdir::{CapsuleLock, OutdirError, PreparedOutdir, prepare_outdir};
use crate::relay::{RUNNER_OUTPUT_LOG, TeeLog};
use crate::reopen::{self, CHECKPOINT_DIR, PersistedRun, Recorded, Reopen, ReopenMode};
use crate::shellwords;
use crate::spawn::{SpawnSpec, spawn_runner};
use crate::supervise::{
    CheckDecision, GateCheck, InterruptHandle, OnFail, SuperviseConfig, SuperviseOutcome,
    Supervisor,
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
    /// The gate contract asked for (preset, `--gate-set`, cadence flags, runner cadence).
    pub gate: GateRequest,
    pub outdir: PathBuf,
    pub force: bool,
    pub on_fail: OnFail,
    pub kill_grace: Duration,
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
    /// `--seed` (docs/replay.md §2).
    pub seed: Option<u64>,
    /// `--strict-determinism`.
    pub strict_determinism: bool,
    /// `--resume OUTDIR` (with `--override-contract` / `--fork`).
    pub reopen: Option<Reopen>,
    /// `--notify-cmd` / `--notify-on` (docs/notify.md).
    pub notify: Option<NotifySpec>,
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

impl RunReport {
    /// How the run ended, for the end-of-run notification.
    fn run_end(&self) -> RunEnd {
        let checks = self.outcome.as_ref().map_or(&[][..], |o| &o.checks[..]);
        let count = |d: CheckDecision| checks.iter().filter(|c| c.decision == d).count();
        RunEnd {
            run_status: self.verdict.run_status.as_str().to_owned(),
            final_decision: self.final_decision.clone(),
            partial: self.verdict.partial,
            checks: self.checks,
            fails: count(CheckDecision::Fail),
            warns: count(CheckDecision::Warn),
            exit_code: self.exit_code,
        }
    }
}

/// A run that passed every check and holds its locks; nothing written yet but the lock file.
pub struct PreparedRun {
    req: RunRequest,
    runner_argv: Vec<String>,
    gate: Box<dyn LiveGate>,
    resolved: ResolvedGate,
    seed: RunSeed,
    preconditions: Vec<Precondition>,
    reopened: Option<Reopened>,
    outdir: PreparedOutdir,
    gpu_locks: GpuLocks,
    gpu: Option<GpuInfo>,
    run_id: String,
    supervisor: Supervisor,
    clock: Arc<dyn Clock>,
}

/// A capsule being reopened (docs/replay.md §3).
struct Reopened {
    mode: ReopenMode,
    src: PersistedRun,
    recorded: Recorded,
    /// Decisions the source journal already holds for this run (resume only).
    journaled: std::collections::HashSet<(u64, String)>,
    /// Fields where the requested contract differs from the persisted one.
    diffs: Vec<veriscope_contracts::execution::FieldDiff>,
}

impl Reopened {
    fn continues_in_place(&self) -> bool {
        !matches!(self.mode, ReopenMode::Fork { .. })
    }
}

/// Validates the request, takes the GPU and capsule locks and chooses the capsule directory.
pub fn prepare(req: RunRequest, clock: Arc<dyn Clock>) -> Result<PreparedRun, RunError> {
    if req.runner_base.is_empty() && req.forwarded_args.is_empty() {
        return Err(RunError::Invalid(
            "no command to run: give it after `--`".into(),
        ));
    }
    let mut seed = execution::run_seed(req.seed, &req.env).map_err(RunError::Invalid)?;
    // The built-in trainer reports the seed it will use (a `--seed` among the forwarded
    // arguments wins over VERISCOPE_SEED there): record that one.
    if let Some(run) = req
        .runner_describe
        .as_ref()
        .and_then(|d| d.pointer("/seeds/run"))
        .and_then(Value::as_u64)
        && run != seed.value
    {
        seed = RunSeed {
            value: run,
            source: "runner_args",
        };
    }
    let (resolved, reopened) = match &req.reopen {
        None => (
            execution::resolve_gate(&req.gate, &req.env)
                .map_err(|e| RunError::Invalid(format!("invalid gate configuration: {e}")))?,
            None,
        ),
        Some(r) => {
            let (resolved, reopened, persisted_seed) = prepare_reopen(&req, r, seed)?;
            seed = persisted_seed;
            (resolved, Some(reopened))
        }
    };
    let strict = req.strict_determinism || reopened.as_ref().is_some_and(|r| r.src.strict);
    let traits = RunnerTraits {
        python: req.python.is_some() || req.kind == RunKind::Hf,
        uses_gpu: req.uses_gpu,
    };
    let preconditions =
        execution::determinism_preconditions(seed, traits, &req.env, req.runner_describe.as_ref());
    if strict && let Some(why) = execution::strict_refusal(&preconditions) {
        return Err(RunError::Refused(why));
    }
    let gate = EngineGate::new(resolved.cfg.clone());
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
    let outdir_error = |e: OutdirError| match e {
        OutdirError::Io { .. } => RunError::Invalid(e.to_string()),
        other => RunError::Refused(other.to_string()),
    };
    let outdir = match &reopened {
        Some(r) if r.continues_in_place() => PreparedOutdir {
            path: r.src.dir.clone(),
            requested: r.src.dir.clone(),
            forced: false,
            lock: CapsuleLock::acquire(&r.src.dir).map_err(outdir_error)?,
        },
        Some(r) => {
            let target = match &r.mode {
                ReopenMode::Fork { outdir: Some(o) } => o.clone(),
                _ => {
                    let name = r
                        .src
                        .dir
                        .file_name()
                        .map_or_else(|| "capsule".into(), |n| n.to_string_lossy().into_owned());
                    r.src
                        .dir
                        .with_file_name(format!("{name}-fork-{}", compact_stamp(now)))
                }
            };
            prepare_outdir(
                &target,
                false,
                req.kind.as_str(),
                &compact_stamp(now),
                &suffix,
            )
            .map_err(outdir_error)?
        }
        None => prepare_outdir(
            &req.outdir,
            req.force,
            req.kind.as_str(),
            &compact_stamp(now),
            &suffix,
        )
        .map_err(outdir_error)?,
    };
    let supervisor = Supervisor::new(SuperviseConfig {
        kill_grace: req.kill_grace,
        drain_timeout: Duration::from_secs(2),
        on_fail: req.on_fail,
        metrics_path: Some(outdir.path.join(METRICS_FALLBACK_FILE)),
    });
    let gate: Box<dyn LiveGate> = Box::new(gate);
    let run_id = match &reopened {
        Some(r) if r.continues_in_place() => r.src.run_id.clone(),
        _ => random_hex(12),
    };
    let runner_argv = runner_argv(&req, &outdir.path, &run_id);
    Ok(PreparedRun {
        req,
        runner_argv,
        gate,
        resolved,
        seed,
        preconditions,
        reopened,
        outdir,
        gpu_locks,
        gpu,
        run_id,
        supervisor,
        clock,
    })
}

/// Checks a `--resume` request against the source capsule (docs/replay.md §3): the runner
/// kind, the capsule's state, the requested contract against the persisted one, the seed.
fn prepare_reopen(
    req: &RunRequest,
    r: &Reopen,
    seed: RunSeed,
) -> Result<(ResolvedGate, Reopened, RunSeed), RunError> {
    let src = reopen::read_persisted(&r.source)?;
    let dir = src.dir.display().to_string();
    if src.kind != req.kind.as_str() {
        return Err(RunError::Invalid(format!(
            "cannot resume {dir}: it was written by `veriscope run {}`, not `run {}`",
            src.kind,
            req.kind.as_str()
        )));
    }
    let fork = matches!(r.mode, ReopenMode::Fork { .. });
    if src.complete && !fork {
        return Err(RunError::Invalid(format!(
            "cannot resume {dir}: the run is complete (results.json is final); nothing to resume. \
             Use --fork to branch it into a new capsule."
        )));
    }
    let requested = if req.gate.is_explicit() {
        let base = match &req.gate.preset {
            Some(p) => veriscope_gate::engine::GateConfig::preset(p)
                .map_err(|e| RunError::Invalid(format!("invalid gate configuration: {e}")))?,
            None => src.gate.clone(),
        };
        let mut resolved = execution::resolve_over(base, &req.gate, None)
            .map_err(|e| RunError::Invalid(format!("invalid gate configuration: {e}")))?;
        resolved.overrides = execution::overrides_vs_preset(&resolved.cfg);
        resolved
    } else {
        ResolvedGate::persisted(src.gate.clone(), src.overrides.clone())
    };
    let diffs = veriscope_contracts::execution::diff_configs(
        &src.gate.normalized(),
        &requested.cfg.normalized(),
    );
    if r.mode == ReopenMode::Resume && !diffs.is_empty() {
        return Err(RunError::Invalid(format!(
            "CONTRACT_MISMATCH the requested gate contract differs from the one persisted in {dir} ({}):\n{}\n\
             Resume without gate flags to keep the persisted contract, or add --override-contract \
             (replace it in this capsule, recorded in governance) or --fork (a new run and capsule \
             under the requested contract).",
            src.gate_contract_hash,
            veriscope_contracts::execution::render_diffs(&diffs, "persisted", "requested")
        )));
    }
    let seed = match (src.seed, fork) {
        (Some(persisted), false) => {
            if req.seed.is_some_and(|s| s != persisted.value) {
                return Err(RunError::Invalid(format!(
                    "cannot resume {dir}: run seed mismatch: persisted={} requested={}; \
                     a resumed run keeps its seed (use --fork for a new one)",
                    persisted.value, seed.value
                )));
            }
            persisted
        }
        (Some(persisted), true) if req.seed.is_none() => persisted,
        _ => seed,
    };
    let recorded = reopen::read_recorded(&src.dir)
        .map_err(|e| RunError::Invalid(format!("cannot read the recorded stream of {dir}: {e}")))?;
    let journaled = if r.mode == ReopenMode::Resume {
        reopen::journaled_decisions(&src.dir, &src.run_id).map_err(|e| {
            RunError::Invalid(format!("cannot read the governance journal of {dir}: {e}"))
        })?
    } else {
        Default::default()
    };
    Ok((
        requested,
        Reopened {
            mode: r.mode.clone(),
            src,
            recorded,
            journaled,
            diffs,
        },
        seed,
    ))
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

/// The run manifest's start-time inputs (docs/replay.md §2).
struct ManifestBase {
    seed: RunSeed,
    kind: RunKind,
    forwarded_args: Vec<String>,
    describe_spec: Option<Value>,
    gate_contract_hash: String,
    code_identity: Value,
    hardware: Value,
    strict: bool,
}

impl ManifestBase {
    fn build(&self, hello_spec: Option<Value>, dependency_text: Option<&str>) -> (Value, String) {
        execution::manifest(&ManifestInputs {
            seed: self.seed,
            kind: self.kind.as_str(),
            forwarded_args: &self.forwarded_args,
            spec: hello_spec.or_else(|| self.describe_spec.clone()),
            gate_contract_hash: &self.gate_contract_hash,
            code_identity: self.code_identity.clone(),
            hardware: self.hardware.clone(),
            dependency_text,
            strict: self.strict,
        })
    }
}

type PlatformResult = (Platform, Result<(), String>);

/// The platform capture (environment.txt), started only once the runner is spawned: its
/// file reads and probes open descriptors, and one open while the protocol pipes are made
/// would push their numbers past 9, which a POSIX `sh` runner cannot redirect to.
enum PlatformCapture {
    Pending(Box<dyn FnOnce() -> PlatformResult + Send>),
    Running(std::thread::JoinHandle<PlatformResult>),
}

impl PlatformCapture {
    /// Runs the capture on its own thread (mid-run; idempotent).
    fn start(&mut self) {
        let placeholder = PlatformCapture::Pending(Box::new(|| (Platform::default(), Ok(()))));
        if let PlatformCapture::Pending(f) = std::mem::replace(self, placeholder) {
            *self = PlatformCapture::Running(std::thread::spawn(f));
        }
    }

    /// The capture's result (run here if it never started); `None` if its thread panicked.
    fn join(self) -> Option<PlatformResult> {
        match self {
            PlatformCapture::Pending(f) => Some(f()),
            PlatformCapture::Running(h) => h.join().ok(),
        }
    }
}

/// Start-time facts carried into finalization.
struct Started {
    id: RunIdentity,
    run_config: Value,
    /// What the run manifest is made of, less what is only known at the end.
    manifest: ManifestBase,
    /// The platform capture and whether it could write environment.txt.
    platform: PlatformCapture,
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
            ("VERISCOPE_SEED", self.seed.value.to_string()),
            (
                "VERISCOPE_CKPT_DIR",
                self.outdir.path.join(CHECKPOINT_DIR).display().to_string(),
            ),
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
        if self.strict() {
            env.insert("VERISCOPE_STRICT_DETERMINISM".into(), "1".into());
        }
        if let Some(r) = &self.reopened {
            env.insert("VERISCOPE_RESUME".into(), "1".into());
            if let Some(last) = r.recorded.last_iter() {
                env.insert("VERISCOPE_RESUME_AFTER_ITER".into(), last.to_string());
            }
        }
        env
    }

    fn strict(&self) -> bool {
        self.req.strict_determinism || self.reopened.as_ref().is_some_and(|r| r.src.strict)
    }

    fn manifest_base(&self, git_sha: &Value) -> ManifestBase {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let gpus = self
            .gpu
            .as_ref()
            .map(|g| g.names.clone())
            .unwrap_or_default();
        ManifestBase {
            seed: self.seed,
            kind: self.req.kind,
            // Secrets never reach the capsule, the manifest included (productization §5).
            forwarded_args: redact_argv(&self.req.forwarded_args, &EnvPolicy::default()).0,
            describe_spec: self
                .req
                .runner_describe
                .as_ref()
                .and_then(|d| d.get("spec"))
                .cloned(),
            gate_contract_hash: self.resolved.cfg.contract_hash(),
            code_identity: json!({ "package": "veriscope", "version": env!("CARGO_PKG_VERSION"), "git_sha": git_sha }),
            hardware: execution::hardware(&cpuinfo, &gpus, None),
            strict: self.strict(),
        }
    }

    /// Writes window_signature.json and the initial run_config_resolved.json, and starts
    /// the platform capture, which writes environment.txt as soon as it is done.
    ///
    /// Both start artifacts are on the path to the runner's start, so window_signature.json
    /// is written (and synced) while this thread probes `git` and writes the run config.
    fn start_artifacts(&self) -> anyhow::Result<Started> {
        let dir = &self.outdir.path;
        let now = utc_seconds(self.clock.now());
        let in_place = self.reopened.as_ref().filter(|r| r.continues_in_place());
        // A plain resume keeps the capsule's window signature (its hash binds the journal);
        // every other start writes the signature of the contract in force.
        let keep_signature = in_place.is_some_and(|r| r.mode == ReopenMode::Resume);
        let ws = artifacts::window_signature(&self.gate.window_signature_content(), &now);
        let window_hash = match in_place {
            Some(r) if keep_signature => r.src.window_hash.clone(),
            _ => veriscope_canon::window_signature_hash(&ws)?,
        };
        let id = RunIdentity {
            run_id: self.run_id.clone(),
            outdir: dir.display().to_string(),
            window_hash,
            gate_preset: self.gate.preset_name(),
            overrides: self.resolved.overrides.clone(),
            started_ts_utc: in_place.map_or(now.clone(), |r| r.src.started_ts_utc.clone()),
        };
        let ws_path = dir.join(WINDOW_SIGNATURE);
        let (ws_written, run_config) = std::thread::scope(|s| {
            let ws_writer = s.spawn(|| {
                if keep_signature {
                    Ok(())
                } else {
                    write_json_atomic(&ws_path, &ws)
                }
            });
            let run_config = match in_place {
                Some(r) => self.reopened_run_config(r, &id, &now),
                None => self.initial_run_config(&id),
            };
            let rc_written = write_json_atomic(&dir.join("run_config_resolved.json"), &run_config);
            let ws_written = ws_writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("window signature writer panicked")));
            (ws_written.and(rc_written), run_config)
        });
        ws_written?;
        if let Some(r) = self.reopened.as_ref().filter(|r| !r.continues_in_place()) {
            reopen::copy_checkpoints(&r.src.dir, dir)
                .map_err(|e| anyhow::anyhow!("cannot copy the source's checkpoints: {e}"))?;
        }
        let env = self.req.env.clone();
        let python = self.req.python.clone();
        let gpu = self.gpu.clone();
        let env_path = dir.join(ENVIRONMENT_TXT);
        // environment.txt depends on nothing the run decides, so it is written when the
        // capture is done (mid-run) instead of adding its sync to finalization.
        let platform = PlatformCapture::Pending(Box::new(move || {
            let platform = environment::capture_platform(&env, python.as_deref(), gpu);
            let written = write_text_atomic(&env_path, &platform.text)
                .map_err(|e| format!("cannot write {ENVIRONMENT_TXT}: {e}"));
            (platform, written)
        }));
        let manifest = self.manifest_base(&run_config["git_sha"]);
        Ok(Started {
            id,
            run_config,
            manifest,
            platform,
        })
    }

    /// The run config of a capsule continued in place: the persisted one, back to RUNNING,
    /// with this attempt in its lineage (and, under --override-contract, the new contract).
    fn reopened_run_config(&self, r: &Reopened, id: &RunIdentity, now: &str) -> Value {
        let mut rc = r.src.run_config.clone();
        let attempt = r.src.attempts + 1;
        let reason = match r.mode {
            ReopenMode::OverrideContract => "override_contract",
            _ => "resume",
        };
        let (argv, _) = redact_argv(&self.req.veriscope_argv, &EnvPolicy::default());
        if rc.get("lineage").is_none_or(|l| !l.is_object()) {
            rc["lineage"] = json!({
                "attempts": [{"attempt": 1, "reason": "start", "started_ts_utc": r.src.started_ts_utc,
                              "ended_ts_utc": rc.get("ended_ts_utc").cloned().unwrap_or(Value::Null),
                              "resumed_after_iter": null}],
                "forked_from": null,
            });
        }
        let entry = json!({
            "attempt": attempt,
            "reason": reason,
            "started_ts_utc": now,
            "ended_ts_utc": null,
            "resumed_after_iter": r.recorded.last_iter(),
            "veriscope_argv": argv,
        });
        match rc["lineage"]["attempts"].as_array_mut() {
            Some(a) => a.push(entry),
            None => rc["lineage"]["attempts"] = json!([entry]),
        }
        if r.mode == ReopenMode::OverrideContract || rc.get("gate_contract").is_none() {
            if r.mode == ReopenMode::OverrideContract {
                let change = json!({
                    "ts_utc": now,
                    "from_hash": r.src.gate_contract_hash,
                    "to_hash": self.resolved.cfg.contract_hash(),
                    "fields": r.diffs.iter().map(|d| d.field.clone()).collect::<Vec<_>>(),
                });
                match rc["lineage"]["contract_changes"].as_array_mut() {
                    Some(a) => a.push(change),
                    None => rc["lineage"]["contract_changes"] = json!([change]),
                }
            }
            rc["gate_contract"] = self.resolved.persisted_object();
            rc["gate"]["gate_preset"] = json!(id.gate_preset);
            rc["gate"]["cadence"] = self.gate.cadence().to_json();
            rc["gate"]["controls"] = self.gate.gate_controls();
            if id.overrides.is_empty() {
                if let Some(o) = rc.as_object_mut() {
                    o.remove("overrides");
                }
            } else {
                rc["overrides"] = Value::Object(id.overrides.clone());
            }
        }
        rc["determinism"] = execution::determinism_record(self.strict(), &self.preconditions);
        for (k, v) in [
            ("lifecycle_state", json!("RUNNING")),
            ("run_status", json!("running")),
            ("ended_ts_utc", Value::Null),
            ("wrapper_exit_code", Value::Null),
            ("runner_exit_code", Value::Null),
            ("runner_signal", Value::Null),
        ] {
            rc[k] = v;
        }
        if let Some(o) = rc.as_object_mut() {
            o.remove("partial");
        }
        rc
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
        rc["gate_contract"] = self.resolved.persisted_object();
        rc["determinism"] = execution::determinism_record(self.strict(), &self.preconditions);
        let forked_from = self.reopened.as_ref().map(|r| {
            json!({ "run_id": r.src.run_id, "outdir": r.src.dir.display().to_string(), "gate_contract_hash": r.src.gate_contract_hash })
        });
        rc["lineage"] = json!({
            "attempts": [{"attempt": 1, "reason": if forked_from.is_some() { "fork" } else { "start" },
                          "started_ts_utc": id.started_ts_utc, "ended_ts_utc": null,
                          "resumed_after_iter": self.reopened.as_ref().and_then(|r| r.recorded.last_iter())}],
            "forked_from": forked_from,
        });
        // Written now (without the dependency list and the runner's hello) so a killed run's
        // capsule still names its seed and contract; finalization rewrites it complete.
        let (manifest, manifest_hash) = self.manifest_base(&rc["git_sha"]).build(None, None);
        rc["manifest"] = manifest;
        rc["manifest_hash"] = json!(manifest_hash);
        rc
    }

    /// The opening events of the run's governance (docs/replay.md §3).
    fn opening(&self, id: &RunIdentity) -> Opening {
        let hash = self.resolved.cfg.contract_hash();
        let mut extra = serde_json::Map::new();
        extra.insert("gate_contract_hash".into(), json!(hash));
        extra.insert("run_seed".into(), json!(self.seed.value));
        let Some(r) = &self.reopened else {
            return Opening::Start { extra };
        };
        match r.mode {
            ReopenMode::Resume => Opening::Reopen {
                payload: json!({
                    "run_id": id.run_id,
                    "outdir": id.outdir,
                    "reason": "resume",
                    "attempt": r.src.attempts + 1,
                    "resumed_after_iter": r.recorded.last_iter(),
                    "gate_contract_hash": hash,
                    "argv": redact_argv(&self.runner_argv, &EnvPolicy::default()).0,
                    "entrypoint": { "kind": "wrapper", "name": format!("veriscope run {} --resume", self.req.kind.as_str()) },
                }),
            },
            ReopenMode::OverrideContract => Opening::Rebind {
                contract_override: json!({
                    "from_hash": r.src.gate_contract_hash,
                    "to_hash": hash,
                    "fields": r.diffs.iter().map(|d| d.field.clone()).collect::<Vec<_>>(),
                    "from_window_hash": r.src.window_hash,
                    "to_window_hash": id.window_hash,
                }),
                extra,
            },
            ReopenMode::Fork { .. } => {
                extra.insert(
                    "forked_from".into(),
                    json!({ "run_id": r.src.run_id, "outdir": r.src.dir.display().to_string(), "gate_contract_hash": r.src.gate_contract_hash }),
                );
                Opening::Start { extra }
            }
        }
    }

    /// Links a fork from its source: an `artifact_note` in the source's journal, under the
    /// source's capsule lock.
    fn note_fork_in_source(&self, id: &RunIdentity) -> Result<(), String> {
        let Some(r) = self.reopened.as_ref().filter(|r| !r.continues_in_place()) else {
            return Ok(());
        };
        let _lock = CapsuleLock::acquire(&r.src.dir).map_err(|e| e.to_string())?;
        let mut journal = Journal::open(&r.src.dir.join(GOVERNANCE_LOG))
            .map_err(|e| format!("cannot open the source journal: {e}"))?;
        let payload = json!({
            "note": "forked",
            "run_id": r.src.run_id,
            "fork_run_id": id.run_id,
            "fork_outdir": id.outdir,
            "gate_contract_hash": self.resolved.cfg.contract_hash(),
        });
        journal
            .append(
                "artifact_note",
                payload,
                None,
                &utc_seconds(self.clock.now()),
            )
            .map(|_| ())
            .map_err(|e| format!("cannot note the fork in the source journal: {e}"))
    }

    fn supervise_and_finalize(mut self, mut started: Started, mut io: RunIo) -> RunReport {
        let dir = self.outdir.path.clone();
        let id = started.id.clone();
        let mut spawn_error = None;
        let mut outcome = None;
        let mut internal = Vec::new();
        if let Err(e) = self.note_fork_in_source(&id) {
            internal.push(e);
        }
        let reopened = self.reopened.take();
        let in_place = reopened.as_ref().is_some_and(Reopened::continues_in_place);
        let tee = if in_place {
            TeeLog::open_append(&dir.join(RUNNER_OUTPUT_LOG))
        } else {
            TeeLog::create(&dir.join(RUNNER_OUTPUT_LOG))
        };
        let journal = Journal::open_with(&dir.join(GOVERNANCE_LOG), JOURNAL_DURABILITY);
        let policy = EnvPolicy::default();
        let ctx = JournalContext {
            argv: redact_argv(&self.runner_argv, &policy).0,
            entrypoint: json!({ "kind": "wrapper", "name": format!("veriscope run {}", self.req.kind.as_str()) }),
            code_identity: json!({ "package": "veriscope", "package_version": env!("CARGO_PKG_VERSION"), "git_sha": started.run_config["git_sha"] }),
            env_distributed: launch_distributed(&self.req.env, &self.runner_argv),
        };
        let _ = fs::File::create(dir.join(METRICS_FALLBACK_FILE));
        // child_env reads `reopened` (VERISCOPE_RESUME): put it back for the call.
        self.reopened = reopened;
        let child_env = self.child_env(&id);
        let opening = self.opening(&id);
        let reopened = self.reopened.take();
        let mut live = None;
        let mut metrics_ref = None;
        let mut prior: Vec<GateCheck> = Vec::new();
        match (tee, journal) {
            (Ok(tee), Ok(journal)) => {
                let mut gate = self.gate;
                let mut resume = None;
                if let Some(r) = &reopened {
                    // Restore the gate's state from the recorded stream (docs/replay.md §3).
                    prior = reopen::replay(&mut *gate, &r.recorded.samples);
                    resume = Some(ResumeState {
                        replayed: prior.clone(),
                        journaled: r.journaled.clone(),
                        skip_through: r.recorded.last_iter(),
                        recorded_loss: r.recorded.loss_by_iter.clone(),
                        ..Default::default()
                    });
                }
                let mut run = LiveRun::new(gate, journal, id.clone(), ctx, self.clock.clone())
                    .with_opening(opening);
                if let Some(spec) = self.req.notify.clone() {
                    run = run.with_notifier(Notifier::new(
                        spec,
                        &id.run_id,
                        &dir,
                        &id.gate_preset,
                        self.clock.clone(),
                    ));
                }
                if let Some(state) = resume {
                    run = run.with_resume(state);
                }
                let recorded: &[String] = reopened.as_ref().map_or(&[], |r| &r.recorded.lines);
                match MetricsLog::create_with(&dir, recorded) {
                    Ok(log) => run = run.with_metrics_log(log),
                    Err(e) => internal.push(format!("cannot create {METRICS_LOG}: {e}")),
                }
                let spawned = spawn_runner(&SpawnSpec {
                    argv: self.runner_argv.clone(),
                    env: child_env,
                });
                started.platform.start();
                match spawned {
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
                if let (Some(o), false) = (outcome.as_mut(), prior.is_empty()) {
                    merge_prior_checks(o, &prior);
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
        let resume_counts = live.as_ref().and_then(LiveRun::resume_counts);
        let fin = Finalizer {
            dir: dir.clone(),
            id,
            clock: self.clock.clone(),
            resume_counts,
        };
        let report = fin.finalize(
            started,
            &inputs,
            outcome,
            hello,
            metrics_ref.as_ref(),
            &mut *io.status,
        );
        if let Some(notifier) = live.as_mut().and_then(LiveRun::take_notifier) {
            notifier.finish(&report.run_end());
        }
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

/// Puts the checks replayed from a reopened capsule's record before the live ones, with
/// their rendered records, so results.json holds every check of the run.
fn merge_prior_checks(o: &mut SuperviseOutcome, prior: &[GateCheck]) {
    let mut checks = prior.to_vec();
    checks.append(&mut o.checks);
    o.checks = checks;
    let rendered: Option<Vec<String>> = prior
        .iter()
        .map(|c| artifacts::gate_record_text(c).ok())
        .collect();
    o.gate_records = match (rendered, o.gate_records.take()) {
        (Some(mut all), Some(live)) => {
            all.extend(live);
            Some(all)
        }
        _ => None,
    };
}

/// Writes the end-of-run artifacts.
struct Finalizer {
    dir: PathBuf,
    id: RunIdentity,
    clock: Arc<dyn Clock>,
    /// `(skipped, divergent)` re-emitted samples of a resumed run.
    resume_counts: Option<(u64, u64)>,
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
        let (platform, env_written) = started.platform.join().unwrap_or_else(|| {
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
        let hello_spec = hello.as_ref().and_then(|h| h.get("spec")).cloned();
        let (manifest, manifest_hash) = started
            .manifest
            .build(hello_spec, platform.dependency_text.as_deref());
        rc["manifest"] = manifest;
        rc["manifest_hash"] = json!(manifest_hash);
        if let Some(last) = rc
            .pointer_mut("/lineage/attempts")
            .and_then(Value::as_array_mut)
            .and_then(|a| a.last_mut())
        {
            last["ended_ts_utc"] = json!(ended);
            if let Some((skipped, divergent)) = self.resume_counts {
                last["replayed_samples_skipped"] = json!(skipped);
                last["replayed_samples_divergent"] = json!(divergent);
            }
        }
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
