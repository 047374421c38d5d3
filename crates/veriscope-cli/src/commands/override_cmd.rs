//! `veriscope override OUTDIR`: a human pass/fail overlay, all-or-nothing
//! (productization §2.5; cli_contracts A7 and A17.9 for the bugs this avoids).

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::manual::{OverrideRequest, apply_override};

/// Reviewer verdict.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verdict {
    /// Treat the run as passing.
    Pass,
    /// Treat the run as failing.
    Fail,
}

/// Arguments of `veriscope override`.
#[derive(clap::Args)]
pub struct OverrideArgs {
    /// Capsule directory (must exist; never created)
    pub outdir: PathBuf,
    /// The judgement
    #[arg(long, value_enum)]
    pub status: Verdict,
    /// Why (non-empty)
    #[arg(long)]
    pub reason: String,
    /// Who
    #[arg(long)]
    pub reviewer: Option<String>,
    /// When (ISO-8601; naive means UTC; default now)
    #[arg(long)]
    pub ts_utc: Option<String>,
    /// Overwrite an existing manual_judgement.json
    #[arg(long)]
    pub force: bool,
}

/// Runs `veriscope override`.
pub fn execute(args: OverrideArgs) -> anyhow::Result<ExitCode> {
    let req = OverrideRequest {
        outdir: args.outdir.clone(),
        status: match args.status {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
        .to_owned(),
        reason: args.reason,
        reviewer: args.reviewer,
        ts_utc: args.ts_utc,
        force: args.force,
    };
    match apply_override(&req, veriscope_report::manual::Timestamp::now()) {
        Ok(outcome) => {
            for w in &outcome.warnings {
                eprintln!("{w}");
            }
            println!("[veriscope] wrote {}", outcome.json_path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => super::report::fail(e),
    }
}
