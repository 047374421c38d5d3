//! Crash-safe file writes: a reader sees either the old complete file or the new complete
//! file, never a torn one.
//!
//! Recipe (productization §3 "Atomicity", cli_contracts A3 "Other writers"): write a unique
//! temp sibling `.<name>.vs-tmp.<12 hex>.tmp`, fsync it, rename it over the target, then fsync
//! the directory so the rename itself survives a power cut. `tempfile::persist` skips the
//! fsyncs, which is why this module exists (architecture.md "Hard-won facts").

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// Longest temp file name we create; longer names fall back to `.vs-tmp.<12 hex>.tmp`
/// (cli_contracts A3: "shortened ... if the name would exceed 240 chars").
const MAX_TEMP_NAME_LEN: usize = 240;

/// Writes `v` as canonical JSON plus one trailing `\n`, atomically.
///
/// Non-finite numbers cannot be canonicalized; they are refused with
/// `io::ErrorKind::InvalidData` and nothing is written.
pub fn write_json_atomic(path: &Path, v: &Value) -> io::Result<()> {
    let mut text = veriscope_canon::to_canonical_string(v)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    text.push('\n');
    write_bytes_atomic(path, text.as_bytes())
}

/// Writes `text` verbatim, atomically.
pub fn write_text_atomic(path: &Path, text: &str) -> io::Result<()> {
    write_bytes_atomic(path, text.as_bytes())
}

/// Writes `bytes` verbatim, atomically; the temp file is removed on any failure.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "target path has no file name")
    })?;
    let dir = parent_dir(path);
    let tmp = dir.join(temp_name(file_name));
    let result = write_and_sync(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(err) = result {
        // Best effort: the temp may not exist if `create_new` itself failed.
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    sync_dir(&dir)
}

/// fsyncs a directory so a rename or a newly created entry in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn write_and_sync(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `.<name>.vs-tmp.<12 hex>.tmp`, or `.vs-tmp.<12 hex>.tmp` when that would be too long.
fn temp_name(file_name: &str) -> String {
    let suffix = random_hex12();
    let full = format!(".{file_name}.vs-tmp.{suffix}.tmp");
    if full.len() > MAX_TEMP_NAME_LEN {
        format!(".vs-tmp.{suffix}.tmp")
    } else {
        full
    }
}

/// 48 random-enough bits as 12 lowercase hex digits. Uniqueness, not secrecy, is the goal:
/// std's per-process random hash keys plus a counter, pid and time avoid collisions between
/// threads and processes without pulling in a RNG crate.
fn random_hex12() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(elapsed) = std::time::UNIX_EPOCH.elapsed() {
        hasher.write_u128(elapsed.as_nanos());
    }
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".vs-tmp."))
            .collect()
    }

    #[test]
    fn text_write_creates_and_overwrites_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        write_text_atomic(&target, "one\n").unwrap();
        write_text_atomic(&target, "two").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "two");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn json_write_is_canonical_with_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.json");
        let v: Value = serde_json::from_str(r#"{"b":1.0,"a":"café"}"#).unwrap();
        write_json_atomic(&target, &v).unwrap();
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            "{\"a\":\"café\",\"b\":1.0}\n"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn failed_write_leaves_no_temp_and_keeps_old_content() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails: the temp must be cleaned up.
        let target = dir.path().join("occupied");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), "x").unwrap();
        assert!(write_text_atomic(&target, "new").is_err());
        assert!(leftovers(dir.path()).is_empty());
        assert_eq!(fs::read_to_string(target.join("keep")).unwrap(), "x");
    }

    #[test]
    fn temp_names_follow_the_contract_shape() {
        let name = temp_name("results.json");
        assert!(name.starts_with(".results.json.vs-tmp."), "{name}");
        assert!(name.ends_with(".tmp"));
        let hex = &name[".results.json.vs-tmp.".len()..name.len() - 4];
        assert_eq!(hex.len(), 12);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let long = temp_name(&"n".repeat(250));
        assert!(long.starts_with(".vs-tmp.") && long.len() == ".vs-tmp.".len() + 12 + 4);
    }
}
