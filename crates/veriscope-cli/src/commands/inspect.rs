//! `veriscope inspect OUTDIR`: one-screen summary for humans (cli_contracts A11).

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::inspect::{EXPECTED_ARTIFACTS_HELP, render};
use veriscope_report::{ReportError, ValidationProfile, load_view};

/// Arguments of `veriscope inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// Capsule directory
    pub outdir: PathBuf,
}

/// Runs `veriscope inspect`.
pub fn execute(args: InspectArgs) -> anyhow::Result<ExitCode> {
    match load_view(&args.outdir, ValidationProfile::Report) {
        Ok(view) => {
            print!("{}", render(&view));
            Ok(ExitCode::SUCCESS)
        }
        Err(ReportError::CannotReport(msg)) => {
            eprintln!("INVALID: {msg}\n\n{EXPECTED_ARTIFACTS_HELP}");
            Ok(ExitCode::from(2))
        }
        Err(e) => super::report::fail(e),
    }
}
