//! veriscope-capsule: everything that reads or writes a run capsule directory.
//!
//! Owns: crash-safe writes ([`atomic`]), the hash-chained governance journal
//! ([`governance`]: append under an exclusive lock, verify with the contract's per-line
//! tokens), loading a capsule with clear read errors ([`load`]), validation of every
//! contract invariant into findings-as-data ([`validate`]). `Comparable(A,B)` lives with the
//! diff and compare views in `veriscope_report::compare`. It must not render reports, spawn
//! processes, read the environment or the clock: timestamps and paths come in as parameters.

pub mod atomic;
pub mod fixture;
pub mod governance;
mod isotime;
pub mod jsonref;
pub mod load;
pub mod pyrepr;
pub mod schema;
pub mod validate;

/// Files whose presence marks a directory as already holding a capsule
/// (productization §2.1 "Idempotency / overwrite policy").
pub const SENTINEL_FILES: [&str; 4] = [
    "run_config_resolved.json",
    "results.json",
    "results_summary.json",
    "window_signature.json",
];
