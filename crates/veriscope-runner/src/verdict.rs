//! From "how the runner ended" to `run_status`, `partial` and the wrapper exit code
//! (productization §2.7 and §4D "Run status mapping"). Pure, so every path is unit-tested.
//!
//! Departures from the original, on purpose: a wrapper-side failure is exit 3, not 2
//! (cli_contracts A17.5); a FAIL/WARN decision never changes the exit code; a run stopped on
//! FAIL under `--on-fail stop` is a complete capsule with run_status success.

use veriscope_contracts::RunStatus;

use crate::supervise::{ChildExit, SuperviseOutcome, signal_name};

/// The facts the verdict depends on.
#[derive(Debug, Clone, Default)]
pub struct VerdictInputs {
    /// `None` when the runner could not be started (with the reason).
    pub exit: Option<ChildExit>,
    pub spawn_error: Option<String>,
    pub wrapper_signal: Option<i32>,
    pub stop_iter: Option<u64>,
    pub stop_ignored: bool,
    /// `status` of the stream's `end` line.
    pub end_status: Option<String>,
    /// Veriscope-side failures (journal, gate) during the run.
    pub internal_errors: Vec<String>,
}

impl VerdictInputs {
    /// Inputs from a supervised run.
    pub fn from_outcome(o: &SuperviseOutcome) -> Self {
        Self {
            exit: Some(o.exit),
            spawn_error: None,
            wrapper_signal: o.wrapper_signal,
            stop_iter: o.stop_iter,
            stop_ignored: o.stop_ignored,
            end_status: o.stream.end.as_ref().and_then(|e| e.status.clone()),
            internal_errors: o.internal_errors.clone(),
        }
    }
}

/// The decided status of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub run_status: RunStatus,
    /// The capsule records an unfinished run (results.json is then not written).
    pub partial: bool,
    /// 0..=255, or `None` when the runner did not exit normally.
    pub runner_exit_code: Option<u8>,
    pub runner_signal: Option<String>,
    /// Human note for results_summary.json.
    pub note: Option<String>,
}

impl Verdict {
    /// Exit code of `veriscope run` (§2.7): derived from run_status only.
    pub fn exit_code(&self) -> u8 {
        veriscope_contracts::exit::for_run_status(self.run_status)
    }
}

/// Decides the verdict.
pub fn decide(i: &VerdictInputs) -> Verdict {
    let (code, signal) = match i.exit {
        Some(ChildExit::Code(c)) => (u8::try_from(c).ok(), None),
        Some(ChildExit::Signal(s)) => (None, Some(signal_name(s))),
        _ => (None, None),
    };
    let mut v = Verdict {
        run_status: RunStatus::Success,
        partial: false,
        runner_exit_code: code,
        runner_signal: signal,
        note: None,
    };
    if let Some(err) = &i.spawn_error {
        return unfinished(
            v,
            RunStatus::UserCodeFailure,
            format!("runner could not be started: {err}"),
        );
    }
    if !i.internal_errors.is_empty() {
        v.run_status = RunStatus::VeriscopeFailure;
        v.note = Some(format!(
            "veriscope failed during the run: {}",
            i.internal_errors.join("; ")
        ));
        v.partial = !matches!(i.exit, Some(ChildExit::Code(0)));
        return v;
    }
    if let Some(sig) = i.wrapper_signal {
        let name = signal_name(sig);
        v.runner_signal = v.runner_signal.or(Some(name.clone()));
        return unfinished(
            v,
            RunStatus::UserCodeFailure,
            format!("wrapper received {name}; run interrupted"),
        );
    }
    if let Some(iter) = i.stop_iter {
        // The gate stopped the run as the user asked: a finished, complete capsule.
        let how = if i.stop_ignored {
            "runner ignored the stop decision and was terminated"
        } else {
            "runner honoured the stop decision"
        };
        v.note = Some(format!(
            "stopped on gate FAIL at iter {iter} (--on-fail stop); {how}"
        ));
        return v;
    }
    match i.exit {
        Some(ChildExit::Signal(_)) => {
            let name = v.runner_signal.clone().unwrap_or_default();
            unfinished(
                v,
                RunStatus::UserCodeFailure,
                format!("runner killed by {name}"),
            )
        }
        Some(ChildExit::Code(0)) if i.end_status.as_deref() == Some("error") => unfinished(
            v,
            RunStatus::UserCodeFailure,
            "runner reported end status error".to_string(),
        ),
        Some(ChildExit::Code(0)) => v,
        Some(ChildExit::Code(c)) => unfinished(
            v,
            RunStatus::UserCodeFailure,
            format!("runner exited with code {c}"),
        ),
        Some(ChildExit::Unknown) | None => unfinished(
            v,
            RunStatus::VeriscopeFailure,
            "runner exit status could not be read".to_string(),
        ),
    }
}

fn unfinished(mut v: Verdict, status: RunStatus, note: String) -> Verdict {
    v.run_status = status;
    v.partial = true;
    v.note = Some(note);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(e: ChildExit) -> VerdictInputs {
        VerdictInputs {
            exit: Some(e),
            ..Default::default()
        }
    }

    #[test]
    fn clean_exit_is_success_and_complete() {
        let v = decide(&exit(ChildExit::Code(0)));
        assert_eq!(
            (v.run_status, v.partial, v.exit_code()),
            (RunStatus::Success, false, 0)
        );
        assert_eq!(v.runner_exit_code, Some(0));
    }

    #[test]
    fn crash_and_signal_are_user_code_failures() {
        let v = decide(&exit(ChildExit::Code(3)));
        assert_eq!(
            (v.run_status, v.partial, v.exit_code()),
            (RunStatus::UserCodeFailure, true, 2)
        );
        let v = decide(&exit(ChildExit::Signal(11)));
        assert_eq!(v.runner_signal.as_deref(), Some("SIGSEGV"));
        assert_eq!((v.runner_exit_code, v.exit_code()), (None, 2));
    }

    #[test]
    fn wrapper_signal_is_partial_exit_2() {
        let v = decide(&VerdictInputs {
            wrapper_signal: Some(15),
            ..exit(ChildExit::Code(0))
        });
        assert_eq!((v.partial, v.exit_code()), (true, 2));
        assert_eq!(v.runner_signal.as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn stop_on_fail_is_success() {
        let v = decide(&VerdictInputs {
            stop_iter: Some(40),
            stop_ignored: true,
            ..exit(ChildExit::Signal(15))
        });
        assert_eq!(
            (v.run_status, v.partial, v.exit_code()),
            (RunStatus::Success, false, 0)
        );
        assert!(v.note.unwrap().contains("iter 40"));
    }

    #[test]
    fn internal_error_is_exit_3() {
        let v = decide(&VerdictInputs {
            internal_errors: vec!["disk full".into()],
            ..exit(ChildExit::Code(0))
        });
        assert_eq!(
            (v.run_status, v.exit_code()),
            (RunStatus::VeriscopeFailure, 3)
        );
        let v = decide(&exit(ChildExit::Unknown));
        assert_eq!(v.exit_code(), 3);
    }

    #[test]
    fn spawn_failure_is_a_user_error() {
        let v = decide(&VerdictInputs {
            spawn_error: Some("No such file".into()),
            ..Default::default()
        });
        assert_eq!((v.exit_code(), v.partial), (2, true));
    }
}
