//! `veriscope inspect OUTDIR`: one-screen summary for humans (cli_contracts A11), optionally
//! followed by the economic estimate (`--economic`, cli_contracts A8).

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::inspect::{EXPECTED_ARTIFACTS_HELP, render};
use veriscope_report::{ReportError, ValidationProfile, load_view};

use super::report::{EconomicArgs, usage_error, with_economic};

/// Arguments of `veriscope inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// Capsule directory
    pub outdir: PathBuf,
    #[command(flatten)]
    pub economic: EconomicArgs,
}

/// Runs `veriscope inspect`: the capsule is validated first (`INVALID: ...`, exit 2), then the
/// economic flags (exit 2), as the original orders them.
pub fn execute(args: InspectArgs) -> anyhow::Result<ExitCode> {
    match load_view(&args.outdir, ValidationProfile::Report) {
        Ok(view) => {
            let economic = args.economic.flags();
            if let Err(message) = economic.validate() {
                return usage_error(&message);
            }
            let text = render(&view);
            if economic.economic {
                // The summary ends with a newline; a blank line separates the estimate.
                print!("{}", with_economic(text + "\n", &view, &economic, false));
            } else {
                print!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ReportError::CannotReport(msg)) => {
            eprintln!("INVALID: {msg}\n\n{EXPECTED_ARTIFACTS_HELP}");
            Ok(ExitCode::from(2))
        }
        Err(e) => super::report::fail(e),
    }
}
