//! `veriscope diff A B`: Comparable(A,B) plus what differs (contract_v1 §Comparable(A,B),
//! cli_contracts A9). Default text shows only differences; `--all` prints every field.
//! `veriscope diff --replay A B`: the replay check of docs/replay.md §4 (MUST mismatches exit
//! 2, SHOULD differences are reported with exit 0).

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::compare::diff;
use veriscope_report::replay::{load_pair, replay_diff};
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
    #[arg(long, conflicts_with = "replay")]
    pub allow_gate_preset_mismatch: bool,
    /// Check that B is a replay of A: MUST match manifest hash, gate record counts and schema
    /// fingerprints (exit 2 otherwise); SHOULD match decisions and values (reported)
    #[arg(long, conflicts_with = "all")]
    pub replay: bool,
    /// With --replay: relative tolerance of the SHOULD value comparisons
    #[arg(
        long,
        value_name = "REL",
        requires = "replay",
        default_value_t = veriscope_report::replay::DEFAULT_TOLERANCE,
        allow_negative_numbers = true
    )]
    pub tolerance: f64,
}

/// Runs `veriscope diff`.
pub fn execute(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let json = args.json || args.format == DiffFormat::Json;
    if args.replay {
        return replay(&args, json);
    }
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

/// `veriscope diff --replay A B`: the report on stdout (text or JSON), warnings and the MUST
/// mismatches (`REPLAY_MISMATCH <check>: ...`) on stderr; exit 2 on a MUST mismatch.
fn replay(args: &DiffArgs, json: bool) -> anyhow::Result<ExitCode> {
    if !args.tolerance.is_finite() || args.tolerance < 0.0 {
        eprintln!("--tolerance must be a finite number >= 0");
        return Ok(ExitCode::from(2));
    }
    let mut inputs = Vec::new();
    for loaded in load_pair(&args.outdir_a, &args.outdir_b) {
        match loaded {
            Ok(x) => inputs.push(x),
            Err(ReportError::CannotReport(msg)) => {
                eprintln!("INVALID: {msg}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return super::report::fail(e),
        }
    }
    let outcome = replay_diff(&inputs[0], &inputs[1], args.tolerance);
    for w in &outcome.warnings {
        eprintln!("{w}");
    }
    if json {
        println!("{}", outcome.to_json_text()?);
    } else {
        println!("{}", outcome.text());
    }
    for line in outcome.mismatch_lines() {
        eprintln!("{line}");
    }
    Ok(ExitCode::from(outcome.exit_code()))
}
