//! validate tests: the B3 checklist of cli_contracts, read-only proof, and fuzzing.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::fixture::{CapsuleSpec, write_capsule};

fn opts() -> ValidateOptions {
    ValidateOptions {
        allow_partial: true,
        cwd: Some(PathBuf::from("/")),
        ..Default::default()
    }
}

fn strict() -> ValidateOptions {
    ValidateOptions {
        strict_governance: true,
        require_governance: true,
        strict_identity: true,
        ..opts()
    }
}

/// A 4-gate capsule whose governance records its absolute path (binds from any cwd).
fn capsule() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cap");
    write_capsule(
        &out,
        &CapsuleSpec::four_gate("run_a", out.to_str().unwrap()),
    )
    .unwrap();
    (dir, out)
}

fn edit(dir: &Path, name: &str, f: impl FnOnce(&mut Value)) {
    let path = dir.join(name);
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    crate::atomic::write_json_atomic(&path, &v).unwrap();
}

fn message(dir: &Path, o: &ValidateOptions) -> String {
    let r = validate_capsule(dir, o);
    assert_eq!(r.is_valid(), r.message == "OK", "{:?}", r.findings);
    r.message
}

#[test]
fn four_gate_fixture_is_valid_in_every_mode() {
    let (_t, out) = capsule();
    for o in [opts(), strict()] {
        let r = validate_capsule(&out, &o);
        assert!(r.is_valid(), "{:?}", r.findings);
        assert_eq!(
            r.window_signature_hash.as_deref(),
            Some("7f3bffa5e2f3ead1456ee1a5bf34f794a7e29b00651dc9070abfd59c8303f5fd")
        );
        assert!(!r.partial);
        assert_eq!(r.findings, vec![]);
    }
}

#[test]
fn missing_and_corrupt_files_name_the_file() {
    let (_t, out) = capsule();
    fs::remove_file(out.join("results.json")).unwrap();
    let o = ValidateOptions {
        allow_partial: false,
        ..opts()
    };
    assert_eq!(
        message(&out, &o),
        "Missing required artifacts: results.json"
    );
    // Partial allowed: results missing but summary not partial.
    assert_eq!(
        message(&out, &opts()),
        "results.json missing but results_summary.json is not marked partial=true"
    );
    fs::write(out.join("window_signature.json"), "{not json").unwrap();
    let m = message(&out, &opts());
    assert!(
        m.starts_with("JSON parse error in window_signature.json: Expecting property name"),
        "{m}"
    );
}

#[test]
fn window_signature_edits_are_hash_mismatches() {
    let (_t, out) = capsule();
    edit(&out, "window_signature.json", |v| v["extra"] = json!(1));
    let m = message(&out, &opts());
    assert!(
        m.starts_with("window_signature_ref.hash mismatch in results.json: 7f3bffa5"),
        "{m}"
    );
    edit(&out, "window_signature.json", |v| {
        v["created_ts_utc"] = json!({"x": 1})
    });
    assert_eq!(
        message(&out, &opts()),
        "window_signature.created_ts_utc must be ISO8601 UTC with trailing 'Z'"
    );
}

