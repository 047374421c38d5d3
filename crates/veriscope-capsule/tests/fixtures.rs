//! The committed golden capsules under `fixtures/capsules/` and their generator.
//!
//! `fixtures_match_generator` rebuilds every fixture in a temp dir and requires the
//! committed files to be byte-identical, so hashes are never hand-edited. Regenerate with
//! `VERISCOPE_BLESS=1 cargo test -p veriscope-capsule --test fixtures fixtures_match_generator`.
//! `every_fixture_has_its_verdict` checks that each valid fixture validates and each
//! `invalid/<CODE>/` fixture fails with that code under its mode (see MODES.txt there).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use veriscope_capsule::atomic::write_json_atomic;
use veriscope_capsule::fixture::{
    CapsuleSpec, FIXTURE_TS, ManualJudgementSpec, RunConfigSpec, gate_record, write_capsule,
};
use veriscope_capsule::governance::Journal;
use veriscope_capsule::validate::{Severity, ValidateOptions, validate_capsule};

/// Validation mode an invalid fixture is designed for.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Default,
    StrictGovernance,
    Strict,
}

impl Mode {
    fn flags(self) -> &'static str {
        match self {
            Mode::Default => "",
            Mode::StrictGovernance => "--strict-governance",
            Mode::Strict => "--strict-governance --require-governance --strict-identity",
        }
    }

    fn options(self, repo: &Path) -> ValidateOptions {
        let strict = matches!(self, Mode::Strict);
        ValidateOptions {
            strict_governance: !matches!(self, Mode::Default),
            require_governance: strict,
            strict_identity: strict,
            allow_partial: true,
            cwd: Some(repo.to_path_buf()),
            ..Default::default()
        }
    }
}

type Build = fn(&Path, &str);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn edit(dir: &Path, name: &str, f: impl FnOnce(&mut Value)) {
    let path = dir.join(name);
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    write_json_atomic(&path, &v).unwrap();
}

fn base(dir: &Path, rec: &str) {
    write_capsule(dir, &CapsuleSpec::four_gate("run_a", rec)).unwrap();
}

fn partial(dir: &Path, rec: &str) {
    let mut spec = CapsuleSpec::four_gate("run_partial", rec);
    spec.partial = true;
    write_capsule(dir, &spec).unwrap();
}

fn distributed(dir: &Path, rec: &str, d: Value) {
    let mut spec = CapsuleSpec::four_gate("run_ddp", rec);
    spec.distributed = Some(d);
    write_capsule(dir, &spec).unwrap();
}

/// Rewrites the journal keeping only entries for which `keep` holds (chain recomputed).
fn rewrite_journal(dir: &Path, keep: impl Fn(&Value) -> bool, extra: &[(&str, Value)]) {
    let log = dir.join("governance_log.jsonl");
    let lines: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    fs::remove_file(&log).unwrap();
    let mut j = Journal::open(&log).unwrap();
    for l in lines.iter().filter(|l| keep(l)) {
        j.append(
            l["event"].as_str().unwrap(),
            l["payload"].clone(),
            l["actor"].as_str(),
            l["ts_utc"].as_str().unwrap(),
        )
        .unwrap();
    }
    for (event, payload) in extra {
        j.append(event, payload.clone(), None, FIXTURE_TS).unwrap();
    }
}

fn gate_payload(rec: &str, iter: u64, decision: &str) -> Value {
    let mut g = gate_record(iter, decision);
    g["run_id"] = json!("run_a");
    g["outdir"] = json!(rec);
    g
}

