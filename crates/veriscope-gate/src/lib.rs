//! veriscope-gate: the gate itself, pure and deterministic (no IO, clock, env, threads or
//! unseeded randomness).
//!
//! - [`metrics`]: representation metrics of a probe snapshot (algorithm.md §2).
//! - [`engine`]: the streaming gate: windows, D_W, thresholds, policies, regime anchoring,
//!   presets (algorithm.md §3–§11) and the calibrated presets (docs/gate.md).
//! - [`prng`]: the documented splitmix64 generator the metrics draw from.
//! - [`synthetic`]: seeded synthetic metric streams for scenario tests and benchmarks.

pub mod engine;
pub mod metrics;
pub mod prng;
pub mod synthetic;

pub use engine::{DEFAULT_PRESET, PRESETS};
