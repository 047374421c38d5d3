//! The training loop: data, model, optimizer, injection, the fixed-batch probe, the metrics
//! stream and checkpoints, wired together (docs/trainer.md).
//!
//! Metrics are computed by `veriscope_gate::metrics::MetricState::snapshot`, the same code the
//! rest of Veriscope uses, on the residual stream after the probed block (probe.rs; by
//! default on a worker thread from a weight snapshot, so the training thread only pays for
//! the copy).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::{Device, Tensor};
use serde_json::{Value, json};
use veriscope_gate::metrics::METRIC_NAMES;

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::{ADAM_EPS, ConfigError, DeviceKind, ModelDims, TrainConfig};
use crate::data::{self, Batch, Dataset};
use crate::injection::{Injection, corrupt_inputs};
use crate::interrupt::Interrupt;
use crate::model::{CollapseHook, Gpt, collapse_projector};
use crate::optim::{AdamW, AdamWParams, LrSchedule};
use crate::probe::{PROBE_QUEUE_DEPTH, Prober, SampleEmitter};
use crate::progress::{Progress, Reporter};
use crate::seeds::{STREAM_DATA_ORDER, STREAM_EVAL, STREAM_PROBE, derive_seed, seeds_json};
use crate::stream::{ControlState, EndStatus, MetricsSink, NonFinite, SampleLine, end_line};

const EWMA_ALPHA: f64 = 0.1;

/// How a completed call to [`train`] ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: EndStatus,
    /// Last completed iteration (None when no step ran).
    pub last_iter: Option<u64>,
    pub final_loss: Option<f64>,
    pub first_losses: Vec<f64>,
    pub wall_s: f64,
    /// Last completed iteration of the checkpoint resumed from.
    pub resumed_from: Option<u64>,
    /// Checkpoints saved, and their total cost on the training thread (probe-queue drain
    /// plus the save) in ms.
    pub ckpt_saves: u64,
    pub ckpt_ms: f64,
}

/// The text the config asks for: `--data FILE` or the embedded corpus.
pub fn load_dataset(cfg: &TrainConfig) -> Result<Dataset, ConfigError> {
    let text = match &cfg.data {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Data {
            path: path.clone(),
            source,
        })?,
        None => data::EMBEDDED_CORPUS.to_string(),
    };
    Dataset::from_text(&text, cfg.val_frac, cfg.model.block_size).map_err(ConfigError::Invalid)
}

fn data_name(cfg: &TrainConfig) -> String {
    match &cfg.data {
        Some(p) => p.display().to_string(),
        None => data::EMBEDDED_NAME.to_string(),
    }
}

/// Parameter count of the model `Gpt::new` builds, without building it.
pub fn param_count(d: &ModelDims, vocab: usize) -> usize {
    let c = d.n_embd;
    let per_block = 4 * c + 3 * c * c + c * c + 4 * c * c + 4 * c * c;
    vocab * c + d.block_size * c + d.n_layer * per_block + 2 * c + c * vocab
}

/// The `--describe` JSON (needs the data for its vocabulary size and hash). Besides the
/// config it carries what the wrapper records before the run starts (docs/replay.md §2):
/// `seeds`, `spec`, `determinism` (with its preconditions) and `distributed`.
pub fn describe(cfg: &TrainConfig) -> Result<Value, ConfigError> {
    let ds = load_dataset(cfg)?;
    let (vocab, n_params) = (ds.vocab.len(), param_count(&cfg.model, ds.vocab.len()));
    let mut v = cfg.describe(vocab, n_params);
    v["data_name"] = json!(data_name(cfg));
    v["seeds"] = seeds_json(cfg.seed);
    v["spec"] = cfg.spec(vocab, n_params, &ds.text_sha256);
    Ok(v)
}

/// sha256 (hex) of the canonical text of a spec, recorded in checkpoints.
fn spec_sha256(spec: &Value) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(spec.to_string().as_bytes()))
}

