//! The wrapper side of the metrics stream protocol v1 (docs/metrics-stream.md): splitting
//! bytes into bounded lines and parsing lines into `hello` / `sample` / `end` items.
//! Malformed lines are counted by reason and skipped, never fatal (§Errors).
//!
//! A training job streams a sample every iteration or few, so `sample` lines take a fast
//! path (`fast_sample`): the known fields are borrowed as raw JSON text and read directly,
//! with no `Value` tree. Every other line, and any sample line the fast path cannot vouch
//! for, goes through the general `Value` parse; both paths feed the same `SampleFields`
//! into the same checks, so a line is accepted, counted and read identically either way.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
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
        if let Some(fields) = fast_sample(bytes) {
            return self.sample(fields);
        }
        self.feed_value(bytes)
    }

    /// The general path: a whole `Value` parse (hello, end, unknown types, malformed lines
    /// and samples the fast path declined).
    fn feed_value(&mut self, bytes: &[u8]) -> Option<StreamItem> {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return self.reject("not_json");
        };
        let Value::Object(mut obj) = value else {
            return self.reject("not_object");
        };
        match obj.remove("type").as_ref().and_then(Value::as_str) {
            Some("hello") => self.hello(obj),
            Some("sample") => self.sample(SampleFields::from_map(&obj)),
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

    fn sample(&mut self, f: SampleFields) -> Option<StreamItem> {
        let Some(iter) = f.iter else {
            return self.reject("bad_iter");
        };
        if self.last_iter.is_some_and(|last| iter <= last) {
            return self.reject("iter_not_increasing");
        }
        if self.hello.is_none() && self.samples == 0 {
            // Protocol 1 assumed for a stream that starts with a sample (§Errors).
            self.note("missing_hello");
        }
        let metrics = match f.metrics {
            MetricsField::Absent => BTreeMap::new(),
            MetricsField::Values(values) => {
                let mut out = BTreeMap::new();
                for (name, value) in values {
                    if value == MetricValue::Bad {
                        self.note("bad_metric_value");
                    }
                    out.insert(name, value.finite());
                }
                out
            }
            MetricsField::NotObject => return self.reject("bad_metrics"),
        };
        self.last_iter = Some(iter);
        self.samples += 1;
        Some(StreamItem::Sample(SampleLine {
            iter,
            metrics,
            loss: f.loss,
            ewma_loss: f.ewma_loss,
            grad_norm: f.grad_norm,
            timing: f.timing,
        }))
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

/// The fields of a `sample` line as the checks in `StreamParser::sample` need them, read
/// either from a `Value` map or from the fast path's raw text.
#[derive(Debug, Clone, PartialEq)]
struct SampleFields {
    /// `iter` when it is a JSON integer in `u64` range.
    iter: Option<u64>,
    metrics: MetricsField,
    loss: Option<f64>,
    ewma_loss: Option<f64>,
    grad_norm: Option<f64>,
    /// The finite entries of a `timing` object (empty when absent or not an object).
    timing: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq)]
enum MetricsField {
    /// Missing or `null`.
    Absent,
    /// Not an object.
    NotObject,
    /// An object's entries (a repeated key keeps its last value, as `Value` does).
    Values(Vec<(String, MetricValue)>),
}

/// One metric value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MetricValue {
    Finite(f64),
    /// JSON `null`: not measurable at this snapshot.
    Null,
    /// Anything else (a string, a bool, a number out of `f64` range): recorded as not
    /// measurable and noted as `bad_metric_value`.
    Bad,
}

impl MetricValue {
    fn finite(self) -> Option<f64> {
        match self {
            MetricValue::Finite(x) => Some(x),
            MetricValue::Null | MetricValue::Bad => None,
        }
    }
}

impl SampleFields {
    fn from_map(obj: &Map<String, Value>) -> Self {
        let metrics = match obj.get("metrics") {
            None | Some(Value::Null) => MetricsField::Absent,
            Some(Value::Object(m)) => MetricsField::Values(
                m.iter()
                    .map(|(name, v)| {
                        let value = match finite(Some(v)) {
                            Some(x) => MetricValue::Finite(x),
                            None if v.is_null() => MetricValue::Null,
                            None => MetricValue::Bad,
                        };
                        (name.clone(), value)
                    })
                    .collect(),
            ),
            Some(_) => MetricsField::NotObject,
        };
        let timing = match obj.get("timing") {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| finite(Some(v)).map(|x| (k.clone(), x)))
                .collect(),
            _ => BTreeMap::new(),
        };
        SampleFields {
            iter: obj.get("iter").and_then(Value::as_u64),
            metrics,
            loss: finite(obj.get("loss")),
            ewma_loss: finite(obj.get("ewma_loss")),
            grad_norm: finite(obj.get("grad_norm")),
            timing,
        }
    }
}

fn finite(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|x| x.is_finite())
}

