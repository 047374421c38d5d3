//! Platform and dependency capture: `environment.txt` (productization §4A "Dependency +
//! platform capture") and the `determinism_status` / `dependencies` blocks of
//! `run_config_resolved.json`. Best effort: every probe has a timeout and a missing tool is a
//! note, never an error.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Name of the platform capture file in the capsule.
pub const ENVIRONMENT_TXT: &str = "environment.txt";

/// GPU facts from `nvidia-smi`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuInfo {
    pub names: Vec<String>,
    pub driver: Option<String>,
}

/// Runs `argv` with a timeout; stdout on success, `None` on any failure.
pub fn probe(argv: &[&str], env: &BTreeMap<String, String>, timeout: Duration) -> Option<String> {
    probe_spawned(argv, env, timeout).ok().flatten()
}

/// [`probe`] at a lower CPU priority (`nice -n 10`): the dependency capture runs while the
/// runner trains, and `pip freeze` alone takes most of a core for about a second. At nice 10
/// it gets about a tenth of a core it shares with the runner (and all of an idle one), so it
/// slows the runner little; unlike nice 19 it still finishes well inside its timeout on a
/// machine the training saturates. Falls back to a plain probe where `nice` is missing.
pub fn probe_background(
    argv: &[&str],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Option<String> {
    let niced: Vec<&str> = ["nice", "-n", "10"].iter().chain(argv).copied().collect();
    match probe_spawned(&niced, env, timeout) {
        Ok(out) => out,
        Err(_) => probe(argv, env, timeout),
    }
}

/// `Err` when `argv[0]` could not be started at all.
fn probe_spawned(
    argv: &[&str],
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> std::io::Result<Option<String>> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(None);
    };
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let Some(mut stdout) = child.stdout.take() else {
        return Ok(None);
    };
    // The reader drops `eof` when the tool closes its stdout, which it does as it exits.
    let (eof, at_eof) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        drop(eof);
        s
    });
    let deadline = Instant::now() + timeout;
    // `git rev-parse` runs before the runner starts and answers in a few ms, so its exit is
    // noticed at once (woken by the EOF, then short polls) rather than at a fixed 10 ms poll.
    let mut pause = Duration::from_millis(1);
    let mut closed = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                if closed {
                    std::thread::sleep(pause);
                } else if let Err(RecvTimeoutError::Disconnected) = at_eof.recv_timeout(pause) {
                    closed = true;
                    pause = Duration::from_micros(50);
                }
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let Ok(out) = reader.join() else {
        return Ok(None);
    };
    Ok(status.filter(|s| s.success()).map(|_| out))
}

/// GPUs visible to `nvidia-smi`, if it exists and answers.
pub fn gpu_info(env: &BTreeMap<String, String>) -> Option<GpuInfo> {
    let out = probe(
        &[
            "nvidia-smi",
            "--query-gpu=name,driver_version",
            "--format=csv,noheader",
        ],
        env,
        Duration::from_secs(5),
    )?;
    let mut info = GpuInfo::default();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split(',').map(str::trim);
        info.names
            .push(parts.next().unwrap_or_default().to_string());
        info.driver = parts.next().map(str::to_string).or(info.driver);
    }
    Some(info)
}

fn first_line_with(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    Some(
        line.split_once([':', '='])
            .map_or(line, |(_, v)| v)
            .trim()
            .trim_matches('"')
            .to_string(),
    )
}

/// Facts gathered for one run.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub text: String,
    /// `dependencies` block (§4A).
    pub dependencies: Value,
    pub gpu: Option<GpuInfo>,
}

