//! `metrics.jsonl`: every accepted metrics-stream line, kept in the capsule.
//!
//! The gate only keeps its windows in memory, but people want to see the whole metric
//! history (the HTML report plots it) and to re-gate an old run under a new preset
//! (`veriscope gate replay OUTDIR/metrics.jsonl`). So the wrapper writes each accepted
//! `hello` and `sample` line, in canonical JSON, to `metrics.jsonl`, and `results.json`
//! points at it with `metrics_ref` (productization §4C: `metrics` may be empty when a
//! `metrics_ref` names the data) carrying the line count and the file's sha256.
//!
//! A sample line is rendered straight into canonical text (its keys are fixed, so their
//! sorted order is too) instead of through a `Value`: the wrapper records every sample of
//! a fast training loop, and the canonical bytes are the same (see the tests). Lines are
//! buffered; [`MetricsLog::checkpoint`] hands them to the OS and syncs them periodically
//! during the run, so a killed wrapper loses at most the last checkpoint interval of the
//! record and finalization has little left to sync.

use std::fmt::Write as _;
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
    /// Reused text buffer of the line being rendered.
    line: String,
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
            line: String::with_capacity(256),
        })
    }

    /// Creates `dir/metrics.jsonl` holding `recorded` first (lines of a reopened capsule's
    /// record, each ending in `\n`), counted and hashed as if written in this run
    /// (docs/replay.md §3).
    pub fn create_with(dir: &Path, recorded: &[String]) -> io::Result<Self> {
        let mut log = Self::create(dir)?;
        for line in recorded {
            log.write_text(line)?;
        }
        Ok(log)
    }

    /// Records the runner's hello fields as the first line.
    pub fn hello(&mut self, fields: &Map<String, Value>) -> io::Result<()> {
        let mut line = fields.clone();
        line.insert("type".into(), json!("hello"));
        self.write_line(&Value::Object(line))
    }

    /// Records one accepted sample: the canonical text of
    /// `{"type":"sample","iter","metrics","loss","ewma_loss","grad_norm"[,"timing"]}`, with
    /// non-finite or missing numbers as `null`.
    pub fn sample(&mut self, s: &SampleLine) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        // Keys in code-point order, as canonical JSON sorts them.
        line.push_str("{\"ewma_loss\":");
        push_opt_float(&mut line, s.ewma_loss);
        line.push_str(",\"grad_norm\":");
        push_opt_float(&mut line, s.grad_norm);
        let _ = write!(line, ",\"iter\":{}", s.iter);
        line.push_str(",\"loss\":");
        push_opt_float(&mut line, s.loss);
        line.push_str(",\"metrics\":{");
        // BTreeMap order is byte order, which for UTF-8 is code-point order.
        for (i, (name, value)) in s.metrics.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_key(&mut line, name)?;
            push_opt_float(&mut line, *value);
        }
        line.push('}');
        if !s.timing.is_empty() {
            line.push_str(",\"timing\":{");
            for (i, (name, value)) in s.timing.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                push_key(&mut line, name)?;
                push_opt_float(&mut line, Some(*value));
            }
            line.push('}');
        }
        line.push_str(",\"type\":\"sample\"}\n");
        let written = self.write_text(&line);
        self.line = line;
        written
    }

    fn write_line(&mut self, v: &Value) -> io::Result<()> {
        let mut text = veriscope_canon::to_canonical_string(v)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        text.push('\n');
        self.write_text(&text)
    }

    fn write_text(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.hasher.update(text.as_bytes());
        self.lines += 1;
        Ok(())
    }

    /// Hands the buffered lines to the OS and syncs the file. Called periodically during
    /// the run (the same reasoning as the journal's group commit, docs/wrapper.md).
    pub fn checkpoint(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
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

/// A float as canonical JSON writes it (Python `repr`), `null` when missing or non-finite.
fn push_opt_float(out: &mut String, v: Option<f64>) {
    match v {
        Some(x) if x.is_finite() => out.push_str(&veriscope_canon::python_float_repr(x)),
        _ => out.push_str("null"),
    }
}

/// An object key and its colon. Names that canonical JSON writes verbatim (no `"`, `\\` or
/// control character) are copied; any other goes through the canonical renderer.
fn push_key(out: &mut String, name: &str) -> io::Result<()> {
    if name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(name);
        out.push('"');
    } else {
        let text = veriscope_canon::to_canonical_string(&Value::String(name.to_owned()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.push_str(&text);
    }
    out.push(':');
    Ok(())
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

    /// The record as it was built before the direct renderer: a `Value` through the
    /// canonical renderer. The direct renderer must produce the same bytes.
    fn via_value(s: &SampleLine) -> String {
        let opt = |v: Option<f64>| v.map_or(Value::Null, veriscope_canon::float_value);
        let metrics: Map<String, Value> = s
            .metrics
            .iter()
            .map(|(name, v)| (name.clone(), opt(*v)))
            .collect();
        let mut line = json!({
            "type": "sample",
            "iter": s.iter,
            "metrics": metrics,
            "loss": opt(s.loss),
            "ewma_loss": opt(s.ewma_loss),
            "grad_norm": opt(s.grad_norm),
        });
        if !s.timing.is_empty() {
            let timing: Map<String, Value> = s
                .timing
                .iter()
                .map(|(k, v)| (k.clone(), veriscope_canon::float_value(*v)))
                .collect();
            line["timing"] = Value::Object(timing);
        }
        veriscope_canon::to_canonical_string(&line).unwrap() + "\n"
    }

    #[test]
    fn direct_rendering_matches_the_canonical_value_rendering() {
        let floats = [
            0.0,
            -0.0,
            1.0,
            0.4123,
            1e16,
            1e-5,
            123456789.125,
            5e-324,
            f64::MAX,
            -2.5e-7,
            f64::NAN,
            f64::INFINITY,
        ];
        let names = [
            "var_out_k",
            "eff_dim",
            "quote\"d",
            "back\\slash",
            "tab\tnew\nline\u{1}",
            "café ünï",
            "\u{2028}sep",
            "del\u{7f}",
            "",
            "ZZ",
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::create(dir.path()).unwrap();
        let mut expected = String::new();
        for (i, x) in floats.iter().enumerate() {
            let y = floats[(i + 3) % floats.len()];
            let sample = SampleLine {
                iter: (i as u64) * 1_000_000_007,
                metrics: names
                    .iter()
                    .enumerate()
                    .map(|(j, n)| (n.to_string(), (j != i).then_some(*x * j as f64)))
                    .collect(),
                loss: Some(*x),
                ewma_loss: (i % 2 == 0).then_some(y),
                grad_norm: (i % 3 == 0).then_some(-y),
                timing: if i % 2 == 0 {
                    BTreeMap::new()
                } else {
                    BTreeMap::from([("step_ms".to_string(), y), ("a\"b".to_string(), *x)])
                },
            };
            log.sample(&sample).unwrap();
            expected.push_str(&via_value(&sample));
        }
        let empty = SampleLine {
            iter: u64::MAX,
            metrics: BTreeMap::new(),
            loss: None,
            ewma_loss: None,
            grad_norm: None,
            timing: BTreeMap::new(),
        };
        log.sample(&empty).unwrap();
        expected.push_str(&via_value(&empty));
        log.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join(METRICS_LOG)).unwrap();
        for (got, want) in text.lines().zip(expected.lines()) {
            assert_eq!(got, want);
        }
        assert_eq!(text, expected);
    }

    #[test]
    fn checkpoint_makes_lines_visible_before_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::create(dir.path()).unwrap();
        log.hello(&Map::new()).unwrap();
        let path = dir.path().join(METRICS_LOG);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        log.checkpoint().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"type\":\"hello\"}\n"
        );
    }
}
