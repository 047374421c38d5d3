//! `veriscope run`.

use std::process::ExitCode;

/// Arguments of `veriscope run`.
#[derive(clap::Args)]
pub struct RunArgs {}

/// Runs `veriscope run`.
pub fn execute(_args: RunArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("run")
}