#[test]
fn identity_counts_and_marker_rules() {
    let (_t, out) = capsule();
    edit(&out, "results_summary.json", |v| {
        v["profile"]["gate_preset"] = json!("beta")
    });
    assert_eq!(
        message(&out, &opts()),
        "ERROR:ARTIFACT_IDENTITY_MISMATCH field=profile.gate_preset expected='beta' got='test'"
    );
    let soft = ValidateOptions {
        soften_identity: true,
        ..opts()
    };
    let r = validate_capsule(&out, &soft);
    assert!(r.is_valid() && r.partial);

    let (_t, out) = capsule();
    edit(&out, "results_summary.json", |v| {
        v["counts"] = json!({"evaluated": 4, "skip": 0, "pass": 2, "warn": 1, "fail": 1});
    });
    assert!(
        message(&out, &opts())
            .starts_with("summary counts mismatch results gates: summary={'evaluated': 4")
    );

    let (_t, out) = capsule();
    fs::remove_file(out.join("first_fail_iter.txt")).unwrap();
    assert_eq!(
        message(&out, &opts()),
        "counts.fail > 0 but first_fail_iter.txt is missing"
    );
    fs::write(out.join("first_fail_iter.txt"), "2").unwrap();
    assert_eq!(
        message(&out, &opts()),
        "first_fail_iter.txt must contain a non-negative integer with trailing newline"
    );
    fs::write(out.join("first_fail_iter.txt"), "02\r\n").unwrap();
    assert_eq!(message(&out, &opts()), "OK");
    fs::write(out.join("first_fail_iter.txt"), "3\n").unwrap();
    assert_eq!(
        message(&out, &opts()),
        "first_fail_iter.txt mismatch: marker=3 summary.first_fail_iter=2"
    );
}

#[test]
fn first_fail_at_iter_zero_is_valid() {
    // cli_contracts A17.2: the reference never validates this; we do.
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CapsuleSpec::four_gate("r0", dir.path().to_str().unwrap());
    spec.decisions = vec!["fail".into(), "pass".into()];
    write_capsule(dir.path(), &spec).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("first_fail_iter.txt")).unwrap(),
        "0\n"
    );
    assert_eq!(message(dir.path(), &strict()), "OK");
}

#[test]
fn partial_capsules() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CapsuleSpec::four_gate("rp", dir.path().to_str().unwrap());
    spec.partial = true;
    write_capsule(dir.path(), &spec).unwrap();
    let r = validate_capsule(dir.path(), &strict());
    assert!(r.is_valid() && r.partial, "{:?}", r.findings);
    assert_eq!(
        r.notes().next().map(|f| f.code.as_str()),
        Some("PARTIAL_CAPSULE")
    );
    fs::write(dir.path().join("first_fail_iter.txt"), "1\n").unwrap();
    assert_eq!(
        message(dir.path(), &opts()),
        "counts.fail == 0 but first_fail_iter.txt must be absent"
    );
    fs::remove_file(dir.path().join("first_fail_iter.txt")).unwrap();
    edit(dir.path(), "results_summary.json", |v| {
        v["counts"] = json!({"evaluated": 1, "skip": 0, "pass": 1, "warn": 0, "fail": 0});
        v["final_decision"] = json!("pass");
    });
    assert_eq!(
        message(dir.path(), &opts()),
        "results.json missing with partial=true requires neutral summary counts: counts={'evaluated': 1, 'skip': 0, 'pass': 1, 'warn': 0, 'fail': 0}"
    );
    let (_t, out) = capsule();
    edit(&out, "results_summary.json", |v| v["partial"] = json!(true));
    assert_eq!(
        message(&out, &opts()),
        "ERROR:FULL_CAPSULE_MARKED_PARTIAL results_summary.partial=true requires results.json to be absent"
    );
}

#[test]
fn governance_modes() {
    let (_t, out) = capsule();
    let log = out.join("governance_log.jsonl");
    let text = fs::read_to_string(&log)
        .unwrap()
        .replacen("evaluated_pass", "evaluated_PASS", 1);
    fs::write(&log, text).unwrap();
    let r = validate_capsule(&out, &opts());
    let msgs: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "WARNING:GOVERNANCE_LOG_HASH_MISMATCH line=2",
            "WARNING:GOVERNANCE_LOG_INVALID governance_log.jsonl invalid"
        ]
    );
    let s = ValidateOptions {
        strict_governance: true,
        ..opts()
    };
    let r = validate_capsule(&out, &s);
    let errs: Vec<&str> = r.errors().map(|f| f.message.as_str()).collect();
    assert_eq!(
        errs,
        vec![
            "governance_log.jsonl invalid",
            "WARNING:GOVERNANCE_LOG_HASH_MISMATCH line=2"
        ]
    );

    fs::remove_file(&log).unwrap();
    let r = validate_capsule(&out, &opts());
    assert_eq!(
        r.warnings().next().unwrap().message,
        "WARNING:GOVERNANCE_LOG_MISSING governance_log.jsonl not present"
    );
    assert_eq!(
        message(&out, &strict()),
        "Missing governance_log.jsonl for results.json"
    );
}

