//! The `veriscope-gpt` binary: parse flags, resolve the config, then describe or train.
//!
//! Exit codes: 0 = completed or stopped on a gate `stop` (metrics-stream.md §control),
//! 2 = invalid flags or config (clap's usage errors too, and a strict run with an unmet
//! determinism precondition), 1 = a runtime error, 128+signal = stopped by SIGTERM/SIGINT
//! after a checkpoint (docs/replay.md §3).

use std::process::ExitCode;

use clap::Parser;
use veriscope_gpt::cli::Args;
use veriscope_gpt::config::ConfigError;
use veriscope_gpt::interrupt::{self, Interrupt};
use veriscope_gpt::stream::{self, ControlState, EndStatus, MetricsSink, SinkTarget};
use veriscope_gpt::trainer::{self, RunContext};

mod tuned_env;

const EXIT_RUNTIME_ERROR: u8 = 1;
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("veriscope-gpt: error: {err:#}");
            if err.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::from(EXIT_RUNTIME_ERROR)
            }
        }
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve(env)?;
    if args.describe {
        let v = trainer::describe(&cfg)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(err) = tuned_env::reexec_if_needed(cfg.threads, env) {
        eprintln!(
            "veriscope-gpt: warning: could not re-exec with tuned environment ({err}); continuing"
        );
    }
    // Installed after the re-exec above (exec resets handlers). Before this point a signal
    // simply ends the process: nothing has been trained yet.
    let interrupt = Interrupt::install()?;
    // Replicated ranks: only rank 0 speaks to the wrapper; the others neither write the
    // stream nor read the control pipe (a pipe has one reader: they would steal its lines).
    let chief = cfg.distributed.is_chief();
    let target = if chief {
        stream::resolve_sink(env, cfg.metrics_out.as_deref()).map_err(ConfigError::Invalid)?
    } else {
        SinkTarget::Nowhere
    };
    let sink = MetricsSink::open(&target)?;
    let control = if chief {
        stream::spawn_control_reader(env).map_err(ConfigError::Invalid)?
    } else {
        std::sync::Arc::new(ControlState::default())
    };
    let outcome = trainer::train(
        &cfg,
        RunContext {
            sink,
            control: &control,
            interrupt: &interrupt,
            progress: true,
        },
    )?;
    let how = match outcome.status {
        EndStatus::Interrupted(sig) => format!("interrupted by {}", interrupt::signal_name(sig)),
        other => other.as_str().to_string(),
    };
    let ckpt = if outcome.ckpt_saves > 0 {
        format!(
            "; {} checkpoint(s), {:.1} ms each",
            outcome.ckpt_saves,
            outcome.ckpt_ms / outcome.ckpt_saves as f64
        )
    } else {
        String::new()
    };
    eprintln!(
        "veriscope-gpt: {how} after iter {} in {:.1}s (final loss {}){ckpt}",
        outcome.last_iter.map_or("-".into(), |i| i.to_string()),
        outcome.wall_s,
        outcome
            .final_loss
            .map_or("n/a".into(), |l| format!("{l:.4}"))
    );
    Ok(match outcome.status {
        EndStatus::Interrupted(sig) => ExitCode::from(interrupt::exit_code_for(sig)),
        _ => ExitCode::SUCCESS,
    })
}
