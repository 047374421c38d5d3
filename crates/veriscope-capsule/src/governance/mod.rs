//! The hash-chained, append-only governance journal `governance_log.jsonl`.
//!
//! contract_v1 §Governance Journal: each line is one canonical JSON object with consecutive
//! `rev`, `prev_hash` = previous entry's hash, and
//! `entry_hash = sha256(canonical(entry without entry_hash))`. [`Journal::append`] holds an
//! exclusive file lock across read-verify-append so concurrent writers (wrapper, override,
//! another process) never interleave or fork the chain; [`verify_log`] reports every warning
//! with the contract's tokens and the first bad line. [`Durability`] says when an appended
//! entry is forced to stable storage: at once (the default), or in groups for a long-lived
//! writer such as the run wrapper.

mod fast;
#[cfg(test)]
mod fast_tests;
mod payload;
mod verify;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub use payload::{MANUAL_EVENTS, RUN_EVENTS, check_payload, is_known_event};
#[cfg(test)]
use verify::PARALLEL_MIN_LINES;
pub use verify::{BadLine, LineExtract, LineReader, LineVisitor, LogReport, VerifyOptions};
use verify::{ChainState, Scan, ToMap, Verifier};

use crate::atomic::{parent_dir, sync_dir};
use crate::isotime::parse_iso_utc;
use crate::pyrepr::repr_str;
use crate::schema::{check_audit_map, gate_consistency, present};

/// Why a journal operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    /// Reading, locking or writing the file failed.
    #[error("governance journal io error on `{path}`")]
    Io {
        /// The journal path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The existing journal does not verify strictly (A6.4 "Appending re-validates").
    #[error("Cannot append to invalid governance_log.jsonl: {}", py_tuple(.errors))]
    InvalidLog {
        /// The invalidating warnings.
        errors: Vec<String>,
        /// The first bad line.
        first_bad: Option<BadLine>,
    },
    /// Not one of the contract's event names.
    #[error("Unsupported governance event={}", repr_str(.0))]
    UnknownEvent(String),
    /// The payload is not a JSON object.
    #[error("payload missing or invalid for governance entry append")]
    PayloadNotObject,
    /// The payload misses required keys (A6.3 requirements).
    #[error("{0}")]
    PayloadRequiredFields(String),
    /// gate_decision_v1 decision inconsistent with ok/warn/evaluated (A6.7).
    #[error("{0}")]
    InconsistentGateDecision(String),
    /// `ts_utc` does not parse.
    #[error("ts_utc missing or invalid for governance entry append: {0}")]
    InvalidTimestamp(String),
    /// The payload holds a NaN/Infinity (contract_v1: never written, never silently nulled).
    #[error("governance payload holds a non-finite number; refusing to write it")]
    NonFinite,
}

fn py_tuple(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| repr_str(s)).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// The entry [`Journal::append`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendedEntry {
    /// Its `rev`.
    pub rev: i64,
    /// Its `entry_hash`.
    pub entry_hash: String,
    /// Its `prev_hash`.
    pub prev_hash: Option<String>,
    /// The object written (canonical form on disk).
    pub entry: Value,
    /// Non-fatal notes, e.g. `WARNING:GOVERNANCE_LOG_TS_DECREASE line=0` (A6.7).
    pub warnings: Vec<String>,
}

/// When an appended entry is forced to stable storage (`fdatasync`).
///
/// Either way the entry is written to the file, under the lock, before [`Journal::append`]
/// returns, so readers and later writers see it and it outlives the writing process even if
/// that process is killed (contract_v1 §Governance Journal: append-only, every run-governance
/// event recorded as it happens). The modes differ only in what an OS crash or power loss
/// can take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fdatasync` before `append` returns: nothing acknowledged is ever lost. For one-shot
    /// writers (`veriscope override`, notes), where one sync per entry costs nothing.
    #[default]
    EachEntry,
    /// Group commit for a long-lived writer that appends in bursts (the run wrapper journals
    /// every gate check). The file stays open between appends, and the caller decides when
    /// to sync: [`Journal::sync_if_due`] syncs when entries are pending and `interval` has
    /// passed since the last sync; [`Journal::sync`] syncs now (finalization); dropping the
    /// journal syncs as a last resort. An OS crash can lose at most the entries written since
    /// the last sync, about `interval` of them if the caller polls `sync_if_due` regularly.
    Grouped {
        /// Shortest time between two syncs.
        interval: Duration,
    },
}

