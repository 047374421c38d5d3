//! The capsule's `metrics.jsonl` (docs/metrics-stream.md): every accepted metrics-stream line,
//! canonical JSON, one object per line (`hello` first, then `sample`s).
//!
//! Read bounded: the file is streamed line by line, malformed lines are counted and skipped,
//! and each series keeps at most [`MAX_SERIES_POINTS`] points by uniform decimation (the
//! stride doubles whenever a series fills up, so memory stays bounded for any file size).
//! Timing totals are summed over every sample, before decimation.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Component, Path};

use serde_json::Value;

use crate::view::Injection;

/// Default file name of the stream copy in a capsule.
pub const METRICS_JSONL: &str = "metrics.jsonl";
/// Most points kept per series.
pub const MAX_SERIES_POINTS: usize = 5000;
/// Longest line accepted (a stream line is under `PIPE_BUF` in practice).
const MAX_LINE_BYTES: usize = 1 << 20;

/// One series thinned on the fly: keeps every `stride`-th point, doubling the stride (and
/// dropping every other kept point) whenever more than [`MAX_SERIES_POINTS`] are held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decimator {
    points: Vec<(u64, f64)>,
    stride: u64,
    seen: u64,
    last: Option<(u64, f64)>,
}

impl Decimator {
    fn push(&mut self, p: (u64, f64)) {
        if self.stride == 0 {
            self.stride = 1;
        }
        if self.seen.is_multiple_of(self.stride) {
            self.points.push(p);
            if self.points.len() > MAX_SERIES_POINTS {
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
        self.last = Some(p);
    }

    /// The kept points, with the series' last point appended when decimation dropped it.
    fn finish(mut self) -> Vec<(u64, f64)> {
        if let Some(last) = self.last
            && self.points.last() != Some(&last)
        {
            if self.points.len() >= MAX_SERIES_POINTS {
                self.points.pop();
            }
            self.points.push(last);
        }
        self.points
    }
}

/// Probe overhead from the samples' `timing` fields.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ProbeOverhead {
    /// Sum of `timing.probe_ms`.
    pub probe_ms: f64,
    /// Sum of `timing.metric_ms`.
    pub metric_ms: f64,
    /// Training time covered by the samples: `timing.step_ms` is the mean step time since
    /// the previous sample (docs/metrics-stream.md), so each is weighted by its iteration gap.
    pub step_ms: f64,
    /// Samples that carried a usable `timing` object.
    pub samples: u64,
    /// Sum of `timing.snapshot_ms + timing.probe_wait_ms`: what an asynchronous probe took
    /// from the training thread (docs/metrics-stream.md).
    pub training_thread_ms: f64,
    /// Samples that carried `snapshot_ms` (the probe ran off the training thread).
    pub async_samples: u64,
}

impl ProbeOverhead {
    /// Probe time taken from training, over training time (0.031 = 3.1%). With an
    /// asynchronous probe `probe_ms`/`metric_ms` are the worker's time, which overlaps
    /// training; what training lost is `snapshot_ms + probe_wait_ms`.
    pub fn fraction(&self) -> f64 {
        if self.is_async() {
            self.training_thread_ms / self.step_ms
        } else {
            (self.probe_ms + self.metric_ms) / self.step_ms
        }
    }

    /// Every timed sample came from a probe that ran off the training thread.
    pub fn is_async(&self) -> bool {
        self.samples > 0 && self.async_samples == self.samples
    }

    /// The probe worker's time over training time (asynchronous probes; its CPU cost).
    pub fn worker_fraction(&self) -> f64 {
        (self.probe_ms + self.metric_ms) / self.step_ms
    }
}

/// What the report shows from `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsStream {
    /// Path relative to OUTDIR.
    pub path: String,
    /// Metric names announced by the hello line, in its order.
    pub hello_metrics: Vec<String>,
    /// Injection recorded by the hello line.
    pub injection: Option<Injection>,
    /// Gated metric series (`sample.metrics`), iter order, decimated; nulls skipped.
    pub metrics: BTreeMap<String, Vec<(u64, f64)>>,
    /// `loss` per sample, decimated.
    pub loss: Vec<(u64, f64)>,
    /// `ewma_loss` per sample, decimated.
    pub ewma_loss: Vec<(u64, f64)>,
    /// Sample lines read.
    pub samples: u64,
    /// Lines skipped as malformed (bad JSON, not an object, sample without `iter`).
    pub malformed: u64,
    /// Timing totals, when some sample carried timing with a positive step time.
    pub overhead: Option<ProbeOverhead>,
    /// Mean training step time in ms: `timing.step_ms` weighted by each sample's iteration
    /// gap, over the iterations covered (the economic estimate's last-resort step time).
    pub mean_step_ms: Option<f64>,
}

