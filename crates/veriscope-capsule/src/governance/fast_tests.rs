//! The canonical fast path (`fast.rs`) against the `Value` path (`verify::value_line`), line
//! by line: whenever the fast path answers, the `Value` path must accept the line with the
//! very same facts (rev, event, payload problems, timestamp, dual flag, prev/recorded/
//! computed hashes). Whole-journal comparisons live in `tests/governance_fast_path.rs`.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Value, json};

use super::fast::examine_canonical;
use super::verify::{Entry, ParsedLine, value_line};
use super::*;

/// The `Value` path's verdict on a line, as an accepted entry if it is one.
fn value_entry(text: &str) -> Option<Entry> {
    match value_line(text) {
        ParsedLine::Object { entry: Ok(e), .. } => Some(e),
        _ => None,
    }
}

/// The fast path may only answer what the `Value` path answers.
fn assert_agree(text: &str) -> Option<Entry> {
    let fast = examine_canonical(text);
    if let Some(fast) = &fast {
        let slow = value_entry(text);
        assert_eq!(slow.as_ref(), Some(fast), "fast path disagrees on {text:?}");
    }
    fast
}

/// A writer-shaped gate decision entry (what `Journal::append` writes).
fn gate_entry() -> Value {
    json!({
        "actor": null,
        "entry_hash": "ab".repeat(32),
        "event": "gate_decision_v1",
        "payload": {"audit": {"eps_eff": 0.08, "evaluated": true, "evidence_total": 16, "min_evidence": 16,
                               "per_metric_tv": {"var_out_k": 0.08}, "policy": "test", "reason": "evaluated_pass",
                               "worst_DW": 0.08},
                    "decision": "pass", "iter": 7, "ok": true, "outdir": "o", "run_id": "r", "warn": false},
        "prev_hash": "cd".repeat(32),
        "rev": 2,
        "schema_version": 1,
        "ts_utc": "2026-01-01T00:00:00Z"
    })
}

fn canon(v: &Value) -> String {
    veriscope_canon::to_canonical_string(v).unwrap()
}

fn with(mut v: Value, pointer: &str, x: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let obj = v.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match x {
        Some(x) => obj.insert(key.to_owned(), x),
        None => obj.remove(key),
    };
    v
}

#[test]
fn writer_lines_take_the_fast_path_with_the_value_paths_facts() {
    let text = canon(&gate_entry());
    let e = assert_agree(&text).expect("a writer's gate line is fast");
    assert_eq!((e.rev, e.event.as_str()), (2, "gate_decision_v1"));
    assert_eq!(e.recorded.as_deref(), Some("ab".repeat(32).as_str()));
    for event in MANUAL_EVENTS.iter().chain(&["capsule_opened_v1"]) {
        let v = with(gate_entry(), "/event", Some(json!(event)));
        assert!(assert_agree(&canon(&v)).is_some(), "{event}");
    }
    // run_started / overrides entries are left to the Value path (one or two per run).
    let v = with(gate_entry(), "/event", Some(json!("run_started_v1")));
    assert!(examine_canonical(&canon(&v)).is_none());
}

#[test]
fn hash_covers_the_line_without_entry_hash_and_line_no() {
    // entry_hash is the second member of a writer's line; line_no (never written, but
    // excluded from the hash by the reference) lands between `event` and `payload`.
    for (pointer, value) in [
        ("/line_no", Some(json!(3))),
        ("/entry_hash", None),
        ("/entry_hash", Some(Value::Null)),
        ("/actor", None),
        ("/aaa_first", Some(json!("x"))),
        ("/zzz_last", Some(json!([1, {"entry_hash": 2}]))),
        ("/event_type", Some(json!("artifact_note"))),
    ] {
        let v = with(gate_entry(), pointer, value.clone());
        let text = canon(&v);
        let e = assert_agree(&text).unwrap_or_else(|| panic!("{pointer} {value:?}: {text}"));
        let mut map = v.as_object().unwrap().clone();
        map.remove("entry_hash");
        map.remove("line_no");
        assert_eq!(
            e.computed,
            veriscope_canon::sha256_hex(&Value::Object(map)).unwrap()
        );
    }
    // entry_hash as the only member besides the others dropped, first and last.
    let v = json!({"entry_hash": "x", "event": "artifact_note", "payload": {}, "rev": 1,
                   "schema_version": 1, "ts_utc": "2026-01-01T00:00:00Z"});
    assert!(assert_agree(&canon(&v)).is_some());
    let v = with(v, "/zz", Some(json!(1)));
    let v = with(v, "/entry_hash", None);
    let v = with(v, "/zzzz_entry", Some(json!(1)));
    assert!(assert_agree(&canon(&v)).is_some());
}

