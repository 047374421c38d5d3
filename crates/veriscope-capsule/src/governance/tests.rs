//! Journal tests: the B4 checklist of cli_contracts plus locking and fuzzing.

use super::*;
use crate::jsonref::ObjRef;
use proptest::prelude::*;
use serde_json::json;

const TS: &str = "2026-01-01T00:00:00Z";

fn note(i: usize) -> Value {
    json!({"note": format!("n{i}")})
}

fn run_started() -> Value {
    json!({"run_id": "r1", "outdir": "/tmp/o", "argv": ["x"], "code_identity": {"package_version": "0.1.0"},
           "window_signature_ref": {"hash": "a".repeat(64), "path": "window_signature.json"},
           "entrypoint": {"kind": "runner", "name": "gpt"}})
}

fn strict() -> VerifyOptions {
    VerifyOptions::default()
}

fn write_lines(path: &Path, lines: &[Value]) {
    let text: String = lines
        .iter()
        .map(|l| veriscope_canon::to_canonical_string(l).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn journal_with(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("governance_log.jsonl");
    let mut j = Journal::open(&path).unwrap();
    for i in 0..n {
        j.append("artifact_note", note(i), Some("tester"), TS)
            .unwrap();
    }
    (dir, path)
}

#[test]
fn appended_chain_verifies_and_is_pinned() {
    let (_dir, path) = journal_with(3);
    let report = verify_log(&path, &strict()).unwrap();
    assert!(report.is_valid(), "{:?}", report.warnings);
    assert_eq!((report.last_rev, report.accepted), (Some(3), 3));
    assert_eq!(report.event_counts.get("artifact_note"), Some(&3));
    // Guards compatibility: the three-entry chain's last hash must never change
    // (house_style §5.4 "Pinned hashes"); the value was cross-checked with CPython json.dumps + hashlib.
    insta::assert_snapshot!(report.last_hash.unwrap(), @"7014cb5fe835161d3c6f178c48edd7d2047d255646c734603e57d8a8ba82aa1a");
    let first = &read_lines(&path)[0];
    assert_eq!(first["prev_hash"], Value::Null);
    assert_eq!(first["actor"], json!("tester"));
}

/// Runs `read` on a two-entry journal while another writer holds the exclusive lock across
/// the second line, written in two halves 300 ms apart: what a slow `write` (or a
/// `write_all` split by the kernel) looks like to a concurrent reader.
fn while_second_line_is_half_written(read: impl FnOnce(&Path)) {
    let (_dir, path) = journal_with(2);
    let text = std::fs::read_to_string(&path).unwrap();
    let (first, second) = text.split_at(text.find('\n').unwrap() + 1);
    let second = second.to_owned();
    std::fs::write(&path, first).unwrap();
    let (half_written, half_seen) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.lock().unwrap();
            let (head, tail) = second.split_at(second.len() / 2);
            file.write_all(head.as_bytes()).unwrap();
            half_written.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            file.write_all(tail.as_bytes()).unwrap();
            file.unlock().unwrap();
        });
        half_seen.recv().unwrap();
        read(&path);
    });
}

/// Opening the journal or verifying it while a line is being written waits for the whole
/// line instead of reporting it torn (CI once saw "Unterminated string" from an open racing
/// a concurrent append).
#[test]
fn open_and_verify_never_see_a_line_half_written_under_the_lock() {
    while_second_line_is_half_written(|path| {
        let report = verify_log(path, &strict()).unwrap();
        assert!(report.is_valid(), "{:?}", report.errors);
        assert_eq!(report.accepted, 2, "the reader waited for the whole line");
    });
    while_second_line_is_half_written(|path| {
        assert_eq!(Journal::open(path).unwrap().last_rev(), 2);
    });
}

