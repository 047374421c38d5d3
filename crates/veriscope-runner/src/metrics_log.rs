//! `metrics.jsonl`: every accepted metrics-stream line, kept in the capsule.
//!
//! The gate only keeps its windows in memory, but people want to see the whole metric
//! history (the HTML report plots it) and to re-gate an old run under a new preset
//! (`veriscope gate replay OUTDIR/metrics.jsonl`). So the wrapper writes each accepted
//! `hello` and `sample` line, in canonical JSON, to `metrics.jsonl`, and `results.json`
//! points at it with `metrics_ref` (productization §4C: `metrics` may be empty when a
//! `metrics_ref` names the data) carrying the line count and the file's sha256.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::stream::SampleLine;

/// File name of the recorded stream inside the capsule.
pub const METRICS_LOG: &str = "metrics.jsonl";
/// `metrics_ref.format` of the recorded stream (docs/metrics-stream.md, protocol 1).
pub const METRICS_LOG_FORMAT: &str = "veriscope_metrics_stream_v1";

/// Buffered, hashing writer of `metrics.jsonl`.
pub struct MetricsLog {
    path: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    lines: u64,
}

impl MetricsLog {
    /// Creates (truncates) `dir/metrics.jsonl`.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let path = dir.join(METRICS_LOG);
        let out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        Ok(Self {
            path,
            out,
            hasher: Sha256::new(),
            lines: 0,
        })
    }

    /// Records the runner's hello fields as the first line.
    pub fn hello(&mut self, fields: &Map<String, Value>) -> io::Result<()> {
        let mut line = fields.clone();
        line.insert("type".into(), json!("hello"));
        self.write_line(&Value::Object(line))
    }

    /// Records one accepted sample.
    pub fn sample(&mut self, s: &SampleLine) -> io::Result<()> {
        let metrics: Map<String, Value> = s
            .metrics
            .iter()
            .map(|(name, v)| (name.clone(), opt_float(*v)))
            .collect();
        let mut line = json!({
            "type": "sample",
            "iter": s.iter,
            "metrics": metrics,
            "loss": opt_float(s.loss),
            "ewma_loss": opt_float(s.ewma_loss),
            "grad_norm": opt_float(s.grad_norm),
        });
        if !s.timing.is_empty() {
            let timing: Map<String, Value> = s
                .timing
                .iter()
                .map(|(k, v)| (k.clone(), veriscope_canon::float_value(*v)))
                .collect();
            line["timing"] = Value::Object(timing);
        }
        self.write_line(&line)
    }

    fn write_line(&mut self, v: &Value) -> io::Result<()> {
        let mut text = veriscope_canon::to_canonical_string(v)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        text.push('\n');
        self.out.write_all(text.as_bytes())?;
        self.hasher.update(text.as_bytes());
        self.lines += 1;
        Ok(())
    }

    /// Flushes and fsyncs the file and returns the `metrics_ref` object for results.json.
    pub fn finish(mut self) -> io::Result<Value> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(json!({
            "path": METRICS_LOG,
            "format": METRICS_LOG_FORMAT,
            "count": self.lines,
            "sha256": hex::encode(self.hasher.finalize()),
        }))
    }

    /// Path of the file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn opt_float(v: Option<f64>) -> Value {
    v.map_or(Value::Null, veriscope_canon::float_value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn records_lines_and_hashes_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::create(dir.path()).unwrap();
        let mut hello = Map::new();
        hello.insert("protocol".into(), json!(1));
        log.hello(&hello).unwrap();
        let sample = SampleLine {
            iter: 5,
            metrics: BTreeMap::from([
                ("eff_dim".to_string(), Some(3.0)),
                ("rankme".to_string(), None),
            ]),
            loss: Some(2.5),
            ewma_loss: None,
            grad_norm: None,
            timing: BTreeMap::new(),
        };
        log.sample(&sample).unwrap();
        let reference = log.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join(METRICS_LOG)).unwrap();
        assert_eq!(
            text,
            "{\"protocol\":1,\"type\":\"hello\"}\n{\"ewma_loss\":null,\"grad_norm\":null,\"iter\":5,\"loss\":2.5,\"metrics\":{\"eff_dim\":3.0,\"rankme\":null},\"type\":\"sample\"}\n"
        );
        assert_eq!(reference["count"], json!(2));
        assert_eq!(
            reference["sha256"],
            json!(veriscope_canon::sha256_hex_bytes(text.as_bytes()))
        );
    }
}
