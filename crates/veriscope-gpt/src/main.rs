//! The `veriscope-gpt` binary: parse flags, resolve the config, then describe or train.
//!
//! Exit codes: 0 = completed or stopped on a gate `stop` (metrics-stream.md §control),
//! 2 = invalid flags or config (clap's usage errors too), 1 = a runtime error.

use std::process::ExitCode;

use clap::Parser;
use veriscope_gpt::cli::Args;
use veriscope_gpt::config::ConfigError;
use veriscope_gpt::stream::{self, MetricsSink};
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
    let target =
        stream::resolve_sink(env, cfg.metrics_out.as_deref()).map_err(ConfigError::Invalid)?;
    let sink = MetricsSink::open(&target)?;
    let control = stream::spawn_control_reader(env).map_err(ConfigError::Invalid)?;
    let outcome = trainer::train(
        &cfg,
        RunContext {
            sink,
            control: &control,
            progress: true,
        },
    )?;
    eprintln!(
        "veriscope-gpt: {} after iter {} in {:.1}s (final loss {})",
        outcome.status.as_str(),
        outcome.last_iter.map_or("-".into(), |i| i.to_string()),
        outcome.wall_s,
        outcome
            .final_loss
            .map_or("n/a".into(), |l| format!("{l:.4}"))
    );
    Ok(ExitCode::SUCCESS)
}