impl MetricsStream {
    /// Metric names to chart: the hello line's order first, then any others present.
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hello_metrics
            .iter()
            .filter(|n| self.metrics.contains_key(*n))
            .cloned()
            .collect();
        for k in self.metrics.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        names
    }
}

/// The stream path named by results.json `metrics_ref.path`, else [`METRICS_JSONL`]; a path
/// that is absolute or leaves OUTDIR is refused (the default name is used instead).
pub fn stream_path(results: Option<&Value>) -> String {
    results
        .and_then(|r| r.pointer("/metrics_ref/path"))
        .and_then(Value::as_str)
        .filter(|p| {
            !p.is_empty()
                && Path::new(p)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        })
        .unwrap_or(METRICS_JSONL)
        .to_owned()
}

/// Reads `outdir/rel` when it is a file; `None` when absent or unreadable.
pub fn load_stream(outdir: &Path, rel: &str) -> Option<MetricsStream> {
    let file = std::fs::File::open(outdir.join(rel)).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    Some(read_stream(std::io::BufReader::new(file), rel))
}

/// Parses a stream from any reader (see the module docs for the bounds).
pub fn read_stream<R: BufRead>(mut reader: R, rel: &str) -> MetricsStream {
    let mut out = MetricsStream {
        path: rel.to_owned(),
        ..MetricsStream::default()
    };
    let mut metrics: BTreeMap<String, Decimator> = BTreeMap::new();
    let (mut loss, mut ewma) = (Decimator::default(), Decimator::default());
    let mut prev_timed_iter: Option<u64> = None;
    let mut timed_steps: u64 = 0;
    let mut timing = ProbeOverhead {
        probe_ms: 0.0,
        metric_ms: 0.0,
        step_ms: 0.0,
        training_thread_ms: 0.0,
        async_samples: 0,
        samples: 0,
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let mut limited = Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1);
        match limited.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            // Overlong line: count it once and skip to its end.
            out.malformed += 1;
            let mut sink = Vec::new();
            if reader.read_until(b'\n', &mut sink).is_err() {
                break;
            }
            continue;
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(line) else {
            out.malformed += 1;
            continue;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("hello") => {
                out.hello_metrics = obj
                    .get("metrics")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                out.injection = obj.get("injection").and_then(injection_of);
            }
            Some("sample") => {
                let Some(iter) = obj.get("iter").and_then(Value::as_u64) else {
                    out.malformed += 1;
                    continue;
                };
                out.samples += 1;
                if let Some(m) = obj.get("metrics").and_then(Value::as_object) {
                    for (k, v) in m {
                        if let Some(x) = finite(v) {
                            metrics.entry(k.clone()).or_default().push((iter, x));
                        }
                    }
                }
                if let Some(x) = obj.get("loss").and_then(finite) {
                    loss.push((iter, x));
                }
                if let Some(x) = obj.get("ewma_loss").and_then(finite) {
                    ewma.push((iter, x));
                }
                if let Some(t) = obj.get("timing") {
                    let f = |k: &str| t.get(k).and_then(finite).filter(|x| *x >= 0.0);
                    if let Some(step) = f("step_ms") {
                        // The first sample has no previous one: count a single step.
                        let gap = prev_timed_iter.map_or(1, |p: u64| iter.saturating_sub(p).max(1));
                        prev_timed_iter = Some(iter);
                        timing.step_ms += step * gap as f64;
                        timed_steps += gap;
                        timing.probe_ms += f("probe_ms").unwrap_or(0.0);
                        timing.metric_ms += f("metric_ms").unwrap_or(0.0);
                        if let Some(snap) = f("snapshot_ms") {
                            timing.training_thread_ms += snap + f("probe_wait_ms").unwrap_or(0.0);
                            timing.async_samples += 1;
                        }
                        timing.samples += 1;
                    }
                }
            }
            _ => {}
        }
    }
    out.metrics = metrics.into_iter().map(|(k, d)| (k, d.finish())).collect();
    out.loss = loss.finish();
    out.ewma_loss = ewma.finish();
    out.overhead = (timing.samples > 0 && timing.step_ms > 0.0).then_some(timing);
    out.mean_step_ms = (timed_steps > 0).then(|| timing.step_ms / timed_steps as f64);
    out
}

