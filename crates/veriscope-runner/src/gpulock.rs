//! Per-GPU locks for `run gpt` / `run hf` (productization §2.2): two runs must not train on the
//! same device by accident. One `flock`ed file per device index in a lock directory; a held lock
//! is a clean refusal (exit 1, the A17.1 crash is not reproduced); `--force` bypasses.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Env var naming the directory that holds GPU lock files (default: the system temp dir).
pub const GPU_LOCK_DIR_ENV: &str = "VERISCOPE_GPU_LOCK_DIR";

/// A GPU lock could not be taken.
#[derive(Debug, Error)]
pub enum GpuLockError {
    /// Another run holds the device.
    #[error(
        "Refusing to start: GPU {device} is in use by another veriscope run (lock {}). \
         Use --force to bypass.", .path.display()
    )]
    Held { device: String, path: PathBuf },
    /// The lock file could not be opened.
    #[error("cannot open GPU lock {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held GPU locks; all are released when dropped (on every exit path).
#[derive(Debug, Default)]
pub struct GpuLocks {
    held: Vec<(String, PathBuf, File)>,
}

impl GpuLocks {
    /// Devices whose locks are held.
    pub fn devices(&self) -> Vec<String> {
        self.held.iter().map(|(d, _, _)| d.clone()).collect()
    }

    /// Lock file paths, for the provenance record.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.held.iter().map(|(_, p, _)| p.clone()).collect()
    }
}

impl Drop for GpuLocks {
    fn drop(&mut self) {
        for (_, _, file) in self.held.drain(..) {
            let _ = file.unlock();
        }
    }
}

/// The directory for GPU lock files: `$VERISCOPE_GPU_LOCK_DIR` or the system temp dir.
pub fn lock_dir(env: &BTreeMap<String, String>) -> PathBuf {
    env.get(GPU_LOCK_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Device ids a run will use, from `CUDA_VISIBLE_DEVICES` when set, else `gpu_count` indices.
/// An empty list means "no GPU": no lock is taken.
pub fn devices_in_use(env: &BTreeMap<String, String>, gpu_count: usize) -> Vec<String> {
    match env.get("CUDA_VISIBLE_DEVICES") {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty() && !d.starts_with('-'))
            .map(str::to_string)
            .collect(),
        None => (0..gpu_count).map(|i| i.to_string()).collect(),
    }
}

/// Takes every device lock without waiting; on any refusal the ones taken are released.
pub fn acquire(dir: &Path, devices: &[String]) -> Result<GpuLocks, GpuLockError> {
    let mut locks = GpuLocks::default();
    for device in devices {
        let safe: String = device
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("veriscope_gpu{safe}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| GpuLockError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => locks.held.push((device.clone(), path, file)),
            Err(TryLockError::WouldBlock) => {
                return Err(GpuLockError::Held {
                    device: device.clone(),
                    path,
                });
            }
            Err(TryLockError::Error(source)) => return Err(GpuLockError::Io { path, source }),
        }
    }
    Ok(locks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_devices_win_over_count() {
        let mut env = BTreeMap::new();
        assert_eq!(devices_in_use(&env, 2), vec!["0", "1"]);
        env.insert("CUDA_VISIBLE_DEVICES".to_string(), "3, 5".to_string());
        assert_eq!(devices_in_use(&env, 8), vec!["3", "5"]);
        env.insert("CUDA_VISIBLE_DEVICES".to_string(), "-1".to_string());
        assert!(devices_in_use(&env, 8).is_empty());
    }

    #[test]
    fn second_acquire_is_refused_then_released() {
        let tmp = tempfile::tempdir().unwrap();
        let devs = vec!["0".to_string()];
        let first = acquire(tmp.path(), &devs).unwrap();
        let err = acquire(tmp.path(), &devs).unwrap_err();
        assert!(err.to_string().contains("GPU 0 is in use"));
        drop(first);
        assert!(acquire(tmp.path(), &devs).is_ok());
    }
}
