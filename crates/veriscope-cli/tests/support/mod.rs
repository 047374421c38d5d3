//! Shared by the report, inspect and diff CLI tests: the committed fixture capsules
//! (`fixtures/capsules/`, written by `veriscope_capsule::fixture`) and terminal-style
//! transcripts of `veriscope` runs over them (house_style §5.4). The binary runs from the
//! repository root because fixtures record governance outdirs relative to it, so outputs name
//! fixtures by their relative paths and need no scrubbing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// `fixtures/capsules/<kind>/<name>` for every fixture of `kind` (`valid` or `invalid`),
/// sorted by name.
pub fn fixtures(kind: &str) -> Vec<String> {
    let base = repo_root().join("fixtures/capsules").join(kind);
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| format!("fixtures/capsules/{kind}/{n}"))
        .collect()
}

/// Runs `veriscope ARGS` from the repository root; returns the command line, exit code,
/// stdout and stderr as one transcript.
pub fn transcript(args: &[&str]) -> String {
    transcript_in(&repo_root(), args)
}

/// [`transcript`] run from `dir` (tests over generated capsules run where the capsules are,
/// with relative OUTDIRs, so transcripts need no scrubbing).
pub fn transcript_in(dir: &Path, args: &[&str]) -> String {
    let output = Command::cargo_bin("veriscope")
        .expect("veriscope binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run veriscope");
    format!(
        "$ veriscope {}\n[exit {}]\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Transcripts of several runs, separated by `===` lines.
pub fn transcripts(runs: &[Vec<&str>]) -> String {
    runs.iter()
        .map(|args| transcript(args))
        .collect::<Vec<_>>()
        .join("===\n")
}

/// Snapshot name of a fixture path: `valid__four_gate`.
pub fn snapshot_name(rel: &str) -> String {
    rel.trim_start_matches("fixtures/capsules/")
        .replace('/', "__")
}

/// Runs `f` with snapshots stored under `snapshots/<dir>/` without the module prefix.
pub fn with_snapshot_dir(dir: &str, f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("snapshots/{dir}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(f);
}

/// [`transcripts`] run from `dir`.
pub fn transcripts_in(dir: &Path, runs: &[Vec<&str>]) -> String {
    runs.iter()
        .map(|args| transcript_in(dir, args))
        .collect::<Vec<_>>()
        .join("===\n")
}

/// Asserts that `outdir` is a complete capsule under the strictest validation (governance
/// required and strict, identity strict), naming the findings when it is not.
pub fn assert_strictly_valid(outdir: &Path) {
    use veriscope_capsule::validate::{ValidateOptions, validate_capsule};
    let report = validate_capsule(
        outdir,
        &ValidateOptions {
            require_governance: true,
            strict_governance: true,
            strict_identity: true,
            ..Default::default()
        },
    );
    assert!(
        report.is_valid(),
        "{} {:?}",
        report.message,
        report.findings
    );
    assert!(!report.partial);
}