#[test]
fn awkward_values_agree_or_fall_back() {
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("/payload/outdir", Some(json!("o\u{2028}p\u{85}"))),
        ("/payload/outdir", Some(json!("😀 non-BMP"))),
        (
            "/payload/outdir",
            Some(json!("quote\" back\\ nl\n ctl\u{1} del\u{7f}")),
        ),
        ("/payload/outdir", Some(json!("  "))),
        ("/payload/outdir", Some(json!("\u{1c}"))),
        ("/payload/run_id", Some(json!(5))),
        ("/payload/run_id", None),
        ("/payload/iter", Some(json!(1.0))),
        (
            "/payload/iter",
            Some(serde_json::from_str("123456789012345678901234567890").unwrap()),
        ),
        ("/payload/iter", Some(json!(-3))),
        ("/payload/decision", Some(json!(" PASS "))),
        ("/payload/decision", Some(json!("skip"))),
        ("/payload/ok", Some(json!(1))),
        ("/payload/warn", Some(Value::Null)),
        ("/payload/audit/evaluated", Some(json!(1))),
        ("/payload/audit/evaluated", Some(json!("yes"))),
        ("/payload/audit/evaluated", Some(json!(2))),
        (
            "/payload/audit/worst_DW",
            Some(serde_json::from_str("1e-05").unwrap()),
        ),
        (
            "/payload/audit/worst_DW",
            Some(serde_json::from_str("1e+16").unwrap()),
        ),
        (
            "/payload/audit/worst_DW",
            Some(serde_json::from_str("-0.0").unwrap()),
        ),
        ("/payload/audit/worst_DW", Some(json!(-0.5))),
        ("/payload/audit/worst_DW", Some(json!("0.5"))),
        (
            "/payload/audit/worst_DW",
            Some(serde_json::from_str("123456789012345678901234567890").unwrap()),
        ),
        ("/payload/audit/eps_eff", Some(Value::Null)),
        ("/payload/audit/per_metric_tv", Some(json!({"a": -1}))),
        (
            "/payload/audit/per_metric_tv",
            Some(json!({"a": 0, "b": 2.5e-7})),
        ),
        ("/payload/audit/per_metric_tv", Some(json!([]))),
        ("/payload/audit/per_metric_tv", None),
        ("/payload/audit/evidence_total", Some(json!(-1))),
        ("/payload/audit/evidence_total", Some(json!(16.0))),
        (
            "/payload/audit/evidence_total",
            Some(serde_json::from_str("123456789012345678901234567890").unwrap()),
        ),
        ("/payload/audit/min_evidence", None),
        ("/payload/audit/reason", Some(json!(""))),
        ("/payload/audit/policy", Some(Value::Null)),
        ("/payload/audit/ddp_agg", Some(json!(3))),
        ("/payload/audit/ddp_agg", Some(json!("mean"))),
        ("/schema_version", Some(json!(2))),
        ("/schema_version", Some(json!("1"))),
        ("/schema_version", Some(json!(1.0))),
        ("/rev", Some(json!("2"))),
        ("/rev", Some(json!(-4))),
        (
            "/rev",
            Some(serde_json::from_str("99999999999999999999").unwrap()),
        ),
        ("/event", Some(json!("bogus"))),
        ("/event", Some(json!(""))),
        ("/event", None),
        ("/ts_utc", Some(json!("2026-01-01T00:00:00+02:00"))),
        ("/ts_utc", Some(json!("2026-01-01 00:00:00"))),
        ("/ts_utc", Some(json!("nope"))),
        ("/ts_utc", Some(json!(""))),
        ("/actor", Some(json!(3))),
        ("/actor", Some(json!("é\u{2029}"))),
        ("/prev_hash", Some(json!(["x"]))),
        ("/prev_hash", Some(json!("with\"quote"))),
        ("/entry_hash", Some(json!(7))),
        ("/entry_hash", Some(json!("esc\\aped"))),
        ("/payload", Some(json!([]))),
    ];
    let mut fast = 0;
    for (pointer, value) in cases {
        let v = with(gate_entry(), pointer, value);
        let text = canon(&v);
        fast += usize::from(assert_agree(&text).is_some());
    }
    // Both directions are exercised: some of these stay fast, most fall back.
    assert!((10..40).contains(&fast), "{fast}");
}

