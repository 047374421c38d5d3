//! `veriscope run cmd|gpt|hf`: parse wrapper flags, resolve the runner, then hand over to
//! `veriscope_runner::wrapper` (productization §2.1, §2.2, §2.7). Wrapper options come before
//! `--`; everything after it is forwarded verbatim.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use veriscope_runner::clock::SystemClock;
use veriscope_runner::envcapture::REDACTED;
use veriscope_runner::execution::{self, GateRequest};
use veriscope_runner::kinds;
use veriscope_runner::notify::{NotifyOn, NotifySpec};
use veriscope_runner::reopen::{self, Reopen, ReopenMode};
use veriscope_runner::signals::SignalWatcher;
use veriscope_runner::supervise::OnFail;
use veriscope_runner::wrapper::{self, RunIo, RunKind, RunRequest};

/// Arguments of `veriscope run`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(subcommand)]
    kind: RunSub,
}

#[derive(clap::Subcommand)]
enum RunSub {
    /// Wrap any command that speaks the metrics stream (docs/metrics-stream.md)
    Cmd(WrapperArgs),
    /// Train with the built-in GPT trainer (`veriscope-gpt`) under the gate
    Gpt(WrapperArgs),
    /// Fine-tune with the Hugging Face runner (Python SDK) under the gate
    Hf(WrapperArgs),
}

/// `--on-fail` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum OnFailArg {
    Continue,
    Stop,
}

/// Flags shared by every wrapper kind.
#[derive(clap::Args)]
struct WrapperArgs {
    /// Gate preset (default tuned_v0, or the persisted one under --resume); a non-default
    /// preset is recorded as a governance override
    #[arg(long, value_name = "PRESET")]
    gate_preset: Option<String>,
    /// Capsule directory (a fresh subdirectory is used with --force when it holds a capsule);
    /// with --resume --fork, the fork's directory
    #[arg(long, required_unless_present = "resume")]
    outdir: Option<PathBuf>,
    /// Run in a fresh subdirectory when OUTDIR already holds capsule artifacts; skip GPU locks
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// What a gate FAIL does: record it and go on, or stop the runner
    #[arg(long, value_enum, default_value = "continue")]
    on_fail: OnFailArg,
    /// Shell command run (`sh -c`) when the gate turns FAIL and when the run ends, with the
    /// message on stdin and in VERISCOPE_NOTIFY_TEXT / _JSON (docs/notify.md). Never recorded
    /// in the capsule: keep webhook URLs in the environment, e.g.
    /// `curl -fsS -d "$VERISCOPE_NOTIFY_JSON" "$SLACK_WEBHOOK_URL"`
    #[arg(long, value_name = "CMD")]
    notify_cmd: Option<String>,
    /// When --notify-cmd runs: a comma list of fail, warn, end
    #[arg(
        long,
        value_name = "EVENTS",
        default_value = "fail,end",
        requires = "notify_cmd"
    )]
    notify_on: String,
    /// Seconds between SIGTERM (or an ignored stop decision) and SIGKILL
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    kill_grace: f64,
    /// Iterations per gate check (overrides the preset / trainer cadence)
    #[arg(long, value_name = "N")]
    gate_window: Option<u64>,
    /// Iterations before the first evaluated gate check
    #[arg(long, value_name = "N")]
    gate_warmup: Option<u64>,
    /// Iterations between metric samples the gate expects
    #[arg(long, value_name = "N")]
    metric_interval: Option<u64>,
    /// Set one gate control of the execution contract (repeatable), e.g. `eps=0.2`,
    /// `policy=conjunction`, `alpha=0.005`; values are range-checked (docs/replay.md §1)
    #[arg(long = "gate-set", value_name = "FIELD=VALUE")]
    gate_set: Vec<String>,
    /// Run seed passed to the runner as VERISCOPE_SEED (default: VERISCOPE_SEED, else 42)
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Refuse to start unless every determinism precondition holds, and record them
    #[arg(long)]
    strict_determinism: bool,
    /// Continue the partial capsule in OUTDIR (same run_id, persisted gate contract)
    #[arg(long, value_name = "OUTDIR")]
    resume: Option<PathBuf>,
    /// With --resume: replace the persisted gate contract by the requested one (recorded in
    /// governance; every check is recomputed under it)
    #[arg(long, requires = "resume", conflicts_with = "fork")]
    override_contract: bool,
    /// With --resume: continue in a new capsule with a new run_id under the requested contract
    #[arg(long, requires = "resume")]
    fork: bool,
    /// hf: launch the runner as N processes on this node under torchrun (DDP; rank 0
    /// streams and the wrapper writes one capsule)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    nproc_per_node: Option<u32>,
    /// The command (cmd) or the arguments forwarded to the runner (gpt, hf)
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

