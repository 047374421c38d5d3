//! `veriscope override`.

use std::process::ExitCode;

/// Arguments of `veriscope override`.
#[derive(clap::Args)]
pub struct OverrideArgs {}

/// Runs `veriscope override`.
pub fn execute(_args: OverrideArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("override")
}
