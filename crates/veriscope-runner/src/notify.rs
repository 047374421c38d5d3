//! `--notify-cmd`: a shell command the wrapper runs when the gate turns FAIL (or WARN) and
//! when the run ends, so that people hear about a failing run without watching its console.
//! Alerts to Slack, webhooks or a pager are among the oldest asks of training-monitoring
//! users (docs/notify.md; field survey §2 item 4). A command is the smallest interface that
//! reaches all of them: it reads a ready-made message on stdin and in the environment.
//!
//! A notification never changes the run: hooks run beside it in their own process group,
//! are killed after [`HOOK_TIMEOUT`], and their outcome (event, exit status, duration, never
//! their output) is appended to `notify.log` in the capsule. The command text itself is not
//! recorded anywhere in the capsule: it may hold a webhook URL (the CLI masks it in the
//! recorded argv).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::clock::{Clock, utc_seconds};
use crate::supervise::{CheckDecision, GateCheck};

/// File in the capsule that records each notification's outcome, one JSON object per line.
pub const NOTIFY_LOG: &str = "notify.log";
/// A hook still running after this is killed; also the longest the wrapper waits at the end.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Gate notifications per run. Beyond this a flapping run (fail, pass, fail, ...) is not
/// allowed to flood a channel; the end-of-run notification is always sent.
pub const MAX_GATE_NOTIFICATIONS: u32 = 20;

/// When to notify (`--notify-on`, a comma list of `fail`, `warn`, `end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyOn {
    pub fail: bool,
    pub warn: bool,
    pub end: bool,
}

impl Default for NotifyOn {
    /// `fail,end`: the first FAIL after a non-failing check, and the run's end.
    fn default() -> Self {
        NotifyOn {
            fail: true,
            warn: false,
            end: true,
        }
    }
}

