//! `veriscope report`: render one capsule (text, md, json, html) or compare several
//! (`--compare`). Exit codes: contract_v1 §Exit Codes (0 rendered, 2 cannot report or
//! incomparable, 3 internal).

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::compare::compare_group;
use veriscope_report::{
    Format, ReportError, ValidationProfile, load_view, load_views, render_report,
};

/// Output format of `report`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// The original's plain-text layout.
    Text,
    /// Markdown (productization Appendix A).
    Md,
    /// Stable JSON document (`veriscope schema report`).
    Json,
    /// Self-contained HTML with inline SVG charts.
    Html,
}

/// Arguments of `veriscope report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Capsule directory (several with --compare)
    #[arg(required = true, num_args = 1..)]
    pub outdirs: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
    /// Compare OUTDIR_A OUTDIR_B [OUTDIR_N ...] under Comparable(A,B)
    #[arg(long)]
    pub compare: bool,
    /// With --compare: render incomparable runs instead of refusing
    #[arg(long)]
    pub allow_incompatible: bool,
    /// With --compare: gate presets may differ
    #[arg(long)]
    pub allow_gate_preset_mismatch: bool,
}

/// Runs `veriscope report`.
pub fn execute(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let format = if args.json {
        ReportFormat::Json
    } else {
        args.format
    };
    if args.compare {
        return compare(&args, format);
    }
    let [outdir] = args.outdirs.as_slice() else {
        eprintln!("report requires exactly one OUTDIR (or use --compare for multiple)");
        return Ok(ExitCode::from(2));
    };
    let rendered = load_view(outdir, ValidationProfile::Report).and_then(|view| {
        let f = match format {
            ReportFormat::Text => Format::Text,
            ReportFormat::Md => Format::Markdown,
            ReportFormat::Json => Format::Json,
            ReportFormat::Html => Format::Html,
        };
        render_report(&view, f)
    });
    match rendered {
        Ok(text) => {
            print!("{text}");
            if format == ReportFormat::Json {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

/// Prints a report error and maps it to its exit code (2 input, 3 internal).
pub fn fail(e: ReportError) -> anyhow::Result<ExitCode> {
    match e {
        ReportError::Canon(_) | ReportError::Io { .. } => Err(e.into()),
        _ => {
            eprintln!("{e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

fn compare(args: &ReportArgs, format: ReportFormat) -> anyhow::Result<ExitCode> {
    if format == ReportFormat::Html {
        eprintln!("report --compare supports --format text|md|json");
        return Ok(ExitCode::from(2));
    }
    if args.outdirs.len() < 2 {
        eprintln!("report --compare requires at least two OUTDIRs");
        return Ok(ExitCode::from(2));
    }
    let mut views = Vec::new();
    for loaded in load_views(&args.outdirs, ValidationProfile::Compare) {
        match loaded {
            Ok(v) => views.push(v),
            Err(ReportError::CannotReport(msg)) => {
                eprintln!("INVALID: {msg}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return fail(e),
        }
    }
    let outcome = compare_group(
        &views,
        args.allow_gate_preset_mismatch,
        args.allow_incompatible,
    );
    for w in &outcome.warnings {
        eprintln!("{w}");
    }
    if outcome.refused() {
        eprintln!("{}", outcome.refusal_text());
        return Ok(ExitCode::from(2));
    }
    match format {
        ReportFormat::Json => println!("{}", outcome.to_json_text()?),
        _ => println!("{}", outcome.table_text()),
    }
    Ok(ExitCode::SUCCESS)
}
