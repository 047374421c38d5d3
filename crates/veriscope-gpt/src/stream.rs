//! The runner side of the metrics stream (docs/metrics-stream.md): where lines go, how they
//! are written, the hello/sample/end line shapes, and the control-channel reader.
//!
//! Inherited fds are opened through `/dev/fd/N`, which needs no `unsafe` (the workspace
//! denies it) and works for pipes on Linux and macOS.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

/// Where stream lines go, resolved from the environment and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    /// `VERISCOPE_METRICS_FD`, with `VERISCOPE_METRICS_PATH` as the fallback when the fd is
    /// not open (metrics-stream.md §Transport).
    Fd { fd: u32, fallback: Option<PathBuf> },
    /// `VERISCOPE_METRICS_PATH` alone, or `--metrics-out` in standalone use.
    Path(PathBuf),
    /// Standalone without `--metrics-out`: nothing is written.
    Nowhere,
}

/// Resolves the sink. `env` is a lookup so tests need not touch the process environment.
pub fn resolve_sink(
    env: impl Fn(&str) -> Option<String>,
    metrics_out: Option<&Path>,
) -> Result<SinkTarget, String> {
    let path = env("VERISCOPE_METRICS_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(raw) = env("VERISCOPE_METRICS_FD").filter(|s| !s.is_empty()) {
        let fd = raw
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("VERISCOPE_METRICS_FD is not a file descriptor: '{raw}'"))?;
        return Ok(SinkTarget::Fd { fd, fallback: path });
    }
    Ok(match (path, metrics_out) {
        (Some(p), _) => SinkTarget::Path(p),
        (None, Some(p)) => SinkTarget::Path(p.to_path_buf()),
        (None, None) => SinkTarget::Nowhere,
    })
}

/// Writes one JSON line per call with a single `write` (lines under PIPE_BUF stay atomic).
#[derive(Debug)]
pub struct MetricsSink {
    out: Option<File>,
}

impl MetricsSink {
    pub fn open(target: &SinkTarget) -> io::Result<Self> {
        let out = match target {
            SinkTarget::Fd { fd, fallback } => match open_fd(*fd, false) {
                Ok(f) => Some(f),
                Err(e) => match fallback {
                    Some(p) => Some(open_append(p)?),
                    None => return Err(e),
                },
            },
            SinkTarget::Path(p) => Some(open_append(p)?),
            SinkTarget::Nowhere => None,
        };
        Ok(Self { out })
    }

    /// A sink that drops every line.
    pub fn disabled() -> Self {
        Self { out: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.out.is_some()
    }

    pub fn write_line(&mut self, line: &Value) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let mut text = serde_json::to_string(line).map_err(io::Error::other)?;
        text.push('\n');
        out.write_all(text.as_bytes())
    }
}

/// Opens an inherited fd through `/dev/fd/N`. The open is non-blocking, so a FIFO whose other
/// end is gone fails at once (ENXIO) instead of hanging the trainer; blocking mode is then
/// restored on our own open file description (the wrapper's is untouched).
fn open_fd(fd: u32, read: bool) -> io::Result<File> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::os::unix::fs::OpenOptionsExt;
    let path = format!("/dev/fd/{fd}");
    let mut opts = OpenOptions::new();
    if read {
        opts.read(true);
    } else {
        // append: a regular file handed over as the fd is never overwritten.
        opts.append(true);
    }
    let file = opts.custom_flags(OFlag::O_NONBLOCK.bits()).open(path)?;
    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).map_err(io::Error::from)?;
    Ok(file)
}

fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

/// A JSON number for a finite value, `null` otherwise (JSON has no NaN).
pub fn finite_or_null(x: Option<f64>) -> Value {
    match x {
        Some(v) if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

/// Non-finite counts since the last sample (metrics-stream.md §sample `nonfinite`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonFinite {
    pub loss: u64,
    pub grad: u64,
    pub hidden: u64,
}

/// Timings of one sample, in milliseconds (docs/trainer.md §Probe and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Mean training step since the last sample.
    pub step_ms: f64,
    /// Probe forward (to the probed block, plus the copy to the host); on the worker thread
    /// in async mode.
    pub probe_ms: Option<f64>,
    /// Metric math; on the worker thread in async mode.
    pub metric_ms: Option<f64>,
    /// Async mode: time the training thread waited for a free probe-queue slot.
    pub probe_wait_ms: Option<f64>,
    /// Async mode: time the training thread spent copying the weights for the probe.
    pub snapshot_ms: Option<f64>,
}