/// The fields of a sample line the parser reads, borrowed as raw JSON text. Other keys are
/// skipped (still syntax-checked); a repeated known key is an error, which sends the line
/// to the `Value` path (where the last occurrence wins).
#[derive(Deserialize)]
struct RawSample<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    iter: Option<&'a RawValue>,
    #[serde(borrow)]
    metrics: Option<&'a RawValue>,
    #[serde(borrow)]
    loss: Option<&'a RawValue>,
    #[serde(borrow)]
    ewma_loss: Option<&'a RawValue>,
    #[serde(borrow)]
    grad_norm: Option<&'a RawValue>,
    #[serde(borrow)]
    timing: Option<&'a RawValue>,
}

/// Most brackets a fast-path line may hold: a bound on its nesting depth, which the `Value`
/// parser limits to 128 while serde_json's skipping of unknown keys does not.
const FAST_MAX_BRACKETS: usize = 64;

/// Reads a `sample` line without building a `Value`, or `None` when the line is not a
/// sample or is one the `Value` path must judge.
///
/// It only answers for lines where both parsers provably agree: a JSON object (serde derive
/// would also read a struct from an array), valid UTF-8 (serde_json does not UTF-8-check
/// the strings it skips), no backslash at all (it does not check skipped `\u` escapes for
/// lone surrogates, which `Value` refuses) and few brackets (skipped values have no depth
/// limit). Numbers are read from their source text with Rust's correctly rounded parsers,
/// exactly as `Number::as_u64` / `as_f64` do under the workspace's `arbitrary_precision`.
fn fast_sample(bytes: &[u8]) -> Option<SampleFields> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !text
        .trim_start_matches([' ', '\t', '\r', '\n'])
        .starts_with('{')
        || bytes.contains(&b'\\')
        || bytes.iter().filter(|&&b| b == b'{' || b == b'[').count() > FAST_MAX_BRACKETS
    {
        return None;
    }
    let raw: RawSample<'_> = serde_json::from_str(text).ok()?;
    if raw.kind?.get() != r#""sample""# {
        return None;
    }
    let metrics = match raw.metrics {
        // `Option<&RawValue>` reads `null` as `None`, the same as a missing key.
        None => MetricsField::Absent,
        Some(m) if m.get().starts_with('{') => {
            let entries: BTreeMap<String, &RawValue> = serde_json::from_str(m.get()).ok()?;
            MetricsField::Values(
                entries
                    .into_iter()
                    .map(|(name, v)| {
                        let value = match raw_finite(Some(v)) {
                            Some(x) => MetricValue::Finite(x),
                            None if v.get() == "null" => MetricValue::Null,
                            None => MetricValue::Bad,
                        };
                        (name, value)
                    })
                    .collect(),
            )
        }
        Some(_) => MetricsField::NotObject,
    };
    let timing = match raw.timing {
        Some(t) if t.get().starts_with('{') => {
            let entries: BTreeMap<String, &RawValue> = serde_json::from_str(t.get()).ok()?;
            entries
                .into_iter()
                .filter_map(|(k, v)| raw_finite(Some(v)).map(|x| (k, x)))
                .collect()
        }
        _ => BTreeMap::new(),
    };
    Some(SampleFields {
        iter: raw.iter.and_then(|v| v.get().parse::<u64>().ok()),
        metrics,
        loss: raw_finite(raw.loss),
        ewma_loss: raw_finite(raw.ewma_loss),
        grad_norm: raw_finite(raw.grad_norm),
        timing,
    })
}