/// An open journal: the path plus the verified chain position.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    state: ChainState,
    verified_len: u64,
    durability: Durability,
    /// [`Durability::Grouped`]: the descriptor kept open between appends.
    held: Option<File>,
    /// Entries written since the last sync ([`Durability::Grouped`]).
    unsynced: u64,
    /// We created the file and its directory entry is not yet synced ([`Durability::Grouped`]).
    dir_unsynced: bool,
    last_sync: Instant,
}

impl Journal {
    /// Opens `path` (it may not exist yet) and verifies the existing log strictly: legacy
    /// entries without `entry_hash` are refused for appending (A6.4). Every append is synced
    /// ([`Durability::EachEntry`]).
    pub fn open(path: &Path) -> Result<Journal, GovernanceError> {
        Journal::open_with(path, Durability::EachEntry)
    }

    /// [`Journal::open`] with the given durability.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Journal, GovernanceError> {
        let mut journal = Journal {
            path: path.to_path_buf(),
            state: ChainState::default(),
            verified_len: 0,
            durability,
            held: None,
            unsynced: 0,
            dir_unsynced: false,
            last_sync: Instant::now(),
        };
        match File::open(path) {
            Ok(mut file) => {
                // Shared lock: a writer holds the exclusive one for the whole of its write, so
                // a line still being written is never read as a torn, invalid entry (CI saw
                // "Unterminated string" from an open racing an append). Released on drop.
                file.lock_shared().map_err(|e| journal.io(e))?;
                journal.catch_up(&mut file)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(journal.io(e)),
        }
        Ok(journal)
    }

    /// The journal path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rev` of the last entry (0 when empty).
    pub fn last_rev(&self) -> i64 {
        self.state.last_rev
    }

    /// The durability this journal was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Entries written but not yet synced (always 0 with [`Durability::EachEntry`]).
    pub fn unsynced_entries(&self) -> u64 {
        self.unsynced
    }

    /// Appends one entry under an exclusive lock and returns what was written; with
    /// [`Durability::EachEntry`] it is synced before this returns.
    ///
    /// Lines other writers appended since the last call are verified before ours is added;
    /// a journal that no longer verifies is refused ([`GovernanceError::InvalidLog`]).
    pub fn append(
        &mut self,
        event: &str,
        payload: Value,
        actor: Option<&str>,
        ts_utc: &str,
    ) -> Result<AppendedEntry, GovernanceError> {
        check_new_entry(event, &payload)?;
        let ts = parse_iso_utc(ts_utc, "ts_utc").map_err(GovernanceError::InvalidTimestamp)?;
        if matches!(self.durability, Durability::Grouped { .. }) {
            return self.append_held(event, payload, actor, ts_utc, ts.micros);
        }
        let mut file = self.open_for_append()?;
        file.lock().map_err(|e| self.io(e))?;
        // The lock is released when `file` drops, on every path below.
        let (appended, created) =
            self.write_locked(&mut file, event, payload, actor, ts_utc, ts.micros)?;
        file.sync_data().map_err(|e| self.io(e))?;
        if created {
            sync_dir(&parent_dir(&self.path)).map_err(|e| self.io(e))?;
        }
        Ok(appended)
    }

    /// Forces every entry written so far, and the directory entry of a journal we created, to
    /// stable storage. A no-op when nothing is pending.
    pub fn sync(&mut self) -> Result<(), GovernanceError> {
        if self.unsynced > 0
            && let Some(file) = &self.held
        {
            file.sync_data().map_err(|e| self.io(e))?;
        }
        if self.dir_unsynced {
            sync_dir(&parent_dir(&self.path)).map_err(|e| self.io(e))?;
            self.dir_unsynced = false;
        }
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// [`Journal::sync`] when entries are pending and the [`Durability::Grouped`] interval
    /// has passed since the last sync. Returns whether it synced. Cheap enough to call after
    /// every append and on every tick of an event loop.
    pub fn sync_if_due(&mut self) -> Result<bool, GovernanceError> {
        let Durability::Grouped { interval } = self.durability else {
            return Ok(false);
        };
        if (self.unsynced == 0 && !self.dir_unsynced) || self.last_sync.elapsed() < interval {
            return Ok(false);
        }
        self.sync().map(|()| true)
    }

    /// [`Durability::Grouped`] append: same lock, verification and write as the synced path,
    /// on the descriptor kept open between appends; the sync is left to the caller.
    fn append_held(
        &mut self,
        event: &str,
        payload: Value,
        actor: Option<&str>,
        ts_utc: &str,
        ts_micros: i64,
    ) -> Result<AppendedEntry, GovernanceError> {
        let mut file = self.held_file()?;
        if let Err(e) = file.lock() {
            self.held = Some(file);
            return Err(self.io(e));
        }
        let written = self.write_locked(&mut file, event, payload, actor, ts_utc, ts_micros);
        // Unlock before anything else so another writer never waits on our bookkeeping.
        let unlocked = file.unlock();
        self.held = Some(file);
        let (appended, created) = written?;
        self.unsynced += 1;
        self.dir_unsynced |= created;
        unlocked.map_err(|e| self.io(e))?;
        Ok(appended)
    }

    /// The held descriptor, reopened when the path no longer names the file it refers to
    /// (the journal was replaced or removed): appending to an orphaned inode would lose the
    /// entry and escape the lock other writers take on the new file. A new file is verified
    /// from its start.
    fn held_file(&mut self) -> Result<File, GovernanceError> {
        if let Some(file) = self.held.take() {
            let same = match (file.metadata(), std::fs::metadata(&self.path)) {
                (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
                _ => false,
            };
            if same {
                return Ok(file);
            }
            // Whatever we wrote there goes to disk with the file it was written to.
            if self.unsynced > 0 {
                file.sync_data().map_err(|e| self.io(e))?;
                self.unsynced = 0;
            }
            self.state = ChainState::default();
            self.verified_len = 0;
        }
        self.open_for_append()
    }

    fn open_for_append(&self) -> Result<File, GovernanceError> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io(e))
    }