#[test]
fn tampered_payload_is_hash_mismatch_and_blocks_appends() {
    let (_dir, path) = journal_with(3);
    let mut lines = read_lines(&path);
    lines[1]["payload"]["note"] = json!("edited");
    write_lines(&path, &lines);
    let report = verify_log(&path, &strict()).unwrap();
    assert_eq!(
        report.errors,
        vec!["WARNING:GOVERNANCE_LOG_HASH_MISMATCH line=2"]
    );
    assert_eq!(report.first_bad.as_ref().map(|b| b.rev), Some(Some(2)));
    let err = Journal::open(&path).unwrap_err().to_string();
    assert!(err.starts_with("Cannot append to invalid governance_log.jsonl: ('WARNING:GOVERNANCE_LOG_HASH_MISMATCH line=2',)"), "{err}");
}

#[test]
fn tamper_between_appends_is_caught_by_the_next_append() {
    let (_dir, path) = journal_with(1);
    let mut j = Journal::open(&path).unwrap();
    // Another writer appends a forged line behind our back.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"not\":\"an entry\"}\n");
    std::fs::write(&path, text).unwrap();
    assert!(matches!(
        j.append("artifact_note", note(9), None, TS),
        Err(GovernanceError::InvalidLog { .. })
    ));
}

#[test]
fn older_timestamp_warns_but_appends() {
    let (_dir, path) = journal_with(1);
    let mut j = Journal::open(&path).unwrap();
    let e = j
        .append("artifact_note", note(1), None, "2025-01-01T00:00:00Z")
        .unwrap();
    assert_eq!(e.rev, 2);
    assert_eq!(
        e.warnings,
        vec!["WARNING:GOVERNANCE_LOG_TS_DECREASE line=0"]
    );
    let report = verify_log(&path, &strict()).unwrap();
    assert!(report.is_valid());
    assert_eq!(
        report.warnings,
        vec!["WARNING:GOVERNANCE_LOG_TS_DECREASE line=2"]
    );
}

#[test]
fn first_rev_three_and_edited_prev_hash_are_invalid() {
    let (_dir, path) = journal_with(2);
    let mut lines = read_lines(&path);
    lines[1]["prev_hash"] = json!("deadbeef");
    write_lines(&path, &lines);
    let report = verify_log(&path, &strict()).unwrap();
    assert!(
        report
            .errors
            .contains(&"WARNING:GOVERNANCE_LOG_PREV_HASH_MISMATCH line=2".to_owned())
    );

    let mut lines = read_lines(&path);
    lines.truncate(1);
    lines[0]["rev"] = json!(3);
    write_lines(&path, &lines);
    let report = verify_log(&path, &strict()).unwrap();
    assert!(
        report
            .errors
            .contains(&"WARNING:GOVERNANCE_LOG_REV_NONMONOTONE line=1 rev=3 prev_rev=0".to_owned())
    );
}

#[test]
fn gate_decision_consistency_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("governance_log.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let audit = json!({"evaluated": true, "reason": "r", "policy": "p", "per_metric_tv": {}, "evidence_total": 1, "min_evidence": 1});
    for (decision, ok) in [("warn", false), ("pass", false), ("fail", true)] {
        let payload = json!({"run_id": "r", "outdir": "o", "iter": 1, "decision": decision, "ok": ok, "warn": false, "audit": audit});
        let err = j
            .append("gate_decision_v1", payload, None, TS)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Inconsistent gate decision payload"),
            "{err}"
        );
    }
    let err = j.append("gate_decision_v1", json!({"run_id": "r", "outdir": "o", "iter": 1, "decision": "warn", "ok": false, "warn": false, "audit": audit}), None, TS);
    assert_eq!(
        err.unwrap_err().to_string(),
        "Inconsistent gate decision payload: decision='warn' expected='fail' evaluated=True ok=False warn=False"
    );
    assert!(!path.exists(), "refused appends must not create the file");
}

