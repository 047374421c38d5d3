//! OUTDIR policy (productization §2.1 "Idempotency / overwrite policy"): refuse an OUTDIR that
//! already holds capsule artifacts unless `--force`, which runs in a fresh subdirectory instead;
//! hold an exclusive lock on the capsule while a run writes into it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Files whose presence marks a directory as holding a capsule (§2.1). Kept in sync with
/// `veriscope_capsule::SENTINEL_FILES`.
pub const SENTINEL_FILES: [&str; 4] = [
    "run_config_resolved.json",
    "results.json",
    "results_summary.json",
    "window_signature.json",
];

/// Name of the lock file held inside a capsule while a run writes into it.
pub const CAPSULE_LOCK_FILE: &str = ".veriscope.lock";

/// Why an OUTDIR cannot be used. Every variant is a clean refusal (exit 1), never a crash.
#[derive(Debug, Error)]
pub enum OutdirError {
    /// Sentinels exist and `--force` was not given.
    #[error(
        "Refusing to run: OUTDIR {dir} already contains capsule artifacts ({present}). \
         Use --force to run in a fresh subdirectory.",
        dir = .dir.display(), present = .present.join(", ")
    )]
    AlreadyContainsArtifacts { dir: PathBuf, present: Vec<String> },
    /// Another run holds the capsule lock.
    #[error(
        "Refusing to run: another veriscope run is writing into {dir} (lock {lock} is held)",
        dir = .dir.display(), lock = .lock.display()
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    /// The directory could not be created or inspected.
    #[error("cannot prepare OUTDIR {}: {source}", .dir.display())]
    Io { dir: PathBuf, source: io::Error },
}

/// The capsule directory a run writes into, locked for the run's lifetime.
#[derive(Debug)]
pub struct PreparedOutdir {
    /// Absolute path of the capsule directory.
    pub path: PathBuf,
    /// The directory the user asked for (absolute).
    pub requested: PathBuf,
    /// True when `--force` redirected the run into a fresh subdirectory.
    pub forced: bool,
    /// The exclusive capsule lock; released on drop.
    pub lock: CapsuleLock,
}

/// Sentinel files present in `dir`, in contract order.
pub fn present_sentinels(dir: &Path) -> Vec<String> {
    SENTINEL_FILES
        .iter()
        .filter(|name| dir.join(name).exists())
        .map(|name| name.to_string())
        .collect()
}

/// Resolves, creates, locks and checks the OUTDIR for a run of `kind`.
///
/// `stamp` and `suffix` name a forced subdirectory: `force_<kind>_<stamp>_<suffix>`.
/// On refusal nothing inside an existing OUTDIR is created or modified.
pub fn prepare_outdir(
    requested: &Path,
    force: bool,
    kind: &str,
    stamp: &str,
    suffix: &str,
) -> Result<PreparedOutdir, OutdirError> {
    let io_err = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| OutdirError::Io { dir, source }
    };
    fs::create_dir_all(requested).map_err(io_err(requested))?;
    let requested = std::path::absolute(requested).map_err(io_err(requested))?;
    let present = present_sentinels(&requested);
    if present.is_empty() {
        let lock = CapsuleLock::acquire(&requested)?;
        // A run that finished between our check and the lock would have left sentinels.
        let present = present_sentinels(&requested);
        if !present.is_empty() {
            return Err(refusal_or_force_needed(&requested, present));
        }
        return Ok(PreparedOutdir {
            path: requested.clone(),
            requested,
            forced: false,
            lock,
        });
    }
    if !force {
        return Err(refusal_or_force_needed(&requested, present));
    }
    let fresh = requested.join(format!("force_{kind}_{stamp}_{suffix}"));
    // create_dir (not _all): the fresh directory must not exist yet.
    fs::create_dir(&fresh).map_err(io_err(&fresh))?;
    let lock = CapsuleLock::acquire(&fresh)?;
    Ok(PreparedOutdir {
        path: fresh,
        requested,
        forced: true,
        lock,
    })
}

fn refusal_or_force_needed(dir: &Path, present: Vec<String>) -> OutdirError {
    OutdirError::AlreadyContainsArtifacts {
        dir: dir.to_path_buf(),
        present,
    }
}

/// An exclusive advisory lock (`flock`) on `<capsule>/.veriscope.lock`.
/// Dropping it unlocks and removes the file.
#[derive(Debug)]
pub struct CapsuleLock {
    file: Option<File>,
    path: PathBuf,
}

impl CapsuleLock {
    /// Takes the lock without waiting; a held lock is [`OutdirError::Locked`].
    pub fn acquire(dir: &Path) -> Result<Self, OutdirError> {
        let path = dir.join(CAPSULE_LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| OutdirError::Io {
                dir: dir.to_path_buf(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                file: Some(file),
                path,
            }),
            Err(TryLockError::WouldBlock) => Err(OutdirError::Locked {
                dir: dir.to_path_buf(),
                lock: path,
            }),
            Err(TryLockError::Error(source)) => Err(OutdirError::Io {
                dir: dir.to_path_buf(),
                source,
            }),
        }
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CapsuleLock {
    fn drop(&mut self) {
        // Remove while still holding the lock so no other run sees a stale file; a run
        // racing on the unlinked inode still meets our sentinels and refuses.
        let _ = fs::remove_file(&self.path);
        if let Some(file) = self.file.take() {
            let _ = file.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dir_is_used_as_is_and_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let prepared = prepare_outdir(&out, false, "cmd", "s", "x").unwrap();
        assert_eq!(prepared.path, std::path::absolute(&out).unwrap());
        assert!(!prepared.forced);
        assert!(prepared.lock.path().exists());
        let second = prepare_outdir(&out, false, "cmd", "s", "y");
        assert!(matches!(second, Err(OutdirError::Locked { .. })));
        drop(prepared);
        assert!(!out.join(CAPSULE_LOCK_FILE).exists());
    }

    #[test]
    fn sentinels_refuse_without_force_and_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("results.json"), "{}").unwrap();
        let err = prepare_outdir(tmp.path(), false, "cmd", "s", "x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("already contains capsule artifacts"), "{msg}");
        assert!(msg.contains("results.json"));
        let entries: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn force_makes_a_fresh_subdirectory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("window_signature.json"), "{}").unwrap();
        let prepared =
            prepare_outdir(tmp.path(), true, "gpt", "20260101_000000", "ab12cd34").unwrap();
        assert!(prepared.forced);
        assert!(
            prepared
                .path
                .ends_with("force_gpt_20260101_000000_ab12cd34")
        );
        assert!(prepared.path.is_dir());
        assert_eq!(
            fs::read_to_string(tmp.path().join("window_signature.json")).unwrap(),
            "{}"
        );
    }
}