    /// The locked part of an append: verify what others appended, build and write our line
    /// with one `write_all` on the `O_APPEND` descriptor, advance the chain. Also returns
    /// whether the file was empty before (its directory entry then needs a sync).
    fn write_locked(
        &mut self,
        file: &mut File,
        event: &str,
        payload: Value,
        actor: Option<&str>,
        ts_utc: &str,
        ts_micros: i64,
    ) -> Result<(AppendedEntry, bool), GovernanceError> {
        self.catch_up(file)?;
        let mut warnings = Vec::new();
        if self.state.last_ts.is_some_and(|prev| ts_micros < prev) {
            warnings.push("WARNING:GOVERNANCE_LOG_TS_DECREASE line=0".to_owned());
        }
        let (entry, line) = self.build_entry(event, payload, actor, ts_utc)?;
        let created = self.verified_len == 0;
        file.write_all(line.as_bytes()).map_err(|e| self.io(e))?;
        self.verified_len += line.len() as u64;
        self.state.lines += 1;
        self.state.last_ts = Some(ts_micros);
        let entry_hash = entry["entry_hash"].as_str().unwrap_or_default().to_owned();
        let prev_hash = self.state.last_hash.replace(entry_hash.clone());
        self.state.last_rev += 1;
        let appended = AppendedEntry {
            rev: self.state.last_rev,
            entry_hash,
            prev_hash,
            entry,
            warnings,
        };
        Ok((appended, created))
    }

    /// Builds the next entry and its canonical line (with trailing `\n`).
    fn build_entry(
        &self,
        event: &str,
        payload: Value,
        actor: Option<&str>,
        ts_utc: &str,
    ) -> Result<(Value, String), GovernanceError> {
        let mut map = Map::new();
        map.insert("schema_version".into(), Value::from(1));
        map.insert("rev".into(), Value::from(self.state.last_rev + 1));
        map.insert("ts_utc".into(), Value::from(ts_utc));
        map.insert("actor".into(), actor.map_or(Value::Null, Value::from));
        map.insert("event".into(), Value::from(event));
        map.insert("payload".into(), payload);
        map.insert(
            "prev_hash".into(),
            self.state
                .last_hash
                .clone()
                .map_or(Value::Null, Value::from),
        );
        let mut entry = Value::Object(map);
        let hash = veriscope_canon::sha256_hex(&entry).map_err(|_| GovernanceError::NonFinite)?;
        entry["entry_hash"] = Value::from(hash);
        let mut line =
            veriscope_canon::to_canonical_string(&entry).map_err(|_| GovernanceError::NonFinite)?;
        line.push('\n');
        Ok((entry, line))
    }

