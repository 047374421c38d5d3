//! The governance journal reader: per-line checks and chain verification.
//!
//! Emits the reference's warning tokens in its order of checks (cli_contracts A6.3) and
//! decides validity (A6.4). Deliberate deltas from the reference (A17): lines split on `\n`
//! only, so U+2028/U+2029/U+0085 written raw by canonical JSON stay inside their line
//! (A17.3); a line that is not UTF-8, holds `NaN`/`Infinity`, or a float that overflows is a
//! `json_error` finding, never a crash (A17.4).

use std::collections::BTreeMap;
use std::sync::mpsc;

use serde_json::{Map, Value};

use super::fast::examine_canonical_view;
use super::payload::{PayloadProblems, check_payload, is_known_event};
use crate::isotime::parse_iso_utc;
use crate::jsonref::ObjRef;
use crate::load::python_json_message;
use crate::pyrepr::str_value;

/// Reader options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept entries without `entry_hash` (legacy journals, contract_v1 §Governance Journal).
    pub allow_legacy: bool,
}

/// The first line that makes a journal invalid, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// The line's `rev` when it could be read.
    pub rev: Option<i64>,
    /// The warning token that invalidated it.
    pub reason: String,
}

/// What the reader found in a journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogReport {
    /// Every warning, in order (exact contract tokens).
    pub warnings: Vec<String>,
    /// Warnings that make the log invalid under the options used (A6.4).
    pub errors: Vec<String>,
    /// `rev` of the last accepted entry.
    pub last_rev: Option<i64>,
    /// Effective hash of the last accepted entry.
    pub last_hash: Option<String>,
    /// Accepted entries per event name.
    pub event_counts: BTreeMap<String, u64>,
    /// Number of accepted entries.
    pub accepted: usize,
    /// Number of lines read (blank ones included).
    pub lines: usize,
    /// Some accepted entry lacked `entry_hash`.
    pub legacy_missing_hash: bool,
    /// First invalidating line.
    pub first_bad: Option<BadLine>,
}

impl LogReport {
    /// Valid when no warning invalidates the log (A6.4).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Chain position after the last accepted entry; lets appends verify only new lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChainState {
    pub last_rev: i64,
    pub last_hash: Option<String>,
    pub last_ts: Option<i64>,
    pub lines: usize,
}

/// How lines are read; the findings are identical either way (docs/governance.md
/// "Performance").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineReader {
    /// Canonical lines through the borrowed fast path (`fast.rs`), every other line and
    /// every line the fast path has any doubt about through `serde_json::Value`.
    #[default]
    Auto,
    /// Every line through `serde_json::Value` (the reference implementation; benchmarks
    /// and equivalence tests use it).
    ValueOnly,
}

/// Streaming verifier: feed lines, then take the report.
pub(crate) struct Verifier {
    opts: VerifyOptions,
    reader: LineReader,
    pub(crate) state: ChainState,
    report: LogReport,
}

/// Called with every line that parses as a JSON object, accepted or not (bindings in
/// validate scan lines the chain rejected, cli_contracts A6.5 "raw scan").
pub type LineVisitor<'a> = dyn FnMut(usize, &Map<String, Value>) + 'a;

/// The first half of a line visitor that reads each JSON-object line where it is examined:
/// on the worker threads, in any order, while the line's canonical view is at hand. No line
/// has to become a `Map`, and no view outlives the worker that made it (on a long journal,
/// keeping views for an ordered visitor cost a third of the verification). What it returns
/// goes to the visitor's ordered half ([`super::verify_log_extracting`]).
pub trait LineExtract: Sync {
    /// What the ordered half needs of one line.
    type Facts: Send;

    /// Reads one JSON-object line: the view of a canonical line, the parsed map of another.
    fn extract(&self, line: ObjRef<'_>) -> Self::Facts;

    /// [`LineExtract::extract`] of a line the `Value` path parsed, given the map to keep.
    fn extract_parsed(&self, map: Map<String, Value>) -> Self::Facts {
        self.extract(ObjRef::Parsed(&map))
    }
}

/// The extractor of a [`LineVisitor`]: each line as the `Map` parsing it gives.
pub(crate) struct ToMap;

impl LineExtract for ToMap {
    type Facts = Map<String, Value>;

    fn extract(&self, line: ObjRef<'_>) -> Map<String, Value> {
        line.to_map()
    }