/// One `sample` line's content.
#[derive(Debug, Clone, Default)]
pub struct SampleLine {
    pub iter: u64,
    /// Empty with `--no-probe`.
    pub metrics: BTreeMap<String, Option<f64>>,
    pub loss: Option<f64>,
    pub ewma_loss: Option<f64>,
    pub grad_norm: Option<f64>,
    pub lr: f64,
    pub nonfinite: NonFinite,
    pub injection_active: bool,
    pub timing: Timing,
    /// Latest validation loss, when an eval ran since the last sample (extra field).
    pub val_loss: Option<f64>,
}

impl SampleLine {
    pub fn to_json(&self) -> Value {
        let metrics: Map<String, Value> = self
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), finite_or_null(*v)))
            .collect();
        let mut timing = Map::new();
        timing.insert("step_ms".into(), finite_or_null(Some(self.timing.step_ms)));
        let optional = [
            ("probe_ms", self.timing.probe_ms),
            ("metric_ms", self.timing.metric_ms),
            ("probe_wait_ms", self.timing.probe_wait_ms),
            ("snapshot_ms", self.timing.snapshot_ms),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                timing.insert(key.into(), finite_or_null(Some(v)));
            }
        }
        let mut v = json!({
            "type": "sample",
            "iter": self.iter,
            "metrics": metrics,
            "loss": finite_or_null(self.loss),
            "ewma_loss": finite_or_null(self.ewma_loss),
            "grad_norm": finite_or_null(self.grad_norm),
            "lr": finite_or_null(Some(self.lr)),
            "nonfinite": {
                "loss": self.nonfinite.loss,
                "grad": self.nonfinite.grad,
                "hidden": self.nonfinite.hidden,
            },
            "injection_active": self.injection_active,
            "timing": timing,
        });
        if let Some(val) = self.val_loss {
            v["val_loss"] = finite_or_null(Some(val));
        }
        v
    }
}

/// How a run ended (metrics-stream.md §end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndStatus {
    Completed,
    StoppedOnFail,
    Error,
    /// Stopped by this signal after a checkpoint (docs/replay.md §3). The protocol's statuses
    /// are `completed|stopped_on_fail|error`, so it is written as `error` (never success)
    /// with reason `interrupted:<SIGNAL>`, and the process exits 128+signal.
    Interrupted(i32),
}

impl EndStatus {
    /// The `status` value of the `end` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::StoppedOnFail => "stopped_on_fail",
            Self::Error | Self::Interrupted(_) => "error",
        }
    }

    /// The `reason` of the `end` line for the statuses that have a fixed one.
    pub fn reason(self) -> Option<String> {
        match self {
            Self::StoppedOnFail => Some("gate_stop".into()),
            Self::Interrupted(sig) => Some(format!(
                "interrupted:{}",
                crate::interrupt::signal_name(sig)
            )),
            Self::Completed | Self::Error => None,
        }
    }
}

pub fn end_line(iter: u64, status: EndStatus, reason: Option<&str>, wall_s: f64) -> Value {
    json!({
        "type": "end",
        "iter": iter,
        "status": status.as_str(),
        "reason": reason,
        "wall_s": finite_or_null(Some(wall_s)),
    })
}

/// What the control channel has said so far, shared with the reader thread.
#[derive(Debug, Default)]
pub struct ControlState {
    stop: AtomicBool,
    last_decision: Mutex<Option<String>>,
}

impl ControlState {
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// e.g. `"warn@400"`, for the progress bar.
    pub fn last_decision(&self) -> Option<String> {
        self.last_decision.lock().ok().and_then(|g| g.clone())
    }

    /// Applies one control line; malformed lines are ignored (forward compatibility).
    pub fn apply_line(&self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        if v.get("type").and_then(Value::as_str) != Some("decision") {
            return;
        }
        if let Some(d) = v.get("decision").and_then(Value::as_str) {
            let at = v.get("iter").and_then(Value::as_u64);
            let label = match at {
                Some(i) => format!("{d}@{i}"),
                None => d.to_string(),
            };
            if let Ok(mut g) = self.last_decision.lock() {
                *g = Some(label);
            }
        }
        if v.get("action").and_then(Value::as_str) == Some("stop") {
            self.stop.store(true, Ordering::Release);
        }
    }
}