fn finite(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// An injection object: `{at, len}` (the trainer's hello) or `{start, end}` (end exclusive).
pub fn injection_of(inj: &Value) -> Option<Injection> {
    let u = |k: &str| inj.get(k).and_then(Value::as_u64);
    let (at, len) = match (u("at"), u("start")) {
        (Some(at), _) => (
            at,
            u("len").or_else(|| u("end").map(|e| e.saturating_sub(at))),
        ),
        (None, Some(start)) => (
            start,
            u("len").or_else(|| u("end").map(|e| e.saturating_sub(start))),
        ),
        (None, None) => return None,
    };
    Some(Injection {
        kind: inj.get("kind").and_then(Value::as_str).map(str::to_owned),
        at,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asynchronous_probe_overhead_counts_what_training_lost() {
        let line = |i: u64, extra: &str| {
            format!(
                "{{\"type\":\"sample\",\"iter\":{i},\"metrics\":{{}},\"timing\":{{\"step_ms\":10,\"probe_ms\":4,\"metric_ms\":1{extra}}}}}\n"
            )
        };
        let asynchronous: String = (0..10)
            .map(|i| line(i * 2, ",\"snapshot_ms\":0.05,\"probe_wait_ms\":0.05"))
            .collect();
        let o = read_stream(asynchronous.as_bytes(), "m").overhead.unwrap();
        assert!(o.is_async());
        // 10 samples: the first counts one step, the others two: 190 ms of training.
        assert!((o.fraction() - 1.0 / 190.0).abs() < 1e-12);
        assert!((o.worker_fraction() - 50.0 / 190.0).abs() < 1e-12);
        // A stream without the async fields is read as before.
        let inline: String = (0..10).map(|i| line(i * 2, "")).collect();
        let o = read_stream(inline.as_bytes(), "m").overhead.unwrap();
        assert!(!o.is_async());
        assert!((o.fraction() - 50.0 / 190.0).abs() < 1e-12);
    }

    #[test]
    fn decimation_is_bounded_and_keeps_ends() {
        let mut text = String::from(
            "{\"type\":\"hello\",\"protocol\":1,\"metrics\":[\"m\"],\"injection\":{\"kind\":\"lr_spike\",\"start\":10,\"end\":30}}\n",
        );
        text.push_str("not json\n[1]\n{\"type\":\"sample\"}\n\n");
        let n = 23_457u64;
        for i in 0..n {
            text.push_str(&format!(
                "{{\"type\":\"sample\",\"iter\":{i},\"metrics\":{{\"m\":{i},\"z\":null}},\"loss\":1.0,\"timing\":{{\"step_ms\":10,\"probe_ms\":0.5,\"metric_ms\":0.25}}}}\n"
            ));
        }
        let s = read_stream(text.as_bytes(), "metrics.jsonl");
        assert_eq!(s.samples, n);
        assert_eq!(s.malformed, 3);
        let m = &s.metrics["m"];
        assert!(m.len() <= MAX_SERIES_POINTS && m.len() > MAX_SERIES_POINTS / 2);
        assert_eq!(m.first(), Some(&(0, 0.0)));
        assert_eq!(m.last(), Some(&(n - 1, (n - 1) as f64)));
        assert!(m.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(!s.metrics.contains_key("z"));
        let o = s.overhead.unwrap();
        assert!((o.fraction() - 0.075).abs() < 1e-9);
        assert_eq!(s.mean_step_ms, Some(10.0));
        assert_eq!(
            s.injection,
            Some(Injection {
                kind: Some("lr_spike".into()),
                at: 10,
                len: Some(20)
            })
        );
    }

    #[test]
    fn stream_path_refuses_escapes() {
        let r = serde_json::json!({"metrics_ref": {"path": "../x.jsonl"}});
        assert_eq!(stream_path(Some(&r)), METRICS_JSONL);
        let r = serde_json::json!({"metrics_ref": {"path": "sub/m.jsonl"}});
        assert_eq!(stream_path(Some(&r)), "sub/m.jsonl");
        assert_eq!(stream_path(None), METRICS_JSONL);
    }
}