    /// Verifies whatever was appended after `verified_len`; re-verifies from scratch if the
    /// file shrank (it was replaced or truncated).
    fn catch_up(&mut self, file: &mut File) -> Result<(), GovernanceError> {
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        if len == self.verified_len {
            return Ok(());
        }
        if len < self.verified_len {
            self.state = ChainState::default();
            self.verified_len = 0;
        }
        file.seek(SeekFrom::Start(self.verified_len))
            .map_err(|e| self.io(e))?;
        let mut tail = Vec::with_capacity((len - self.verified_len) as usize);
        file.read_to_end(&mut tail).map_err(|e| self.io(e))?;
        let mut verifier = Verifier::new(
            VerifyOptions {
                allow_legacy: false,
            },
            self.state.clone(),
            LineReader::Auto,
        );
        verifier.feed(&tail);
        let (report, state) = verifier.finish();
        if !report.is_valid() {
            return Err(GovernanceError::InvalidLog {
                errors: report.errors,
                first_bad: report.first_bad,
            });
        }
        if !tail.ends_with(b"\n") && !tail.is_empty() {
            // A valid but unterminated last line: ours must start on a new line.
            return Err(GovernanceError::InvalidLog {
                errors: vec![
                    "WARNING:GOVERNANCE_LOG_INVALID last line has no trailing newline".to_owned(),
                ],
                first_bad: None,
            });
        }
        self.state = state;
        self.verified_len += tail.len() as u64;
        Ok(())
    }

