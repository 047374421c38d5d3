//! Command-line flags of `veriscope-gpt` and their overlay on a preset (docs/trainer.md).

use std::path::PathBuf;

use clap::Parser;

use crate::config::{ConfigError, DEFAULT_CKPT_EVERY_S, DeviceKind, GeluKind, TrainConfig};
use crate::determinism::Determinism;
use crate::distributed::Distributed;
use crate::injection::{CorruptMode, Injection};
use crate::probe::ProbeMode;
use crate::seeds::DEFAULT_RUN_SEED;

/// Built-in char-level GPT trainer that speaks the Veriscope metrics stream.
#[derive(Debug, Clone, Parser)]
#[command(name = "veriscope-gpt", version, about)]
pub struct Args {
    /// Print the resolved config (with "gate_cadence") as JSON and exit without training.
    #[arg(long)]
    pub describe: bool,
    /// Starting values: cpu_small (default) or gpu. Explicit flags override them.
    #[arg(long, default_value = "cpu_small")]
    pub preset: String,

    // --- model ---
    #[arg(long)]
    pub n_layer: Option<usize>,
    #[arg(long)]
    pub n_head: Option<usize>,
    #[arg(long)]
    pub n_embd: Option<usize>,
    #[arg(long)]
    pub block_size: Option<usize>,
    #[arg(long, value_enum)]
    pub gelu: Option<GeluKind>,

    // --- optimization ---
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub max_iters: Option<u64>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Linear LR warmup iterations.
    #[arg(long)]
    pub warmup_iters: Option<u64>,
    /// Iteration where the cosine decay reaches min_lr.
    #[arg(long)]
    pub lr_decay_iters: Option<u64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Global gradient-norm clip (0 = off).
    #[arg(long)]
    pub grad_clip: Option<f64>,
    #[arg(long)]
    pub eval_interval: Option<u64>,
    #[arg(long)]
    pub eval_iters: Option<usize>,
    /// Run seed (else VERISCOPE_SEED, else 42).
    #[arg(long)]
    pub seed: Option<u64>,

    // --- data ---
    /// Train on this UTF-8 text file instead of the embedded corpus.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Held-out fraction (the tail of the text).
    #[arg(long)]
    pub val_frac: Option<f64>,

    // --- probe and gate cadence ---
    #[arg(long)]
    pub metric_interval: Option<u64>,
    #[arg(long)]
    pub gate_window: Option<u64>,
    #[arg(long)]
    pub gate_warmup: Option<u64>,
    /// Probed block (0-based; default the last).
    #[arg(long)]
    pub probe_layer: Option<usize>,
    /// Sequences in the fixed probe batch.
    #[arg(long)]
    pub probe_batch: Option<usize>,
    /// Skip the probe and metrics (samples carry loss only); for overhead measurement.
    /// `--no-gate` is the same flag (the wrapper's gate then has no metrics to check).
    #[arg(long, visible_alias = "no-gate")]
    pub no_probe: bool,
    /// Run the probe on a worker thread from a weight snapshot (async) or on the training
    /// thread (sync). Default: async (on CUDA too: docs/trainer.md §CUDA measured it
    /// identical to sync, sample for sample).
    #[arg(long, value_enum)]
    pub probe_mode: Option<ProbeMode>,
    /// Standalone use: write stream lines here when no VERISCOPE_METRICS_* is set.
    #[arg(long)]
    pub metrics_out: Option<PathBuf>,

    // --- checkpoints and device ---
    /// Save a checkpoint every N iterations (0 = not by count; the last iteration, a gate
    /// stop and a SIGTERM/SIGINT are always saved when a checkpoint dir is known). Given, it
    /// replaces the default time-based interval.
    #[arg(long)]
    pub ckpt_interval: Option<u64>,
    /// Save a checkpoint when this many wall-clock seconds passed since the last one
    /// (0 = never). Default 300 when a checkpoint dir is known and no --ckpt-interval is given.
    #[arg(long)]
    pub ckpt_every_s: Option<u64>,
    /// Checkpoint directory (else VERISCOPE_CKPT_DIR); the newest 2 checkpoints are kept.
    #[arg(long)]
    pub ckpt_dir: Option<PathBuf>,
    /// Continue from the newest checkpoint in the checkpoint dir (also VERISCOPE_RESUME=1);
    /// without one, training starts from scratch.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, value_enum)]
    pub device: Option<DeviceKind>,
    /// CPU compute threads (0 = candle's default). Default: 1 for cpu_small, 0 for gpu,
    /// unless RAYON_NUM_THREADS is set (then its value).
    #[arg(long)]
    pub threads: Option<usize>,

