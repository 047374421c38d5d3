//! `veriscope report`: render one capsule (text, md, json, html) or compare several
//! (`--compare`), optionally with the economic estimate (`--economic`, text and md only).
//! Exit codes: contract_v1 §Exit Codes (0 rendered, 2 cannot report, incomparable or bad
//! flags, 3 internal). Flag checks follow cli_contracts A8's order.

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::compare::compare_group;
use veriscope_report::economic::{EconomicFlags, estimate};
use veriscope_report::{
    CapsuleView, Format, ReportError, ValidationProfile, load_view, load_views, render_report,
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
    #[command(flatten)]
    pub economic: EconomicArgs,
}

/// The economic flags shared by `report` and `inspect` (cli_contracts A1, A8).
#[derive(clap::Args)]
pub struct EconomicArgs {
    /// Append an economic estimate, text and md only (iterations, hours and cost a stop at the
    /// first fail saves)
    #[arg(long)]
    pub economic: bool,
    /// Planned total iterations (default: the run's forwarded --max_iters / --max_steps)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub planned_total_iters: Option<i64>,
    /// GPU-hour price assumption for the estimate
    #[arg(long, value_name = "PRICE", allow_negative_numbers = true)]
    pub price_per_gpu_hour: Option<f64>,
    /// GPU count assumption for the estimate
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub gpus: i64,
}

impl EconomicArgs {
    /// The library's view of the flags.
    pub fn flags(&self) -> EconomicFlags {
        EconomicFlags {
            economic: self.economic,
            planned_total_iters: self.planned_total_iters,
            price_per_gpu_hour: self.price_per_gpu_hour,
            gpus: self.gpus,
        }
    }
}

/// Prints `message` to stderr and returns exit 2 (a flag-validation error, cli_contracts A2).
pub fn usage_error(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("{message}");
    Ok(ExitCode::from(2))
}

/// `text` followed by the economic estimate in its format's layout: text gets the block after
/// the report's closing blank line, Markdown a final `## Economic Estimate` section.
pub fn with_economic(text: String, view: &CapsuleView, flags: &EconomicFlags, md: bool) -> String {
    let e = estimate(view, flags);
    if md {
        format!("{text}\n{}\n", e.render_md())
    } else {
        format!("{text}{}\n", e.render_text())
    }
}

/// Runs `veriscope report`.
pub fn execute(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let format = if args.json {
        ReportFormat::Json
    } else {
        args.format
    };
    let economic = args.economic.flags();
    if let Err(message) = economic.validate() {
        return usage_error(&message);
    }
    if economic.economic && format == ReportFormat::Json {
        return usage_error("--economic is not supported with JSON output");
    }
    if args.compare {
        if economic.economic {
            return usage_error("--economic is only supported for single-OUTDIR report output");
        }
        return compare(&args, format);
    }
    let [outdir] = args.outdirs.as_slice() else {
        return usage_error("report requires exactly one OUTDIR (or use --compare for multiple)");
    };
    if economic.economic && format == ReportFormat::Html {
        return usage_error("--economic is supported with text and md output only");
    }
    let rendered = load_view(outdir, ValidationProfile::Report).and_then(|view| {
        let f = match format {
            ReportFormat::Text => Format::Text,
            ReportFormat::Md => Format::Markdown,
            ReportFormat::Json => Format::Json,
            ReportFormat::Html => Format::Html,
        };
        let text = render_report(&view, f)?;
        Ok(if economic.economic {
            with_economic(text, &view, &economic, f == Format::Markdown)
        } else {
            text
        })
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
