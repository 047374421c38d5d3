//! Resolved trainer configuration: presets, the CLI overlay, validation, and the
//! `--describe` JSON (docs/trainer.md §Presets).
//!
//! Resolution order mirrors the reference runner (algorithm.md §11): start from the preset,
//! then every flag given explicitly on the command line wins.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

use crate::determinism::Determinism;
use crate::distributed::Distributed;
use crate::injection::Injection;
use crate::probe::ProbeMode;
use crate::seeds::DEFAULT_RUN_SEED;

/// Periodic checkpoint interval in wall-clock seconds when a checkpoint dir is known and no
/// `--ckpt-interval` / `--ckpt-every-s` is given. A cpu_small save costs a few ms
/// (docs/trainer.md §Measured), so every 300 s it is far below 0.2% of step time.
pub const DEFAULT_CKPT_EVERY_S: u64 = 300;
/// AdamW epsilon (part of the spec, so it lives beside the other hyper-parameters).
pub const ADAM_EPS: f64 = 1e-8;

/// A configuration the trainer refuses to run; maps to exit code 2 (invalid input).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown preset '{0}' (expected cpu_small or gpu)")]
    UnknownPreset(String),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("cannot read --data file {path}: {source}")]
    Data {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Transformer shape (nanoGPT naming).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelDims {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub block_size: usize,
}

/// Which GELU the MLP uses. Both have a full backward in candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GeluKind {
    /// tanh approximation (nanoGPT / PyTorch `approximate="tanh"`).
    Tanh,
    /// `x·σ(1.702x)` (Hendrycks & Gimpel's sigmoid approximation): ~25% faster on CPU.
    Sigmoid,
}

/// Compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

/// Everything one training run needs, fully resolved.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    pub preset: String,
    pub model: ModelDims,
    pub gelu: GeluKind,
    pub batch_size: usize,
    pub max_iters: u64,
    pub lr: f64,
    pub min_lr: f64,
    pub lr_warmup_iters: u64,
    pub lr_decay_iters: u64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub grad_clip: f64,
    pub eval_interval: u64,
    pub eval_iters: usize,
    pub seed: u64,
    /// Iterations between metric snapshots (gate cadence).
    pub metric_interval: u64,
    /// Declared gate window W (iterations) for the wrapper's gate.
    pub gate_window: u64,
    /// Declared gate warmup (iterations).
    pub gate_warmup_iters: u64,
    /// Probed block index (0-based; default the last block).
    pub probe_layer: usize,
    /// Sequences in the fixed probe batch.
    pub probe_batch: usize,
    /// False with `--no-probe` / `--no-gate`: samples then carry loss only (used to measure
    /// overhead).
    pub probe: bool,
    /// Where the probe runs: `async` (a worker thread on a weight snapshot; the default, on
    /// CUDA as on CPU) or `sync` (on the training thread).
    pub probe_mode: ProbeMode,
    /// Checkpoint every N iterations (0 = not by iteration count).
    pub ckpt_interval: u64,
    /// Checkpoint when this many wall-clock seconds passed since the last one (0 = never);
    /// [`DEFAULT_CKPT_EVERY_S`] under a checkpoint dir unless an interval is given.
    pub ckpt_every_s: u64,
    /// `--ckpt-dir`, else `VERISCOPE_CKPT_DIR` (docs/replay.md §3).
    pub ckpt_dir: Option<PathBuf>,
    /// `--resume` or `VERISCOPE_RESUME=1`.
    pub resume: bool,
    pub device: DeviceKind,
    /// CPU compute threads (candle reads RAYON_NUM_THREADS); 0 = leave candle's default.
    /// cpu_small uses 1: its ops are too small to amortize candle's thread barriers
    /// (docs/trainer.md §Measured).
    pub threads: usize,
    /// `None` = the embedded corpus.
    pub data: Option<PathBuf>,
    pub val_frac: f64,
    pub metrics_out: Option<PathBuf>,
    pub injection: Option<Injection>,
    /// `VERISCOPE_STRICT_DETERMINISM` and this run's preconditions.
    pub determinism: Determinism,
    /// Replicated ranks (`WORLD_SIZE`/`RANK`); only rank 0 writes stream and checkpoints.
    pub distributed: Distributed,
}