    fn extract_parsed(&self, map: Map<String, Value>) -> Map<String, Value> {
        map
    }
}

/// A visitor of one verification: the extractor and the ordered half.
pub(crate) struct Scan<'s, E: LineExtract> {
    pub(crate) extract: &'s E,
    pub(crate) fold: &'s mut dyn FnMut(usize, &E::Facts),
}

impl<E: LineExtract> Scan<'_, E> {
    /// The same visitor, borrowed for one call.
    pub(crate) fn reborrow(&mut self) -> Scan<'_, E> {
        Scan {
            extract: self.extract,
            fold: &mut *self.fold,
        }
    }
}

impl Verifier {
    pub(crate) fn new(opts: VerifyOptions, state: ChainState, reader: LineReader) -> Self {
        Verifier {
            opts,
            reader,
            state,
            report: LogReport::default(),
        }
    }

    /// Feeds every `\n`-terminated line of `data` (a final unterminated piece counts too),
    /// with no visitor.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.feed_all::<ToMap>(data, None);
    }

    /// Feeds every `\n`-terminated line of `data` (a final unterminated piece counts too).
    ///
    /// Per-line work (parse, payload checks, canonical hash, the visitor's extractor) is
    /// pure, so large journals are examined in batches on worker threads; only the chain
    /// (rev, prev_hash, ts order) and the visitor's ordered half run in line order on this
    /// thread. Results are identical to a sequential pass: the same warnings in the same
    /// order (cli_contracts A6.3). Lines the fast path accepts never become a `Value`.
    pub(crate) fn feed_all<E: LineExtract>(&mut self, data: &[u8], mut scan: Option<Scan<'_, E>>) {
        let pieces = split_lines(data);
        let how = Examine {
            reader: self.reader,
            extract: scan.as_ref().map(|s| s.extract),
        };
        let workers = worker_count(pieces.len());
        if workers <= 1 {
            for piece in pieces {
                let line = how.line(piece);
                drop(self.commit_line(line, scan.as_mut().map(Scan::reborrow)));
            }
            return;
        }
        std::thread::scope(|scope| {
            // One long-lived thread per worker for the whole call: threads spawned per batch
            // start with fresh allocator heaps, and the page faults showed in profiles.
            // Worker i examines chunk i of every batch and answers on its own channel, so
            // results come back in file order; this thread commits batch k while the
            // workers examine batch k+1.
            let mut jobs = Vec::with_capacity(workers);
            let mut results = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (job_tx, job_rx) = mpsc::channel::<Job<'_, '_, E::Facts>>();
                let (res_tx, res_rx) = mpsc::channel::<Vec<ExaminedLine<E::Facts>>>();
                handles.push(scope.spawn(move || {
                    for (chunk, spent) in job_rx {
                        // What the visitor saw of an earlier batch (a map is tens of
                        // allocations): freeing it is a worker's job, not the ordered
                        // thread's.
                        drop(spent);
                        let examined = chunk.iter().map(|p| how.line(*p)).collect();
                        if res_tx.send(examined).is_err() {
                            return;
                        }
                    }
                }));
                jobs.push(job_tx);
                results.push(res_rx);
            }
            let mut pending: Option<Vec<ExaminedLine<E::Facts>>> = None;
            let mut spent = Vec::new();
            let mut complete = true;
            'batches: for batch in pieces.chunks(BATCH_LINES) {
                let chunks: Vec<_> = batch.chunks(batch.len().div_ceil(workers)).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    let free = if i == 0 {
                        std::mem::take(&mut spent)
                    } else {
                        Vec::new()
                    };
                    if jobs[i].send((chunk, free)).is_err() {
                        complete = false;
                        break 'batches;
                    }
                }
                if let Some(done) = pending.take() {
                    spent = self.commit_all(done, scan.as_mut().map(Scan::reborrow));
                }
                let mut examined = Vec::with_capacity(batch.len());
                for rx in &results[..chunks.len()] {
                    let Ok(part) = rx.recv() else {
                        complete = false;
                        break 'batches;
                    };
                    examined.extend(part);
                }
                pending = Some(examined);
            }
            if complete && let Some(done) = pending {
                spent = self.commit_all(done, scan);
                let _ = jobs[0].send((&[], spent));
            }
            drop(jobs);
            for handle in handles {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            }
            // Only a worker panic (re-raised above) can break a channel.
            assert!(complete, "journal worker stopped without a panic");
        });
    }

    pub(crate) fn finish(mut self) -> (LogReport, ChainState) {
        self.report.lines = self.state.lines;
        if self.state.last_rev > 0 || self.report.accepted > 0 {
            self.report.last_rev = Some(self.state.last_rev);
        }
        self.report.last_hash = self.state.last_hash.clone();
        (self.report, self.state)
    }

    /// Commits a batch in order; returns what the visitor saw, for the caller to free.
    fn commit_all<E: LineExtract>(
        &mut self,
        lines: Vec<ExaminedLine<E::Facts>>,
        mut scan: Option<Scan<'_, E>>,
    ) -> Vec<E::Facts> {
        let mut spent = Vec::new();
        for line in lines {
            spent.extend(self.commit_line(line, scan.as_mut().map(Scan::reborrow)));
        }
        spent
    }

    /// Applies one examined line to the chain, in file order, after handing what the
    /// extractor read of it to the visitor's ordered half; returns that, to be freed.
    fn commit_line<E: LineExtract>(
        &mut self,
        line: ExaminedLine<E::Facts>,
        scan: Option<Scan<'_, E>>,
    ) -> Option<E::Facts> {
        self.state.lines += 1;
        let n = self.state.lines;
        match line {
            ExaminedLine::Blank => None,
            ExaminedLine::Unreadable(detail) => {
                self.reject(n, None, detail);
                None
            }
            ExaminedLine::Object { facts, entry } => {
                if let (Some(facts), Some(scan)) = (&facts, scan) {
                    (scan.fold)(n, facts);
                }
                match entry {
                    Ok(entry) => self.accept(n, entry),
                    Err((rev, detail)) => self.reject(n, rev, detail),
                }
                facts
            }
        }
    }

    /// The chain checks of an entry that passed the per-line checks, in the reference's
    /// order of warnings (A6.3).
    fn accept(&mut self, n: usize, e: Entry) {
        let rev = e.rev;
        if !e.problems.is_empty() {
            self.warn(
                n,
                Some(rev),
                format!(
                    "WARNING:GOVERNANCE_LOG_INVALID line={n} {}",
                    e.problems.detail(&e.event)
                ),
                true,
            );
        }
        if rev != self.state.last_rev + 1 {
            let w = format!(
                "WARNING:GOVERNANCE_LOG_REV_NONMONOTONE line={n} rev={rev} prev_rev={}",
                self.state.last_rev
            );
            self.warn(n, Some(rev), w, true);
        }
        if self.state.last_ts.is_some_and(|prev| e.ts_micros < prev) {
            self.warn(
                n,
                Some(rev),
                format!("WARNING:GOVERNANCE_LOG_TS_DECREASE line={n}"),
                false,
            );
        }
        if e.dual {
            self.warn(
                n,
                Some(rev),
                format!("WARNING:GOVERNANCE_LOG_EVENT_DUAL_PRESENT line={n}"),
                false,
            );
        }
        let effective = match e.recorded {
            None => {
                self.report.legacy_missing_hash = true;
                let w = format!("WARNING:GOVERNANCE_LOG_ENTRY_HASH_MISSING line={n}");
                self.warn(n, Some(rev), w, !self.opts.allow_legacy);
                e.computed
            }
            Some(rec) => {
                if rec != e.computed {
                    self.warn(
                        n,
                        Some(rev),
                        format!("WARNING:GOVERNANCE_LOG_HASH_MISMATCH line={n}"),
                        true,
                    );
                }
                rec
            }
        };
        if e.prev_hash != self.state.last_hash {
            self.warn(
                n,
                Some(rev),
                format!("WARNING:GOVERNANCE_LOG_PREV_HASH_MISMATCH line={n}"),
                true,
            );
        }
        self.state.last_rev = rev;
        self.state.last_hash = Some(effective);
        self.state.last_ts = Some(e.ts_micros);
        self.report.accepted += 1;
        *self.report.event_counts.entry(e.event).or_insert(0) += 1;
    }

    fn reject(&mut self, n: usize, rev: Option<i64>, detail: String) {
        self.warn(
            n,
            rev,
            format!("WARNING:GOVERNANCE_LOG_INVALID line={n} {detail}"),
            true,
        );
    }

    fn warn(&mut self, n: usize, rev: Option<i64>, token: String, invalidates: bool) {
        if invalidates {
            if self.report.first_bad.is_none() {
                self.report.first_bad = Some(BadLine {
                    line: n,
                    rev,
                    reason: token.clone(),
                });
            }
            self.report.errors.push(token.clone());
        }
        self.report.warnings.push(token);
    }
}

