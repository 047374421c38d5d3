//! `veriscope schema [NAME]`: prints the JSON Schema of an artifact, or lists the names.
//!
//! The schemas are generated from the `veriscope-contracts` types and committed under
//! `schemas/` (house style §5.4); this command prints the same text.

use std::io::{self, Write};
use std::process::ExitCode;

use veriscope_contracts::exit;
use veriscope_contracts::schema::{SCHEMA_NAMES, schema_text};

/// Arguments of `veriscope schema`.
#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Artifact whose schema to print (omit to list the names)
    pub name: Option<String>,
}

/// Runs `veriscope schema`.
pub fn execute(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let Some(name) = args.name else {
        let listing: String = SCHEMA_NAMES.iter().map(|n| format!("{n}\n")).collect();
        return print_stdout(&listing);
    };
    match schema_text(&name) {
        Some(text) => print_stdout(&text),
        None => {
            eprintln!(
                "error: unknown schema `{name}`\n\nhint: known schemas: {}",
                SCHEMA_NAMES.join(", ")
            );
            Ok(ExitCode::from(exit::INVALID))
        }
    }
}

/// Writes `text` to stdout; a closed pipe (`veriscope schema results | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::from(exit::OK)),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::from(exit::OK)),
        Err(e) => Err(e.into()),
    }
}