impl TrainConfig {
    /// The named preset's values (docs/trainer.md §Presets).
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        match name {
            "cpu_small" => Ok(Self::cpu_small()),
            "gpu" => Ok(Self::gpu()),
            other => Err(ConfigError::UnknownPreset(other.to_string())),
        }
    }

    /// Small enough for a whole run in well under 3 minutes on 2 cores, with the
    /// tuned_v0 statistics kept: W / metric_interval = 20 snapshots per half-window.
    fn cpu_small() -> Self {
        Self {
            preset: "cpu_small".into(),
            model: ModelDims {
                n_layer: 2,
                n_head: 4,
                n_embd: 64,
                block_size: 64,
            },
            gelu: GeluKind::Sigmoid,
            batch_size: 16,
            max_iters: 800,
            lr: 2e-3,
            min_lr: 2e-4,
            lr_warmup_iters: 50,
            lr_decay_iters: 800,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            grad_clip: 1.0,
            eval_interval: 200,
            eval_iters: 10,
            seed: DEFAULT_RUN_SEED,
            metric_interval: 2,
            gate_window: 40,
            gate_warmup_iters: 200,
            probe_layer: 1,
            probe_batch: 8,
            probe: true,
            probe_mode: ProbeMode::Async,
            ckpt_interval: 0,
            ckpt_every_s: 0,
            ckpt_dir: None,
            resume: false,
            device: DeviceKind::Cpu,
            threads: 1,
            data: None,
            val_frac: 0.1,
            metrics_out: None,
            injection: None,
            determinism: Determinism::default(),
            distributed: Distributed::default(),
        }
    }

    /// Close to the reference pilot (algorithm.md §1): 6×384, 6 heads, block 256, batch 64,
    /// 5000 iters, lr 6e-4 with the reference's 2000-iter warmup and 600k-iter cosine
    /// (effectively flat over the run), tuned_v0 cadence 5 / 100 / 1000.
    fn gpu() -> Self {
        Self {
            preset: "gpu".into(),
            model: ModelDims {
                n_layer: 6,
                n_head: 6,
                n_embd: 384,
                block_size: 256,
            },
            gelu: GeluKind::Tanh,
            batch_size: 64,
            max_iters: 5000,
            lr: 6e-4,
            min_lr: 6e-5,
            lr_warmup_iters: 2000,
            lr_decay_iters: 600_000,
            eval_interval: 500,
            eval_iters: 20,
            metric_interval: 5,
            gate_window: 100,
            gate_warmup_iters: 1000,
            probe_layer: 5,
            probe_batch: 64,
            threads: 0,
            ..Self::cpu_small()
        }
    }

    /// Rejects configurations that cannot train or would mislead the gate.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        let bad = |msg: String| Err(ConfigError::Invalid(msg));
        if m.n_layer == 0 || m.n_head == 0 || m.n_embd == 0 || m.block_size == 0 {
            return bad("n_layer, n_head, n_embd and block_size must be positive".into());
        }
        if !m.n_embd.is_multiple_of(m.n_head) {
            return bad(format!(
                "n_embd {} is not divisible by n_head {}",
                m.n_embd, m.n_head
            ));
        }
        if self.probe_layer >= m.n_layer {
            return bad(format!(
                "probe_layer {} >= n_layer {}",
                self.probe_layer, m.n_layer
            ));
        }
        if self.batch_size == 0 || self.probe_batch == 0 || self.max_iters == 0 {
            return bad("batch_size, probe_batch and max_iters must be positive".into());
        }
        if self.metric_interval == 0 || self.gate_window == 0 {
            return bad("metric_interval and gate_window must be positive".into());
        }
        if !self.gate_window.is_multiple_of(self.metric_interval) {
            // The wrapper's gate slices whole snapshots per half-window (algorithm.md §3.3).
            return bad(format!(
                "gate_window {} is not a multiple of metric_interval {}",
                self.gate_window, self.metric_interval
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.min_lr >= 0.0) {
            return bad("lr must be positive and min_lr non-negative".into());
        }
        if !(0.0..1.0).contains(&self.val_frac) || self.val_frac == 0.0 {
            return bad("val_frac must be in (0, 1)".into());
        }
        if self.resume && self.ckpt_dir.is_none() {
            return bad(
                "--resume (or VERISCOPE_RESUME=1) needs --ckpt-dir or VERISCOPE_CKPT_DIR".into(),
            );
        }
        if (self.ckpt_interval > 0 || self.ckpt_every_s > 0) && self.ckpt_dir.is_none() {
            return bad(
                "--ckpt-interval / --ckpt-every-s need --ckpt-dir or VERISCOPE_CKPT_DIR".into(),
            );
        }
        if let Some(inj) = &self.injection {
            inj.validate(m.n_layer).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// The cadence the wrapper's gate must use for this run.
    pub fn gate_cadence(&self) -> Value {
        json!({
            "gate_window": self.gate_window,
            "gate_warmup_iters": self.gate_warmup_iters,
            "metric_interval": self.metric_interval,
        })
    }

    /// Gate checks a tuned_v0-style gate evaluates in a full run: checks every W iterations
    /// from the warmup on, each needing a full past and recent half-window (docs/trainer.md).
    pub fn expected_gate_checks(&self) -> u64 {
        let first = self.gate_warmup_iters.max(2 * self.gate_window);
        let last_iter = self.max_iters.saturating_sub(1);
        if first > last_iter {
            return 0;
        }
        let first_check = first.div_ceil(self.gate_window) * self.gate_window;
        if first_check > last_iter {
            0
        } else {
            (last_iter - first_check) / self.gate_window + 1
        }
    }

    /// Whether this process writes checkpoints: a dir is known and it is the chief (rank 0).
    /// Other replicas only read the shared dir, to resume (docs/trainer.md §Replicated ranks).
    pub fn writes_checkpoints(&self) -> bool {
        self.ckpt_dir.is_some() && self.distributed.is_chief()
    }

    /// The resolved model/training spec (docs/replay.md §2 `runner.spec`): everything that
    /// decides what is trained, and nothing else: no paths, no timings, no seed (the manifest
    /// has it apart), no checkpoint or stream plumbing. Two runs of the same config give
    /// byte-identical JSON (serde_json writes floats in their shortest round-trip form).
    pub fn spec(&self, vocab_size: usize, n_params: usize, text_sha256: &str) -> Value {
        let m = &self.model;
        json!({
            "spec_version": 1,
            "preset": self.preset,
            "model": {
                "arch": "gpt_char", "n_layer": m.n_layer, "n_head": m.n_head,
                "n_embd": m.n_embd, "block_size": m.block_size, "gelu": self.gelu,
                "bias": false, "vocab_size": vocab_size, "n_params": n_params,
            },
            "optim": {
                "kind": "adamw", "lr": self.lr, "min_lr": self.min_lr,
                "schedule": "linear_warmup_cosine", "warmup_iters": self.lr_warmup_iters,
                "lr_decay_iters": self.lr_decay_iters, "weight_decay": self.weight_decay,
                "beta1": self.beta1, "beta2": self.beta2, "eps": ADAM_EPS,
                "grad_clip": self.grad_clip,
            },
            "batch_size": self.batch_size,
            "block_size": m.block_size,
            "max_iters": self.max_iters,
            "eval": { "interval": self.eval_interval, "iters": self.eval_iters },
            "device": self.device,
            "threads": self.threads,
            "probe": {
                "enabled": self.probe, "layer": self.probe_layer, "batch": self.probe_batch,
                "mode": self.probe_mode, "metric_interval": self.metric_interval,
            },
            "gate_cadence": self.gate_cadence(),
            "injection": self.injection,
            "data": {
                "source": if self.data.is_some() { "file" } else { crate::data::EMBEDDED_NAME },
                "text_sha256": text_sha256,
                "val_frac": self.val_frac,
            },
        })
    }

    /// The `--describe` object: the resolved config plus the gate cadence and derived facts.
    pub fn describe(&self, vocab_size: usize, n_params: usize) -> Value {
        let mut v = serde_json::to_value(self).expect("config serializes");
        let obj = v.as_object_mut().expect("config is an object");
        obj.insert("gate_cadence".into(), self.gate_cadence());
        obj.insert("vocab_size".into(), json!(vocab_size));
        obj.insert("n_params".into(), json!(n_params));
        obj.insert(
            "snapshots_per_half_window".into(),
            json!(self.gate_window / self.metric_interval),
        );
        obj.insert(
            "expected_gate_checks".into(),
            json!(self.expected_gate_checks()),
        );
        obj.insert("runner".into(), json!("veriscope-gpt"));
        obj.insert("runner_version".into(), json!(env!("CARGO_PKG_VERSION")));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_small_keeps_twenty_snapshots_per_half_window_and_ten_checks() {
        let c = TrainConfig::preset("cpu_small").unwrap();
        c.validate().unwrap();
        assert_eq!(c.gate_window / c.metric_interval, 20);
        assert!(
            c.expected_gate_checks() >= 10,
            "{}",
            c.expected_gate_checks()
        );
    }

    #[test]
    fn gpu_preset_matches_reference_pilot_cadence() {
        let c = TrainConfig::preset("gpu").unwrap();
        c.validate().unwrap();
        assert_eq!(
            (c.metric_interval, c.gate_window, c.gate_warmup_iters),
            (5, 100, 1000)
        );
        // algorithm.md §1: 40 checks at 1000, 1100, ..., 4900.
        assert_eq!(c.expected_gate_checks(), 40);
    }

    #[test]
    fn unknown_preset_is_rejected() {
        assert!(matches!(
            TrainConfig::preset("huge"),
            Err(ConfigError::UnknownPreset(_))
        ));
    }

    #[test]
    fn window_must_be_a_multiple_of_interval() {
        let mut c = TrainConfig::preset("cpu_small").unwrap();
        c.gate_window = 41;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("multiple of metric_interval"), "{err}");
    }
}