/// The `\n`-separated lines of `data` (a final empty piece dropped), each as text or `None`
/// when it is not UTF-8. A journal is normally UTF-8 as a whole: one validation pass, then
/// `str::split`, which finds `\n` with core's word-at-a-time `memchr` (a byte-wise split
/// was 6% of a verify).
fn split_lines(data: &[u8]) -> Vec<Option<&str>> {
    let mut pieces: Vec<Option<&str>> = match std::str::from_utf8(data) {
        Ok(text) => text.split('\n').map(Some).collect(),
        Err(_) => data
            .split(|b| *b == b'\n')
            .map(|p| std::str::from_utf8(p).ok())
            .collect(),
    };
    if pieces.last().is_some_and(|p| p.is_some_and(str::is_empty)) {
        pieces.pop();
    }
    pieces
}

/// A worker's job: lines (of the journal text `'a`) to examine, and what the visitor saw of
/// an earlier batch, to free.
type Job<'p, 'a, F> = (&'p [Option<&'a str>], Vec<F>);

/// Lines per batch handed to the workers: large enough to amortise thread start-up, small
/// enough that memory stays bounded (a batch of parsed entries is a few MB).
const BATCH_LINES: usize = 4096;

/// Journals shorter than this are examined on the calling thread (appends verify one line).
pub(super) const PARALLEL_MIN_LINES: usize = 2048;

