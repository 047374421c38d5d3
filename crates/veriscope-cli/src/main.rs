//! `veriscope`: the command-line front of the training reliability gate.
//!
//! This file only parses arguments, dispatches to `commands/<name>.rs` and maps the
//! outcome to the contract's exit codes (contract_v1 §Exit Codes, productization §2.7).

mod commands;

/// validate, report and diff parse capsules into many small allocations (every JSON key and,
/// with serde_json's arbitrary_precision, every number is its own heap string); mimalloc cut
/// their CPU time and page faults against glibc malloc (docs/benchmarks.md, Foundation).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Training reliability gate: wrap a training job, gate its representation metrics,
/// and keep an auditable run capsule.
#[derive(Parser)]
#[command(name = "veriscope", version, about, long_about = None, infer_long_args = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a training job under the gate and write a run capsule
    Run(commands::run::RunArgs),
    /// Check every invariant of a run capsule (read-only)
    Validate(commands::validate::ValidateArgs),
    /// Render a capsule (or compare several) as text, Markdown, JSON or HTML
    Report(commands::report::ReportArgs),
    /// Compare two capsules under Comparable(A,B)
    Diff(commands::diff::DiffArgs),
    /// Record a human pass/fail judgement over a capsule without touching gate records
    Override(commands::override_cmd::OverrideArgs),
    /// One-screen summary of a capsule for humans
    Inspect(commands::inspect::InspectArgs),
    /// Score control and injected capsules: false-alarm rate, detection delay, overhead
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Print a JSON document's canonical text (or its sha256)
    Canon(commands::canon::CanonArgs),
    /// Print the JSON Schema of an artifact
    Schema(commands::schema::SchemaArgs),
    /// Offline gate tools: re-gate a recorded metrics stream
    #[command(subcommand)]
    Gate(commands::gate::GateCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic is a Veriscope bug: report it as an internal error (exit 3), never as
    // Rust's default 101, which no contract table knows.
    match std::panic::catch_unwind(|| dispatch(cli)) {
        Ok(outcome) => commands::finish(outcome),
        Err(_) => {
            eprintln!(
                "error: internal error (veriscope panicked); this is a bug, please report it"
            );
            ExitCode::from(veriscope_contracts::exit::INTERNAL)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => commands::run::execute(args),
        Command::Validate(args) => commands::validate::execute(args),
        Command::Report(args) => commands::report::execute(args),
        Command::Diff(args) => commands::diff::execute(args),
        Command::Override(args) => commands::override_cmd::execute(args),
        Command::Inspect(args) => commands::inspect::execute(args),
        Command::Calibrate(args) => commands::calibrate::execute(args),
        Command::Canon(args) => commands::canon::execute(args),
        Command::Schema(args) => commands::schema::execute(args),
        Command::Gate(cmd) => commands::gate::execute(cmd),
    }
}