impl NotifyOn {
    /// Parses `fail,warn,end` (any subset, any order, at least one).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut on = NotifyOn {
            fail: false,
            warn: false,
            end: false,
        };
        for item in list.split(',').map(str::trim) {
            match item {
                "fail" => on.fail = true,
                "warn" => on.warn = true,
                "end" => on.end = true,
                other => {
                    return Err(format!(
                        "--notify-on: unknown event `{other}` (use a comma list of fail, warn, end)"
                    ));
                }
            }
        }
        Ok(on)
    }

    fn wants(self, decision: CheckDecision) -> bool {
        match decision {
            CheckDecision::Fail => self.fail,
            CheckDecision::Warn => self.warn,
            CheckDecision::Pass | CheckDecision::Skip => false,
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySpec {
    /// Run with `sh -c`.
    pub command: String,
    pub on: NotifyOn,
}

/// How the run ended, for the end-of-run message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    pub run_status: String,
    pub final_decision: String,
    pub partial: bool,
    pub checks: usize,
    pub fails: usize,
    pub warns: usize,
    pub exit_code: u8,
}

/// Fires the hooks of one run.
pub struct Notifier {
    spec: NotifySpec,
    run_id: String,
    outdir: String,
    preset: String,
    log: PathBuf,
    clock: Arc<dyn Clock>,
    /// The decision of the previous check: a notification fires on a change into FAIL/WARN.
    last: Option<CheckDecision>,
    gate_sent: u32,
    inflight: Vec<JoinHandle<()>>,
}

impl Notifier {
    pub fn new(
        spec: NotifySpec,
        run_id: &str,
        outdir: &Path,
        preset: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Notifier {
            spec,
            run_id: run_id.to_owned(),
            outdir: outdir.display().to_string(),
            preset: preset.to_owned(),
            log: outdir.join(NOTIFY_LOG),
            clock,
            last: None,
            gate_sent: 0,
            inflight: Vec::new(),
        }
    }

    /// Called with every gate check, in order. Notifies when the decision turns into one the
    /// user asked for (a run failing at 40 checks in a row sends one message, not 40).
    pub fn check(&mut self, check: &GateCheck) {
        let turned = self.last != Some(check.decision);
        self.last = Some(check.decision);
        if !turned || !self.spec.on.wants(check.decision) {
            return;
        }
        let event = format!("gate_{}", check.decision.as_str());
        if self.gate_sent == MAX_GATE_NOTIFICATIONS {
            self.gate_sent += 1;
            self.record(&event, Some(check.iter), "suppressed", None);
            return;
        }
        if self.gate_sent > MAX_GATE_NOTIFICATIONS {
            return;
        }
        self.gate_sent += 1;
        let reason = check.reason().unwrap_or("-");
        let text = format!(
            "veriscope: gate {} at iter {} (run {}, preset {})\nreason: {reason}\noutdir: {}\n",
            check.decision.as_str().to_uppercase(),
            check.iter,
            self.run_id,
            self.preset,
            self.outdir,
        );
        let env = vec![
            ("VERISCOPE_ITER", check.iter.to_string()),
            ("VERISCOPE_DECISION", check.decision.as_str().to_owned()),
            ("VERISCOPE_REASON", reason.to_owned()),
        ];
        self.fire(&event, Some(check.iter), &text, env);
    }

    /// Sends the end-of-run notification (when asked for) and waits for every hook still
    /// running, [`HOOK_TIMEOUT`] at most, so that the messages leave before the wrapper does.
    pub fn finish(mut self, end: &RunEnd) {
        if self.spec.on.end {
            let text = format!(
                "veriscope: run {} ended {}{}: final decision {}, {} checks ({} fail, {} warn), exit {}\noutdir: {}\n",
                self.run_id,
                end.run_status,
                if end.partial { " (PARTIAL)" } else { "" },
                end.final_decision.to_uppercase(),
                end.checks,
                end.fails,
                end.warns,
                end.exit_code,
                self.outdir,
            );
            let env = vec![
                ("VERISCOPE_RUN_STATUS", end.run_status.clone()),
                ("VERISCOPE_FINAL_DECISION", end.final_decision.clone()),
                ("VERISCOPE_PARTIAL", end.partial.to_string()),
            ];
            self.fire("run_end", None, &text, env);
        }
        for hook in self.inflight.drain(..) {
            let _ = hook.join();
        }
    }

    fn fire(&mut self, event: &str, iter: Option<u64>, text: &str, extra: Vec<(&str, String)>) {
        let payload =
            veriscope_canon::to_canonical_string(&json!({ "text": text })).unwrap_or_default();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&self.spec.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own group: a Ctrl-C meant for the run does not cut a message short.
            .process_group(0)
            .env("VERISCOPE_NOTIFY_EVENT", event)
            .env("VERISCOPE_NOTIFY_TEXT", text)
            .env("VERISCOPE_NOTIFY_JSON", &payload)
            .env("VERISCOPE_RUN_ID", &self.run_id)
            .env("VERISCOPE_OUTDIR", &self.outdir)
            .env("VERISCOPE_GATE_PRESET", &self.preset);
        for (key, value) in extra {
            cmd.env(key, value);
        }
        let started = Instant::now();
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                self.record(event, iter, &format!("not started: {e}"), None);
                return;
            }
        };
        let log = self.log.clone();
        let clock = self.clock.clone();
        let thread_event = event.to_owned();
        let text = text.to_owned();
        let waiter = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                let outcome = deliver(child, &text);
                let took = Some(started.elapsed());
                append(
                    &log,
                    &log_line(&*clock, &thread_event, iter, &outcome, took),
                );
            });
        match waiter {
            Ok(handle) => self.inflight.push(handle),
            Err(e) => self.record(event, iter, &format!("not watched: {e}"), None),
        }
    }

    fn record(&self, event: &str, iter: Option<u64>, outcome: &str, took: Option<Duration>) {
        append(
            &self.log,
            &log_line(&*self.clock, event, iter, outcome, took),
        );
    }
}

/// Writes the message to the hook's stdin, then waits for it; kills it after the timeout.
fn deliver(mut child: Child, text: &str) -> String {
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read stdin closes it: EPIPE is not a failure.
        let _ = stdin.write_all(text.as_bytes());
    }
    let deadline = Instant::now() + HOOK_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match status.code() {
                    Some(code) => format!("exit {code}"),
                    None => format!("killed by {status}"),
                };
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return format!("timed out after {} s", HOOK_TIMEOUT.as_secs());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return format!("wait failed: {e}"),
        }
    }
}

fn log_line(
    clock: &dyn Clock,
    event: &str,
    iter: Option<u64>,
    outcome: &str,
    took: Option<Duration>,
) -> String {
    let line = json!({
        "ts_utc": utc_seconds(clock.now()),
        "event": event,
        "iter": iter,
        "outcome": outcome,
        "ms": took.map(|d| d.as_millis() as u64),
    });
    veriscope_canon::to_canonical_string(&line).unwrap_or_default() + "\n"
}

