//! The probe and the path of sample lines to the metrics stream (docs/trainer.md §Probe).
//!
//! A probe is a no-grad forward on the fixed probe batch up to the probed block, then
//! `veriscope_gate::metrics::MetricState::snapshot` on that block's output. It runs either
//! inline on the training thread (`sync`) or, by default on CPU, on a dedicated worker thread
//! (`async`): at a probe iteration the training thread copies the weights (a
//! [`GptSnapshot`], ~0.4 MB for cpu_small) and queues the copy with the sample line, then
//! goes on training while the worker probes the copy and writes the line.
//!
//! Why the async path gives the same bytes as the sync one: the snapshot holds exactly the
//! weights of that iteration, the probe input and collapse hook are fixed per iteration, and
//! one worker handles the queue in FIFO order, so the metric gauge (an EMA over snapshots)
//! sees the same inputs in the same order. Lines are written by that one worker in
//! iteration order, and [`SampleEmitter::finish`] drains the queue before the caller
//! writes the `end` line.
//!
//! Backpressure: a job holds one of `depth` slots from enqueue until its line is written, so
//! at most `depth` snapshots exist at once; when all are taken the training thread waits and
//! reports the wait as `timing.probe_wait_ms`.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, anyhow};
use candle_core::Tensor;
use veriscope_gate::metrics::{GaugeState, MetricConfig, MetricState};

use crate::model::{CollapseHook, Gpt, GptSnapshot};
use crate::stream::{MetricsSink, SampleLine};

/// Snapshots in flight in async mode. The worker needs ~1/6 of a training step per probe
/// (cpu_small, one probe every 2 steps), so the queue is normally empty; the slack absorbs a
/// slow probe (first-call allocations, a busy machine) without stalling training.
pub const PROBE_QUEUE_DEPTH: usize = 4;

/// The fixed probe input and the per-run metric state.
pub struct Prober {
    x: Tensor,
    layer: usize,
    metrics: MetricState,
}

/// One probe: the gate metrics and what they cost.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOut {
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Forward to the probed block plus the copy to the host.
    pub probe_ms: f64,
    pub metric_ms: f64,
    pub nonfinite_hidden: u64,
}

impl ProbeOut {
    fn apply(self, line: &mut SampleLine) {
        line.metrics = self.metrics;
        line.timing.probe_ms = Some(self.probe_ms);
        line.timing.metric_ms = Some(self.metric_ms);
        line.nonfinite.hidden += self.nonfinite_hidden;
    }
}

impl Prober {
    /// `x`: the `(probe_batch, block)` token ids; `seed`: the run seed (metric pair sampler).
    pub fn new(x: Tensor, layer: usize, seed: u64) -> Self {
        Self {
            x,
            layer,
            metrics: MetricState::new(MetricConfig {
                seed,
                ..MetricConfig::default()
            }),
        }
    }

    /// Restores the metric gauge of a checkpoint (a resumed run continues its EMA).
    pub fn restore_gauge(&mut self, state: Option<GaugeState>) {
        self.metrics.set_gauge_state(state);
    }

    /// Probes the weights behind `hidden` (the live model or a snapshot) at `iter`.
    fn run(
        &mut self,
        iter: u64,
        hidden: impl FnOnce(&Tensor, usize) -> candle_core::Result<Tensor>,
    ) -> anyhow::Result<ProbeOut> {
        let t0 = Instant::now();
        let h = hidden(&self.x, self.layer).context("probe forward failed")?;
        let (n, d) = h.dims2()?;
        let h: Vec<f32> = h.flatten_all()?.to_vec1()?;
        let probe_ms = ms_since(t0);
        let t1 = Instant::now();
        let values = self.metrics.snapshot(&h, n, d, iter);
        let metric_ms = ms_since(t1);
        Ok(ProbeOut {
            metrics: values.to_map(),
            probe_ms,
            metric_ms,
            nonfinite_hidden: values.nonfinite_inputs,
        })
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// How the probe runs (`--probe-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMode {
    /// On the training thread, before the next step.
    Sync,
    /// On a worker thread, from a weight snapshot, while training continues.
    Async,
}

/// Writes sample lines in iteration order, probing first when a [`Prober`] is given.
pub enum SampleEmitter {
    Inline {
        sink: MetricsSink,
        prober: Option<Prober>,
    },
    Async(AsyncProbe),
}

/// Training-thread side of the async probe.
pub struct AsyncProbe {
    jobs: Option<Sender<Job>>,
    slots: Receiver<()>,
    worker: Option<JoinHandle<anyhow::Result<()>>>,
    sink: Arc<Mutex<MetricsSink>>,
}

struct ProbeJob {
    line: SampleLine,
    snapshot: GptSnapshot,
    hook: Option<CollapseHook>,
}

enum Job {
    Probe(Box<ProbeJob>),
    /// Answered once every job queued before it is written (FIFO), for checkpoints.
    /// Replies with the gauge once every earlier job is written.
    Flush(Sender<Option<GaugeState>>),
}

impl SampleEmitter {
    /// Inline for `Sync` or without a prober; otherwise starts the worker. On failure the
    /// sink comes back so the caller can still write its `end` line.
    pub fn start(
        sink: MetricsSink,
        prober: Option<Prober>,
        mode: ProbeMode,
        depth: usize,
    ) -> Result<Self, (anyhow::Error, MetricsSink)> {
        match (prober, mode) {
            (Some(p), ProbeMode::Async) => AsyncProbe::spawn(sink, p, depth).map(Self::Async),
            (prober, _) => Ok(Self::Inline { sink, prober }),
        }
    }