    // --- pathology injection (one per run) ---
    #[arg(long)]
    pub lr_spike_at: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub lr_spike_len: u64,
    #[arg(long, default_value_t = 10.0)]
    pub lr_spike_mult: f64,
    #[arg(long)]
    pub data_corrupt_at: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub data_corrupt_len: u64,
    #[arg(long, default_value_t = 0.15)]
    pub data_corrupt_frac: f64,
    #[arg(long, value_enum, default_value = "permute")]
    pub data_corrupt_mode: CorruptMode,
    #[arg(long)]
    pub collapse_at: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub collapse_len: u64,
    /// Mixing weight toward the low-rank projection, in [0, 1].
    #[arg(long, default_value_t = 0.9)]
    pub collapse_scale: f64,
    #[arg(long, default_value_t = 2)]
    pub collapse_rank: usize,
    /// Collapsed block (default: the probed block).
    #[arg(long)]
    pub collapse_layer: Option<usize>,
}

impl Args {
    /// Preset, then explicit flags, then validation. `env` supplies what the wrapper passes
    /// (docs/replay.md §3): VERISCOPE_SEED, VERISCOPE_CKPT_DIR, VERISCOPE_RESUME,
    /// VERISCOPE_STRICT_DETERMINISM, and the launcher's WORLD_SIZE / RANK / LOCAL_RANK.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<TrainConfig, ConfigError> {
        let mut c = TrainConfig::preset(&self.preset)?;
        let layers_given = self.n_layer.is_some();
        set(&mut c.model.n_layer, self.n_layer);
        set(&mut c.model.n_head, self.n_head);
        set(&mut c.model.n_embd, self.n_embd);
        set(&mut c.model.block_size, self.block_size);
        set(&mut c.gelu, self.gelu);
        set(&mut c.batch_size, self.batch_size);
        let iters_given = self.max_iters.is_some();
        set(&mut c.max_iters, self.max_iters);
        set(&mut c.lr, self.lr);
        set(&mut c.min_lr, self.min_lr);
        set(&mut c.lr_warmup_iters, self.warmup_iters);
        // cpu_small decays over the whole run; follow a changed --max-iters unless the
        // decay horizon is given too.
        if iters_given && c.preset == "cpu_small" {
            c.lr_decay_iters = c.max_iters;
        }
        set(&mut c.lr_decay_iters, self.lr_decay_iters);
        set(&mut c.weight_decay, self.weight_decay);
        set(&mut c.grad_clip, self.grad_clip);
        set(&mut c.eval_interval, self.eval_interval);
        set(&mut c.eval_iters, self.eval_iters);
        c.seed = self
            .seed
            .unwrap_or_else(|| seed_from_env(&env, DEFAULT_RUN_SEED));
        set(&mut c.data, self.data.clone().map(Some));
        set(&mut c.val_frac, self.val_frac);
        set(&mut c.metric_interval, self.metric_interval);
        set(&mut c.gate_window, self.gate_window);
        set(&mut c.gate_warmup_iters, self.gate_warmup);
        if layers_given {
            c.probe_layer = c.model.n_layer.saturating_sub(1);
        }
        set(&mut c.probe_layer, self.probe_layer);
        set(&mut c.probe_batch, self.probe_batch);
        c.probe = !self.no_probe;
        set(&mut c.metrics_out, self.metrics_out.clone().map(Some));
        set(&mut c.ckpt_interval, self.ckpt_interval);
        let env_dir = env("VERISCOPE_CKPT_DIR")
            .filter(|d| !d.trim().is_empty())
            .map(PathBuf::from);
        set(&mut c.ckpt_dir, self.ckpt_dir.clone().or(env_dir).map(Some));
        // An explicit interval wins; otherwise a known dir gets the cheap time-based default.
        c.ckpt_every_s = match self.ckpt_every_s {
            Some(s) => s,
            None if self.ckpt_interval.is_none() && c.ckpt_dir.is_some() => DEFAULT_CKPT_EVERY_S,
            None => 0,
        };
        c.resume = self.resume || env("VERISCOPE_RESUME").is_some_and(|v| v.trim() == "1");
        set(&mut c.device, self.device);
        set(&mut c.probe_mode, self.probe_mode);
        if self.threads.is_none()
            && let Some(raw) = env("RAYON_NUM_THREADS")
        {
            // The caller chose through the environment (or our own re-exec did,
            // tuned_env.rs): report the count in force, so `--describe` and the re-executed
            // run give the same `spec`; 0 (candle's default) when it does not parse.
            c.threads = raw.trim().parse().unwrap_or(0);
        }
        set(&mut c.threads, self.threads);
        c.injection = self.injection(c.probe_layer)?;
        c.determinism = Determinism::resolve(c.device, &env);
        c.distributed = Distributed::from_env(&env).map_err(ConfigError::Invalid)?;
        c.validate()?;
        Ok(c)
    }

    fn injection(&self, probe_layer: usize) -> Result<Option<Injection>, ConfigError> {
        let mut found = Vec::new();
        if let Some(at) = self.lr_spike_at {
            found.push(Injection::LrSpike {
                at,
                len: self.lr_spike_len,
                mult: self.lr_spike_mult,
            });
        }
        if let Some(at) = self.data_corrupt_at {
            found.push(Injection::DataCorrupt {
                at,
                len: self.data_corrupt_len,
                frac: self.data_corrupt_frac,
                mode: self.data_corrupt_mode,
            });
        }
        if let Some(at) = self.collapse_at {
            found.push(Injection::Collapse {
                at,
                len: self.collapse_len,
                scale: self.collapse_scale,
                rank: self.collapse_rank,
                layer: self.collapse_layer.unwrap_or(probe_layer),
            });
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            _ => Err(ConfigError::Invalid(
                "only one injection per run: give one of --lr-spike-at, --data-corrupt-at, --collapse-at".into(),
            )),
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// VERISCOPE_SEED when it parses; a bad value is reported and the default kept, as the
/// reference wrapper does.
fn seed_from_env(env: &impl Fn(&str) -> Option<String>, default: u64) -> u64 {
    match env("VERISCOPE_SEED") {
        None => default,
        Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
            eprintln!(
                "veriscope-gpt: invalid VERISCOPE_SEED='{raw}'; using default seed {default}."
            );
            default
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("veriscope-gpt").chain(args.iter().copied())).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_override_the_preset() {
        let c = parse(&["--preset", "gpu", "--max-iters", "10", "--seed", "7"])
            .resolve(no_env)
            .unwrap();
        assert_eq!(c.model.n_embd, 384);
        assert_eq!(c.max_iters, 10);
        assert_eq!(c.seed, 7);
    }

    #[test]
    fn seed_comes_from_env_when_no_flag() {
        let env = |k: &str| (k == "VERISCOPE_SEED").then(|| "99".to_string());
        assert_eq!(parse(&[]).resolve(env).unwrap().seed, 99);
        let bad = |k: &str| (k == "VERISCOPE_SEED").then(|| "x".to_string());
        assert_eq!(parse(&[]).resolve(bad).unwrap().seed, 42);
    }

    use crate::test_env::env_of;

    #[test]
    fn wrapper_env_gives_the_checkpoint_dir_resume_and_a_time_based_interval() {
        let env = env_of(&[("VERISCOPE_CKPT_DIR", "/w/ck"), ("VERISCOPE_RESUME", "1")]);
        let c = parse(&[]).resolve(&env).unwrap();
        assert_eq!(c.ckpt_dir.as_deref(), Some(std::path::Path::new("/w/ck")));
        assert!(c.resume);
        assert_eq!((c.ckpt_interval, c.ckpt_every_s), (0, DEFAULT_CKPT_EVERY_S));
        // The flag wins over the env; an explicit interval replaces the time-based default.
        let c = parse(&["--ckpt-dir", "/mine", "--ckpt-interval", "50"])
            .resolve(&env)
            .unwrap();
        assert_eq!(c.ckpt_dir.as_deref(), Some(std::path::Path::new("/mine")));
        assert_eq!((c.ckpt_interval, c.ckpt_every_s), (50, 0));
        // No dir: no checkpoints and no resume.
        let c = parse(&[]).resolve(no_env).unwrap();
        assert!(c.ckpt_dir.is_none() && !c.resume && c.ckpt_every_s == 0);
        let err = parse(&[])
            .resolve(env_of(&[("VERISCOPE_RESUME", "1")]))
            .unwrap_err();
        assert!(err.to_string().contains("VERISCOPE_CKPT_DIR"), "{err}");
    }

    #[test]
    fn strict_mode_and_ranks_come_from_the_env() {
        let env = env_of(&[
            ("VERISCOPE_STRICT_DETERMINISM", "1"),
            ("WORLD_SIZE", "2"),
            ("RANK", "1"),
        ]);
        let c = parse(&[]).resolve(env).unwrap();
        assert!(c.determinism.strict_requested);
        assert!(!c.distributed.is_chief());
        let err = parse(&[])
            .resolve(env_of(&[("WORLD_SIZE", "2")]))
            .unwrap_err();
        assert!(err.to_string().contains("RANK"), "{err}");
    }

    #[test]
    fn rayon_threads_in_the_env_are_the_thread_count_in_force() {
        let env = |k: &str| (k == "RAYON_NUM_THREADS").then(|| "3".to_string());
        assert_eq!(parse(&[]).resolve(env).unwrap().threads, 3);
        assert_eq!(parse(&["--threads", "2"]).resolve(env).unwrap().threads, 2);
        let bad = |k: &str| (k == "RAYON_NUM_THREADS").then(|| "x".to_string());
        assert_eq!(parse(&[]).resolve(bad).unwrap().threads, 0);
        // What the re-exec sets for cpu_small (threads 1) keeps the spec's `threads: 1`.
        let reexec = |k: &str| (k == "RAYON_NUM_THREADS").then(|| "1".to_string());
        assert_eq!(parse(&[]).resolve(reexec).unwrap().threads, 1);
    }

    #[test]
    fn two_injections_are_rejected() {
        let a = parse(&[
            "--lr-spike-at",
            "5",
            "--lr-spike-len",
            "2",
            "--data-corrupt-at",
            "5",
            "--data-corrupt-len",
            "2",
        ]);
        let err = a.resolve(no_env).unwrap_err().to_string();
        assert!(err.contains("only one injection"), "{err}");
    }

    #[test]
    fn collapse_defaults_to_the_probed_layer() {
        let c = parse(&[
            "--n-layer",
            "3",
            "--collapse-at",
            "100",
            "--collapse-len",
            "50",
        ])
        .resolve(no_env)
        .unwrap();
        assert_eq!(c.probe_layer, 2);
        assert!(matches!(
            c.injection,
            Some(Injection::Collapse { layer: 2, .. })
        ));
    }

    #[test]
    fn no_gate_is_an_alias_of_no_probe() {
        assert!(parse(&[]).resolve(no_env).unwrap().probe);
        assert!(!parse(&["--no-gate"]).resolve(no_env).unwrap().probe);
        assert!(!parse(&["--no-probe"]).resolve(no_env).unwrap().probe);
    }

    #[test]
    fn probe_mode_defaults_to_async_on_cpu_and_on_cuda() {
        let c = parse(&[]).resolve(no_env).unwrap();
        assert_eq!(c.probe_mode, ProbeMode::Async);
        let c = parse(&["--device", "cuda"]).resolve(no_env).unwrap();
        assert_eq!(c.probe_mode, ProbeMode::Async);
        let c = parse(&["--device", "cuda", "--probe-mode", "sync"])
            .resolve(no_env)
            .unwrap();
        assert_eq!(c.probe_mode, ProbeMode::Sync);
        let c = parse(&["--device", "cuda", "--probe-mode", "async"])
            .resolve(no_env)
            .unwrap();
        assert_eq!(c.probe_mode, ProbeMode::Async);
        let c = parse(&["--probe-mode", "sync"]).resolve(no_env).unwrap();
        assert_eq!(c.probe_mode, ProbeMode::Sync);
    }

    #[test]
    fn zero_length_injection_is_rejected() {
        let err = parse(&["--data-corrupt-at", "100"])
            .resolve(no_env)
            .unwrap_err();
        assert!(err.to_string().contains("length"), "{err}");
    }
}
