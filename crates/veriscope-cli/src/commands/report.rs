//! `veriscope report`.

use std::process::ExitCode;

/// Arguments of `veriscope report`.
#[derive(clap::Args)]
pub struct ReportArgs {}

/// Runs `veriscope report`.
pub fn execute(_args: ReportArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("report")
}
