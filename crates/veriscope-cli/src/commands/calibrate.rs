//! `veriscope calibrate`: FAR / detection delay / overhead over control and injected capsules
//! (productization §2.6, cli_contracts A12). Read-only on the capsules; writes two files
//! (default: the current directory). Exit 0 / 2 (input) / 3 (internal).

use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_report::ReportError;
use veriscope_report::calibrate::{CalibrateInput, calibrate, render_markdown};

/// Arguments of `veriscope calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Control capsule (repeat for several seeds)
    #[arg(long = "control-dir", required = true)]
    pub control_dirs: Vec<PathBuf>,
    /// Injected-pathology capsule (repeat for several seeds)
    #[arg(long = "injected-dir", required = true)]
    pub injected_dirs: Vec<PathBuf>,
    /// Injection onset iteration (default: the injected capsule's recorded injection)
    #[arg(long)]
    pub injection_onset_iter: Option<u64>,
    /// JSON output path
    #[arg(long, default_value = "calibration.json")]
    pub out: PathBuf,
    /// Markdown output path
    #[arg(long, default_value = "calibration.md")]
    pub out_md: PathBuf,
}

/// Runs `veriscope calibrate`.
pub fn execute(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let input = CalibrateInput {
        control_dirs: args.control_dirs,
        injected_dirs: args.injected_dirs,
        onset_override: args.injection_onset_iter,
    };
    let doc = match calibrate(&input) {
        Ok(doc) => doc,
        Err(e @ ReportError::Invalid { .. }) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("ERROR:CALIBRATE_INTERNAL {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let written = veriscope_canon::to_pretty_ascii(&doc)
        .map_err(anyhow::Error::from)
        .and_then(|json| {
            veriscope_capsule::atomic::write_text_atomic(&args.out, &json)?;
            veriscope_capsule::atomic::write_text_atomic(&args.out_md, &render_markdown(&doc))?;
            Ok(())
        });
    if let Err(e) = written {
        eprintln!("ERROR:CALIBRATE_INTERNAL {e:#}");
        return Ok(ExitCode::from(3));
    }
    println!("WROTE: {} {}", args.out.display(), args.out_md.display());
    Ok(ExitCode::SUCCESS)
}