/// Best effort, like the tee log: a full disk must not stop the run.
fn append(path: &Path, line: &str) {
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(io::stderr(), "[veriscope] cannot write {NOTIFY_LOG}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use serde_json::Value;

    fn check(iter: u64, decision: CheckDecision) -> GateCheck {
        GateCheck {
            iter,
            decision,
            ok: Some(decision != CheckDecision::Fail),
            warn: Some(decision == CheckDecision::Warn),
            audit: json!({ "reason": format!("reason_{iter}") }),
        }
    }

    /// A notifier whose hook appends "EVENT ITER" to `hooks.txt` beside the capsule.
    fn notifier(dir: &Path, on: &str) -> Notifier {
        let spec = NotifySpec {
            command: r#"echo "$VERISCOPE_NOTIFY_EVENT ${VERISCOPE_ITER:--}" >> "$VERISCOPE_OUTDIR/hooks.txt""#
                .into(),
            on: NotifyOn::parse(on).unwrap(),
        };
        Notifier::new(spec, "run1", dir, "tuned_v0", Arc::new(SystemClock))
    }

    fn log_lines(dir: &Path) -> Vec<Value> {
        std::fs::read_to_string(dir.join(NOTIFY_LOG))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn hooks(dir: &Path) -> Vec<String> {
        let mut lines: Vec<String> = std::fs::read_to_string(dir.join("hooks.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        // Hooks run concurrently; their order on file is not the order they were fired.
        lines.sort();
        lines
    }

    #[test]
    fn notify_on_parses_subsets_and_names_unknown_events() {
        assert_eq!(
            NotifyOn::parse("end, warn").unwrap(),
            NotifyOn {
                fail: false,
                warn: true,
                end: true
            }
        );
        assert_eq!(NotifyOn::parse("fail,end").unwrap(), NotifyOn::default());
        let err = NotifyOn::parse("fail,pass").unwrap_err();
        assert!(
            err.contains("`pass`") && err.contains("fail, warn, end"),
            "{err}"
        );
    }

    /// One message per change into FAIL, not one per failing check; WARN only when asked.
    #[test]
    fn a_message_per_turn_into_fail_and_one_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = notifier(dir.path(), "fail,end");
        use CheckDecision::*;
        for (iter, d) in [
            (10, Pass),
            (20, Fail),
            (30, Fail),
            (40, Warn),
            (50, Fail),
            (60, Fail),
        ] {
            n.check(&check(iter, d));
        }
        n.finish(&RunEnd {
            run_status: "success".into(),
            final_decision: "fail".into(),
            partial: false,
            checks: 6,
            fails: 4,
            warns: 1,
            exit_code: 0,
        });
        assert_eq!(
            hooks(dir.path()),
            ["gate_fail 20", "gate_fail 50", "run_end -"]
        );
        let log = log_lines(dir.path());
        assert_eq!(log.len(), 3);
        assert!(log.iter().all(|l| l["outcome"] == "exit 0"), "{log:?}");
    }

    #[test]
    fn a_flapping_run_is_capped_and_the_end_still_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = notifier(dir.path(), "fail,end");
        for i in 0..(2 * MAX_GATE_NOTIFICATIONS as u64 + 10) {
            let d = if i % 2 == 0 {
                CheckDecision::Fail
            } else {
                CheckDecision::Pass
            };
            n.check(&check(i, d));
        }
        n.finish(&RunEnd {
            run_status: "success".into(),
            final_decision: "fail".into(),
            partial: false,
            checks: 50,
            fails: 25,
            warns: 0,
            exit_code: 0,
        });
        let sent = hooks(dir.path());
        assert_eq!(sent.len(), MAX_GATE_NOTIFICATIONS as usize + 1);
        assert_eq!(sent.iter().filter(|h| h.starts_with("run_end")).count(), 1);
        let log = log_lines(dir.path());
        assert_eq!(
            log.iter().filter(|l| l["outcome"] == "suppressed").count(),
            1,
            "one line says the rest were suppressed"
        );
    }

    #[test]
    fn a_failing_hook_is_recorded_and_changes_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let spec = NotifySpec {
            command: "cat > /dev/null; exit 3".into(),
            on: NotifyOn::parse("warn").unwrap(),
        };
        let mut n = Notifier::new(spec, "run1", dir.path(), "tuned_v0", Arc::new(SystemClock));
        n.check(&check(10, CheckDecision::Warn));
        n.finish(&RunEnd {
            run_status: "success".into(),
            final_decision: "warn".into(),
            partial: false,
            checks: 1,
            fails: 0,
            warns: 1,
            exit_code: 0,
        });
        let log = log_lines(dir.path());
        assert_eq!(log.len(), 1, "no end message: only warn was asked for");
        assert_eq!(log[0]["event"], "gate_warn");
        assert_eq!(log[0]["iter"], 10);
        assert_eq!(log[0]["outcome"], "exit 3");
    }
}