/// Picks the compute device; CUDA needs a build with the `cuda` feature.
pub fn select_device(kind: DeviceKind) -> Result<Device, ConfigError> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda => cuda_device(),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, ConfigError> {
    Device::new_cuda(0).map_err(|e| ConfigError::Invalid(format!("cannot open CUDA device 0: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, ConfigError> {
    Err(ConfigError::Invalid(
        "--device cuda requested, but this veriscope-gpt was built without the `cuda` feature \
         (rebuild with `cargo build -p veriscope-gpt --release --features cuda` on a machine with nvcc)"
            .into(),
    ))
}

/// Everything the loop needs that is not the config.
pub struct RunContext<'a> {
    pub sink: MetricsSink,
    pub control: &'a ControlState,
    /// SIGTERM/SIGINT (or a test's stand-in): checkpoint, `end`, exit 128+signal.
    pub interrupt: &'a Interrupt,
    /// Show progress on stderr.
    pub progress: bool,
}

/// Mutable per-run state of the loop.
struct LoopState {
    ewma: Option<f64>,
    nonfinite: NonFinite,
    step_ms_sum: f64,
    steps_since_sample: u64,
    val_loss: Option<f64>,
    last_loss: Option<f64>,
    first_losses: Vec<f64>,
    tokens_per_s: f64,
    ckpt_saves: u64,
    ckpt_ms: f64,
}

impl LoopState {
    fn record_loss(&mut self, loss: f64) {
        if loss.is_finite() {
            // ewma_loss: alpha 0.1 per iteration, seeded with the first loss (algorithm.md §2.6).
            self.ewma = Some(match self.ewma {
                None => loss,
                Some(e) => EWMA_ALPHA * loss + (1.0 - EWMA_ALPHA) * e,
            });
            self.last_loss = Some(loss);
        } else {
            self.nonfinite.loss += 1;
            self.last_loss = None;
        }
        if self.first_losses.len() < 16 {
            self.first_losses.push(loss);
        }
    }
}

/// The model, optimizer and fixed inputs of one run.
struct Trainer<'a> {
    cfg: &'a TrainConfig,
    ds: Dataset,
    device: Device,
    model: Gpt,
    opt: AdamW,
    schedule: LrSchedule,
    /// Taken by [`train`] for the run's [`SampleEmitter`]; None with `--no-probe`.
    prober: Option<Prober>,
    projector: Option<Tensor>,
    /// The resolved spec (hello `spec`) and its hash (checkpoint sidecar).
    spec: Value,
    spec_sha256: String,
}

impl<'a> Trainer<'a> {
    fn new(cfg: &'a TrainConfig) -> anyhow::Result<Self> {
        let ds = load_dataset(cfg)?;
        let device = select_device(cfg.device)?;
        let vocab = ds.vocab.len();
        let model = Gpt::new(&cfg.model, vocab, cfg.gelu, cfg.seed, &device)?;
        let opt = AdamW::new(
            model.params(),
            AdamWParams {
                beta1: cfg.beta1,
                beta2: cfg.beta2,
                eps: ADAM_EPS,
                weight_decay: cfg.weight_decay,
                grad_clip: cfg.grad_clip,
            },
        )?;
        // The probe batch is drawn once from held-out data and never corrupted, so every
        // snapshot sees the same inputs (docs/trainer.md §Probe).
        let probe = data::sample_batch(
            &ds.val,
            cfg.probe_batch,
            cfg.model.block_size,
            derive_seed(cfg.seed, STREAM_PROBE, 0),
        );
        let probe_x = Tensor::from_vec(probe.x, (probe.batch, probe.block), &device)?;
        let prober = cfg
            .probe
            .then(|| Prober::new(probe_x, cfg.probe_layer, cfg.seed));
        let projector = match &cfg.injection {
            Some(Injection::Collapse { rank, layer, .. }) => Some(collapse_projector(
                cfg.model.n_embd,
                *rank,
                cfg.seed,
                *layer,
                &device,
            )?),
            _ => None,
        };
        let spec = cfg.spec(vocab, model.n_params(), &ds.text_sha256);
        Ok(Self {
            spec_sha256: spec_sha256(&spec),
            spec,
            schedule: LrSchedule {
                lr: cfg.lr,
                min_lr: cfg.min_lr,
                warmup_iters: cfg.lr_warmup_iters,
                decay_iters: cfg.lr_decay_iters,
            },
            cfg,
            ds,
            device,
            model,
            opt,
            prober,
            projector,
        })
    }

    fn collapse_hook(&self, iter: u64) -> Option<CollapseHook> {
        let inj = self.cfg.injection.as_ref()?;
        let Injection::Collapse { layer, .. } = inj else {
            return None;
        };
        let scale = inj.collapse_scale(iter, *layer)?;
        Some(CollapseHook {
            layer: *layer,
            scale,
            projector: self.projector.clone()?,
        })
    }

    fn batch_tensors(&self, b: &Batch) -> candle_core::Result<(Tensor, Tensor)> {
        let x = Tensor::from_vec(b.x.clone(), (b.batch, b.block), &self.device)?;
        let y = Tensor::from_vec(b.y.clone(), b.batch * b.block, &self.device)?;
        Ok((x, y))
    }

    /// One optimization step; returns (loss, grad_norm, applied, lr).
    fn step(&mut self, iter: u64) -> anyhow::Result<(f64, f64, bool, f64)> {
        let cfg = self.cfg;
        let block = cfg.model.block_size;
        let seed = derive_seed(cfg.seed, STREAM_DATA_ORDER, iter);
        let mut batch = data::sample_batch(&self.ds.train, cfg.batch_size, block, seed);
        if let Some(Injection::DataCorrupt { frac, mode, .. }) =
            cfg.injection.as_ref().filter(|i| i.is_active(iter))
        {
            let vocab = self.ds.vocab.len();
            corrupt_inputs(&mut batch.x, block, *frac, *mode, vocab, cfg.seed, iter);
        }
        let lr_mult = cfg
            .injection
            .as_ref()
            .map_or(1.0, |i| i.lr_multiplier(iter));
        let lr = self.schedule.at(iter) * lr_mult;
        let (x, y) = self.batch_tensors(&batch)?;
        let hook = self.collapse_hook(iter);
        let logits = self.model.forward(&x, hook.as_ref())?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        let loss_val = f64::from(loss.to_scalar::<f32>()?);
        let grads = loss.backward()?;
        let stats = self.opt.step(&grads, lr)?;
        Ok((loss_val, stats.grad_norm, stats.applied, lr))
    }

    /// Mean validation loss over `eval_iters` seeded batches.
    fn eval(&self, iter: u64) -> anyhow::Result<f64> {
        let cfg = self.cfg;
        let hook = self.collapse_hook(iter);
        let mut total = 0.0;
        for k in 0..cfg.eval_iters {
            let seed = derive_seed(cfg.seed, STREAM_EVAL, iter * 1_000 + k as u64);
            let b = data::sample_batch(&self.ds.val, cfg.batch_size, cfg.model.block_size, seed);
            let (x, y) = self.batch_tensors(&b)?;
            let logits = self.model.forward(&x, hook.as_ref())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            total += f64::from(loss.to_scalar::<f32>()?);
        }
        Ok(total / cfg.eval_iters.max(1) as f64)
    }

    /// Saves the weights, moments and the loop state a later sample line depends on.
    fn checkpoint(
        &self,
        dir: &Path,
        iter: u64,
        st: &LoopState,
        gauge: Option<veriscope_gate::metrics::GaugeState>,
    ) -> anyhow::Result<()> {
        let d = &self.cfg.model;
        let meta = CheckpointMeta {
            iter,
            step_t: self.opt.step_t,
            ewma_loss: st.ewma,
            ewma_loss_bits: st.ewma.map(f64::to_bits),
            pending_nonfinite_loss: st.nonfinite.loss,
            pending_nonfinite_grad: st.nonfinite.grad,
            pending_val_loss_bits: st.val_loss.map(f64::to_bits),
            gauge,
            spec_sha256: Some(self.spec_sha256.clone()),
            seed: self.cfg.seed,
            n_layer: d.n_layer,
            n_head: d.n_head,
            n_embd: d.n_embd,
            block_size: d.block_size,
            vocab_size: self.ds.vocab.len(),
        };
        checkpoint::save(dir, &self.opt, &meta)?;
        Ok(())
    }

    /// Loads the newest checkpoint into the model and optimizer and returns its sidecar;
    /// None (with a note on stderr) when the dir holds none: the run starts from scratch.
    fn resume(&mut self) -> anyhow::Result<Option<CheckpointMeta>> {
        let dir = self
            .cfg
            .ckpt_dir
            .as_ref()
            .context("--resume needs --ckpt-dir")?;
        let Some((path, meta)) = checkpoint::latest(dir)? else {
            eprintln!(
                "veriscope-gpt: resume requested, but {} holds no complete checkpoint; \
                 starting from scratch (iteration 0)",
                dir.display()
            );
            return Ok(None);
        };
        if meta.seed != self.cfg.seed {
            eprintln!(
                "veriscope-gpt: warning: resuming a checkpoint of seed {} under seed {}; the \
                 data order after it is that of seed {}",
                meta.seed, self.cfg.seed, self.cfg.seed
            );
        }
        if meta
            .spec_sha256
            .as_ref()
            .is_some_and(|h| *h != self.spec_sha256)
        {
            eprintln!(
                "veriscope-gpt: warning: the checkpoint at iter {} was written under another \
                 spec (model/training settings); continuing with the current one",
                meta.iter
            );
        }
        let vocab = self.ds.vocab.len();
        checkpoint::restore(
            &path,
            &meta,
            &self.cfg.model,
            vocab,
            &mut self.opt,
            &self.device,
        )?;
        Ok(Some(meta))
    }

    fn hello(&self, resumed_from: Option<u64>) -> Value {
        let cfg = self.cfg;
        let d = &cfg.model;
        let metrics: Vec<&str> = if cfg.probe {
            METRIC_NAMES.to_vec()
        } else {
            Vec::new()
        };
        json!({
            "type": "hello",
            "protocol": 1,
            "runner": "veriscope-gpt",
            "runner_version": env!("CARGO_PKG_VERSION"),
            "metrics": metrics,
            "metric_interval": cfg.metric_interval,
            "seed": cfg.seed,
            "seeds": seeds_json(cfg.seed),
            "distributed": cfg.distributed.to_json(),
            "injection": cfg.injection,
            "model": {
                "n_layer": d.n_layer, "n_head": d.n_head, "n_embd": d.n_embd,
                "block_size": d.block_size, "vocab_size": self.ds.vocab.len(),
                "n_params": self.model.n_params(),
            },
            "gate_cadence": cfg.gate_cadence(),
            "preset": cfg.preset,
            "data": data_name(cfg),
            "probe": {
                "layer": cfg.probe_layer, "batch": cfg.probe_batch, "enabled": cfg.probe,
                "mode": cfg.probe_mode,
            },
            "resumed_from_iter": resumed_from,
            // docs/replay.md §3: C = the last completed iteration restored.
            "resume": resumed_from.map(|c| json!({ "from_iter": c })),
            "spec": self.spec,
            "determinism": cfg.determinism.to_json(),
        })
    }
}

/// Runs training per `cfg`, speaking the metrics stream through `ctx.sink`.
/// Returns Err on a real error (after writing an `end` line with status `error`).
///
/// A strict run (`VERISCOPE_STRICT_DETERMINISM=1`) with an unmet precondition is refused
/// before anything is written ([`ConfigError`], exit 2; docs/replay.md §2). A replica that is
/// not rank 0 trains with its sink disabled (docs/trainer.md §Replicated ranks).
pub fn train(cfg: &TrainConfig, mut ctx: RunContext<'_>) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    if let Some(why) = cfg.determinism.refusal() {
        return Err(ConfigError::Invalid(format!("strict determinism refused: {why}")).into());
    }
    if !cfg.distributed.is_chief() {
        ctx.sink = MetricsSink::disabled();
    }
    let mut trainer = Trainer::new(cfg)?;
    let restored = if cfg.resume { trainer.resume()? } else { None };
    let resumed_from = restored.as_ref().map(|m| m.iter);
    if let (Some(meta), Some(prober)) = (restored.as_ref(), trainer.prober.as_mut()) {
        prober.restore_gauge(meta.gauge.clone());
    }
    ctx.sink
        .write_line(&trainer.hello(resumed_from))
        .context("cannot write the hello line to the metrics stream")?;
    let sink = std::mem::replace(&mut ctx.sink, MetricsSink::disabled());
    let mut emitter = match SampleEmitter::start(
        sink,
        trainer.prober.take(),
        cfg.probe_mode,
        PROBE_QUEUE_DEPTH,
    ) {
        Ok(e) => e,
        Err((err, mut sink)) => {
            let wall_s = started.elapsed().as_secs_f64();
            let _ = sink.write_line(&end_line(
                0,
                EndStatus::Error,
                Some(&format!("{err:#}")),
                wall_s,
            ));
            return Err(err);
        }
    };
    // The loop state a sample line depends on comes back from the checkpoint, so the samples
    // after it are those of an uninterrupted run (docs/replay.md §3).
    let mut state = LoopState {
        ewma: restored.as_ref().and_then(CheckpointMeta::ewma),
        nonfinite: NonFinite {
            loss: restored.as_ref().map_or(0, |m| m.pending_nonfinite_loss),
            grad: restored.as_ref().map_or(0, |m| m.pending_nonfinite_grad),
            hidden: 0,
        },
        step_ms_sum: 0.0,
        steps_since_sample: 0,
        val_loss: restored.as_ref().and_then(CheckpointMeta::pending_val_loss),
        last_loss: None,
        first_losses: Vec::new(),
        tokens_per_s: 0.0,
        ckpt_saves: 0,
        ckpt_ms: 0.0,
    };
    let start_iter = resumed_from.map_or(0, |c| c + 1);
    let reporter = ctx.progress.then(|| Reporter::new(cfg.max_iters));
    if let (Some(r), Some(from)) = (&reporter, resumed_from) {
        r.note(&format!("resumed from checkpoint at iter {from}"));
    }
    let result = run_loop(
        &mut trainer,
        &mut emitter,
        &ctx,
        &mut state,
        start_iter,
        reporter.as_ref(),
    );
    // Every queued sample line is written before the end line.
    let (sink, drained) = emitter.finish();
    ctx.sink = sink;
    let result = match (result, drained) {
        (Ok((_, last_iter)), Err(err)) => Err((err, last_iter)),
        (result, _) => result,
    };
    if let Some(r) = &reporter {
        r.finish();
    }
    let wall_s = started.elapsed().as_secs_f64();
    match result {
        Ok((status, last_iter)) => {
            let last_iter = last_iter.or(resumed_from);
            ctx.sink
                .write_line(&end_line(
                    last_iter.unwrap_or(0),
                    status,
                    status.reason().as_deref(),
                    wall_s,
                ))
                .context("cannot write the end line")?;
            Ok(Outcome {
                status,
                last_iter,
                final_loss: state.last_loss,
                first_losses: state.first_losses,
                wall_s,
                resumed_from,
                ckpt_saves: state.ckpt_saves,
                ckpt_ms: state.ckpt_ms,
            })
        }
        Err((err, last_iter)) => {
            let reason = format!("{err:#}");
            // Best effort: the stream may be the thing that failed.
            let _ = ctx.sink.write_line(&end_line(
                last_iter.or(resumed_from).unwrap_or(0),
                EndStatus::Error,
                Some(&reason),
                wall_s,
            ));
            Err(err)
        }
    }
}

