//! Process-start tuning that candle and glibc only read from the environment.
//!
//! candle sizes its CPU thread pool from `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS`, and
//! glibc's malloc thresholds come from `GLIBC_TUNABLES` at start-up. Setting variables in a
//! running process is `unsafe` in edition 2024 (the workspace denies it), so the binary
//! re-executes itself once with them set: `exec` keeps the pid, process group and the
//! inherited metrics/control pipe fds (they carry no CLOEXEC, docs/metrics-stream.md).
//!
//! Measured (docs/trainer.md §Measured): the malloc thresholds remove the mmap/munmap churn of
//! large temporary tensors (shared/design/ml_framework_bench.md), and one thread beats two
//! for the cpu_small model.

/// Set on the re-executed process so it never loops.
const MARKER: &str = "VERISCOPE_GPT_TUNED_ENV";
/// Keep freed tensors in the heap instead of returning them to the kernel each step.
const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824";

/// The variables to add, or empty when the environment is already right.
pub fn wanted_vars(
    threads: usize,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, String)> {
    if env(MARKER).is_some() {
        return Vec::new();
    }
    let mut vars = Vec::new();
    if env("GLIBC_TUNABLES").is_none() && cfg!(target_os = "linux") {
        vars.push(("GLIBC_TUNABLES", MALLOC_TUNABLES.to_string()));
    }
    if threads > 0 {
        let n = threads.to_string();
        for key in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
            if env(key).as_deref() != Some(n.as_str()) {
                vars.push((key, n.clone()));
            }
        }
    }
    vars
}

/// Re-executes the current binary with the tuned environment when needed. Returns only when
/// nothing had to change (None) or the exec failed (Some(error)).
pub fn reexec_if_needed(
    threads: usize,
    env: impl Fn(&str) -> Option<String>,
) -> Option<std::io::Error> {
    let vars = wanted_vars(threads, env);
    if vars.is_empty() {
        return None;
    }
    exec_self(&vars)
}

#[cfg(unix)]
fn exec_self(vars: &[(&'static str, String)]) -> Option<std::io::Error> {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env(MARKER, "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Some(cmd.exec())
}

#[cfg(not(unix))]
fn exec_self(_vars: &[(&'static str, String)]) -> Option<std::io::Error> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_stops_a_second_exec() {
        let env = |k: &str| (k == MARKER).then(|| "1".to_string());
        assert!(wanted_vars(1, env).is_empty());
    }

    #[test]
    fn threads_zero_leaves_the_pool_alone_and_set_values_are_kept() {
        let env = |k: &str| match k {
            "GLIBC_TUNABLES" => Some("x".to_string()),
            "RAYON_NUM_THREADS" | "CANDLE_NUM_THREADS" => Some("1".to_string()),
            _ => None,
        };
        assert!(wanted_vars(0, env).is_empty());
        assert!(wanted_vars(1, env).is_empty());
        let keys: Vec<&str> = wanted_vars(2, env).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"]);
    }
}