    /// Completes `line` with the probe of `model` (when probing) and writes it.
    /// `hook` is the collapse hook in force at `line.iter`.
    pub fn emit(
        &mut self,
        mut line: SampleLine,
        model: &Gpt,
        hook: Option<CollapseHook>,
    ) -> anyhow::Result<()> {
        match self {
            Self::Inline { sink, prober } => {
                if let Some(p) = prober {
                    p.run(line.iter, |x, layer| model.hidden(x, layer, hook.as_ref()))?
                        .apply(&mut line);
                }
                write(sink, &line)
            }
            Self::Async(a) => a.enqueue(line, model, hook),
        }
    }

    /// Waits until every line emitted so far is written. A checkpoint at iteration C is saved
    /// only after this, so the stream holds every sample up to C before a resume can start
    /// after C (docs/replay.md §3: nothing lost, nothing twice).
    ///
    /// Returns the probe's metric gauge as of the last written line, for the checkpoint.
    pub fn flush(&mut self) -> anyhow::Result<Option<GaugeState>> {
        match self {
            Self::Inline { prober, .. } => {
                Ok(prober.as_ref().and_then(|p| p.metrics.gauge_state()))
            }
            Self::Async(a) => a.flush(),
        }
    }

    /// Waits until every queued line is written, then returns the sink (for the `end` line)
    /// and the worker's error, if it failed after the last `emit`.
    pub fn finish(self) -> (MetricsSink, anyhow::Result<()>) {
        match self {
            Self::Inline { sink, .. } => (sink, Ok(())),
            Self::Async(mut a) => {
                let res = a.join();
                let sink = match Arc::try_unwrap(a.sink) {
                    Ok(m) => m.into_inner().unwrap_or_else(PoisonError::into_inner),
                    // Unreachable once the worker is joined; never block on it.
                    Err(_) => MetricsSink::disabled(),
                };
                (sink, res)
            }
        }
    }
}

fn write(sink: &mut MetricsSink, line: &SampleLine) -> anyhow::Result<()> {
    sink.write_line(&line.to_json())
        .context("cannot write a sample line to the metrics stream")
}

impl AsyncProbe {
    fn spawn(
        sink: MetricsSink,
        prober: Prober,
        depth: usize,
    ) -> Result<Self, (anyhow::Error, MetricsSink)> {
        let depth = depth.max(1);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (slot_tx, slot_rx) = mpsc::sync_channel::<()>(depth);
        for _ in 0..depth {
            slot_tx
                .send(())
                .expect("the slot channel has room for depth tokens");
        }
        let sink = Arc::new(Mutex::new(sink));
        let worker_sink = Arc::clone(&sink);
        let spawned = std::thread::Builder::new()
            .name("veriscope-probe".into())
            .spawn(move || probe_worker(prober, &job_rx, &slot_tx, &worker_sink));
        match spawned {
            Ok(handle) => Ok(Self {
                jobs: Some(job_tx),
                slots: slot_rx,
                worker: Some(handle),
                sink,
            }),
            Err(e) => {
                // The closure (and its clone of the sink) is dropped when spawn fails.
                let sink = Arc::try_unwrap(sink)
                    .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
                    .unwrap_or_else(|_| MetricsSink::disabled());
                Err((anyhow!("cannot start the probe worker thread: {e}"), sink))
            }
        }
    }