fn valid_cases() -> Vec<(&'static str, Build)> {
    vec![
        ("four_gate", base),
        ("partial", partial),
        ("override_overlay", |d, rec| {
            let mut spec = CapsuleSpec::four_gate("run_a", rec);
            spec.manual_judgement = Some(ManualJudgementSpec {
                status: "pass".into(),
                reason: "known false positive".into(),
                reviewer: Some("alice".into()),
                ts_utc: "2026-01-02T03:04:05Z".into(),
            });
            write_capsule(d, &spec).unwrap();
        }),
        ("failing_run", |d, rec| {
            // A wrapper-shaped gpt run that fails after a recorded injection: run config
            // (forwarded --max-iters, timing), metric series with step_time, scored audits.
            let mut spec = CapsuleSpec::gpt_run(
                "run_fail",
                &["skip", "pass", "pass", "warn", "fail", "fail"],
            );
            spec.recorded_outdir = Some(rec.to_owned());
            spec.injection = Some((240, 100));
            spec.metrics = true;
            spec.step_time_s = Some(0.25);
            spec.run_config = Some(RunConfigSpec {
                forwarded_args: Some(vec![
                    "--max-iters".into(),
                    "2000".into(),
                    "--seed".into(),
                    "7".into(),
                ]),
                timing: Some((103.1, 100.0)),
                ..RunConfigSpec::new("gpt")
            });
            write_capsule(d, &spec).unwrap();
        }),
        ("distributed_ddp", |d, rec| {
            distributed(
                d,
                rec,
                json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 2, "backend": "nccl",
                                      "rank": 0, "local_rank": 0, "ddp_wrapped": true}),
            )
        }),
        ("overrides_applied", |d, rec| {
            let mut spec = CapsuleSpec::four_gate("run_ovr", rec);
            spec.overrides = json!({"gate_window": 8}).as_object().unwrap().clone();
            write_capsule(d, &spec).unwrap();
        }),
        ("reviewer_packet_run_a", |d, rec| {
            // The reference's reviewer packet shape: gpt wrapper placeholder window signature
            // (hash 0b77e84a…), no gates, preset fake_runner, one run_started_v1.
            let mut spec = CapsuleSpec::four_gate("3179293c5c9c", rec);
            spec.gate_preset = "fake_runner".into();
            spec.decisions = vec![];
            spec.window_signature = json!({"placeholder": true, "reason": "wrapper_start", "run_kind": "gpt", "schema_version": 1});
            write_capsule(d, &spec).unwrap();
            for name in ["results.json", "results_summary.json"] {
                edit(d, name, |v| {
                    v["started_ts_utc"] = json!("2026-02-10T18:41:27Z");
                    v["ended_ts_utc"] = json!("2026-02-10T18:41:27Z");
                });
            }
            let rc = json!({"schema_version": 1, "ts_utc": "2026-02-10T18:41:27Z", "package": {"name": "veriscope", "version": "0.1.0"},
                            "git_sha": null, "run": {"kind": "gpt", "run_id": "3179293c5c9c", "outdir": rec},
                            "argv": {"veriscope_argv": ["veriscope", "run", "gpt"]}, "env": {}});
            write_json_atomic(&d.join("run_config_resolved.json"), &rc).unwrap();
        }),
    ]
}

