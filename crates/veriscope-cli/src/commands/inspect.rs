//! `veriscope inspect`.

use std::process::ExitCode;

/// Arguments of `veriscope inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {}

/// Runs `veriscope inspect`.
pub fn execute(_args: InspectArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("inspect")
}
