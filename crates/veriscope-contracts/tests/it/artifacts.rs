//! Round-trip and rule tests per cli_contracts B2, messages included.

use serde_json::{Value, json};
use veriscope_contracts::{
    Artifact, CountsV1, Decision, FindingCode, GateRecordV1, ManualJudgementLineV1,
    ManualJudgementV1, MetricsRefV1, ResultsSummaryV1, ResultsV1, RunConfigResolvedV1,
    WindowSignatureRefV1, derive_gate_decision, parse_typed,
};

const HASH: &str = "7f3bffa5e2f3ead1456ee1a5bf34f794a7e29b00651dc9070abfd59c8303f5fd";

fn audit(evaluated: bool, reason: &str) -> Value {
    json!({"evaluated": evaluated, "reason": reason, "policy": "either", "worst_DW": 0.05,
           "eps_eff": 0.1675, "per_metric_tv": {"var_out_k": 0.05, "eff_dim": 0.01},
           "evidence_total": 32, "min_evidence": 16})
}

/// The tests' four-gate capsule: pass@0, warn@1, fail@2, skip@3.
fn results_value() -> Value {
    json!({
        "schema_version": 1,
        "run_id": "run_a",
        "window_signature_ref": {"hash": HASH, "path": "window_signature.json"},
        "profile": {"gate_preset": "tuned_v0", "overrides": {}},
        "run_status": "success",
        "runner_exit_code": 0,
        "started_ts_utc": "2026-01-18T12:34:56Z",
        "ended_ts_utc": "2026-01-18T12:40:00Z",
        "gates": [
            {"iter": 0, "decision": "pass", "ok": true, "warn": false, "audit": audit(true, "pass")},
            {"iter": 1, "decision": "warn", "ok": true, "warn": true, "audit": audit(true, "warn")},
            {"iter": 2, "decision": "fail", "ok": false, "warn": false, "audit": audit(true, "fail")},
            {"iter": 3, "decision": "skip", "audit": {"evaluated": false, "reason": "insufficient_evidence", "per_metric_tv": {}}}
        ],
        "metrics": [{"name": "var_out_k", "iter": 0, "value": 0.5}]
    })
}

fn summary_value() -> Value {
    json!({
        "schema_version": 1,
        "run_id": "run_a",
        "window_signature_ref": {"hash": HASH, "path": "window_signature.json"},
        "profile": {"gate_preset": "tuned_v0", "overrides": {}},
        "run_status": "success",
        "runner_exit_code": 0,
        "started_ts_utc": "2026-01-18T12:34:56Z",
        "ended_ts_utc": "2026-01-18T12:40:00Z",
        "counts": {"evaluated": 3, "skip": 1, "pass": 1, "warn": 1, "fail": 1},
        "final_decision": "fail",
        "first_fail_iter": 2
    })
}

fn with(mut base: Value, pointer: &str, new: Value) -> Value {
    *base.pointer_mut(pointer).unwrap() = new;
    base
}

fn results_err(v: &Value) -> veriscope_contracts::ContractViolation {
    ResultsV1::from_value(v).unwrap_err()
}

fn summary_err(v: &Value) -> veriscope_contracts::ContractViolation {
    ResultsSummaryV1::from_value(v).unwrap_err()
}

#[test]
fn results_round_trip_is_stable_and_keeps_extras_at_every_level() {
    let mut v = results_value();
    v["top_extra"] = json!({"nested": [1, 2.5, "x"]});
    v["gates"][0]["gate_extra"] = json!("kept");
    v["gates"][0]["audit"]["audit_extra"] = json!(1e-05);
    let first = ResultsV1::from_value(&v).unwrap().to_value().unwrap();
    let second = ResultsV1::from_value(&first).unwrap().to_value().unwrap();
    assert_eq!(first, second);
    assert_eq!(first["top_extra"], json!({"nested": [1, 2.5, "x"]}));
    assert_eq!(first["gates"][0]["gate_extra"], json!("kept"));
    assert_eq!(
        veriscope_canon::to_canonical_string(&first["gates"][0]["audit"]["audit_extra"]).unwrap(),
        "1e-05"
    );
    // Nothing lost, nothing added: the canonical text is unchanged by the round trip.
    assert_eq!(
        veriscope_canon::to_canonical_string(&first).unwrap(),
        veriscope_canon::to_canonical_string(&v).unwrap()
    );
}