fn invalid_cases() -> Vec<(&'static str, Mode, Build)> {
    use Mode::*;
    vec![
        ("MISSING_ARTIFACTS", Default, |d, r| {
            base(d, r);
            fs::remove_file(d.join("results_summary.json")).unwrap();
        }),
        ("ARTIFACT_UNREADABLE", Default, |d, r| {
            base(d, r);
            fs::write(d.join("window_signature.json"), b"\xff\xfe{}\n").unwrap();
        }),
        ("JSON_PARSE_ERROR", Default, |d, r| {
            base(d, r);
            let text = fs::read(d.join("window_signature.json")).unwrap();
            fs::write(d.join("window_signature.json"), &text[..text.len() / 2]).unwrap();
        }),
        ("NOT_AN_OBJECT", Default, |d, r| {
            base(d, r);
            fs::write(d.join("window_signature.json"), "[1,2]\n").unwrap();
        }),
        ("SCHEMA_INVALID", Default, |d, r| {
            base(d, r);
            edit(d, "results.json", |v| {
                v["gates"][0]["iter"] = serde_json::from_str("1.0").unwrap()
            });
        }),
        ("WINDOW_SIGNATURE_TS_INVALID", Default, |d, r| {
            base(d, r);
            edit(d, "window_signature.json", |v| {
                v["created_ts_utc"] = json!("2026-01-01T00:00:00+00:00")
            });
        }),
        ("WINDOW_HASH_UNCOMPUTABLE", Default, |d, r| {
            base(d, r);
            let text = fs::read_to_string(d.join("window_signature.json")).unwrap();
            fs::write(
                d.join("window_signature.json"),
                text.replacen('{', "{\"huge\":1e999,", 1),
            )
            .unwrap();
        }),
        ("WINDOW_REF_PATH_MISMATCH", Default, |d, r| {
            base(d, r);
            edit(d, "results.json", |v| {
                v["window_signature_ref"]["path"] = json!("ws.json")
            });
        }),
        ("WINDOW_HASH_MISMATCH", Default, |d, r| {
            base(d, r);
            edit(d, "window_signature.json", |v| v["edited"] = json!(true));
        }),
        ("MANUAL_JUDGEMENT_RUN_ID_MISMATCH", Default, |d, r| {
            base(d, r);
            let mj = json!({"schema_version": 1, "run_id": "run_other", "status": "fail", "reason": "x", "ts_utc": FIXTURE_TS});
            write_json_atomic(&d.join("manual_judgement.json"), &mj).unwrap();
        }),
        ("ARTIFACT_IDENTITY_MISMATCH", Default, |d, r| {
            base(d, r);
            edit(d, "results_summary.json", |v| {
                v["profile"]["gate_preset"] = json!("beta")
            });
        }),
        ("FULL_CAPSULE_MARKED_PARTIAL", Default, |d, r| {
            base(d, r);
            edit(d, "results_summary.json", |v| v["partial"] = json!(true));
        }),
        ("PARTIAL_NOT_MARKED", Default, |d, r| {
            base(d, r);
            fs::remove_file(d.join("results.json")).unwrap();
        }),
        ("PARTIAL_COUNTS_NOT_NEUTRAL", Default, |d, r| {
            partial(d, r);
            edit(d, "results_summary.json", |v| {
                v["counts"] = json!({"evaluated": 1, "skip": 0, "pass": 1, "warn": 0, "fail": 0});
                v["final_decision"] = json!("pass");
            });
        }),
        ("COUNTS_MISMATCH", Default, |d, r| {
            base(d, r);
            edit(
                d,
                "results_summary.json",
                |v| {
                    v["counts"] =
                        json!({"evaluated": 4, "skip": 0, "pass": 2, "warn": 1, "fail": 1})
                },
            );
        }),
        ("FIRST_FAIL_ITER_MISMATCH", Default, |d, r| {
            base(d, r);
            edit(d, "results_summary.json", |v| {
                v["first_fail_iter"] = json!(3)
            });
            fs::write(d.join("first_fail_iter.txt"), "3\n").unwrap();
        }),
        ("FIRST_FAIL_MARKER_MISSING", Default, |d, r| {
            base(d, r);
            fs::remove_file(d.join("first_fail_iter.txt")).unwrap();
        }),
        ("FIRST_FAIL_MARKER_INVALID", Default, |d, r| {
            base(d, r);
            fs::write(d.join("first_fail_iter.txt"), "two\n").unwrap();
        }),
        ("FIRST_FAIL_MARKER_MISMATCH", Default, |d, r| {
            base(d, r);
            fs::write(d.join("first_fail_iter.txt"), "3\n").unwrap();
        }),
        ("FIRST_FAIL_MARKER_UNEXPECTED", Default, |d, r| {
            partial(d, r);
            fs::write(d.join("first_fail_iter.txt"), "1\n").unwrap();
        }),
        ("GOVERNANCE_LOG_MISSING", Strict, |d, r| {
            base(d, r);
            fs::remove_file(d.join("governance_log.jsonl")).unwrap();
        }),
        ("GOVERNANCE_LOG_INVALID", StrictGovernance, |d, r| {
            base(d, r);
            let log = d.join("governance_log.jsonl");
            let text =
                fs::read_to_string(&log)
                    .unwrap()
                    .replacen("evaluated_pass", "evaluated_PASS", 1);
            fs::write(&log, text).unwrap();
        }),
        ("GOVERNANCE_OVERRIDES_MISSING", StrictGovernance, |d, r| {
            let mut spec = CapsuleSpec::four_gate("run_a", r);
            spec.overrides = json!({"gate_window": 8}).as_object().unwrap().clone();
            write_capsule(d, &spec).unwrap();
            rewrite_journal(d, |l| l["event"] != "run_overrides_applied_v1", &[]);
        }),
        ("GOVERNANCE_RUN_ID_MISMATCH", StrictGovernance, |d, r| {
            base(d, r);
            for name in ["results.json", "results_summary.json"] {
                edit(d, name, |v| v["run_id"] = json!("run_copied"));
            }
        }),
        ("GOVERNANCE_OUTDIR_MISMATCH", StrictGovernance, |d, _| {
            base(d, "elsewhere/run_a")
        }),
        (
            "GOVERNANCE_WINDOW_HASH_MISMATCH",
            StrictGovernance,
            |d, r| {
                base(d, r);
                edit(d, "window_signature.json", |v| {
                    v["metric_interval"] = json!(32)
                });
                let ws: Value =
                    serde_json::from_slice(&fs::read(d.join("window_signature.json")).unwrap())
                        .unwrap();
                let hash = veriscope_canon::window_signature_hash(&ws).unwrap();
                for name in ["results.json", "results_summary.json"] {
                    edit(d, name, |v| v["window_signature_ref"]["hash"] = json!(hash));
                }
            },
        ),
        ("GOVERNANCE_RUN_STARTED_MISSING", Strict, |d, r| {
            base(d, r);
            rewrite_journal(
                d,
                |_| false,
                &[("artifact_note", json!({"note": "only a note"}))],
            );
        }),
        ("GOVERNANCE_DUPLICATE_RUN_STARTED", Strict, |d, r| {
            base(d, r);
            let first: Value = serde_json::from_str(
                fs::read_to_string(d.join("governance_log.jsonl"))
                    .unwrap()
                    .lines()
                    .next()
                    .unwrap(),
            )
            .unwrap();
            Journal::open(&d.join("governance_log.jsonl"))
                .unwrap()
                .append("run_started_v1", first["payload"].clone(), None, FIXTURE_TS)
                .unwrap();
        }),
        ("GOVERNANCE_RESULTS_DIVERGENCE", Strict, |d, r| {
            base(d, r);
            Journal::open(&d.join("governance_log.jsonl"))
                .unwrap()
                .append(
                    "gate_decision_v1",
                    gate_payload(r, 999, "pass"),
                    None,
                    FIXTURE_TS,
                )
                .unwrap();
        }),
        (
            "GOVERNANCE_GATE_DECISIONS_MISSING",
            StrictGovernance,
            |d, r| {
                base(d, r);
                rewrite_journal(
                    d,
                    |l| l["event"] != "gate_decision_v1" || l["payload"]["iter"].as_u64() < Some(2),
                    &[],
                );
            },
        ),
        ("DISTRIBUTED_WORLD_SIZE_MISSING", Default, |d, r| {
            distributed(d, r, json!({"rank": 1, "backend": "nccl"}))
        }),
        ("DISTRIBUTED_MODE_MISSING", Default, |d, r| {
            distributed(d, r, json!({"world_size_observed": 2}))
        }),
        ("DISTRIBUTED_MODE_INVALID", Default, |d, r| {
            distributed(
                d,
                r,
                json!({"world_size_observed": 2, "distributed_mode": "not_a_real_mode"}),
            )
        }),
    ]
}