type LoopResult = Result<(EndStatus, Option<u64>), (anyhow::Error, Option<u64>)>;

/// When the next checkpoint is due (docs/trainer.md §Checkpoints).
struct CkptClock {
    last: Instant,
}

impl CkptClock {
    /// Periodic saves: every `ckpt_interval` iterations and/or every `ckpt_every_s` seconds.
    fn periodic_due(&self, cfg: &TrainConfig, iter: u64) -> bool {
        let by_count = cfg.ckpt_interval > 0 && (iter + 1).is_multiple_of(cfg.ckpt_interval);
        let by_time =
            cfg.ckpt_every_s > 0 && self.last.elapsed() >= Duration::from_secs(cfg.ckpt_every_s);
        by_count || by_time
    }
}

fn run_loop(
    tr: &mut Trainer<'_>,
    emitter: &mut SampleEmitter,
    ctx: &RunContext<'_>,
    st: &mut LoopState,
    start_iter: u64,
    reporter: Option<&Reporter>,
) -> LoopResult {
    let cfg = tr.cfg;
    let tokens_per_step = (cfg.batch_size * cfg.model.block_size) as f64;
    let mut last_done: Option<u64> = start_iter.checked_sub(1);
    let mut clock = CkptClock {
        last: Instant::now(),
    };
    for iter in start_iter..cfg.max_iters {
        let t0 = Instant::now();
        let (loss, grad_norm, applied, lr) = tr.step(iter).map_err(|e| (e, last_done))?;
        let step_ms = t0.elapsed().as_secs_f64() * 1e3;
        last_done = Some(iter);
        st.step_ms_sum += step_ms;
        st.steps_since_sample += 1;
        st.tokens_per_s = tokens_per_step / (step_ms / 1e3).max(1e-9);
        st.record_loss(loss);
        if !applied {
            st.nonfinite.grad += 1;
        }
        let is_last = iter + 1 == cfg.max_iters;
        if cfg.eval_interval > 0
            && cfg.eval_iters > 0
            && (iter.is_multiple_of(cfg.eval_interval) || is_last)
        {
            let val = tr.eval(iter).map_err(|e| (e, last_done))?;
            st.val_loss = Some(val);
            if let Some(r) = reporter {
                r.note(&format!(
                    "iter {iter}: train loss {loss:.4}, val loss {val:.4}"
                ));
            }
        }
        if iter.is_multiple_of(cfg.metric_interval) {
            emit_sample(tr, emitter, st, iter, loss, grad_norm, lr).map_err(|e| (e, last_done))?;
        }
        // Polled once per iteration, after it completed: the iteration in flight is finished
        // (metrics-stream.md §control; docs/replay.md §3 for signals).
        let interrupted = ctx.interrupt.requested(iter);
        let stop = ctx.control.stop_requested();
        if let Some(dir) = cfg.ckpt_dir.as_ref().filter(|_| cfg.writes_checkpoints()) {
            // A stop or a signal also saves, so a fork or a resume continues from here.
            if is_last || interrupted.is_some() || stop || clock.periodic_due(cfg, iter) {
                let t = Instant::now();
                // Samples up to `iter` reach the stream before the checkpoint exists.
                let gauge = emitter.flush().map_err(|e| (e, last_done))?;
                tr.checkpoint(dir, iter, st, gauge)
                    .map_err(|e| (e, last_done))?;
                st.ckpt_saves += 1;
                st.ckpt_ms += t.elapsed().as_secs_f64() * 1e3;
                clock.last = Instant::now();
            }
        }
        if let Some(r) = reporter {
            let decision = ctx.control.last_decision();
            r.update(&Progress {
                iter,
                loss: Some(loss),
                tokens_per_s: st.tokens_per_s,
                decision: decision.as_deref(),
            });
        }
        if let Some(sig) = interrupted {
            return Ok((EndStatus::Interrupted(sig), last_done));
        }
        if stop {
            return Ok((EndStatus::StoppedOnFail, last_done));
        }
    }
    Ok((EndStatus::Completed, last_done))
}

fn emit_sample(
    tr: &Trainer<'_>,
    emitter: &mut SampleEmitter,
    st: &mut LoopState,
    iter: u64,
    loss: f64,
    grad_norm: f64,
    lr: f64,
) -> anyhow::Result<()> {
    let mut line = SampleLine {
        iter,
        loss: Some(loss),
        ewma_loss: st.ewma,
        grad_norm: Some(grad_norm),
        lr,
        injection_active: tr.cfg.injection.as_ref().is_some_and(|i| i.is_active(iter)),
        val_loss: st.val_loss.take(),
        ..SampleLine::default()
    };
    line.timing.step_ms = st.step_ms_sum / st.steps_since_sample.max(1) as f64;
    line.nonfinite = std::mem::take(&mut st.nonfinite);
    st.step_ms_sum = 0.0;
    st.steps_since_sample = 0;
    emitter.emit(line, &tr.model, tr.collapse_hook(iter))
}