#[test]
fn strict_bindings() {
    let (_t, out) = capsule();
    let mut j = crate::governance::Journal::open(&out.join("governance_log.jsonl")).unwrap();
    let mut g = crate::fixture::gate_record(999, "pass");
    g["run_id"] = json!("run_a");
    g["outdir"] = json!(out.to_str().unwrap());
    j.append("gate_decision_v1", g, None, crate::fixture::FIXTURE_TS)
        .unwrap();
    let m = message(&out, &strict());
    assert!(
        m.starts_with(
            "ERROR:GOVERNANCE_RESULTS_DIVERGENCE results_only=[] governance_only=[(999, 'pass', '"
        ),
        "{m}"
    );

    // Recorded under another directory: outdir mismatch (and not bound) as warnings by default.
    let dir = tempfile::tempdir().unwrap();
    write_capsule(dir.path(), &CapsuleSpec::four_gate("r", "somewhere/else")).unwrap();
    let r = validate_capsule(dir.path(), &opts());
    let msgs: Vec<&str> = r.warnings().map(|f| f.message.as_str()).collect();
    assert!(
        msgs[0].starts_with("WARNING:GOVERNANCE_OUTDIR_MISMATCH expected='"),
        "{msgs:?}"
    );
    assert!(msgs[0].ends_with("observed=['somewhere/else']"));
    assert!(msgs[1].starts_with("WARNING:GOVERNANCE_NOT_BOUND_TO_WINDOW expected='7f3bffa5"));
    assert!(msgs[1].ends_with("observed=[]"));
    // A relative recorded outdir binds when it resolves against the cwd to this directory.
    let rel = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
    fs::remove_file(dir.path().join("governance_log.jsonl")).unwrap();
    write_capsule(dir.path(), &CapsuleSpec::four_gate("r", &rel)).unwrap();
    let from_parent = ValidateOptions {
        cwd: Some(dir.path().parent().unwrap().to_path_buf()),
        ..strict()
    };
    assert_eq!(message(dir.path(), &from_parent), "OK");
    assert!(message(dir.path(), &strict()).starts_with("ERROR:GOVERNANCE_OUTDIR_MISMATCH"));
}

#[test]
fn distributed_metadata_fails_loud() {
    let cases = [
        (
            json!({"world_size_observed": 2}),
            "ERROR:DISTRIBUTED_MODE_MISSING world_size_observed=2 requires distributed_mode",
        ),
        (
            json!({"world_size_observed": 2, "distributed_mode": "not_a_real_mode"}),
            "ERROR:DISTRIBUTED_MODE_INVALID distributed_mode='not_a_real_mode' allowed=['ddp_wrapped', 'replicated_single_chief_emit', 'single_process']",
        ),
        (
            json!({"rank": 0, "ddp_backend": "nccl"}),
            "ERROR:DISTRIBUTED_WORLD_SIZE_MISSING hints_present=['rank', 'ddp_backend'] distributed execution hints require world_size_observed",
        ),
        (
            json!({"world_size_observed": 2, "distributed_mode": "ddp_wrapped", "backend": "nccl", "rank": 0}),
            "OK",
        ),
        (
            json!({"world_size_observed": 2, "distributed_mode": "ddp_wrapped", "ddp_backend": "gloo", "rank_observed": 0, "local_rank_observed": 0, "ddp_active": true}),
            "OK",
        ),
    ];
    for (d, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = CapsuleSpec::four_gate("rd", dir.path().to_str().unwrap());
        spec.distributed = Some(d);
        write_capsule(dir.path(), &spec).unwrap();
        let r = validate_capsule(dir.path(), &strict());
        assert_eq!(r.message, expected);
        if expected == "OK" {
            assert!(r.warnings().any(|w| w.message.starts_with(
                "WARNING:DISTRIBUTED_EXECUTION_DETECTED mode=ddp_wrapped world_size=2"
            )));
        }
    }
}

