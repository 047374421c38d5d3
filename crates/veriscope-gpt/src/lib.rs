//! veriscope-gpt: the built-in char-level GPT trainer (candle) behind `veriscope run gpt`.
//!
//! It trains a nanoGPT-style model on an embedded public-domain corpus (or `--data FILE`),
//! probes the residual stream on a fixed held-out batch every `metric_interval` iterations,
//! computes the gate metrics with `veriscope_gate::metrics`, and speaks the metrics stream
//! (docs/metrics-stream.md). The gate itself runs in the wrapper, never here
//! (shared/design/architecture.md §Processes). This is the only crate that depends on candle.
//!
//! - [`cli`]: flags and their overlay on a preset; [`config`]: presets, validation, `--describe`.
//! - [`model`]: the GPT; [`optim`]: AdamW, clipping, LR schedule.
//! - [`data`], [`injection`], [`seeds`]: inputs, pathologies, derived seeds.
//! - [`probe`]: the probe, sync or on a worker thread, and the ordered path of sample lines.
//! - [`stream`]: metrics stream and control channel; [`checkpoint`]: safetensors checkpoints.
//! - [`trainer`]: the loop; [`progress`]: stderr progress.
//! - [`interrupt`]: graceful SIGTERM/SIGINT; [`distributed`]: replicated ranks;
//!   [`determinism`]: strict-mode preconditions (docs/replay.md §2-3).

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod determinism;
pub mod distributed;
pub mod injection;
pub mod interrupt;
pub mod model;
pub mod optim;
pub mod probe;
pub mod progress;
pub mod seeds;
pub mod stream;
pub mod trainer;

/// Helpers for the unit tests of the modules that read their environment through a closure.
#[cfg(test)]
pub(crate) mod test_env {
    /// An environment holding exactly `pairs`, as the `env` closure the config readers take.
    pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| owned.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
    }
}