/// Gathers platform facts; `python` is the interpreter of a Python runner, if any.
pub fn capture_platform(
    env: &BTreeMap<String, String>,
    python: Option<&str>,
    gpu: Option<GpuInfo>,
) -> Platform {
    let mut lines = vec![
        format!(
            "os: {}",
            first_line_with("/etc/os-release", "PRETTY_NAME")
                .unwrap_or_else(|| std::env::consts::OS.to_string())
        ),
        format!(
            "kernel: {}",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        ),
        format!("arch: {}", std::env::consts::ARCH),
        format!(
            "cpu_model: {}",
            first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into())
        ),
        format!(
            "cpu_count: {}",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
        format!(
            "memory_total: {}",
            first_line_with("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into())
        ),
        format!("veriscope: {}", env!("CARGO_PKG_VERSION")),
    ];
    match &gpu {
        Some(g) => {
            lines.push(format!("gpu_count: {}", g.names.len()));
            lines.extend(
                g.names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("gpu[{i}]: {n}")),
            );
            lines.push(format!(
                "gpu_driver: {}",
                g.driver.as_deref().unwrap_or("unknown")
            ));
        }
        None => lines.push("gpu: none detected (nvidia-smi unavailable or no devices)".into()),
    }
    let dependencies = match python {
        Some(py) => python_section(py, env, &mut lines),
        None => {
            json!({ "method": "unavailable", "notes": ["no Python runner; pip freeze not applicable"] })
        }
    };
    Platform {
        text: lines.join("\n") + "\n",
        dependencies,
        gpu,
    }
}

fn python_section(py: &str, env: &BTreeMap<String, String>, lines: &mut Vec<String>) -> Value {
    let version = probe_background(
        &[
            py,
            "-c",
            "import sys; print(sys.version.replace('\\n', ' '))",
        ],
        env,
        Duration::from_secs(10),
    );
    lines.push(format!(
        "python: {}",
        version.as_deref().map_or("unavailable", str::trim)
    ));
    match probe_background(&[py, "-m", "pip", "freeze"], env, Duration::from_secs(30)) {
        Some(freeze) => {
            lines.push("pip_freeze:".into());
            lines.extend(freeze.lines().map(|l| format!("  {l}")));
            json!({ "method": "pip_freeze", "path": ENVIRONMENT_TXT })
        }
        None => {
            json!({ "method": "unavailable", "notes": [format!("`{py} -m pip freeze` failed or timed out")] })
        }
    }
}

/// `determinism_status` (§4A; `--strict-determinism` is not implemented: record and warn).
pub fn determinism_status(env: &BTreeMap<String, String>) -> Value {
    let pyhashseed_ok = env
        .get("PYTHONHASHSEED")
        .is_some_and(|v| v.parse::<u32>().is_ok());
    let cublas_config_ok = env
        .get("CUBLAS_WORKSPACE_CONFIG")
        .is_some_and(|v| v == ":4096:8" || v == ":16:8");
    let mut notes = Vec::new();
    if !pyhashseed_ok {
        notes.push("PYTHONHASHSEED not set to an integer");
    }
    if !cublas_config_ok {
        notes.push("CUBLAS_WORKSPACE_CONFIG not :4096:8 or :16:8");
    }
    json!({ "pyhashseed_ok": pyhashseed_ok, "cublas_config_ok": cublas_config_ok, "notes": notes, "mode": "standard" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn determinism_reads_env() {
        let mut env = BTreeMap::new();
        env.insert("PYTHONHASHSEED".to_string(), "0".to_string());
        let d = determinism_status(&env);
        assert_eq!(d["pyhashseed_ok"], true);
        assert_eq!(d["cublas_config_ok"], false);
    }

    #[test]
    fn probe_times_out_and_reports_failure() {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        assert_eq!(
            probe(&["sh", "-c", "echo hi"], &env, Duration::from_secs(5)).as_deref(),
            Some("hi\n")
        );
        assert_eq!(
            probe(&["sh", "-c", "exit 1"], &env, Duration::from_secs(5)),
            None
        );
        assert_eq!(
            probe(&["sleep", "5"], &env, Duration::from_millis(100)),
            None
        );
        assert_eq!(
            probe(&["/nonexistent/tool"], &env, Duration::from_secs(1)),
            None
        );
    }

    #[test]
    fn background_probe_runs_niced_with_the_same_answers() {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let niceness = |out: Option<String>| out.and_then(|s| s.trim().parse::<i32>().ok());
        let ours = niceness(probe(&["nice"], &env, Duration::from_secs(5))).unwrap();
        let background = niceness(probe_background(&["nice"], &env, Duration::from_secs(5)));
        assert_eq!(background, Some((ours + 10).min(19)));
        assert_eq!(
            probe_background(&["sh", "-c", "exit 1"], &env, Duration::from_secs(5)),
            None
        );
        assert_eq!(
            probe_background(&["/nonexistent/tool"], &env, Duration::from_secs(1)),
            None
        );
    }
}