#[test]
fn payload_requirements_refuse_append_and_flag_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("governance_log.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let mut p = run_started();
    p["window_signature_ref"] = json!({"path": "window_signature.json"});
    let err = j
        .append("run_started_v1", p, None, TS)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("payload_required_fields event=run_started_v1"),
        "{err}"
    );
    assert!(!path.exists());

    // Reader side: an empty run_started payload is flagged but still chains (B4).
    let e1 = json!({"schema_version": 1, "rev": 1, "ts_utc": TS, "actor": null, "event": "run_started_v1", "payload": {}, "prev_hash": null});
    let h1 = veriscope_canon::sha256_hex(&e1).unwrap();
    let mut l1 = e1.clone();
    l1["entry_hash"] = json!(h1);
    let e2 = json!({"schema_version": 1, "rev": 2, "ts_utc": TS, "actor": null, "event": "artifact_note", "payload": {}, "prev_hash": h1});
    let mut l2 = e2.clone();
    l2["entry_hash"] = json!(veriscope_canon::sha256_hex(&e2).unwrap());
    write_lines(&path, &[l1, l2]);
    let report = verify_log(&path, &strict()).unwrap();
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].starts_with("WARNING:GOVERNANCE_LOG_INVALID line=1 payload_required_fields event=run_started_v1 missing=argv"));
    assert_eq!(report.accepted, 2);
}

#[test]
fn legacy_entries_need_allow_legacy() {
    let e = json!({"schema_version": 1, "rev": 1, "ts_utc": TS, "actor": null, "event_type": "artifact_note", "payload": {}, "prev_hash": null});
    let data = veriscope_canon::to_canonical_string(&e).unwrap() + "\n";
    let strict_report = verify_bytes(data.as_bytes(), &strict());
    assert_eq!(
        strict_report.errors,
        vec!["WARNING:GOVERNANCE_LOG_ENTRY_HASH_MISSING line=1"]
    );
    let legacy = verify_bytes(data.as_bytes(), &VerifyOptions { allow_legacy: true });
    assert!(legacy.is_valid());
    assert!(legacy.legacy_missing_hash);
    assert_eq!(
        legacy.warnings,
        vec!["WARNING:GOVERNANCE_LOG_ENTRY_HASH_MISSING line=1"]
    );
}

#[test]
fn bad_lines_are_clean_findings() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"{\"a\":NaN}\n",
            "WARNING:GOVERNANCE_LOG_INVALID line=1 json_error=",
        ),
        (b"[1]\n", "WARNING:GOVERNANCE_LOG_INVALID line=1 not_object"),
        (
            b"\xff\xfe\n",
            "WARNING:GOVERNANCE_LOG_INVALID line=1 json_error=invalid UTF-8",
        ),
        (
            b"\n{bad json\n",
            "WARNING:GOVERNANCE_LOG_INVALID line=2 json_error=Expecting property name",
        ),
        (
            b"{\"schema_version\":2}\n",
            "WARNING:GOVERNANCE_LOG_INVALID line=1 schema_version=2",
        ),
        (
            b"{\"schema_version\":1,\"rev\":1,\"event\":null}\n",
            "WARNING:GOVERNANCE_LOG_INVALID line=1 event_invalid=None",
        ),
    ];
    for (data, expected) in cases {
        let report = verify_bytes(data, &strict());
        assert!(
            report.errors[0].starts_with(expected),
            "{:?} -> {:?}",
            String::from_utf8_lossy(data),
            report.errors
        );
    }
    // A float that overflows to infinity fails hashing: a finding, not a crash.
    let big = b"{\"schema_version\":1,\"rev\":1,\"ts_utc\":\"2026-01-01T00:00:00Z\",\"event\":\"artifact_note\",\"payload\":{\"x\":1e400}}\n";
    let report = verify_bytes(big, &strict());
    assert_eq!(
        report.errors,
        vec![
            "WARNING:GOVERNANCE_LOG_INVALID line=1 json_error=Out of range float values are not JSON compliant"
        ]
    );
}

#[test]
fn unicode_line_separators_stay_inside_their_line() {
    // cli_contracts A17.3: we split on `\n` only, so raw U+2028 written by canonical JSON is fine.
    let (_dir, path) = journal_with(0);
    let mut j = Journal::open(&path).unwrap();
    j.append(
        "artifact_note",
        json!({"note": "a\u{2028}b\u{85}c"}),
        None,
        TS,
    )
    .unwrap();
    j.append("artifact_note", note(2), None, TS).unwrap();
    assert!(verify_log(&path, &strict()).unwrap().is_valid());
}

