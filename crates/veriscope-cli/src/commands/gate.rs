//! `veriscope gate ...`: offline gate tools.

use std::process::ExitCode;

/// Offline gate subcommands.
#[derive(clap::Subcommand)]
pub enum GateCommand {
    /// Recompute gate decisions from a recorded metrics stream
    Replay(ReplayArgs),
}

/// Arguments of `veriscope gate replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {}

/// Runs a `veriscope gate` subcommand.
pub fn execute(cmd: GateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GateCommand::Replay(_) => super::not_yet("gate replay"),
    }
}
