//! The wrapper side of the metrics stream protocol v1 (docs/metrics-stream.md): splitting
//! bytes into bounded lines and parsing lines into `hello` / `sample` / `end` items.
//! Malformed lines are counted by reason and skipped, never fatal (§Errors).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Longest accepted stream line (docs/metrics-stream.md §Errors: "line over 1 MiB").
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line cut from a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line without its `\n`.
    Complete(Vec<u8>),
    /// A line longer than the limit (its bytes were discarded).
    TooLong,
    /// Bytes left when the stream closed without a final `\n`.
    Truncated(Vec<u8>),
}

/// Incremental splitter: push chunks as they arrive, get complete lines back.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    discarding: bool,
}

impl LineSplitter {
    /// A splitter that refuses lines over `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            discarding: false,
        }
    }

    /// Feeds a chunk; returns the lines it completed.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<Line> {
        let mut lines = Vec::new();
        while let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&chunk[..pos], &chunk[pos + 1..]);
            if self.discarding || self.buf.len() + head.len() > self.max {
                lines.push(Line::TooLong);
                self.buf.clear();
            } else {
                self.buf.extend_from_slice(head);
                lines.push(Line::Complete(std::mem::take(&mut self.buf)));
            }
            self.discarding = false;
            chunk = rest;
        }
        if !self.discarding {
            if self.buf.len() + chunk.len() > self.max {
                self.discarding = true;
                self.buf.clear();
            } else {
                self.buf.extend_from_slice(chunk);
            }
        }
        lines
    }

    /// Ends the stream: a pending partial line comes back as [`Line::Truncated`].
    pub fn finish(&mut self) -> Option<Line> {
        if std::mem::take(&mut self.discarding) {
            return Some(Line::TooLong);
        }
        (!self.buf.is_empty()).then(|| Line::Truncated(std::mem::take(&mut self.buf)))
    }
}

/// The runner's `hello` line, kept whole for the provenance record.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// Protocol version (always 1 here).
    pub protocol: u64,
    /// Every field of the line except `type`.
    pub fields: Map<String, Value>,
}

impl Hello {
    /// `metric_interval` declared by the runner, if any.
    pub fn metric_interval(&self) -> Option<u64> {
        self.fields.get("metric_interval").and_then(Value::as_u64)
    }
}

/// One `sample` line.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLine {
    /// Iteration of the snapshot.
    pub iter: u64,
    /// Metric name -> value; `None` means not measurable at this snapshot.
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Training loss.
    pub loss: Option<f64>,
    /// Runner-side EWMA of the loss.
    pub ewma_loss: Option<f64>,
    /// Gradient norm.
    pub grad_norm: Option<f64>,
    /// Optional timing fields in milliseconds (`step_ms`, `probe_ms`, `metric_ms`).
    pub timing: BTreeMap<String, f64>,
}

/// The optional `end` line.
#[derive(Debug, Clone, PartialEq)]
pub struct EndLine {
    /// Last iteration.
    pub iter: Option<u64>,
    /// `completed`, `stopped_on_fail` or `error`.
    pub status: Option<String>,
    /// Free-form reason.
    pub reason: Option<String>,
}

/// A well-formed stream item.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Hello(Hello),
    Sample(SampleLine),
    End(EndLine),
}

/// Stream parser state: ordering checks and per-reason counters.
#[derive(Debug, Default)]
pub struct StreamParser {
    last_iter: Option<u64>,
    hello: Option<Hello>,
    end: Option<EndLine>,
    samples: u64,
    lines: u64,
    malformed: BTreeMap<&'static str, u64>,
    notes: BTreeMap<&'static str, u64>,
}

/// What a parser saw, for `results.json` (`stream`) and reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSummary {
    pub lines: u64,
    pub samples: u64,
    pub last_iter: Option<u64>,
    pub hello: Option<Hello>,
    pub end: Option<EndLine>,
    /// Malformed lines by reason (docs/metrics-stream.md §Errors).
    pub malformed: BTreeMap<&'static str, u64>,
    /// Non-fatal observations: `unknown_type`, `missing_hello`, `duplicate_hello`, `bad_metric_value`.
    pub notes: BTreeMap<&'static str, u64>,
}

impl StreamSummary {
    /// Total malformed lines.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.values().sum()
    }
}

impl StreamParser {
    /// Parses one cut line; `None` when it was malformed or carried nothing to act on.
    pub fn feed(&mut self, line: &Line) -> Option<StreamItem> {
        let bytes = match line {
            Line::Complete(b) => b,
            Line::TooLong => return self.reject("line_too_long"),
            Line::Truncated(_) => return self.reject("truncated_line"),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        self.lines += 1;
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return self.reject("not_json");
        };
        let Value::Object(mut obj) = value else {
            return self.reject("not_object");
        };
        match obj.remove("type").as_ref().and_then(Value::as_str) {
            Some("hello") => self.hello(obj),
            Some("sample") => self.sample(&obj),
            Some("end") => self.end(&obj),
            Some(_) => {
                self.note("unknown_type");
                None
            }
            None => self.reject("missing_type"),
        }
    }

    /// Everything seen so far.
    pub fn summary(&self) -> StreamSummary {
        StreamSummary {
            lines: self.lines,
            samples: self.samples,
            last_iter: self.last_iter,
            hello: self.hello.clone(),
            end: self.end.clone(),
            malformed: self.malformed.clone(),
            notes: self.notes.clone(),
        }
    }

    fn reject(&mut self, reason: &'static str) -> Option<StreamItem> {
        *self.malformed.entry(reason).or_default() += 1;
        None
    }

    fn note(&mut self, what: &'static str) {
        *self.notes.entry(what).or_default() += 1;
    }

