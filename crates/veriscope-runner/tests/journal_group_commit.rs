//! The journal's group commit (`Durability::Grouped`), as the wrapper uses it: entries are
//! written at once and verify, syncs are deferred to the caller, and the file lock still
//! keeps every other writer's lines whole and the chain unforked
//! (contract_v1 §Governance Journal; docs/governance.md "Durability").

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use veriscope_capsule::governance::{Durability, Journal, VerifyOptions, verify_log};

const TS: &str = "2026-01-01T00:00:00Z";

fn note(i: usize) -> Value {
    json!({ "note": format!("n{i}") })
}

fn grouped(interval: Duration) -> Durability {
    Durability::Grouped { interval }
}

fn journal_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("governance_log.jsonl")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_verifies(path: &Path, entries: usize) {
    let report = verify_log(path, &VerifyOptions::default()).unwrap();
    assert!(report.is_valid(), "{:?}", report.errors);
    assert_eq!(report.accepted, entries);
    assert_eq!(report.last_rev, Some(entries as i64));
}

#[test]
fn grouped_entries_are_on_file_at_once_and_synced_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut j = Journal::open_with(&path, grouped(Duration::from_secs(3600))).unwrap();
    for i in 0..5 {
        let e = j.append("artifact_note", note(i), None, TS).unwrap();
        assert_eq!(e.rev, i as i64 + 1);
        // Written before append returned: readers (and a killed writer's capsule) see it.
        assert_eq!(lines(&path).len(), i + 1);
        assert_eq!(j.unsynced_entries(), i as u64 + 1);
    }
    assert_verifies(&path, 5);
    assert!(!j.sync_if_due().unwrap(), "the interval has not passed");
    j.sync().unwrap();
    assert_eq!(j.unsynced_entries(), 0);
    assert!(!j.sync_if_due().unwrap(), "nothing pending");
}

#[test]
fn sync_if_due_syncs_once_the_interval_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut j = Journal::open_with(&path, grouped(Duration::ZERO)).unwrap();
    j.append("artifact_note", note(0), None, TS).unwrap();
    assert_eq!(j.unsynced_entries(), 1);
    assert!(j.sync_if_due().unwrap());
    assert_eq!(j.unsynced_entries(), 0);
}

#[test]
fn each_entry_durability_is_the_default_and_leaves_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut j = Journal::open(&path).unwrap();
    assert_eq!(j.durability(), Durability::EachEntry);
    j.append("artifact_note", note(0), None, TS).unwrap();
    assert_eq!(j.unsynced_entries(), 0);
    assert!(!j.sync_if_due().unwrap());
}

#[test]
fn another_writer_between_grouped_appends_is_verified_and_chained() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut wrapper = Journal::open_with(&path, grouped(Duration::from_secs(3600))).unwrap();
    wrapper.append("artifact_note", note(0), None, TS).unwrap();
    // `veriscope override` appends while the wrapper holds its descriptor open.
    let mut other = Journal::open(&path).unwrap();
    other
        .append("artifact_note", note(1), Some("reviewer"), TS)
        .unwrap();
    let e = wrapper.append("artifact_note", note(2), None, TS).unwrap();
    assert_eq!(e.rev, 3);
    assert_eq!(
        e.prev_hash.as_deref(),
        lines(&path)[1]["entry_hash"].as_str()
    );
    assert_verifies(&path, 3);
}

#[test]
fn concurrent_grouped_and_synced_writers_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    // Four grouped writers that never sync mid-way (the tightest race on the lock) and one
    // writer that syncs every entry, as `veriscope override` does.
    let writers = [(Durability::EachEntry, 40), (grouped(Duration::MAX), 300)];
    let mut total = 0;
    std::thread::scope(|s| {
        for w in 0..5 {
            let (durability, count) = writers[usize::from(w > 0)];
            total += count;
            let path = path.clone();
            s.spawn(move || {
                let mut j = Journal::open_with(&path, durability).unwrap();
                for i in 0..count {
                    j.append("artifact_note", note(w * 1000 + i), None, TS)
                        .unwrap();
                }
                j.sync().unwrap();
            });
        }
    });
    assert_verifies(&path, total);
}

#[test]
fn a_replaced_journal_is_followed_not_written_as_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut j = Journal::open_with(&path, grouped(Duration::from_secs(3600))).unwrap();
    j.append("artifact_note", note(0), None, TS).unwrap();
    j.append("artifact_note", note(1), None, TS).unwrap();
    // Someone moves the journal away; the next entry goes to the path, verified afresh,
    // exactly as an append that opens the path each time would do.
    std::fs::rename(&path, dir.path().join("moved.jsonl")).unwrap();
    let e = j.append("artifact_note", note(2), None, TS).unwrap();
    assert_eq!(e.rev, 1);
    assert_verifies(&path, 1);
    assert_eq!(lines(&dir.path().join("moved.jsonl")).len(), 2);
}

#[test]
fn dropping_a_grouped_journal_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    {
        let mut j = Journal::open_with(&path, grouped(Duration::from_secs(3600))).unwrap();
        for i in 0..3 {
            j.append("artifact_note", note(i), None, TS).unwrap();
        }
        // Dropped with entries pending: the drop syncs them (best effort).
    }
    assert_verifies(&path, 3);
    let mut again = Journal::open_with(&path, grouped(Duration::from_secs(3600))).unwrap();
    assert_eq!(again.last_rev(), 3);
    assert_eq!(
        again
            .append("artifact_note", note(3), None, TS)
            .unwrap()
            .rev,
        4
    );
}
