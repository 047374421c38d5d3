//! `veriscope schema`.

use std::process::ExitCode;

/// Arguments of `veriscope schema`.
#[derive(clap::Args)]
pub struct SchemaArgs {}

/// Runs `veriscope schema`.
pub fn execute(_args: SchemaArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("schema")
}