    fn enqueue(
        &mut self,
        mut line: SampleLine,
        model: &Gpt,
        hook: Option<CollapseHook>,
    ) -> anyhow::Result<()> {
        let t0 = Instant::now();
        if self.slots.recv().is_err() {
            return Err(self.worker_failure());
        }
        let wait_ms = ms_since(t0);
        let t1 = Instant::now();
        let snapshot = model.snapshot().context("cannot snapshot the weights")?;
        line.timing.probe_wait_ms = Some(wait_ms);
        line.timing.snapshot_ms = Some(ms_since(t1));
        let job = Job::Probe(Box::new(ProbeJob {
            line,
            snapshot,
            hook,
        }));
        let sent = self.jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.worker_failure())
        }
    }

    fn flush(&mut self) -> anyhow::Result<Option<GaugeState>> {
        let (tx, rx) = mpsc::channel();
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job::Flush(tx)).is_ok());
        // A dropped reply sender means the worker stopped before reaching the flush.
        match rx.recv() {
            Ok(gauge) if sent => Ok(gauge),
            _ => Err(self.worker_failure()),
        }
    }

    /// The worker has stopped early: join it and return why.
    fn worker_failure(&mut self) -> anyhow::Error {
        match self.join() {
            Err(e) => e,
            Ok(()) => anyhow!("the probe worker stopped unexpectedly"),
        }
    }

    /// Closes the queue and waits for the worker to write what is left.
    fn join(&mut self) -> anyhow::Result<()> {
        drop(self.jobs.take());
        match self.worker.take() {
            None => Ok(()),
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the probe worker panicked"))),
        }
    }
}