#[test]
fn non_finite_payload_is_refused() {
    let (_dir, path) = journal_with(0);
    let mut j = Journal::open(&path).unwrap();
    let payload: Value = serde_json::from_str(r#"{"x": 1e999}"#).unwrap();
    assert!(matches!(
        j.append("artifact_note", payload, None, TS),
        Err(GovernanceError::NonFinite)
    ));
    assert!(matches!(
        j.append("bogus", json!({}), None, TS),
        Err(GovernanceError::UnknownEvent(_))
    ));
    assert!(matches!(
        j.append("artifact_note", json!([]), None, TS),
        Err(GovernanceError::PayloadNotObject)
    ));
    assert!(!path.exists());
}

#[test]
fn two_concurrent_writers_never_interleave() {
    let (_dir, path) = journal_with(0);
    std::thread::scope(|s| {
        for w in 0..2 {
            let path = path.clone();
            s.spawn(move || {
                let mut j = Journal::open(&path).unwrap();
                for i in 0..200 {
                    j.append("artifact_note", json!({"writer": w, "i": i}), None, TS)
                        .unwrap();
                }
            });
        }
    });
    let report = verify_log(&path, &strict()).unwrap();
    assert!(report.is_valid(), "{:?}", report.errors);
    assert_eq!((report.accepted, report.last_rev), (400, Some(400)));
    let revs: Vec<i64> = read_lines(&path)
        .iter()
        .map(|l| l["rev"].as_i64().unwrap())
        .collect();
    assert_eq!(revs, (1..=400).collect::<Vec<_>>());
}

#[test]
fn block_reader_equals_whole_buffer_at_any_block_size() {
    let (_dir, path) = journal_with(6);
    let good = std::fs::read(&path).unwrap();
    let mut damaged = good.clone();
    damaged.splice(40..40, [0xff, b'\n', b' ', b'\n']);
    let long = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(5000));
    let mut long_lines = long.clone().into_bytes();
    long_lines.extend_from_slice(&good);
    long_lines.extend_from_slice(long.as_bytes());
    let mut unterminated = good.clone();
    unterminated.pop();
    for data in [
        good,
        damaged,
        long_lines,
        unterminated,
        Vec::new(),
        b"\n\n".to_vec(),
    ] {
        let whole = verify_bytes(&data, &strict());
        for block in [1, 2, 7, 64, 1000, 1 << 20] {
            let mut verifier = Verifier::new(strict(), ChainState::default(), LineReader::Auto);
            let mut seen = Vec::new();
            feed_blocks(
                &data[..],
                &mut verifier,
                Some(Scan {
                    extract: &ReadInPlace,
                    fold: &mut |n, _| seen.push(n),
                }),
                block,
            )
            .unwrap();
            assert_eq!(verifier.finish().0, whole, "block {block}");
            let mut want = Vec::new();
            verify_bytes_with(&data, &strict(), &mut |n, _| want.push(n));
            assert_eq!(seen, want, "block {block}");
        }
    }
}

/// Canonical journal lines as a writer renders them: gate decisions with a note between.
fn bulk_lines(n: usize) -> Vec<String> {
    let mut prev: Option<String> = None;
    (1..=n)
        .map(|rev| {
            let (event, payload) = if rev % 5 == 0 {
                ("artifact_note", note(rev))
            } else {
                let skip = rev % 7 == 0;
                let audit = if skip {
                    json!({"evaluated": false, "per_metric_tv": {}, "policy": "p", "reason": "not_evaluated"})
                } else {
                    json!({"evaluated": true, "per_metric_tv": {"m": 0.08}, "policy": "p", "reason": "ok",
                           "worst_DW": 1e-5, "eps_eff": 0.2, "evidence_total": 16, "min_evidence": 16})
                };
                let decision = if skip { "skip" } else { "pass" };
                ("gate_decision_v1", json!({"run_id": "r", "outdir": "o", "iter": rev, "decision": decision,
                                             "ok": true, "warn": false, "audit": audit}))
            };
            let mut entry = json!({"schema_version": 1, "rev": rev, "ts_utc": TS, "actor": null,
                                   "event": event, "payload": payload, "prev_hash": prev});
            let hash = veriscope_canon::sha256_hex(&entry).unwrap();
            entry["entry_hash"] = json!(hash);
            prev = Some(hash);
            veriscope_canon::to_canonical_string(&entry).unwrap()
        })
        .collect()
}