#[test]
fn overrides_need_a_governance_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CapsuleSpec::four_gate("ro", dir.path().to_str().unwrap());
    spec.overrides = json!({"gate_window": 8}).as_object().unwrap().clone();
    write_capsule(dir.path(), &spec).unwrap();
    assert_eq!(message(dir.path(), &strict()), "OK");
    let log = dir.path().join("governance_log.jsonl");
    let lines: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines[1].contains("run_overrides_applied_v1"));
    // Rebuild the journal without the overrides entry.
    fs::remove_file(&log).unwrap();
    let mut j = crate::governance::Journal::open(&log).unwrap();
    for l in lines
        .iter()
        .filter(|l| !l.contains("run_overrides_applied_v1"))
    {
        let v: Value = serde_json::from_str(l).unwrap();
        j.append(
            v["event"].as_str().unwrap(),
            v["payload"].clone(),
            None,
            crate::fixture::FIXTURE_TS,
        )
        .unwrap();
    }
    let s = ValidateOptions {
        strict_governance: true,
        ..opts()
    };
    assert_eq!(
        message(dir.path(), &s),
        "Missing governance overrides entry for applied overrides"
    );
}

/// Every byte and mtime under the capsule is unchanged by validation.
#[test]
fn validation_is_read_only() {
    let (_t, out) = capsule();
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&out);
    for o in [
        opts(),
        strict(),
        ValidateOptions {
            allow_legacy_governance: true,
            ..strict()
        },
    ] {
        validate_capsule(&out, &o);
    }
    assert_eq!(before, snapshot(&out));
}

/// Corruptions applied to one artifact of a valid capsule.
#[derive(Debug, Clone)]
enum Corruption {
    Truncate(usize),
    FlipByte(usize, u8),
    Replace(&'static [u8]),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        (0usize..2000).prop_map(Corruption::Truncate),
        (0usize..2000, any::<u8>()).prop_map(|(i, b)| Corruption::FlipByte(i, b)),
        prop::sample::select(vec![
            &b""[..],
            b"\xff\xfe\x00",
            b"NaN",
            b"{\"schema_version\": NaN}",
            b"{\"schema_version\": 1e999}",
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            b"{\"gates\": 123456789012345678901234567890123456789}",
            b"{\"schema_version\":1,\"rev\":1}\n{\"a\":Infinity}\n",
        ])
        .prop_map(Corruption::Replace),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever is done to one artifact, validation returns findings and never panics;
    /// an invalid result always carries a non-empty message.
    #[test]
    fn corrupted_capsules_give_clean_findings(file in 0usize..6, c in corruption()) {
        let (_t, out) = capsule();
        let names = ["window_signature.json", "results.json", "results_summary.json", "governance_log.jsonl", "first_fail_iter.txt", "manual_judgement.json"];
        let path = out.join(names[file]);
        let mut bytes = fs::read(&path).unwrap_or_default();
        match c {
            Corruption::Truncate(n) => bytes.truncate(n % (bytes.len() + 1)),
            Corruption::FlipByte(i, b) => if !bytes.is_empty() { let k = i % bytes.len(); bytes[k] ^= b | 1; },
            Corruption::Replace(new) => bytes = new.to_vec(),
        }
        fs::write(&path, &bytes).unwrap();
        for o in [opts(), strict()] {
            let r = validate_capsule(&out, &o);
            prop_assert!(r.is_valid() || !r.message.is_empty());
            prop_assert!(r.is_valid() == (r.message == "OK"));
        }
    }
}