/// Starts a reader thread on `VERISCOPE_CONTROL_FD` when set; the training loop only polls the
/// shared state, so it never blocks on the pipe.
pub fn spawn_control_reader(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Arc<ControlState>, String> {
    let state = Arc::new(ControlState::default());
    let Some(raw) = env("VERISCOPE_CONTROL_FD").filter(|s| !s.is_empty()) else {
        return Ok(state);
    };
    let fd = raw
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("VERISCOPE_CONTROL_FD is not a file descriptor: '{raw}'"))?;
    let shared = Arc::clone(&state);
    std::thread::Builder::new()
        .name("veriscope-control".into())
        .spawn(move || {
            // An fd that is not open is not fatal: the control channel is optional.
            let Ok(file) = open_fd(fd, true) else {
                return;
            };
            for line in BufReader::new(file).lines() {
                match line {
                    Ok(l) => shared.apply_line(&l),
                    Err(_) => break,
                }
            }
        })
        .map_err(|e| format!("cannot start the control reader: {e}"))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env::env_of;

    #[test]
    fn fd_wins_over_path_which_wins_over_flag() {
        let both = env_of(&[
            ("VERISCOPE_METRICS_FD", "7"),
            ("VERISCOPE_METRICS_PATH", "/x"),
        ]);
        assert_eq!(
            resolve_sink(both, None).unwrap(),
            SinkTarget::Fd {
                fd: 7,
                fallback: Some("/x".into())
            }
        );
        let path = env_of(&[("VERISCOPE_METRICS_PATH", "/x")]);
        assert_eq!(
            resolve_sink(path, Some(Path::new("/y"))).unwrap(),
            SinkTarget::Path("/x".into())
        );
        assert_eq!(
            resolve_sink(env_of(&[]), Some(Path::new("/y"))).unwrap(),
            SinkTarget::Path("/y".into())
        );
        assert_eq!(
            resolve_sink(env_of(&[]), None).unwrap(),
            SinkTarget::Nowhere
        );
    }

    #[test]
    fn bad_fd_value_is_reported() {
        let err = resolve_sink(env_of(&[("VERISCOPE_METRICS_FD", "x")]), None).unwrap_err();
        assert!(err.contains("VERISCOPE_METRICS_FD"), "{err}");
    }

    #[test]
    fn unopenable_fd_falls_back_to_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        let target = SinkTarget::Fd {
            fd: 987_654,
            fallback: Some(p.clone()),
        };
        let mut sink = MetricsSink::open(&target).unwrap();
        sink.write_line(&json!({"type": "hello", "protocol": 1}))
            .unwrap();
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.ends_with('\n') && text.lines().count() == 1,
            "{text:?}"
        );
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v, json!({"type": "hello", "protocol": 1}));
    }

    #[test]
    fn sample_line_writes_null_for_non_finite_values() {
        let mut s = SampleLine {
            iter: 4,
            loss: Some(f64::NAN),
            lr: 1e-3,
            ..Default::default()
        };
        s.metrics.insert("eff_dim".into(), Some(f64::INFINITY));
        s.metrics.insert("rankme".into(), Some(3.5));
        let v = s.to_json();
        assert_eq!(v["type"], "sample");
        assert_eq!(v["iter"], 4);
        assert!(v["loss"].is_null());
        assert!(v["metrics"]["eff_dim"].is_null());
        assert_eq!(v["metrics"]["rankme"], json!(3.5));
        assert!(v.get("val_loss").is_none());
    }

    #[test]
    fn control_stop_sets_the_flag_and_records_the_decision() {
        let st = ControlState::default();
        st.apply_line("not json");
        st.apply_line(r#"{"type":"decision","iter":100,"decision":"warn","action":"continue"}"#);
        assert!(!st.stop_requested());
        assert_eq!(st.last_decision().as_deref(), Some("warn@100"));
        st.apply_line(r#"{"type":"decision","iter":140,"decision":"fail","action":"stop"}"#);
        assert!(st.stop_requested());
        assert_eq!(st.last_decision().as_deref(), Some("fail@140"));
    }

    #[test]
    fn an_interrupt_ends_as_an_error_that_names_the_signal() {
        let st = EndStatus::Interrupted(15);
        let v = end_line(7, st, st.reason().as_deref(), 0.5);
        assert_eq!(v["status"], "error");
        assert_eq!(v["reason"], "interrupted:SIGTERM");
        assert_eq!(
            EndStatus::StoppedOnFail.reason().as_deref(),
            Some("gate_stop")
        );
    }

    #[test]
    fn end_line_names_the_status() {
        let v = end_line(9, EndStatus::StoppedOnFail, Some("gate_fail"), 1.5);
        assert_eq!(v["status"], "stopped_on_fail");
        assert_eq!(v["reason"], "gate_fail");
    }
}