#[test]
fn non_canonical_spellings_fall_back() {
    let good = canon(&gate_entry());
    let mut variants = vec![
        good.replacen("\"rev\":2", "\"rev\": 2", 1),
        good.replacen("0.08", "0.080", 1),
        good.replacen("0.08", "8e-2", 1),
        good.replacen("\"iter\":7", "\"iter\":7,\"iter\":7", 1),
        format!("{good} "),
        format!(" {good}"),
        format!("{good}\r"),
        good.replacen("\"r\"", "\"\\u0072\"", 1),
        good.replacen("\"o\"", "\"\\/\"", 1),
        good.replacen("{\"actor\":null,", "{", 1) + "",
        "NaN".to_owned(),
        good.replacen("0.08", "NaN", 1),
        good.replacen("0.08", "1e400", 1),
        good.replacen("\"rev\":2", "\"rev\":-0", 1),
        String::new(),
        "   ".to_owned(),
        "[]".to_owned(),
        "{}".to_owned(),
    ];
    // Key order: move `actor` to the end.
    variants.push(
        good.replacen("{\"actor\":null,", "{", 1)
            .replacen("}\n", "", 1)
            .trim_end_matches('}')
            .to_owned()
            + ",\"actor\":null}",
    );
    for text in &variants {
        let fast = assert_agree(text);
        let reparsed = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| veriscope_canon::to_canonical_string(&v).ok());
        if reparsed.as_deref() != Some(text.as_str()) {
            assert!(
                fast.is_none(),
                "non-canonical text took the fast path: {text:?}"
            );
        }
    }
}

// ------------------------------------------------------------------ property test

/// The first option (a writer's value) nine times in ten, else any of them: most cases
/// then differ from a writer's line in one or two places.
fn pick(options: Vec<Option<Value>>) -> impl Strategy<Value = Option<Value>> {
    let good = options[0].clone();
    prop_oneof![9 => Just(good), 1 => prop::sample::select(options)]
}

fn num(token: &str) -> Value {
    serde_json::from_str(token).unwrap()
}

fn float_tokens() -> Vec<Option<Value>> {
    [
        "0.08",
        "0.0",
        "-0.0",
        "1e-05",
        "1e-5",
        "1E-5",
        "1e+16",
        "1e16",
        "100.0",
        "1e2",
        "0.10",
        "-0.5",
        "0",
        "16",
        "-1",
        "123456789012345678901234567890",
        "2.5e-07",
    ]
    .iter()
    .map(|t| Some(num(t)))
    .chain([None, Some(Value::Null), Some(json!("0.5"))])
    .collect()
}

fn strings() -> Vec<Option<Value>> {
    [
        "r",
        "o",
        " ",
        "",
        "\u{2028}x",
        "é😀",
        "a\"b\\c\nd\u{1}\u{7f}",
        "\u{1c}",
        " PASS ",
    ]
    .iter()
    .map(|s| Some(json!(s)))
    .chain([None, Some(Value::Null), Some(json!(5))])
    .collect()
}

fn audit() -> impl Strategy<Value = Option<Value>> {
    let fields = (
        pick(vec![
            Some(json!(true)),
            Some(json!(false)),
            Some(json!(0)),
            Some(json!(1)),
            Some(json!("yes")),
            None,
            Some(json!(2)),
        ]),
        pick(strings()),
        pick(strings()),
        pick(float_tokens()),
        pick(float_tokens()),
        pick(vec![
            Some(json!({})),
            Some(json!({"a": 0.1, "b": 0})),
            Some(json!({"a": -1})),
            Some(json!({"a": "x"})),
            Some(json!([])),
            None,
            Some(Value::Null),
        ]),
        pick(vec![
            Some(json!(16)),
            Some(json!(0)),
            Some(json!(-1)),
            Some(json!(1.0)),
            Some(json!("16")),
            Some(num("123456789012345678901234567890")),
            None,
            Some(Value::Null),
        ]),
        pick(vec![Some(json!(16)), Some(json!(0)), None]),
        pick(vec![None, Some(json!("mean")), Some(json!(3))]),
    );
    prop_oneof![
        9 => fields.prop_map(|(ev, reason, policy, wdw, eps, tv, et, me, ddp)| {
            let mut a = Map::new();
            for (k, v) in [("evaluated", ev), ("reason", reason), ("policy", policy), ("worst_DW", wdw),
                           ("eps_eff", eps), ("per_metric_tv", tv), ("evidence_total", et),
                           ("min_evidence", me), ("ddp_agg", ddp)] {
                if let Some(v) = v {
                    a.insert(k.to_owned(), v);
                }
            }
            Some(Value::Object(a))
        }),
        1 => pick(vec![None, Some(json!([])), Some(Value::Null)]),
    ]
}