    fn io(&self, source: io::Error) -> GovernanceError {
        GovernanceError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for Journal {
    /// Last resort for a grouped journal whose owner did not call [`Journal::sync`] (a panic,
    /// an early return): written entries must not stay in the page cache only.
    fn drop(&mut self) {
        if self.unsynced > 0 || self.dir_unsynced {
            let _ = self.sync();
        }
    }
}

/// Writer-side checks of a new entry (A6.7): known event, object payload, A6.3 payload
/// requirements, gate decision consistency, no non-finite numbers.
fn check_new_entry(event: &str, payload: &Value) -> Result<(), GovernanceError> {
    if !is_known_event(event) {
        return Err(GovernanceError::UnknownEvent(event.to_owned()));
    }
    let Value::Object(map) = payload else {
        return Err(GovernanceError::PayloadNotObject);
    };
    let problems = check_payload(event, map);
    if !problems.is_empty() {
        return Err(GovernanceError::PayloadRequiredFields(
            problems.detail(event),
        ));
    }
    if veriscope_canon::canonical_bytes(payload).is_err() {
        return Err(GovernanceError::NonFinite);
    }
    if event == "gate_decision_v1" {
        check_gate_decision(map)?;
    }
    Ok(())
}

/// A gate decision must equal the one derived from ok/warn/evaluated (A6.7).
fn check_gate_decision(map: &Map<String, Value>) -> Result<(), GovernanceError> {
    let decision = map
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if decision != decision.trim().to_ascii_lowercase() {
        return Err(GovernanceError::InconsistentGateDecision(format!(
            "Invalid gate decision={}",
            repr_str(decision)
        )));
    }
    let evaluated = map
        .get("audit")
        .and_then(Value::as_object)
        .map(|a| check_audit_map(a, &[]).unwrap_or(false))
        .unwrap_or(false);
    let ok = present(map, "ok").and_then(Value::as_bool);
    let warn = present(map, "warn").and_then(Value::as_bool);
    if decision != "skip" && ok.is_none() {
        return Err(GovernanceError::InconsistentGateDecision(
            "gate_decision_v1 payload requires ok for non-skip decisions".to_owned(),
        ));
    }
    let derived = derive_gate_decision(
        evaluated,
        ok.unwrap_or(true),
        warn.unwrap_or(false) && ok != Some(false),
    );
    if decision != derived || gate_consistency(decision, evaluated, ok, warn).is_err() {
        let py = |b: bool| if b { "True" } else { "False" };
        return Err(GovernanceError::InconsistentGateDecision(format!(
            "Inconsistent gate decision payload: decision={} expected={} evaluated={} ok={} warn={}",
            repr_str(decision),
            repr_str(derived),
            py(evaluated),
            py(ok.unwrap_or(true)),
            py(warn.unwrap_or(false))
        )));
    }
    Ok(())
}

/// derive_gate_decision (cli_contracts A4): not evaluated → skip; not ok → fail; warn → warn; else pass.
pub fn derive_gate_decision(evaluated: bool, ok: bool, warn: bool) -> &'static str {
    match (evaluated, ok, warn) {
        (false, _, _) => "skip",
        (true, false, _) => "fail",
        (true, true, true) => "warn",
        (true, true, false) => "pass",
    }
}

/// Verifies the journal at `path`. `Err` only when the file cannot be read.
pub fn verify_log(path: &Path, opts: &VerifyOptions) -> Result<LogReport, GovernanceError> {
    verify_log_via(path, opts, LineReader::Auto, None)
}

/// [`verify_log`], calling `visit` with every line that parses as a JSON object.
///
/// Slower than [`verify_log`]: every line becomes a `serde_json::Map` for the visitor
/// ([`verify_log_extracting`] reads lines in place).
pub fn verify_log_with(
    path: &Path,
    opts: &VerifyOptions,
    visit: &mut LineVisitor<'_>,
) -> Result<LogReport, GovernanceError> {
    verify_log_via(path, opts, LineReader::Auto, Some(visit))
}

/// [`verify_log_with`] for a visitor in two halves: `extract` reads every line that parses
/// as a JSON object in place (a canonical line as its borrowed view), on the worker threads
/// and in any order; `fold` gets what it returned, in line order. No line becomes a `Map`
/// it does not have to.
pub fn verify_log_extracting<E: LineExtract>(
    path: &Path,
    opts: &VerifyOptions,
    extract: &E,
    fold: &mut dyn FnMut(usize, &E::Facts),
) -> Result<LogReport, GovernanceError> {
    verify_file(path, opts, LineReader::Auto, Some(Scan { extract, fold }))
}

/// [`verify_log`] with the line reader chosen (benchmarks and equivalence tests compare
/// [`LineReader::Auto`] with [`LineReader::ValueOnly`]) and an optional visitor.
pub fn verify_log_via(
    path: &Path,
    opts: &VerifyOptions,
    reader: LineReader,
    visit: Option<&mut LineVisitor<'_>>,
) -> Result<LogReport, GovernanceError> {
    let scan = visit.map(|fold| Scan {
        extract: &ToMap,
        fold,
    });
    verify_file(path, opts, reader, scan)
}

fn verify_file<E: LineExtract>(
    path: &Path,
    opts: &VerifyOptions,
    reader: LineReader,
    scan: Option<Scan<'_, E>>,
) -> Result<LogReport, GovernanceError> {
    let io = |source| GovernanceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // Writers append whole lines under the exclusive lock, so the length seen under the
    // shared lock ends at a line boundary, and an append-only file never changes before it.
    // Reading up to there, with the lock already released, never sees a line half-written
    // by a live run, and never makes that run's appends wait on a long verification.
    file.lock_shared().map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    file.unlock().map_err(io)?;
    let mut verifier = Verifier::new(*opts, ChainState::default(), reader);
    feed_blocks(file.take(len), &mut verifier, scan, READ_BLOCK).map_err(io)?;
    Ok(verifier.finish().0)
}

/// Bytes read per block by [`verify_log_via`].
const READ_BLOCK: u64 = 8 << 20;

/// Feeds `source` to `verifier` in blocks of whole lines: one reused buffer instead of the
/// whole file in memory (a 54 MB journal spent about 15% of its verification zeroing
/// fresh pages). The verifier keeps the chain and the line count across blocks, so the
/// findings equal one pass over the whole file.
fn feed_blocks<E: LineExtract>(
    source: impl Read,
    verifier: &mut Verifier,
    mut scan: Option<Scan<'_, E>>,
    block: u64,
) -> io::Result<()> {
    for_each_line_block(source, block, |lines| {
        verifier.feed_all(lines, scan.as_mut().map(Scan::reborrow));
        Ok(())
    })
}

/// Reads `source` through one reused buffer in blocks of about `block` bytes that end at a
/// `\n` (a line longer than a block extends it), so no line and no UTF-8 sequence is split,
/// and hands each block to `f`; the last block may lack the final `\n`. For scanning large
/// journals without holding them whole in memory.
pub fn for_each_line_block(
    mut source: impl Read,
    block: u64,
    mut f: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let got = (&mut source).take(block).read_to_end(&mut buf)?;
        let eof = (got as u64) < block;
        let cut = if eof {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                // One line longer than a block: read on.
                None => continue,
            }
        };
        f(&buf[..cut])?;
        buf.drain(..cut);
        if eof {
            return Ok(());
        }
    }
}

/// Verifies journal content already in memory.
pub fn verify_bytes(data: &[u8], opts: &VerifyOptions) -> LogReport {
    verify_bytes_via(data, opts, LineReader::Auto, None)
}

/// [`verify_bytes`] with a line visitor.
pub fn verify_bytes_with(
    data: &[u8],
    opts: &VerifyOptions,
    visit: &mut LineVisitor<'_>,
) -> LogReport {
    verify_bytes_via(data, opts, LineReader::Auto, Some(visit))
}

/// [`verify_bytes`] with the line reader chosen and an optional visitor.
pub fn verify_bytes_via(
    data: &[u8],
    opts: &VerifyOptions,
    reader: LineReader,
    visit: Option<&mut LineVisitor<'_>>,
) -> LogReport {
    let mut verifier = Verifier::new(*opts, ChainState::default(), reader);
    let scan = visit.map(|fold| Scan {
        extract: &ToMap,
        fold,
    });
    verifier.feed_all(data, scan);
    verifier.finish().0
}

#[cfg(test)]
mod tests;
