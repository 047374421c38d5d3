//! veriscope-runner: the `veriscope run` wrapper.
//!
//! It owns everything between "the user typed `veriscope run`" and "the capsule is final":
//! OUTDIR policy and locks ([`outdir`], [`gpulock`]), environment capture and redaction
//! ([`envcapture`]), spawning the runner in its own process group ([`spawn`]), live relay of its
//! output ([`relay`]), the metrics stream protocol ([`stream`]), the supervision loop with signal
//! forwarding and escalation ([`supervise`], [`signals`]), and capsule finalization.
//! The gate math lives in `veriscope-gate`; capsule IO primitives in `veriscope-capsule`.

pub mod artifacts;
pub mod clock;
pub mod distributed;
pub mod envcapture;
pub mod environment;
pub mod execution;
pub mod gatelink;
pub mod gpulock;
pub mod kinds;
pub mod metrics_log;
pub mod notify;
pub mod observer;
pub mod outdir;
pub mod relay;
pub mod reopen;
pub mod shellwords;
pub mod signals;
pub mod spawn;
pub mod stream;
pub mod supervise;
pub mod verdict;
pub mod wrapper;

/// Helpers for the unit tests of the modules that take the environment as a map.
#[cfg(test)]
pub(crate) mod test_env {
    use std::collections::BTreeMap;

    /// An environment holding exactly `pairs`.
    pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