#[test]
fn regime_audit_fields_survive_a_json_round_trip() {
    let v = with(
        results_value(),
        "/gates/0/audit",
        json!({"evaluated": true, "reason": "pass", "policy": "either", "per_metric_tv": {},
               "evidence_total": 16, "min_evidence": 16, "regime_ok": true,
               "regime_ref_windows": 3, "regime_eps_eff": 0.41, "eps_regime_eff": 0.41, "eps_regime": 0.4}),
    );
    let text = serde_json::to_string(&ResultsV1::from_value(&v).unwrap()).unwrap();
    let back: ResultsV1 = serde_json::from_str(&text).unwrap();
    let audit = &back.gates[0].audit.extra;
    assert_eq!(audit["regime_ref_windows"], json!(3));
    assert_eq!(audit["regime_eps_eff"].as_f64(), Some(0.41));
    assert_eq!(audit["eps_regime"].as_f64(), Some(0.4));
    assert_eq!(audit["regime_ok"], json!(true));
}

#[test]
fn datetimes_serialize_as_utc_seconds_with_z() {
    let v = with(
        results_value(),
        "/started_ts_utc",
        json!("2026-01-18T12:34:56.123456+00:00"),
    );
    let r = ResultsV1::from_value(&v).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        text.contains(r#""started_ts_utc":"2026-01-18T12:34:56Z""#),
        "{text}"
    );
    let naive = with(
        results_value(),
        "/started_ts_utc",
        json!("2026-01-18T12:34:56"),
    );
    assert_eq!(
        ResultsV1::from_value(&naive)
            .unwrap()
            .started_ts_utc
            .to_string(),
        "2026-01-18T12:34:56Z"
    );
}