/// `Value::as_f64` + finiteness on raw JSON text: a number token parses, nothing else does
/// (`true`, `null`, strings, objects and arrays are not valid `f64` text).
fn raw_finite(v: Option<&RawValue>) -> Option<f64> {
    v.and_then(|v| v.get().parse::<f64>().ok())
        .filter(|x| x.is_finite())
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

    /// The fast path's contract: when it answers, the `Value` path accepts the same line as
    /// a sample object and reads the very same fields (compared through `Debug`, so `-0.0`
    /// and `0.0` differ).
    fn assert_paths_agree(line: &[u8]) {
        let Some(fast) = fast_sample(line) else {
            return;
        };
        let shown = String::from_utf8_lossy(line);
        let value: Value = serde_json::from_slice(line)
            .unwrap_or_else(|e| panic!("fast path took {shown:?}: {e}"));
        let Value::Object(obj) = value else {
            panic!("fast path took a non-object {shown:?}");
        };
        assert_eq!(obj.get("type").and_then(Value::as_str), Some("sample"));
        assert_eq!(
            format!("{:?}", SampleFields::from_map(&obj)),
            format!("{fast:?}"),
            "{shown}"
        );
    }

    const TRICKY: &[&str] = &[
        r#"{"type":"sample","iter":3,"metrics":{"a":0.5,"b":null,"c":"x","d":true,"e":1e400,"f":-0,"g":-0.0,"h":2,"i":{"j":1},"k":[1]},"loss":1E+2,"ewma_loss":"2","grad_norm":null,"timing":{"step_ms":3,"x":"y","z":null,"w":-1e-320}}"#,
        r#"{"type":"sample","iter":18446744073709551615,"metrics":{}}"#,
        r#"{"type":"sample","iter":18446744073709551616}"#,
        r#"{"type":"sample","iter":-0}"#,
        r#"{"type":"sample","iter":5.0}"#,
        r#"{"type":"sample","iter":"5"}"#,
        r#"{"type":"sample","iter":null,"metrics":null,"timing":null}"#,
        r#"{"type":"sample","iter":1,"metrics":[1,2]}"#,
        r#"{"type":"sample","iter":1,"metrics":"x","timing":[1]}"#,
        r#"{"type":"sample","iter":1,"metrics":{"a":1,"a":2}}"#,
        r#"{"type":"sample","iter":1,"iter":2}"#,
        r#"{"type":"sample","type":"hello","iter":1}"#,
        r#"{"iter":1,"type":"sample","extra":{"deep":[[[[{"x":[]}]]]]},"n":123456789012345678901234567890}"#,
        r#"  {"type" : "sample" , "iter" : 7 , "metrics" : { "a" : 1.5 } }  "#,
        r#"{"type":"sample","iter":1,"note":"caf\u00e9"}"#,
        r#"{"type":"sample","iter":1,"note":"\ud800"}"#,
        r#"{"type":"s\u0061mple","iter":1}"#,
        r#"["sample",1,{"a":1},2.0,null,null,{}]"#,
        r#"{"type":"sample","iter":1,"metrics":{"a":1}} x"#,
        r#"{"type":"sample","iter":1,"metrics":{"a":01}}"#,
        r#"{"type":"sample","iter":1,"metrics":{"a":NaN}}"#,
        r#"{"type":"sample","iter":1,"metrics":{"a":Infinity}}"#,
        r#"{"type":"sample","iter":1,"metrics":{"é":1,"":2," ":3}}"#,
        r#"{"type":"sample"}"#,
        r#"{"type":"Sample","iter":1}"#,
        r#"{"type":1,"iter":1}"#,
        r#"{"type":"hello","protocol":1}"#,
        r#"{"type":"end","status":"completed"}"#,
    ];

    #[test]
    fn fast_path_agrees_with_the_value_path() {
        for line in TRICKY {
            assert_paths_agree(line.as_bytes());
        }
        // Lines the Value path refuses and the fast path must leave to it: invalid UTF-8
        // inside a skipped string, and a skipped value nested deeper than 128 levels.
        let mut bad_utf8 = br#"{"type":"sample","iter":1,"note":""#.to_vec();
        bad_utf8.extend_from_slice(b"\xff\"}");
        assert!(fast_sample(&bad_utf8).is_none());
        let deep = format!(
            r#"{{"type":"sample","iter":1,"x":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(fast_sample(deep.as_bytes()).is_none());
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        // The ordinary line does take the fast path.
        assert!(fast_sample(TRICKY[0].as_bytes()).is_some());
    }

    #[test]
    fn fast_path_agrees_on_mutated_lines() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let alphabet = b"{}[]:,\" 0123456789.eE+-natrufls\\xyz_\t";
        let mut rng = StdRng::seed_from_u64(7);
        let mut fast = 0;
        for _ in 0..20_000 {
            let seed = TRICKY[rng.random_range(0..TRICKY.len())];
            let mut line = seed.as_bytes().to_vec();
            for _ in 0..rng.random_range(1..4) {
                let pos = rng.random_range(0..=line.len());
                let byte = alphabet[rng.random_range(0..alphabet.len())];
                match rng.random_range(0..3) {
                    0 => line.insert(pos, byte),
                    1 if pos < line.len() => {
                        line.remove(pos);
                    }
                    _ if pos < line.len() => line[pos] = byte,
                    _ => {}
                }
            }
            assert_paths_agree(&line);
            assert_parsers_agree(&line);
            fast += usize::from(fast_sample(&line).is_some());
        }
        // Enough mutants stay valid samples for the comparison to mean something.
        assert!(fast > 1_000, "only {fast} mutants took the fast path");
    }

    /// Whole-parser view: a fresh parser fed `line` (fast path first) ends in the same state,
    /// and returns the same item, as one forced onto the `Value` path.
    fn assert_parsers_agree(line: &[u8]) {
        let mut either = StreamParser::default();
        let got = either.feed(&Line::Complete(line.to_vec()));
        let mut slow = StreamParser::default();
        let want = if line.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            slow.lines += 1;
            slow.feed_value(line)
        };
        assert_eq!(
            format!("{got:?} {:?}", either.summary()),
            format!("{want:?} {:?}", slow.summary()),
            "{}",
            String::from_utf8_lossy(line)
        );
    }

    #[test]
    fn parser_reads_each_tricky_line_as_the_value_path_does() {
        for line in TRICKY {
            assert_parsers_agree(line.as_bytes());
        }
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