#[test]
fn parallel_batches_equal_one_line_at_a_time() {
    let mut lines = bulk_lines(PARALLEL_MIN_LINES + 3 * 4096 + 17);
    assert!(lines.iter().all(|l| fast::examine_canonical(l).is_some()));
    lines[10] = lines[10].replace("\"iter\":11", "\"iter\":12");
    lines[4100] = "{not json".to_owned();
    lines[9000] = lines[9000].replace("0.08", "0.080");
    lines.remove(12000);
    lines.insert(5000, String::new());
    let mut data = lines.join("\n").into_bytes();
    data.extend_from_slice(b"\n\xff\xfe\n");
    // Every visitor kind (none, `Map`, an extractor reading views) sees the same lines as
    // the others, in order, and none changes the findings.
    let mut visited: Vec<Vec<(usize, Map<String, Value>)>> = Vec::new();
    for reader in [LineReader::Auto, LineReader::ValueOnly] {
        for kind in ["none", "map", "extract"] {
            let mut batched = Verifier::new(strict(), ChainState::default(), reader);
            let mut seen = Vec::new();
            let mut fold = |n: usize, m: &Map<String, Value>| seen.push((n, m.clone()));
            match kind {
                "map" => batched.feed_all(
                    &data,
                    Some(Scan {
                        extract: &ToMap,
                        fold: &mut fold,
                    }),
                ),
                "extract" => batched.feed_all(
                    &data,
                    Some(Scan {
                        extract: &ReadInPlace,
                        fold: &mut fold,
                    }),
                ),
                _ => batched.feed(&data),
            }
            let mut single = Verifier::new(strict(), ChainState::default(), reader);
            let mut want = Vec::new();
            let mut fold = |n: usize, m: &Map<String, Value>| want.push((n, m.clone()));
            for line in data.split_inclusive(|b| *b == b'\n') {
                match kind {
                    "none" => single.feed(line),
                    _ => single.feed_all(
                        line,
                        Some(Scan {
                            extract: &ToMap,
                            fold: &mut fold,
                        }),
                    ),
                }
            }
            let (batched, single) = (batched.finish().0, single.finish().0);
            assert_eq!(batched, single, "{reader:?} visitor={kind}");
            assert_eq!(seen, want, "{reader:?} visitor={kind}");
            assert_eq!(batched.errors.len(), 7, "{:?}", batched.errors);
            if kind != "none" {
                visited.push(seen);
            }
        }
    }
    assert!(visited.windows(2).all(|w| w[0] == w[1]));
    assert!(visited[0].len() > PARALLEL_MIN_LINES);
}

/// An extractor that reads each line where it is examined (the view of a canonical line).
struct ReadInPlace;

impl LineExtract for ReadInPlace {
    type Facts = Map<String, Value>;

    fn extract(&self, line: ObjRef<'_>) -> Map<String, Value> {
        line.to_map()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Changing any field of entry k (other than a no-op) makes verify report rev k first.
    #[test]
    fn any_edit_is_reported_at_its_rev(n in 2usize..7, k_seed in 0usize..100, field in 0usize..4) {
        let (_dir, path) = journal_with(n);
        let k = k_seed % n;
        let mut lines = read_lines(&path);
        match field {
            0 => lines[k]["payload"]["note"] = json!("x"),
            1 => lines[k]["ts_utc"] = json!("2026-01-01T00:00:01Z"),
            2 => lines[k]["actor"] = json!("mallory"),
            _ => lines[k]["extra"] = json!(1),
        }
        write_lines(&path, &lines);
        let report = verify_log(&path, &strict()).unwrap();
        prop_assert_eq!(report.first_bad.map(|b| b.rev), Some(Some(k as i64 + 1)));
    }

    /// Arbitrary bytes never panic the reader.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let report = verify_bytes(&data, &strict());
        prop_assert!(report.accepted <= report.lines);
    }
}
