//! `veriscope diff`.

use std::process::ExitCode;

/// Arguments of `veriscope diff`.
#[derive(clap::Args)]
pub struct DiffArgs {}

/// Runs `veriscope diff`.
pub fn execute(_args: DiffArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("diff")
}