impl WrapperArgs {
    /// The requested gate: preset, cadence flags and `--gate-set`, in that order.
    fn gate_request(&self) -> Result<GateRequest, String> {
        let mut settings = Vec::new();
        for (field, v) in [
            ("gate_window", self.gate_window),
            ("gate_warmup_iters", self.gate_warmup),
            ("metric_interval", self.metric_interval),
        ] {
            if let Some(v) = v {
                settings.push((field.to_string(), v.to_string()));
            }
        }
        for item in &self.gate_set {
            let Some((field, value)) = item.split_once('=') else {
                return Err(format!(
                    "--gate-set expects FIELD=VALUE, got '{item}' (fields: {})",
                    veriscope_gate::engine::SETTABLE
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            settings.push((field.trim().to_string(), value.trim().to_string()));
        }
        Ok(GateRequest {
            preset: self.gate_preset.clone(),
            settings,
            runner_cadence: None,
        })
    }

    fn reopen(&self) -> Option<Reopen> {
        let source = self.resume.clone()?;
        let mode = if self.fork {
            ReopenMode::Fork {
                outdir: self.outdir.clone(),
            }
        } else if self.override_contract {
            ReopenMode::OverrideContract
        } else {
            ReopenMode::Resume
        };
        Some(Reopen { source, mode })
    }
}

/// Runs `veriscope run`.
pub fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    let env = process_env();
    let (kind, w) = match args.kind {
        RunSub::Cmd(w) => (RunKind::Cmd, w),
        RunSub::Gpt(w) => (RunKind::Gpt, w),
        RunSub::Hf(w) => (RunKind::Hf, w),
    };
    let req = match resolve(kind, w, env) {
        Ok(req) => req,
        Err(msg) => return Ok(refuse(veriscope_contracts::exit::INVALID, &msg)),
    };
    let prepared = match wrapper::prepare(req, Arc::new(SystemClock)) {
        Ok(p) => p,
        Err(e) => return Ok(refuse(e.exit_code(), &e.to_string())),
    };
    let watcher = SignalWatcher::install(prepared.interrupt_handle())
        .context("cannot install signal handlers")?;
    let io = RunIo {
        child_stdout: Box::new(std::io::stdout()),
        child_stderr: Box::new(std::io::stderr()),
        status: Box::new(std::io::stderr()),
    };
    let report = prepared.execute(io);
    watcher.close();
    let code = ExitCode::from(report.exit_code);
    // The report owns every gate check of the run (one audit tree each, 999 in the overhead
    // benchmark); freeing them one by one would add milliseconds to the wrapper's exit,
    // after the capsule is final. The process ends now and the OS takes the memory back.
    std::mem::forget(report);
    Ok(code)
}

fn refuse(code: u8, msg: &str) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(code)
}

fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// Builds the run request; `Err` is a usage error (exit 2) reported before any write.
fn resolve(
    kind: RunKind,
    w: WrapperArgs,
    env: BTreeMap<String, String>,
) -> Result<RunRequest, String> {
    if !(w.kill_grace.is_finite() && w.kill_grace >= 0.0) {
        return Err(format!(
            "--kill-grace must be a non-negative number of seconds, got {}",
            w.kill_grace
        ));
    }
    let notify = match &w.notify_cmd {
        Some(cmd) if cmd.trim().is_empty() => {
            return Err("--notify-cmd: the command is empty".into());
        }
        Some(cmd) => Some(NotifySpec {
            command: cmd.clone(),
            on: NotifyOn::parse(&w.notify_on)?,
        }),
        None => None,
    };
    let mut gate = w.gate_request()?;
    let reopen = w.reopen();
    if reopen.is_none() && (w.override_contract || w.fork) {
        return Err("--override-contract and --fork need --resume OUTDIR".into());
    }
    let mut w = w;
    // A resumed run re-launches what the capsule recorded unless new arguments are given.
    if let Some(r) = &reopen
        && w.args.is_empty()
    {
        match reopen::read_persisted(&r.source) {
            Ok(p) => match p.forwarded_args {
                Some(args) => w.args = args,
                None => {
                    return Err(format!(
                        "cannot resume {}: its recorded arguments hold redacted secrets; give the arguments again after `--`",
                        r.source.display()
                    ));
                }
            },
            Err(e) => return Err(e.to_string()),
        }
    }
    let seed = execution::run_seed(w.seed, &env)?;
    let (mut runner_base, mut describe, mut python, mut uses_gpu) = (Vec::new(), None, None, false);
    match kind {
        RunKind::Cmd | RunKind::Gpt if w.nproc_per_node.is_some() => {
            return Err(format!(
                "--nproc-per-node applies to `veriscope run hf` only (for `run {}`, launch \
                 torchrun yourself under `run cmd`)",
                kind.as_str()
            ));
        }
        RunKind::Cmd => {
            if w.args.is_empty() {
                return Err("veriscope run cmd: give the command after `--`".into());
            }
        }
        RunKind::Gpt => {
            let exe = std::env::current_exe().unwrap_or_default();
            runner_base = kinds::gpt_runner_base(&env, &exe).map_err(|e| e.to_string())?;
            uses_gpu = env
                .get("CUDA_VISIBLE_DEVICES")
                .is_some_and(|v| !v.is_empty() && v != "-1");
            // The trainer describes itself with the environment it will run in (seed,
            // strict mode): its cadence, spec, seeds and determinism preconditions.
            let mut describe_env = env.clone();
            describe_env.insert("VERISCOPE_SEED".into(), seed.value.to_string());
            if w.strict_determinism {
                describe_env.insert("VERISCOPE_STRICT_DETERMINISM".into(), "1".into());
            }
            match kinds::describe(&runner_base, &w.args, &describe_env) {
                Ok(d) => {
                    gate.runner_cadence = d.cadence;
                    uses_gpu = d.uses_gpu;
                    describe = Some(d.json);
                }
                Err(why) => eprintln!(
                    "[veriscope] WARNING: trainer self-description unavailable ({why}); using the preset cadence"
                ),
            }
        }
        RunKind::Hf => {
            runner_base = kinds::hf_launch(
                kinds::hf_runner_base(&env).map_err(|e| e.to_string())?,
                w.nproc_per_node,
                &env,
            )
            .map_err(|e| e.to_string())?;
            let py = kinds::hf_python(&env, Some(&runner_base));
            kinds::hf_preflight(&py, &env).map_err(|e| e.to_string())?;
            python = Some(py);
            uses_gpu = true;
        }
    }
    if kind == RunKind::Cmd && w.args.first().is_some_and(|p| p.starts_with("python")) {
        python = w.args.first().cloned();
    }
    Ok(RunRequest {
        kind,
        gate,
        outdir: w.outdir.clone().unwrap_or_default(),
        force: w.force,
        on_fail: match w.on_fail {
            OnFailArg::Continue => OnFail::Continue,
            OnFailArg::Stop => OnFail::Stop,
        },
        kill_grace: Duration::from_secs_f64(w.kill_grace),
        runner_base,
        forwarded_args: w.args,
        veriscope_argv: mask_notify_cmd(std::env::args()),
        env,
        runner_describe: describe,
        python,
        uses_gpu,
        seed: w.seed,
        strict_determinism: w.strict_determinism,
        reopen,
        notify,
    })
}

/// The argv as recorded in the capsule, with the `--notify-cmd` command replaced: it may
/// carry a webhook URL or a token, and the capsule is meant to be shared.
fn mask_notify_cmd(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut mask_next = false;
    for arg in args {
        if std::mem::take(&mut mask_next) {
            out.push(REDACTED.to_string());
        } else if arg == "--notify-cmd" {
            mask_next = true;
            out.push(arg);
        } else if arg.starts_with("--notify-cmd=") {
            out.push(format!("--notify-cmd={REDACTED}"));
        } else {
            out.push(arg);
        }
    }
    out
}
