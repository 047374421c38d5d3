//! `veriscope canon`.

use std::process::ExitCode;

/// Arguments of `veriscope canon`.
#[derive(clap::Args)]
pub struct CanonArgs {}

/// Runs `veriscope canon`.
pub fn execute(_args: CanonArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("canon")
}
