//! Supervision loop tests with a scripted gate: stop decisions honoured and ignored,
//! interrupts delivered through the handle, escalation to SIGKILL.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use veriscope_runner::relay::TeeLog;
use veriscope_runner::spawn::{SpawnSpec, spawn_runner};
use veriscope_runner::stream::{Hello, SampleLine};
use veriscope_runner::supervise::{
    CheckDecision, ChildExit, GateCheck, InterruptHandle, OnFail, RunObserver, SuperviseConfig,
    SuperviseOutcome, Supervisor,
};

/// Fails every sample from `fail_from` on.
struct ScriptedGate {
    fail_from: u64,
}

impl RunObserver for ScriptedGate {
    fn hello(&mut self, _: &Hello) -> anyhow::Result<()> {
        Ok(())
    }

    fn sample(&mut self, s: &SampleLine) -> anyhow::Result<Option<GateCheck>> {
        let decision = if s.iter >= self.fail_from {
            CheckDecision::Fail
        } else {
            CheckDecision::Pass
        };
        Ok(Some(GateCheck {
            iter: s.iter,
            decision,
            ok: None,
            warn: None,
            audit: json!({"reason": "scripted"}),
        }))
    }
}

/// Console sink that sends SIGTERM (through the handle) once the runner says it is ready,
/// i.e. after it has installed its signal dispositions.
struct InterruptWhenReady {
    handle: Option<InterruptHandle>,
    seen: Vec<u8>,
}

impl Write for InterruptWhenReady {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.seen.extend_from_slice(buf);
        if String::from_utf8_lossy(&self.seen).contains("stdout ready")
            && let Some(h) = self.handle.take()
        {
            h.interrupt(15);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fake_runner() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fake_runners/fake_runner.py")
        .display()
        .to_string()
}

fn supervise(args: &[&str], on_fail: OnFail, interrupt: bool) -> (SuperviseOutcome, Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let mut argv = vec!["python3".to_string(), fake_runner()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cfg = SuperviseConfig {
        kill_grace: Duration::from_millis(500),
        on_fail,
        ..Default::default()
    };
    let sup = Supervisor::new(cfg);
    let handle = sup.interrupt_handle();
    let runner = spawn_runner(&SpawnSpec { argv, env }).unwrap();
    let tee = TeeLog::create(&tmp.path().join("log")).unwrap();
    let console = InterruptWhenReady {
        handle: interrupt.then_some(handle),
        seen: Vec::new(),
    };
    let t0 = Instant::now();
    let outcome = sup
        .run(
            runner,
            &mut ScriptedGate { fail_from: 5 },
            tee,
            console,
            std::io::sink(),
        )
        .unwrap();
    (outcome, t0.elapsed())
}

#[test]
fn stop_decision_honoured_by_the_runner() {
    let (o, _) = supervise(
        &["--samples", "200", "--step-sleep", "0.02", "--honour-stop"],
        OnFail::Stop,
        false,
    );
    assert_eq!(o.stop_iter, Some(5));
    assert!(!o.stop_ignored);
    assert_eq!(o.exit, ChildExit::Code(0));
    assert_eq!(
        o.stream.end.as_ref().and_then(|e| e.status.as_deref()),
        Some("stopped_on_fail")
    );
    assert!(o.stream.samples < 200);
}

#[test]
fn stop_decision_ignored_then_group_terminated() {
    let (o, took) = supervise(
        &["--samples", "10", "--sleep-after", "30"],
        OnFail::Stop,
        false,
    );
    assert_eq!(o.stop_iter, Some(5));
    assert!(o.stop_ignored);
    assert_eq!(o.exit, ChildExit::Signal(15));
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn continue_records_every_fail_without_stopping() {
    let (o, _) = supervise(&["--samples", "12"], OnFail::Continue, false);
    assert_eq!(o.stop_iter, None);
    assert_eq!(
        o.checks
            .iter()
            .filter(|c| c.decision == CheckDecision::Fail)
            .count(),
        7
    );
    assert_eq!(o.exit, ChildExit::Code(0));
}

#[test]
fn interrupt_escalates_to_sigkill_for_a_stubborn_runner() {
    let (o, took) = supervise(
        &["--samples", "1", "--ignore-term", "--sleep-after", "30"],
        OnFail::Continue,
        true,
    );
    assert_eq!(o.wrapper_signal, Some(15));
    assert!(o.escalated_to_kill);
    assert_eq!(o.exit, ChildExit::Signal(9));
    assert!(took < Duration::from_secs(10), "{took:?}");
}
