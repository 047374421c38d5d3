//! `veriscope diff A B`: Comparable(A,B) plus what differs (contract_v1 §Comparable(A,B),
//! cli_contracts A9). Default text shows only differences; `--all` prints every field.

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::compare::diff;
use veriscope_report::{ReportError, ValidationProfile, load_views};

/// Output format of `diff`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Human text.
    Text,
    /// JSON (Python indent=2 style).
    Json,
}

/// Arguments of `veriscope diff`.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// First capsule (the reference)
    pub outdir_a: PathBuf,
    /// Second capsule
    pub outdir_b: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
    /// Show every field, not only the ones that differ
    #[arg(long)]
    pub all: bool,
    /// Gate presets may differ
    #[arg(long)]
    pub allow_gate_preset_mismatch: bool,
}

/// Runs `veriscope diff`.
pub fn execute(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let json = args.json || args.format == DiffFormat::Json;
    let mut views = Vec::new();
    for loaded in load_views(
        &[&args.outdir_a, &args.outdir_b],
        ValidationProfile::Compare,
    ) {
        match loaded {
            Ok(v) => views.push(v),
            Err(ReportError::CannotReport(msg)) => {
                eprintln!("INVALID: {msg}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return super::report::fail(e),
        }
    }
    let outcome = diff(&views[0], &views[1], args.allow_gate_preset_mismatch);
    let code = if outcome.comparability.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    };
    for w in &outcome.warnings {
        eprintln!("{w}");
    }
    if json {
        println!("{}", outcome.to_json_text()?);
    } else if !outcome.comparability.ok {
        eprintln!("{}", outcome.incomparable_text());
    } else if args.all {
        println!("{}", outcome.full_text());
    } else {
        println!("{}", outcome.compact_text());
    }
    Ok(code)
}
