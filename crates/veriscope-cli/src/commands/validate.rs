//! `veriscope validate OUTDIR`: check every invariant of a run capsule, read-only.
//!
//! Output contract (cli_contracts A5, docs/validate.md): text mode prints warnings and notes
//! on stderr, then `OK window_signature_hash=<hex>` on stdout (exit 0); or
//! `INVALID: <message>` and the further error lines on stderr (exit 2). `--format json`
//! prints one object with every finding on stdout. Exit 3 only when Veriscope itself fails.
//!
//! Decision: partial capsules (results.json absent, summary `partial=true`) are accepted,
//! with a `NOTE:PARTIAL_CAPSULE` line, because the wrapper writes them when a run crashes or
//! is signalled and that capsule must validate. `--require-complete` restores the
//! reference CLI's refusal.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use veriscope_capsule::validate::{ValidateOptions, ValidationReport, validate_capsule};

/// Exit code of an invalid capsule (contract_v1 §Exit Codes).
const EXIT_INVALID: u8 = 2;

/// Output format of `veriscope validate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    /// `OK ...` / `INVALID: ...` lines
    #[default]
    Text,
    /// One JSON object with every finding
    Json,
}

/// Arguments of `veriscope validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Capsule directory to check
    pub outdir: PathBuf,
    /// Fail on an invalid governance journal or a failed binding (default: warn)
    #[arg(long)]
    pub strict_governance: bool,
    /// Fail when governance_log.jsonl is missing
    #[arg(long)]
    pub require_governance: bool,
    /// Never soften identity mismatches; with --require-governance, bind every gate to the journal
    #[arg(long)]
    pub strict_identity: bool,
    /// Accept journal entries without entry_hash (legacy logs)
    #[arg(long)]
    pub allow_legacy_governance: bool,
    /// Reject partial capsules (results.json absent), as the reference CLI does
    #[arg(long)]
    pub require_complete: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

impl ValidateArgs {
    fn options(&self) -> ValidateOptions {
        ValidateOptions {
            strict_governance: self.strict_governance,
            require_governance: self.require_governance,
            strict_identity: self.strict_identity,
            allow_legacy_governance: self.allow_legacy_governance,
            allow_partial: !self.require_complete,
            soften_identity: false,
            cwd: None,
        }
    }
}

/// Runs `veriscope validate`.
pub fn execute(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let report = validate_capsule(&args.outdir, &args.options());
    match args.format {
        ValidateFormat::Text => print_text(&report),
        ValidateFormat::Json => print_json(&args, &report)?,
    }
    Ok(if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}

/// Text mode. Write errors (a closed pipe) are ignored: the exit code carries the verdict.
fn print_text(report: &ValidationReport) {
    let mut err = std::io::stderr().lock();
    if report.is_valid() {
        for f in report.findings.iter() {
            let _ = writeln!(err, "{}", f.message);
        }
        let hash = report.window_signature_hash.as_deref().unwrap_or("-");
        let _ = writeln!(std::io::stdout().lock(), "OK window_signature_hash={hash}");
        return;
    }
    let _ = writeln!(err, "INVALID: {}", report.message);
    for f in report.errors().filter(|f| f.message != report.message) {
        let _ = writeln!(err, "{}", f.message);
    }
}

/// JSON mode: a stable object (`format_version` 1) in Python `indent=2, sort_keys` style.
fn print_json(args: &ValidateArgs, report: &ValidationReport) -> anyhow::Result<()> {
    let doc = json!({
        "format_version": 1,
        "outdir": args.outdir.to_string_lossy(),
        "valid": report.is_valid(),
        "message": report.message,
        "window_signature_hash": report.window_signature_hash,
        "partial": report.partial,
        "findings": serde_json::to_value(&report.findings).context("serializing findings")?,
        "options": {
            "strict_governance": args.strict_governance,
            "require_governance": args.require_governance,
            "strict_identity": args.strict_identity,
            "allow_legacy_governance": args.allow_legacy_governance,
            "allow_partial": !args.require_complete,
        },
    });
    let text = veriscope_canon::to_pretty_ascii(&doc).context("rendering validate JSON")?;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
}