fn worker_count(lines: usize) -> usize {
    if lines < PARALLEL_MIN_LINES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// One line after the per-line (order-independent) checks.
#[derive(Debug)]
pub(super) enum ExaminedLine<F> {
    Blank,
    /// Not UTF-8, not JSON or not an object: rejected without a `rev`.
    Unreadable(String),
    /// A JSON object: the per-line verdict, and what the visitor's extractor read of it.
    Object {
        facts: Option<F>,
        entry: Result<Entry, (Option<i64>, String)>,
    },
}

/// A line as the `Value` path reads it.
#[derive(Debug)]
pub(super) enum ParsedLine {
    Blank,
    /// Not JSON or not an object: rejected without a `rev`.
    Unreadable(String),
    /// A JSON object and its per-line verdict.
    Object {
        map: Map<String, Value>,
        entry: Result<Entry, (Option<i64>, String)>,
    },
}

/// What the chain checks need from an entry that passed the per-line checks.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) rev: i64,
    pub(super) event: String,
    pub(super) problems: PayloadProblems,
    pub(super) ts_micros: i64,
    pub(super) dual: bool,
    pub(super) prev_hash: Option<String>,
    pub(super) recorded: Option<String>,
    pub(super) computed: String,
}

/// How a worker examines a line.
struct Examine<'e, E> {
    reader: LineReader,
    /// The visitor's extractor, when there is a visitor.
    extract: Option<&'e E>,
}

// Derived `Clone`/`Copy` would require `E: Copy`; only the reference is copied.
impl<E> Clone for Examine<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Examine<'_, E> {}

impl<E: LineExtract> Examine<'_, E> {
    /// Examines one line (`None`: not UTF-8).
    fn line(self, text: Option<&str>) -> ExaminedLine<E::Facts> {
        let Some(text) = text else {
            return ExaminedLine::Unreadable("json_error=invalid UTF-8 in line".to_owned());
        };
        let fast = match self.reader {
            LineReader::Auto => examine_canonical_view(text),
            LineReader::ValueOnly => None,
        };
        if let Some((entry, view)) = fast {
            // The visitor reads the view here; it is dropped before the line leaves.
            let facts = self.extract.map(|e| e.extract(ObjRef::Canonical(&view)));
            return ExaminedLine::Object {
                facts,
                entry: Ok(entry),
            };
        }
        match value_line(text) {
            ParsedLine::Blank => ExaminedLine::Blank,
            ParsedLine::Unreadable(detail) => ExaminedLine::Unreadable(detail),
            ParsedLine::Object { map, entry } => ExaminedLine::Object {
                facts: self.extract.map(|e| e.extract_parsed(map)),
                entry,
            },
        }
    }
}

