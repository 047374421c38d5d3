//! One module per subcommand. Each exposes an `XArgs` (clap) and
//! `fn execute(args) -> anyhow::Result<ExitCode>`; `Err` means Veriscope itself could
//! not do its job and maps to exit 3 (internal error) with the error chain on stderr.

use std::process::ExitCode;

pub mod calibrate;
pub mod canon;
pub mod diff;
pub mod gate;
pub mod inspect;
pub mod override_cmd;
pub mod report;
pub mod run;
pub mod schema;
pub mod validate;

/// Maps a command outcome to the process exit code, printing internal errors.
pub fn finish(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(veriscope_contracts::exit::INTERNAL)
        }
    }
}