fn entry() -> impl Strategy<Value = Value> {
    let payload = (
        pick(strings()),
        pick(strings()),
        pick(vec![
            Some(json!(7)),
            Some(json!(1.0)),
            Some(json!("1")),
            Some(json!(true)),
            Some(num("123456789012345678901234567890")),
            None,
        ]),
        pick(vec![
            Some(json!("pass")),
            Some(json!("warn")),
            Some(json!("fail")),
            Some(json!("skip")),
            Some(json!(" PASS ")),
            Some(json!("bogus")),
            None,
        ]),
        audit(),
        pick(vec![
            Some(json!(true)),
            Some(json!(false)),
            Some(Value::Null),
            Some(json!(1)),
            None,
        ]),
        pick(vec![
            Some(json!(true)),
            Some(json!(false)),
            Some(json!("true")),
            None,
        ]),
    );
    let top = (
        pick(vec![
            Some(json!(1)),
            Some(json!(1)),
            Some(json!(2)),
            Some(json!("1")),
            Some(json!(1.0)),
            Some(json!(true)),
            None,
        ]),
        pick(vec![
            Some(json!(3)),
            Some(json!(-1)),
            Some(json!("3")),
            Some(json!(2.5)),
            Some(num("99999999999999999999")),
            None,
        ]),
        pick(vec![
            Some(json!("gate_decision_v1")),
            Some(json!("gate_decision_v1")),
            Some(json!("artifact_note")),
            Some(json!("run_started_v1")),
            Some(json!("bogus")),
            Some(json!("")),
            Some(Value::Null),
            None,
        ]),
        pick(vec![None, None, None, Some(json!("artifact_note"))]),
        pick(vec![
            Some(json!("2026-01-01T00:00:00Z")),
            Some(json!("2026-01-01T00:00:00+00:00")),
            Some(json!("bad")),
            Some(json!(5)),
            None,
        ]),
        pick(vec![
            Some(Value::Null),
            Some(json!("x")),
            Some(json!(5)),
            None,
        ]),
        pick(vec![
            Some(Value::Null),
            Some(json!("ab".repeat(32))),
            Some(json!(5)),
            Some(json!("q\"")),
            None,
        ]),
        pick(vec![
            Some(json!("cd".repeat(32))),
            Some(Value::Null),
            None,
            Some(json!(7)),
            Some(json!("e\\")),
        ]),
        pick(vec![None, None, Some(json!(3))]),
        pick(vec![None, None, Some(json!({"z": [1e-5, "x"]}))]),
    );
    (payload, top, any::<bool>()).prop_map(
        |(
            (run_id, outdir, iter, decision, audit, ok, warn),
            (sv, rev, event, event_type, ts, actor, prev, eh, line_no, extra),
            payload_is_object,
        )| {
            let mut p = Map::new();
            for (k, v) in [
                ("run_id", run_id),
                ("outdir", outdir),
                ("iter", iter),
                ("decision", decision),
                ("audit", audit),
                ("ok", ok),
                ("warn", warn),
            ] {
                if let Some(v) = v {
                    p.insert(k.to_owned(), v);
                }
            }
            let mut e = Map::new();
            let payload = if payload_is_object {
                Some(Value::Object(p))
            } else {
                Some(json!("p"))
            };
            for (k, v) in [
                ("schema_version", sv),
                ("rev", rev),
                ("event", event),
                ("event_type", event_type),
                ("ts_utc", ts),
                ("actor", actor),
                ("prev_hash", prev),
                ("entry_hash", eh),
                ("line_no", line_no),
                ("zz_extra", extra),
                ("payload", payload),
            ] {
                if let Some(v) = v {
                    e.insert(k.to_owned(), v);
                }
            }
            Value::Object(e)
        },
    )
}

/// Text variants of an entry: canonical, serde_json's compact text (differs in number
/// spellings), and small textual edits of the canonical text.
fn texts(v: &Value, edit_at: usize, edit: u8) -> Vec<String> {
    let mut out = vec![serde_json::to_string(v).unwrap()];
    if let Ok(c) = veriscope_canon::to_canonical_string(v) {
        let chars: Vec<char> = c.chars().collect();
        let at = edit_at % (chars.len() + 1);
        let mut edited = chars.clone();
        match edit % 4 {
            0 => edited.insert(at, ' '),
            1 if at < edited.len() => {
                edited.remove(at);
            }
            2 if at + 1 < edited.len() => edited.swap(at, at + 1),
            _ => edited.insert(at, ','),
        }
        out.push(edited.into_iter().collect());
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whenever the fast path answers, it answers exactly what the Value path answers.
    #[test]
    fn fast_path_agrees_with_the_value_path(v in entry(), edit_at in any::<usize>(), edit in any::<u8>()) {
        for text in texts(&v, edit_at, edit) {
            assert_agree(&text);
        }
    }
}

/// Not every proptest case can take the fast path; make sure the generator reaches it often
/// enough that the property above tests something.
#[test]
fn the_property_generator_reaches_the_fast_path() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = entry();
    let (mut fast, mut total) = (0, 0);
    for _ in 0..3000 {
        let v = strategy.new_tree(&mut runner).unwrap().current();
        if let Ok(text) = veriscope_canon::to_canonical_string(&v) {
            total += 1;
            fast += usize::from(assert_agree(&text).is_some());
        }
    }
    assert!(fast * 10 >= total, "fast path taken {fast} of {total}");
}
