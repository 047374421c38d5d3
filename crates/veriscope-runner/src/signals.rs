//! Delivery of SIGINT/SIGTERM/SIGHUP received by the wrapper process to the supervision loop.
//!
//! Installing the watcher replaces the default "die" action, so the wrapper survives the signal
//! long enough to forward it to the runner's group and finalize the capsule (productization
//! §2.1 "Best-effort finalization on SIGINT/SIGTERM"). Only the CLI installs it; library tests
//! deliver interrupts through [`crate::supervise::InterruptHandle`] instead.

use std::io;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::supervise::InterruptHandle;

/// A running signal watcher; [`SignalWatcher::close`] restores nothing but stops the thread.
pub struct SignalWatcher {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalWatcher {
    /// Starts forwarding SIGINT, SIGTERM and SIGHUP to `target`.
    pub fn install(target: InterruptHandle) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signo in signals.forever() {
                    target.interrupt(signo);
                }
            })?;
        Ok(Self {
            handle,
            thread: Some(thread),
        })
    }

    /// Stops the watcher thread.
    pub fn close(mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
