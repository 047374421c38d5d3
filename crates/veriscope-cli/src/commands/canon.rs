//! `veriscope canon`: the tool users reach for when a hash does not match.
//!
//! Prints the canonical JSON text (contract_v1 §Hashing Rules) of a document, or its
//! sha256. `--window-signature` applies the `created_ts_utc` volatile-key rule first, so
//! the printed hash is the one `results*.window_signature_ref.hash` must carry.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use veriscope_contracts::exit;

/// Arguments of `veriscope canon`.
#[derive(clap::Args)]
pub struct CanonArgs {
    /// Print the lowercase sha256 of the canonical bytes instead of the text
    #[arg(long)]
    hash: bool,
    /// Treat the input as window_signature.json: drop a valid `created_ts_utc` before hashing
    #[arg(long)]
    window_signature: bool,
    /// JSON file to read, or `-` for standard input
    #[arg(default_value = "-")]
    file: PathBuf,
}

/// Runs `veriscope canon`.
pub fn execute(args: CanonArgs) -> anyhow::Result<ExitCode> {
    let bytes = match read_input(&args.file) {
        Ok(bytes) => bytes,
        Err(err) => return invalid(&format!("cannot read {}: {err}", args.file.display())),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return invalid(&format!("{} is not valid UTF-8", args.file.display()));
    };
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            return invalid(&format!(
                "JSON parse error in {}: {err}",
                args.file.display()
            ));
        }
    };
    let rendered = if args.window_signature {
        veriscope_canon::window_signature_hash(&value).map(|hash| {
            if args.hash {
                hash
            } else {
                let mut stripped = value.clone();
                if let Some(map) = stripped.as_object_mut() {
                    map.remove("created_ts_utc");
                }
                veriscope_canon::to_canonical_string(&stripped).unwrap_or_default()
            }
        })
    } else if args.hash {
        veriscope_canon::sha256_hex(&value)
    } else {
        veriscope_canon::to_canonical_string(&value)
    };
    match rendered {
        Ok(out) => print_line(&out),
        Err(err) => invalid(&format!("{}: {err}", args.file.display())),
    }
}

fn read_input(file: &PathBuf) -> std::io::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(file)
    }
}

/// Prints `text` and a newline; a closed pipe (`veriscope canon f | head -c 10`) is not an error.
fn print_line(text: &str) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::from(exit::OK)),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::from(exit::OK)),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Unreadable or non-canonicalizable input: contract exit 2, nothing printed on stdout.
fn invalid(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("INVALID: {message}");
    Ok(ExitCode::from(exit::INVALID))
}
