//! `veriscope validate`.

use std::process::ExitCode;

/// Arguments of `veriscope validate`.
#[derive(clap::Args)]
pub struct ValidateArgs {}

/// Runs `veriscope validate`.
pub fn execute(_args: ValidateArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("validate")
}