/// The reference per-line reader: parse into a `Value`, check, render canonically, hash.
pub(super) fn value_line(text: &str) -> ParsedLine {
    if text.trim().is_empty() {
        return ParsedLine::Blank;
    }
    let mut map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return ParsedLine::Unreadable("not_object".to_owned()),
        Err(e) => {
            return ParsedLine::Unreadable(format!("json_error={}", python_json_message(&e)));
        }
    };
    let entry = examine_entry(&mut map);
    ParsedLine::Object { map, entry }
}

/// Per-line checks in the reference's order (A6.3); `Err` rejects the line. `map` is
/// returned unchanged (the hash is taken over it without `entry_hash` and `line_no`).
fn examine_entry(map: &mut Map<String, Value>) -> Result<Entry, (Option<i64>, String)> {
    let schema_version = map
        .get("schema_version")
        .and_then(py_int)
        .ok_or((None, "schema_version_missing_or_invalid".to_owned()))?;
    if schema_version != 1 {
        return Err((None, format!("schema_version={schema_version}")));
    }
    let rev = map
        .get("rev")
        .and_then(py_int)
        .ok_or((None, "rev_missing_or_invalid".to_owned()))?;
    let bad = |detail: String| (Some(rev), detail);
    let event = event_name(map).map_err(bad)?;
    let Some(Value::Object(payload)) = map.get("payload") else {
        return Err(bad("payload_missing_or_invalid".to_owned()));
    };
    let problems = check_payload(&event, payload);
    let ts = match map.get("ts_utc") {
        Some(Value::String(s)) => {
            parse_iso_utc(s, "ts_utc").map_err(|e| bad(format!("ts_utc_invalid={e}")))?
        }
        _ => return Err(bad("ts_utc_missing_or_invalid".to_owned())),
    };
    for (key, detail) in [
        ("actor", "actor_invalid"),
        ("prev_hash", "prev_hash_invalid"),
        ("entry_hash", "entry_hash_invalid"),
    ] {
        if map.get(key).is_some_and(|v| !v.is_null() && !v.is_string()) {
            return Err(bad(detail.to_owned()));
        }
    }
    let dual = map.contains_key("event") && map.contains_key("event_type");
    let prev_hash = map
        .get("prev_hash")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The hash covers the entry without `entry_hash` and `line_no`; take them out, hash,
    // and put them back so the visitor sees the line as written.
    let entry_hash = map.remove("entry_hash");
    let line_no = map.remove("line_no");
    let recorded = entry_hash
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_owned);
    let computed = canonical_hash(map);
    if let Some(v) = entry_hash {
        map.insert("entry_hash".to_owned(), v);
    }
    if let Some(v) = line_no {
        map.insert("line_no".to_owned(), v);
    }
    // A non-finite number rejects the line before any accepted-entry warning.
    let computed = computed.map_err(|e| bad(format!("json_error={e}")))?;
    Ok(Entry {
        rev,
        event,
        problems,
        ts_micros: ts.micros,
        dual,
        prev_hash,
        recorded,
        computed,
    })
}

/// SHA-256 of the canonical text of an object, without cloning it into a `Value`.
fn canonical_hash(map: &Map<String, Value>) -> Result<String, veriscope_canon::CanonError> {
    veriscope_canon::sha256_hex_object(map)
}

/// `event`, or `event_type` when `event` is falsy; must name a contract event.
fn event_name(map: &Map<String, Value>) -> Result<String, String> {
    let value = map
        .get("event")
        .filter(|v| truthy(v))
        .or_else(|| map.get("event_type"));
    match value {
        Some(Value::String(s)) if is_known_event(s) => Ok(s.clone()),
        Some(v) => Err(format!("event_invalid={}", str_value(v))),
        None => Err("event_invalid=None".to_owned()),
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.to_string().parse::<f64>().is_ok_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python `int(x)` coercion as the reference applies it to `schema_version` and `rev`
/// (A6.3): ints, floats (truncated), booleans and integer strings.
fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                text.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && x.abs() < 9.2e18)
                    .map(|x| x.trunc() as i64)
            } else {
                text.parse::<i64>().ok()
            }
        }
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}