#[test]
fn summary_writes_pass_reads_pass_underscore_and_keeps_extras() {
    let mut v = summary_value();
    v["counts"] =
        json!({"evaluated": 3, "skip": 1, "pass_": 1, "warn": 1, "fail": 1, "c_extra": 9});
    v["note"] = json!("hello");
    let s = ResultsSummaryV1::from_value(&v).unwrap();
    let out = s.to_value().unwrap();
    assert_eq!(out["counts"]["pass"], json!(1));
    assert!(out["counts"].get("pass_").is_none());
    assert_eq!(out["counts"]["c_extra"], json!(9));
    assert_eq!(out["note"], json!("hello"));
    let c: CountsV1 =
        serde_json::from_value(json!({"evaluated": 0, "skip": 0, "pass": 0, "warn": 0, "fail": 0}))
            .unwrap();
    assert!(serde_json::to_string(&c).unwrap().contains(r#""pass":0"#));
}

#[test]
fn counts_must_add_up() {
    let v = with(summary_value(), "/counts/evaluated", json!(4));
    let err = summary_err(&v);
    assert_eq!(err.code, FindingCode::CountsInconsistent);
    assert_eq!(err.pointer, "/counts");
    assert_eq!(
        err.message,
        "counts must satisfy pass+warn+fail == evaluated: 3 != 4"
    );
}

#[test]
fn final_decision_must_match_counts() {
    let err = summary_err(&with(summary_value(), "/final_decision", json!("warn")));
    assert_eq!(err.code, FindingCode::FinalDecisionMismatch);
    assert_eq!(
        err.message,
        "final_decision must match derive_final_decision(counts): 'warn' != 'fail'"
    );
}

#[test]
fn first_fail_iter_rules() {
    let mut v = summary_value();
    v.as_object_mut().unwrap().remove("first_fail_iter");
    let err = summary_err(&v);
    assert_eq!(err.code, FindingCode::FirstFailIterInconsistent);
    assert_eq!(
        err.message,
        "first_fail_iter is required when counts.fail > 0"
    );

    let clean = json!({"evaluated": 1, "skip": 0, "pass": 1, "warn": 0, "fail": 0});
    let v = with(
        with(summary_value(), "/counts", clean),
        "/final_decision",
        json!("pass"),
    );
    assert_eq!(
        summary_err(&v).message,
        "first_fail_iter must be null when counts.fail == 0"
    );

    // A17.2 fixed: a first fail at iteration 0 is valid.
    let v = with(summary_value(), "/first_fail_iter", json!(0));
    assert_eq!(
        ResultsSummaryV1::from_value(&v).unwrap().first_fail_iter,
        Some(0)
    );
}

#[test]
fn ended_before_started_is_rejected() {
    let v = with(
        results_value(),
        "/ended_ts_utc",
        json!("2026-01-18T12:00:00Z"),
    );
    let err = results_err(&v);
    assert_eq!(err.code, FindingCode::TimestampOrder);
    assert_eq!(
        err.schema_failure_message(),
        "Schema validation failed: Value error, ended_ts_utc cannot precede started_ts_utc"
    );
    let v = with(
        summary_value(),
        "/ended_ts_utc",
        json!("2026-01-18T12:00:00+00:00"),
    );
    assert_eq!(
        summary_err(&v).message,
        "ended_ts_utc cannot precede started_ts_utc"
    );
}

#[test]
fn derive_gate_decision_truth_table() {
    assert_eq!(derive_gate_decision(false, true, false), Decision::Skip);
    assert_eq!(derive_gate_decision(true, false, true), Decision::Fail);
    assert_eq!(derive_gate_decision(true, true, true), Decision::Warn);
    assert_eq!(derive_gate_decision(true, true, false), Decision::Pass);
}

#[test]
fn gate_record_ok_warn_consistency_messages() {
    let cases = [
        (
            "/gates/0/ok",
            json!(false),
            "gate.ok cannot be False when decision=='pass'",
        ),
        (
            "/gates/1/ok",
            json!(false),
            "gate.ok cannot be False when decision=='warn'",
        ),
        (
            "/gates/2/ok",
            json!(true),
            "gate.ok cannot be True when decision=='fail'",
        ),
        (
            "/gates/0/warn",
            json!(true),
            "gate.warn cannot be True when decision!='warn'",
        ),
        (
            "/gates/3/decision",
            json!("pass"),
            "gate.decision must be 'skip' when audit.evaluated=False",
        ),
        (
            "/gates/0/decision",
            json!("skip"),
            "gate.decision cannot be 'skip' when audit.evaluated=True",
        ),
    ];
    for (pointer, value, message) in cases {
        let err = results_err(&with(results_value(), pointer, value));
        assert_eq!(err.code, FindingCode::GateDecisionInconsistent, "{pointer}");
        assert_eq!(err.message, message);
        let gate = &pointer[..8];
        assert_eq!(err.pointer, gate);
    }
    let err = results_err(&with(results_value(), "/gates/0/ok", json!(false)));
    assert_eq!(
        err.schema_failure_message(),
        "Schema validation failed: Value error, gate.ok cannot be False when decision=='pass' at ('gates', 0)"
    );
}

#[test]
fn evaluated_audit_requires_reason_policy_and_evidence() {
    let mut v = results_value();
    v["gates"][0]["audit"]
        .as_object_mut()
        .unwrap()
        .remove("policy");
    let err = results_err(&v);
    assert_eq!(err.code, FindingCode::AuditIncomplete);
    assert_eq!(err.pointer, "/gates/0/audit");
    assert_eq!(
        err.message,
        "audit.reason and audit.policy are required when audit.evaluated=True"
    );
    let mut v = results_value();
    v["gates"][1]["audit"]
        .as_object_mut()
        .unwrap()
        .remove("min_evidence");
    assert_eq!(
        results_err(&v).message,
        "audit.evidence_total and audit.min_evidence are required when audit.evaluated=True"
    );
    let v = with(results_value(), "/gates/0/audit/worst_DW", json!(-0.5));
    let err = results_err(&v);
    assert_eq!(err.code, FindingCode::SchemaInvalid);
    assert_eq!(err.pointer, "/gates/0/audit/worst_DW");
}

#[test]
fn iter_is_a_strict_non_negative_integer() {
    for bad in [json!(1.0), json!("1"), json!(true), json!(-1)] {
        let err = results_err(&with(results_value(), "/gates/1/iter", bad.clone()));
        assert_eq!(err.code, FindingCode::SchemaInvalid, "{bad}");
        assert_eq!(err.pointer, "/gates/1/iter", "{bad}");
        assert_eq!(err.python_loc(), "('gates', 1, 'iter')");
    }
    let text = results_value()
        .to_string()
        .replace(r#""iter":1,"#, r#""iter":1.0,"#);
    assert!(ResultsV1::from_json_str(&text).is_err());
}

#[test]
fn schema_version_accepts_1_and_1_0_rejects_2_and_string() {
    let text = results_value()
        .to_string()
        .replace(r#""schema_version":1"#, r#""schema_version":1.0"#);
    assert!(ResultsV1::from_json_str(&text).is_ok());
    for bad in [json!(2), json!("1")] {
        let err = results_err(&with(results_value(), "/schema_version", bad));
        assert_eq!(err.message, "Input should be 1");
        assert_eq!(err.python_loc(), "('schema_version',)");
    }
}

#[test]
fn decision_enum_is_case_sensitive() {
    let err = results_err(&with(results_value(), "/gates/0/decision", json!("PASS")));
    assert_eq!(err.code, FindingCode::SchemaInvalid);
    assert_eq!(err.pointer, "/gates/0/decision");
}

#[test]
fn runner_exit_code_is_0_to_255_and_run_id_non_empty() {
    let err = results_err(&with(results_value(), "/runner_exit_code", json!(256)));
    assert_eq!(err.message, "Input should be less than or equal to 255");
    let err = results_err(&with(results_value(), "/runner_exit_code", json!(-1)));
    assert_eq!(err.message, "Input should be greater than or equal to 0");
    let err = results_err(&with(results_value(), "/runner_exit_code", json!(1.0)));
    assert_eq!(err.pointer, "/runner_exit_code");
    let err = results_err(&with(results_value(), "/run_id", json!("")));
    assert_eq!(err.message, "String should have at least 1 character");
    let err = results_err(&with(results_value(), "/profile/gate_preset", json!("")));
    assert_eq!(err.python_loc(), "('profile', 'gate_preset')");
}

#[test]
fn window_ref_hash_is_lowercased_and_must_be_64_hex() {
    let upper = HASH.to_ascii_uppercase();
    let r = ResultsV1::from_value(&with(
        results_value(),
        "/window_signature_ref/hash",
        json!(upper),
    ))
    .unwrap();
    assert_eq!(r.window_signature_ref.hash, HASH);
    for bad in [&HASH[..63], "z".repeat(64).as_str()] {
        let err = results_err(&with(
            results_value(),
            "/window_signature_ref/hash",
            json!(bad),
        ));
        assert_eq!(err.pointer, "/window_signature_ref/hash");
        assert_eq!(
            err.message,
            "String should match pattern '^[a-fA-F0-9]{64}$'"
        );
    }
    assert_eq!(
        WindowSignatureRefV1::new(HASH).path,
        "window_signature.json"
    );
}

#[test]
fn metrics_ref_defaults_and_rules() {
    let m: MetricsRefV1 = parse_typed(&json!({"path": "metrics.jsonl"})).unwrap();
    assert_eq!(m.format, "legacy_v0");
    assert!(m.check().is_empty());
    let m: MetricsRefV1 = parse_typed(&json!({"path": ""})).unwrap();
    assert_eq!(m.check()[0].pointer, "/path");
    assert!(parse_typed::<MetricsRefV1>(&json!({"path": "m", "count": -1})).is_err());
    let mut v = results_value();
    v["metrics_ref"] = json!({"path": "m", "sha256": "abc"});
    assert_eq!(results_err(&v).pointer, "/metrics_ref/sha256");
}

#[test]
fn missing_required_field_names_it() {
    let mut v = results_value();
    v.as_object_mut().unwrap().remove("gates");
    let err = results_err(&v);
    assert_eq!(err.code, FindingCode::SchemaInvalid);
    assert!(err.message.contains("gates"), "{}", err.message);
    assert!(ResultsV1::from_value(&json!([1, 2])).is_err());
}

#[test]
fn gate_record_alone_parses_with_typed_audit() {
    let g: GateRecordV1 = parse_typed(&results_value()["gates"][2]).unwrap();
    assert_eq!(g.decision, Decision::Fail);
    assert_eq!(g.audit.worst_dw, Some(0.05));
    assert_eq!(g.audit.per_metric_tv["var_out_k"], 0.05);
}

#[test]
fn manual_judgement_and_its_jsonl_line() {
    let v = json!({"schema_version": 1, "run_id": "run_a", "status": "fail", "reason": "known flake",
                   "ts_utc": "2026-01-01T00:00:00", "ticket": "OPS-1"});
    let j = ManualJudgementV1::from_value(&v).unwrap();
    let out = j.to_value().unwrap();
    assert_eq!(out["ts_utc"], json!("2026-01-01T00:00:00Z"));
    assert!(out.get("reviewer").is_none());
    assert_eq!(out["ticket"], json!("OPS-1"));
    let line = ManualJudgementLineV1::new(&j, 3).to_value().unwrap();
    assert_eq!(line["reviewer"], Value::Null);
    assert_eq!(line["rev"], json!(3));
    assert_eq!(
        ManualJudgementLineV1::from_value(&line)
            .unwrap()
            .judgement(),
        j
    );
    let bad = with(v.clone(), "/status", json!("invalid"));
    assert_eq!(
        ManualJudgementV1::from_value(&bad).unwrap_err().pointer,
        "/status"
    );
    let empty = with(v, "/reason", json!(""));
    assert_eq!(
        ManualJudgementV1::from_value(&empty).unwrap_err().message,
        "String should have at least 1 character"
    );
}

#[test]
fn run_config_reads_original_capsules_and_writes_every_section() {
    // Shape written by the original wrapper (cli_contracts A17.6: single `denylist`, no
    // determinism_status / dependencies).
    let v = json!({"schema_version": 1, "ts_utc": "2026-11-22T02:22:46Z",
        "package": {"name": "veriscope", "version": "0.1.0"}, "git_sha": null,
        "run": {"kind": "gpt", "run_id": "325ed63f6607", "outdir": "out/c1"},
        "argv": {"veriscope_argv": ["veriscope", "run", "gpt"], "runner_cmd": ["python", "x.py"]},
        "env": {"VERISCOPE_GPU_LOCK": "<lockfile>"},
        "env_capture": {"allowlist": ["prefix:VERISCOPE_"], "denylist": ["TOKEN"], "redactions_applied": false},
        "run_status": "veriscope_failure", "runner_exit_code": 0, "wrapper_exit_code": 2,
        "started_ts_utc": "2026-11-22T02:22:46.661474+00:00", "lifecycle_state": "FINALIZED"});
    let rc = RunConfigResolvedV1::from_value(&v).unwrap();
    let out = rc.to_value().unwrap();
    assert_eq!(out["git_sha"], Value::Null);
    assert_eq!(out["env_capture"]["denylist"], json!(["TOKEN"]));
    assert_eq!(out["env_capture"]["deny_exact"], json!([]));
    assert_eq!(out["dependencies"]["method"], json!("unavailable"));
    assert_eq!(
        out["started_ts_utc"],
        json!("2026-11-22T02:22:46.661474+00:00")
    );
    assert!(!rc.has_overrides());
}

#[test]
fn summary_from_results_validates_and_cross_checks() {
    let results = ResultsV1::from_value(&results_value()).unwrap();
    let summary = ResultsSummaryV1::from_results(&results);
    assert!(summary.check().is_empty());
    assert!(summary.check_against_results(&results).is_empty());
    assert_eq!(summary.to_value().unwrap(), summary_value());

    let mut stale = summary.clone();
    stale.counts.pass = 2;
    stale.counts.evaluated = 4;
    let v = stale.check_against_results(&results);
    assert_eq!(v[0].code, FindingCode::CountsMismatch);
    assert_eq!(
        v[0].message,
        "summary counts mismatch results gates: summary={'evaluated': 4, 'skip': 1, 'pass': 2, 'warn': 1, 'fail': 1} results_derived={'evaluated': 3, 'skip': 1, 'pass': 1, 'warn': 1, 'fail': 1}"
    );

    let mut moved = summary.clone();
    moved.first_fail_iter = Some(0);
    let v = moved.check_against_results(&results);
    assert_eq!(v[0].code, FindingCode::FirstFailIterMismatch);
    assert_eq!(
        v[0].message,
        "first_fail_iter mismatch between summary and results gates: summary=0 results_derived=2"
    );
}

/// Regression for cli_contracts A17.2: a first fail at iteration 0 validates.
#[test]
fn first_fail_at_iter_zero_cross_checks() {
    let v = with(
        results_value(),
        "/gates/0",
        json!({"iter": 0, "decision": "fail", "ok": false, "audit": audit(true, "fail")}),
    );
    let results = ResultsV1::from_value(&v).unwrap();
    let summary = ResultsSummaryV1::from_results(&results);
    assert_eq!(summary.first_fail_iter, Some(0));
    assert!(summary.check().is_empty());
    assert!(summary.check_against_results(&results).is_empty());
}

/// Guards compatibility: the canonical bytes of a fixed summary must never change.
#[test]
fn pinned_summary_hash() {
    let s = ResultsSummaryV1::from_value(&summary_value()).unwrap();
    let hash = veriscope_canon::sha256_hex(&s.to_value().unwrap()).unwrap();
    assert_eq!(hash, veriscope_canon::sha256_hex(&summary_value()).unwrap());
    assert_eq!(
        hash,
        "4bc3611a24899729cf55c31d2850a2fbad480b15b717755bef00854fac473bf7"
    );
}