/// Probes each queued snapshot in order and writes its line; stops at the first error
/// (dropping its channel ends, which the training thread notices at its next sample).
fn probe_worker(
    mut prober: Prober,
    jobs: &Receiver<Job>,
    slots: &SyncSender<()>,
    sink: &Mutex<MetricsSink>,
) -> anyhow::Result<()> {
    for job in jobs {
        let (mut line, snapshot, hook) = match job {
            Job::Probe(job) => {
                let ProbeJob {
                    line,
                    snapshot,
                    hook,
                } = *job;
                (line, snapshot, hook)
            }
            Job::Flush(done) => {
                let _ = done.send(prober.metrics.gauge_state());
                continue;
            }
        };
        let out = prober.run(line.iter, |x, layer| {
            snapshot.hidden(x, layer, hook.as_ref())
        })?;
        drop(snapshot);
        out.apply(&mut line);
        let mut guard = sink.lock().unwrap_or_else(PoisonError::into_inner);
        write(&mut guard, &line)?;
        drop(guard);
        // The training thread may already be gone (it joins us only after closing the queue).
        let _ = slots.send(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GeluKind, ModelDims};
    use crate::stream::SinkTarget;
    use candle_core::Device;
    use serde_json::Value;
    use std::path::Path;

    const VOCAB: usize = 11;

    fn tiny_model() -> Gpt {
        let dims = ModelDims {
            n_layer: 2,
            n_head: 2,
            n_embd: 16,
            block_size: 8,
        };
        Gpt::new(&dims, VOCAB, GeluKind::Sigmoid, 3, &Device::Cpu).unwrap()
    }

    fn prober() -> Prober {
        let ids: Vec<u32> = (0..32).map(|i| (i * 7 % VOCAB) as u32).collect();
        let x = Tensor::from_vec(ids, (4, 8), &Device::Cpu).unwrap();
        Prober::new(x, 1, 9)
    }

    fn file_sink(path: &Path) -> MetricsSink {
        MetricsSink::open(&SinkTarget::Path(path.to_path_buf())).unwrap()
    }

    fn line(iter: u64) -> SampleLine {
        SampleLine {
            iter,
            loss: Some(1.0),
            lr: 1e-3,
            ..SampleLine::default()
        }
    }

    /// Moves every weight, as an optimizer step would (in place, through the `Var`s).
    fn perturb(model: &Gpt, k: f64) {
        for p in model.params() {
            let t = p.var.as_tensor().affine(1.0 - 0.1 * k, 0.01 * k).unwrap();
            p.var.set(&t).unwrap();
        }
    }

    /// Emits `n` lines, perturbing the weights right after each emit (before an async
    /// worker can have run), then writes an end marker after `finish`.
    fn emit_run(mode: ProbeMode, depth: usize, n: u64, out: &Path) -> Vec<Value> {
        let model = tiny_model();
        let mut em = SampleEmitter::start(file_sink(out), Some(prober()), mode, depth)
            .map_err(|(e, _)| e)
            .unwrap();
        for i in 0..n {
            em.emit(line(i), &model, None).unwrap();
            perturb(&model, (i + 1) as f64);
        }
        let (mut sink, res) = em.finish();
        res.unwrap();
        sink.write_line(&serde_json::json!({"type": "end"}))
            .unwrap();
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn async_lines_come_in_iteration_order_and_before_the_end() {
        let dir = tempfile::tempdir().unwrap();
        // Depth 1 forces the training side to wait on the worker at every sample.
        let lines = emit_run(ProbeMode::Async, 1, 30, &dir.path().join("a"));
        assert_eq!(lines.len(), 31);
        for (i, l) in lines[..30].iter().enumerate() {
            assert_eq!(l["iter"], i as u64);
            assert!(l["metrics"]["eff_dim"].is_number(), "{l}");
            assert!(l["timing"]["probe_wait_ms"].is_number(), "{l}");
            assert!(l["timing"]["snapshot_ms"].is_number(), "{l}");
        }
        assert_eq!(lines[30]["type"], "end");
    }

    #[test]
    fn async_probe_sees_the_weights_of_its_iteration_as_sync_does() {
        let dir = tempfile::tempdir().unwrap();
        let strip = |mut v: Value| {
            v.as_object_mut().unwrap().remove("timing");
            v
        };
        let sync: Vec<Value> = emit_run(ProbeMode::Sync, 4, 12, &dir.path().join("s"))
            .into_iter()
            .map(strip)
            .collect();
        for depth in [1, 4] {
            let asynch: Vec<Value> = emit_run(
                ProbeMode::Async,
                depth,
                12,
                &dir.path().join(format!("a{depth}")),
            )
            .into_iter()
            .map(strip)
            .collect();
            assert_eq!(sync, asynch, "depth {depth}");
        }
        // The perturbation does change the metrics, so the equality above is not vacuous.
        assert_ne!(sync[0]["metrics"], sync[11]["metrics"]);
    }

    #[test]
    fn flush_returns_only_after_every_queued_line_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("f");
        let model = tiny_model();
        let mut em = SampleEmitter::start(file_sink(&out), Some(prober()), ProbeMode::Async, 4)
            .map_err(|(e, _)| e)
            .unwrap();
        for i in 0..4 {
            em.emit(line(i), &model, None).unwrap();
        }
        em.flush().unwrap();
        // Written before the flush returned, while the worker is still alive.
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        em.emit(line(4), &model, None).unwrap();
        let (_, res) = em.finish();
        res.unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 5);
    }

    #[test]
    fn a_failing_sink_surfaces_as_an_error_instead_of_hanging() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let model = tiny_model();
        let mut em = SampleEmitter::start(file_sink(full), Some(prober()), ProbeMode::Async, 1)
            .map_err(|(e, _)| e)
            .unwrap();
        // As the training loop does: stop at the first error, then finish.
        let mut errors: Vec<String> = (0..5)
            .find_map(|i| em.emit(line(i), &model, None).err())
            .map(|e| format!("{e:#}"))
            .into_iter()
            .collect();
        let (_, res) = em.finish();
        errors.extend(res.err().map(|e| format!("{e:#}")));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("cannot write a sample line"),
            "{errors:?}"
        );
    }

    #[test]
    fn without_a_prober_lines_are_written_inline_with_empty_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("n");
        let model = tiny_model();
        let mut em = SampleEmitter::start(file_sink(&out), None, ProbeMode::Async, 4)
            .map_err(|(e, _)| e)
            .unwrap();
        assert!(matches!(em, SampleEmitter::Inline { .. }));
        em.emit(line(0), &model, None).unwrap();
        em.finish().1.unwrap();
        let v: Value = serde_json::from_str(std::fs::read_to_string(out).unwrap().trim()).unwrap();
        assert_eq!(v["metrics"], serde_json::json!({}));
        assert!(v["timing"].get("probe_ms").is_none());
    }
}
