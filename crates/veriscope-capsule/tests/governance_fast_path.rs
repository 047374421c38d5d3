//! Journal verification through the canonical fast path (`LineReader::Auto`) must report
//! exactly what the `Value` reader (`LineReader::ValueOnly`) reports: same warnings, errors,
//! first bad line, chain position, counts, and the same visitor calls. Journals come from
//! the real writers (`Journal::append` and the fixture's bulk writer), then are damaged the
//! ways files get damaged: edited values (re-rendered canonically, so only hashes break),
//! non-canonical spellings, reordered keys, whitespace, removed/duplicated/swapped lines,
//! `line_no` members, truncation, invalid UTF-8, CRLF.

use serde_json::{Map, Value};
use veriscope_capsule::fixture::{CapsuleSpec, ManualJudgementSpec, write_capsule};
use veriscope_capsule::governance::{
    LineReader, LogReport, VerifyOptions, verify_bytes_via, verify_log_via,
};

/// xorshift64*: deterministic damage, reproducible from the seed in a failure message.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs both readers (with and without a visitor) and requires identical results.
fn assert_same(data: &[u8], context: &str) -> LogReport {
    for allow_legacy in [false, true] {
        let opts = VerifyOptions { allow_legacy };
        let fast = verify_bytes_via(data, &opts, LineReader::Auto, None);
        let slow = verify_bytes_via(data, &opts, LineReader::ValueOnly, None);
        assert_eq!(fast, slow, "{context} (allow_legacy={allow_legacy})");
        let mut seen_fast: Vec<(usize, Map<String, Value>)> = Vec::new();
        let mut seen_slow: Vec<(usize, Map<String, Value>)> = Vec::new();
        let with_fast = verify_bytes_via(
            data,
            &opts,
            LineReader::Auto,
            Some(&mut |n, m| seen_fast.push((n, m.clone()))),
        );
        let with_slow = verify_bytes_via(
            data,
            &opts,
            LineReader::ValueOnly,
            Some(&mut |n, m| seen_slow.push((n, m.clone()))),
        );
        assert_eq!(with_fast, slow, "{context}: visitor changed the report");
        assert_eq!(with_slow, slow, "{context}: visitor changed the report");
        assert_eq!(seen_fast, seen_slow, "{context}: visitor calls differ");
    }
    verify_bytes_via(data, &VerifyOptions::default(), LineReader::Auto, None)
}

/// Journals as the writers produce them: per-entry `Journal::append` (with a manual
/// judgement and overrides) and the bulk writer of the 100k benchmark.
fn writer_journals() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let decisions = [
        "skip", "pass", "pass", "warn", "fail", "pass", "skip", "pass",
    ];
    for (name, bulk) in [("appended", false), ("bulk", true)] {
        let mut spec = CapsuleSpec::gpt_run("run_fast", &decisions);
        spec.bulk_journal = bulk;
        spec.manual_judgement = Some(ManualJudgementSpec {
            status: "pass".to_owned(),
            reason: "reviewed \u{2028} é 😀 \"quoted\"".to_owned(),
            reviewer: Some("rév".to_owned()),
            ts_utc: "2026-01-15T11:00:00Z".to_owned(),
        });
        spec.overrides
            .insert("gate_epsilon".to_owned(), serde_json::json!(0.25));
        let cap = dir.path().join(name);
        write_capsule(&cap, &spec).unwrap();
        out.push((
            name.to_owned(),
            std::fs::read(cap.join("governance_log.jsonl")).unwrap(),
        ));
    }
    out
}

