//! Snapshot of `veriscope validate` over every golden capsule in `fixtures/capsules/`.
//!
//! One snapshot per fixture holds, for each mode (default, the fixture's MODES.txt flags,
//! full strict) and for `--format json`, the command, exit code, stdout and stderr, like a
//! terminal transcript (house_style §5.4). Hashes are never redacted: they are the contract.
//! The binary runs from the repository root because fixtures record governance outdirs
//! relative to it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn transcript(repo: &Path, rel: &str, flags: &[&str]) -> String {
    let output = Command::cargo_bin("veriscope")
        .expect("veriscope binary")
        .current_dir(repo)
        .arg("validate")
        .arg(rel)
        .args(flags)
        .output()
        .expect("run veriscope");
    let mut cmd = format!("$ veriscope validate {rel}");
    for f in flags {
        cmd.push(' ');
        cmd.push_str(f);
    }
    format!(
        "{cmd}\n[exit {}]\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn fixture_dirs(repo: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["valid", "invalid"] {
        let base = repo.join("fixtures/capsules").join(kind);
        let mut names: Vec<String> = std::fs::read_dir(&base)
            .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        out.extend(
            names
                .into_iter()
                .map(|n| format!("fixtures/capsules/{kind}/{n}")),
        );
    }
    out
}

const STRICT: [&str; 3] = [
    "--strict-governance",
    "--require-governance",
    "--strict-identity",
];

#[test]
fn validate_output_over_all_fixtures() {
    let repo = repo_root();
    let dirs = fixture_dirs(&repo);
    assert!(
        dirs.len() >= 30,
        "expected the generated fixtures, found {}",
        dirs.len()
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/validate");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for rel in dirs {
            let modes =
                std::fs::read_to_string(repo.join(&rel).join("MODES.txt")).unwrap_or_default();
            let own: Vec<&str> = modes.split_whitespace().skip(2).collect();
            let mut text = transcript(&repo, &rel, &[]);
            if !own.is_empty() && own != STRICT {
                text.push_str("===\n");
                text.push_str(&transcript(&repo, &rel, &own));
            }
            text.push_str("===\n");
            text.push_str(&transcript(&repo, &rel, &STRICT));
            text.push_str("===\n");
            text.push_str(&transcript(&repo, &rel, &["--format", "json"]));
            let name = rel
                .trim_start_matches("fixtures/capsules/")
                .replace('/', "__");
            insta::assert_snapshot!(name, text);
        }
    });
}