    fn hello(&mut self, fields: Map<String, Value>) -> Option<StreamItem> {
        if fields.get("protocol").and_then(Value::as_u64) != Some(1) {
            return self.reject("bad_protocol");
        }
        if self.hello.is_some() || self.samples > 0 {
            self.note("duplicate_hello");
            return None;
        }
        let hello = Hello {
            protocol: 1,
            fields,
        };
        self.hello = Some(hello.clone());
        Some(StreamItem::Hello(hello))
    }

    fn sample(&mut self, obj: &Map<String, Value>) -> Option<StreamItem> {
        let Some(iter) = obj.get("iter").and_then(Value::as_u64) else {
            return self.reject("bad_iter");
        };
        if self.last_iter.is_some_and(|last| iter <= last) {
            return self.reject("iter_not_increasing");
        }
        if self.hello.is_none() && self.samples == 0 {
            // Protocol 1 assumed for a stream that starts with a sample (§Errors).
            self.note("missing_hello");
        }
        let metrics = match obj.get("metrics") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => self.metric_values(m),
            Some(_) => return self.reject("bad_metrics"),
        };
        self.last_iter = Some(iter);
        self.samples += 1;
        Some(StreamItem::Sample(SampleLine {
            iter,
            metrics,
            loss: finite(obj.get("loss")),
            ewma_loss: finite(obj.get("ewma_loss")),
            grad_norm: finite(obj.get("grad_norm")),
            timing: timing(obj.get("timing")),
        }))
    }

    fn metric_values(&mut self, m: &Map<String, Value>) -> BTreeMap<String, Option<f64>> {
        let mut out = BTreeMap::new();
        for (name, value) in m {
            let parsed = finite(Some(value));
            if parsed.is_none() && !value.is_null() {
                self.note("bad_metric_value");
            }
            out.insert(name.clone(), parsed);
        }
        out
    }

    fn end(&mut self, obj: &Map<String, Value>) -> Option<StreamItem> {
        let end = EndLine {
            iter: obj.get("iter").and_then(Value::as_u64),
            status: obj
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string),
            reason: obj
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        self.end = Some(end.clone());
        Some(StreamItem::End(end))
    }
}

fn finite(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|x| x.is_finite())
}

fn timing(v: Option<&Value>) -> BTreeMap<String, f64> {
    let Some(Value::Object(m)) = v else {
        return BTreeMap::new();
    };
    m.iter()
        .filter_map(|(k, v)| finite(Some(v)).map(|x| (k.clone(), x)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn splitter_handles_chunk_boundaries_and_eof() {
        let mut sp = LineSplitter::new(16);
        assert!(sp.push(b"ab").is_empty());
        assert_eq!(sp.push(b"c\nde\nf"), vec![complete("abc"), complete("de")]);
        assert_eq!(sp.finish(), Some(Line::Truncated(b"f".to_vec())));
        assert_eq!(sp.finish(), None);
    }

    #[test]
    fn splitter_discards_overlong_lines_and_recovers() {
        let mut sp = LineSplitter::new(4);
        assert!(sp.push(b"0123").is_empty());
        assert!(sp.push(b"456").is_empty());
        assert_eq!(sp.push(b"789\nok\n"), vec![Line::TooLong, complete("ok")]);
    }

    #[test]
    fn parses_hello_sample_end() {
        let mut p = StreamParser::default();
        let hello = p.feed(&complete(
            r#"{"type":"hello","protocol":1,"runner":"t","metric_interval":5}"#,
        ));
        assert!(matches!(hello, Some(StreamItem::Hello(ref h)) if h.metric_interval() == Some(5)));
        let s = p.feed(&complete(
            r#"{"type":"sample","iter":5,"metrics":{"a":0.5,"b":null},"loss":2.0,"timing":{"step_ms":3}}"#,
        ));
        let Some(StreamItem::Sample(s)) = s else {
            panic!("expected a sample")
        };
        assert_eq!(s.iter, 5);
        assert_eq!(s.metrics["a"], Some(0.5));
        assert_eq!(s.metrics["b"], None);
        assert_eq!(s.timing["step_ms"], 3.0);
        let e = p.feed(&complete(r#"{"type":"end","status":"completed"}"#));
        assert!(
            matches!(e, Some(StreamItem::End(ref e)) if e.status.as_deref() == Some("completed"))
        );
        assert_eq!(p.summary().malformed_total(), 0);
    }

    #[test]
    fn counts_malformed_lines_by_reason() {
        let mut p = StreamParser::default();
        for line in [
            "not json",
            "[1,2]",
            r#"{"no":"type"}"#,
            r#"{"type":"sample","iter":-1}"#,
            r#"{"type":"sample","iter":3}"#,
            r#"{"type":"sample","iter":3}"#,
            r#"{"type":"sample","iter":1.5}"#,
            r#"{"type":"mystery"}"#,
        ] {
            p.feed(&complete(line));
        }
        p.feed(&Line::TooLong);
        p.feed(&Line::Truncated(b"{\"type\":".to_vec()));
        let s = p.summary();
        assert_eq!(s.malformed["not_json"], 1);
        assert_eq!(s.malformed["not_object"], 1);
        assert_eq!(s.malformed["missing_type"], 1);
        assert_eq!(s.malformed["bad_iter"], 2);
        assert_eq!(s.malformed["iter_not_increasing"], 1);
        assert_eq!(s.malformed["line_too_long"], 1);
        assert_eq!(s.malformed["truncated_line"], 1);
        assert_eq!(s.notes["unknown_type"], 1);
        assert_eq!(s.notes["missing_hello"], 1);
        assert_eq!(s.samples, 1);
    }
}
