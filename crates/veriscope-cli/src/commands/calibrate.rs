//! `veriscope calibrate`.

use std::process::ExitCode;

/// Arguments of `veriscope calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {}

/// Runs `veriscope calibrate`.
pub fn execute(_args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("calibrate")
}