fn lines_of(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// Some JSON pointer inside `v` (objects only), chosen at random.
fn random_pointer(v: &Value, rng: &mut Rng) -> Option<String> {
    let mut pointer = String::new();
    let mut cur = v;
    loop {
        let Value::Object(m) = cur else {
            return (!pointer.is_empty()).then_some(pointer);
        };
        if m.is_empty() || (!pointer.is_empty() && rng.below(3) == 0) {
            return (!pointer.is_empty()).then_some(pointer);
        }
        let (k, next) = m.iter().nth(rng.below(m.len())).unwrap();
        pointer.push('/');
        pointer.push_str(k);
        cur = next;
    }
}

/// A replacement value: the awkward ones the fast path must either judge right or leave.
fn random_value(rng: &mut Rng) -> Value {
    let tokens = [
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "2",
        "16",
        "0.08",
        "-0.0",
        "1e-05",
        "1e+16",
        "1.0",
        "123456789012345678901234567890",
        "\"\"",
        "\"  \"",
        "\"pass\"",
        "\"skip\"",
        "\"PASS\"",
        "\"x\\u2028y\"",
        "\"😀\"",
        "\"a\\\"b\"",
        "[]",
        "{}",
        "{\"a\":-1}",
        "\"2026-01-01T00:00:00Z\"",
        "\"bad\"",
    ];
    serde_json::from_str(tokens[rng.below(tokens.len())]).unwrap()
}

/// One random damage to the journal's lines.
fn damage(lines: &mut Vec<Vec<u8>>, rng: &mut Rng) -> &'static str {
    let i = rng.below(lines.len());
    let text = String::from_utf8_lossy(&lines[i]).into_owned();
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    match rng.below(14) {
        0..=2 => {
            // Edit a value and re-render canonically: still canonical, hashes break.
            let Some(mut v) = parsed else { return "skip" };
            let Some(p) = random_pointer(&v, rng) else {
                return "skip";
            };
            *v.pointer_mut(&p).unwrap() = random_value(rng);
            if let Ok(t) = veriscope_canon::to_canonical_string(&v) {
                lines[i] = t.into_bytes();
            }
            "edit value"
        }
        3 => {
            // Remove a member and re-render.
            let Some(mut v) = parsed else { return "skip" };
            let Some(p) = random_pointer(&v, rng) else {
                return "skip";
            };
            let (parent, key) = p.rsplit_once('/').unwrap();
            let target = if parent.is_empty() {
                Some(&mut v)
            } else {
                v.pointer_mut(parent)
            };
            if let Some(Value::Object(m)) = target {
                m.remove(key);
            }
            lines[i] = veriscope_canon::to_canonical_string(&v)
                .unwrap()
                .into_bytes();
            "remove member"
        }
        4 => {
            // A non-canonical spelling of the same content.
            let from = ["0.08", "true", ":null", "\"rev\":"];
            let to = ["8e-2", "true ", ": null", "\"rev\": "];
            let k = rng.below(from.len());
            lines[i] = text.replacen(from[k], to[k], 1).into_bytes();
            "respell"
        }
        5 => {
            // `line_no` member (excluded from the hash), canonical or not.
            let Some(Value::Object(mut m)) = parsed else {
                return "skip";
            };
            m.insert("line_no".to_owned(), Value::from(i + 1));
            lines[i] = veriscope_canon::to_canonical_string(&Value::Object(m))
                .unwrap()
                .into_bytes();
            "line_no"
        }
        6 => {
            // Keys out of order: entry_hash moved to the end.
            let Some(Value::Object(m)) = parsed else {
                return "skip";
            };
            let mut parts: Vec<String> = m
                .iter()
                .filter(|(k, _)| *k != "entry_hash")
                .map(|(k, x)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        veriscope_canon::to_canonical_string(x).unwrap()
                    )
                })
                .collect();
            if let Some(h) = m.get("entry_hash") {
                parts.push(format!("\"entry_hash\":{h}"));
            }
            lines[i] = format!("{{{}}}", parts.join(",")).into_bytes();
            "reorder"
        }
        7 => {
            lines.remove(i);
            "delete line"
        }
        8 => {
            let l = lines[i].clone();
            lines.insert(i, l);
            "duplicate line"
        }
        9 => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
            "swap lines"
        }
        10 => {
            let cut = rng.below(lines[i].len());
            lines[i].truncate(cut);
            "truncate"
        }
        11 => {
            let at = rng.below(lines[i].len());
            lines[i].insert(at, 0xff);
            "invalid utf-8"
        }
        12 => {
            lines[i].push(b'\r');
            "crlf"
        }
        _ => {
            lines.insert(i, b"   ".to_vec());
            "blank line"
        }
    }
}

#[test]
fn writer_journals_verify_identically_and_valid() {
    for (name, data) in writer_journals() {
        let report = assert_same(&data, &name);
        assert!(report.is_valid(), "{name}: {:?}", report.warnings);
        assert!(report.accepted >= 10, "{name}");
    }
}

#[test]
fn damaged_journals_verify_identically() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut invalid = 0;
    for (name, data) in writer_journals() {
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut lines = lines_of(&data);
            let mut what = Vec::new();
            for _ in 0..1 + rng.below(3) {
                if lines.is_empty() {
                    break;
                }
                what.push(damage(&mut lines, &mut rng));
            }
            kinds.extend(what.iter().copied());
            let mut bytes = join(&lines);
            if seed % 7 == 0 {
                bytes.pop(); // no trailing newline
            }
            let report = assert_same(&bytes, &format!("{name} seed {seed}: {what:?}"));
            invalid += usize::from(!report.is_valid());
        }
    }
    kinds.remove("skip");
    assert_eq!(kinds.len(), 12, "damage kinds exercised: {kinds:?}");
    assert!(invalid > 300, "most damage must be detected: {invalid}");
}

#[test]
fn file_reader_equals_in_memory_reader() {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in writer_journals() {
        let mut lines = lines_of(&data);
        let mut rng = Rng(7);
        damage(&mut lines, &mut rng);
        for bytes in [data.clone(), join(&lines)] {
            let path = dir.path().join(format!("{name}.jsonl"));
            std::fs::write(&path, &bytes).unwrap();
            for reader in [LineReader::Auto, LineReader::ValueOnly] {
                let from_file =
                    verify_log_via(&path, &VerifyOptions::default(), reader, None).unwrap();
                assert_eq!(
                    from_file,
                    verify_bytes_via(&bytes, &VerifyOptions::default(), reader, None),
                    "{name}"
                );
            }
        }
    }
}