/// Builds every fixture under `root` (`valid/<case>`, `invalid/<CODE>`), recording governance
/// outdirs relative to the repository root, where the CLI snapshot tests run.
fn build_all(root: &Path) {
    for (name, build) in valid_cases() {
        build(
            &root.join("valid").join(name),
            &format!("fixtures/capsules/valid/{name}"),
        );
    }
    for (code, mode, build) in invalid_cases() {
        let dir = root.join("invalid").join(code);
        build(&dir, &format!("fixtures/capsules/invalid/{code}"));
        fs::write(
            dir.join("MODES.txt"),
            format!("veriscope validate {}\n", mode.flags()).replace(" \n", "\n"),
        )
        .unwrap();
    }
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "README.md") {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn fixtures_match_generator() {
    let committed = repo_root().join("fixtures/capsules");
    let tmp = tempfile::tempdir().unwrap();
    // Build under a scratch copy of the repo layout so recorded relative outdirs are real.
    let scratch = tmp.path().join("fixtures/capsules");
    build_all(&scratch);
    if std::env::var_os("VERISCOPE_BLESS").is_some() {
        for sub in ["valid", "invalid"] {
            let _ = fs::remove_dir_all(committed.join(sub));
        }
        for (rel, bytes) in tree(&scratch) {
            let dst = committed.join(rel);
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            fs::write(dst, bytes).unwrap();
        }
    }
    let (want, got) = (tree(&scratch), tree(&committed));
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&got),
        names(&want),
        "fixture files differ; rerun with VERISCOPE_BLESS=1"
    );
    for (rel, bytes) in &want {
        assert!(
            got[rel] == *bytes,
            "{} is stale; rerun with VERISCOPE_BLESS=1",
            rel.display()
        );
    }
}

#[test]
fn every_fixture_has_its_verdict() {
    let repo = repo_root();
    for (name, _) in valid_cases() {
        let dir = PathBuf::from("fixtures/capsules/valid").join(name);
        for mode in [Mode::Default, Mode::Strict] {
            let r = validate_capsule(&repo.join(&dir), &Mode::options(mode, &repo));
            // Bindings compare against the path as given; resolve it from the repo root.
            assert!(r.is_valid(), "{name} {mode:?}: {:?}", r.findings);
        }
    }
    for (code, mode, _) in invalid_cases() {
        let dir = repo.join("fixtures/capsules/invalid").join(code);
        let r = validate_capsule(&dir, &mode.options(&repo));
        assert!(!r.is_valid(), "{code} should be invalid under {mode:?}");
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == code && f.severity == Severity::Error),
            "{code}: {:?}",
            r.findings
        );
    }
}

#[test]
fn bulk_journal_writes_the_same_bytes_as_append() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = CapsuleSpec::gpt_run("run_bulk", &["pass", "warn", "fail", "skip"]);
    spec.recorded_outdir = Some("somewhere/run_bulk".into());
    spec.overrides = json!({"gate_window": 8}).as_object().unwrap().clone();
    spec.manual_judgement = Some(ManualJudgementSpec {
        status: "fail".into(),
        reason: "r".into(),
        reviewer: None,
        ts_utc: "2026-01-16T00:00:00Z".into(),
    });
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_capsule(&a, &spec).unwrap();
    spec.bulk_journal = true;
    write_capsule(&b, &spec).unwrap();
    assert_eq!(tree(&a), tree(&b));
}
