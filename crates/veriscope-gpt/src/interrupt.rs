//! Graceful preemption (docs/replay.md §3: "On SIGTERM/SIGINT the built-in trainer saves a
//! checkpoint at the current iteration and exits 128+signal, so a preempted run loses
//! nothing").
//!
//! The first SIGTERM or SIGINT only records which signal came; the loop polls it after each
//! iteration, finishes that iteration, drains the probe queue, saves a checkpoint and writes
//! its `end` line. A second one terminates the process at once with 128+signal
//! (signal-hook's conditional shutdown, registered before the flag so it sees the flag as it
//! was before this signal), for a user who does not want to wait.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Exit code of a process that ends because of signal `signo` (shell convention).
pub fn exit_code_for(signo: i32) -> u8 {
    u8::try_from(128 + signo).unwrap_or(u8::MAX)
}

/// Name of the signals this module handles, for the `end` line and messages.
pub fn signal_name(signo: i32) -> String {
    match signo {
        SIGTERM => "SIGTERM".into(),
        SIGINT => "SIGINT".into(),
        other => format!("signal {other}"),
    }
}

/// Whether (and by which signal) the run was asked to stop.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    /// 0 = none, else the signal number of the first signal.
    signo: Arc<AtomicUsize>,
    /// Test hook: behave as if `signo` arrived during iteration `iter`.
    at_iter: Option<(u64, i32)>,
}

impl Interrupt {
    /// Never interrupted (library use, tests).
    pub fn none() -> Self {
        Self::default()
    }

    /// Installs the SIGTERM/SIGINT handlers for this process.
    pub fn install() -> io::Result<Self> {
        let signo = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGINT] {
            // Order matters: the shutdown check runs first and sees `seen` as set only when
            // an earlier signal set it.
            flag::register_conditional_shutdown(
                sig,
                i32::from(exit_code_for(sig)),
                Arc::clone(&seen),
            )?;
            flag::register(sig, Arc::clone(&seen))?;
            flag::register_usize(sig, Arc::clone(&signo), sig as usize)?;
        }
        Ok(Self {
            signo,
            at_iter: None,
        })
    }

    /// Deterministic stand-in for a signal: as if `signo` arrived while `iter` ran.
    pub fn after_iter(iter: u64, signo: i32) -> Self {
        Self {
            signo: Arc::default(),
            at_iter: Some((iter, signo)),
        }
    }

    /// The signal to honour after iteration `iter` completed, if any.
    pub fn requested(&self, iter: u64) -> Option<i32> {
        if let Some((at, sig)) = self.at_iter
            && iter >= at
        {
            return Some(sig);
        }
        match self.signo.load(Ordering::Acquire) {
            0 => None,
            s => i32::try_from(s).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code_for(SIGTERM), 143);
        assert_eq!(exit_code_for(SIGINT), 130);
        assert_eq!(signal_name(SIGTERM), "SIGTERM");
    }

    #[test]
    fn test_hook_fires_from_its_iteration_on() {
        let i = Interrupt::after_iter(5, SIGTERM);
        assert_eq!(i.requested(4), None);
        assert_eq!(i.requested(5), Some(SIGTERM));
        assert_eq!(Interrupt::none().requested(1_000), None);
    }
}
