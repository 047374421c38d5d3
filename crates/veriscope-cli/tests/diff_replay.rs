//! `veriscope diff --replay A B` (docs/replay.md §4) and the replay blocks shown by `report`,
//! `inspect`, `diff` and `report --compare` (gate contract, manifest, seed, determinism,
//! lineage, distributed mode), over capsules written by `veriscope_capsule::fixture`.
//!
//! The binary runs inside the temporary directory with relative OUTDIRs (the capsules record
//! those), so transcripts are stable without scrubbing.

mod support;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};
use support::{transcript_in, with_snapshot_dir};
use veriscope_capsule::fixture::{CapsuleSpec, ExecutionSpec, distributed_payload, write_capsule};

const DECISIONS: [&str; 6] = ["skip", "pass", "pass", "warn", "fail", "pass"];

/// A gpt-shaped run with a metrics stream, a metric series and every replay block.
fn replay_spec(run_id: &str, name: &str) -> CapsuleSpec {
    let mut spec =
        CapsuleSpec::gpt_run(run_id, &DECISIONS).with_execution(ExecutionSpec::new("tuned_v0"));
    spec.recorded_outdir = Some(name.to_owned());
    spec.metrics = true;
    spec.metrics_stream = true;
    spec
}

fn write(tmp: &Path, name: &str, spec: &CapsuleSpec) {
    let mut spec = spec.clone();
    spec.recorded_outdir = Some(name.to_owned());
    write_capsule(&tmp.join(name), &spec).unwrap();
}

fn veriscope_in(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("veriscope").unwrap();
    c.current_dir(dir);
    c
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = veriscope_in(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn snapshot(name: &str, text: String) {
    with_snapshot_dir("replay", || insta::assert_snapshot!(name, text));
}

#[test]
fn replay_of_the_same_run_passes() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a", &replay_spec("run_a", "a"));
    write(tmp.path(), "b", &replay_spec("run_b", "b"));
    let (code, out, err) = run(tmp.path(), &["diff", "--replay", "a", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.is_empty(), "{err}");
    assert!(out.ends_with("REPLAY OK: every MUST check matches; 0 SHOULD difference(s)\n"));
    assert!(!out.contains("MISMATCH"), "{out}");
    // run_id, outdir and timestamps are never compared.
    assert!(
        out.contains("  manifest_hash                match    "),
        "{out}"
    );
    snapshot(
        "pass",
        transcript_in(tmp.path(), &["diff", "--replay", "a", "b"]),
    );
}

#[test]
fn must_mismatches_exit_2_and_list_every_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a", &replay_spec("run_a", "a"));
    let mut b = replay_spec("run_b", "b");
    b.decisions.push("fail".to_owned());
    if let Some(x) = b.execution.as_mut() {
        x.run_seed = 7;
        x.seed_source = "flag".to_owned();
    }
    b.overrides.insert("gate_window".into(), json!(50));
    write(tmp.path(), "b", &b);
    let (code, out, err) = run(tmp.path(), &["diff", "--replay", "a", "b"]);
    assert_eq!(code, 2, "{out}{err}");
    for check in [
        "manifest_hash",
        "gate_records",
        "metrics.jsonl lines",
        "governance events",
    ] {
        assert!(
            err.contains(&format!("REPLAY_MISMATCH {check}: ")),
            "{check}: {err}"
        );
    }
    assert!(err.contains("  manifest.run_seed: A=42 B=7\n"), "{err}");
    assert!(err.contains("  fail: A=1 B=2\n  total: A=6 B=7\n"), "{err}");
    assert!(
        err.contains("  run_overrides_applied_v1: A=0 B=1\n"),
        "{err}"
    );
    assert!(out.contains("REPLAY MISMATCH: "), "{out}");
    snapshot(
        "must_mismatch",
        transcript_in(tmp.path(), &["diff", "--replay", "a", "b"]),
    );
}

#[test]
fn should_differences_are_reported_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let strict = |run_id: &str, name: &str| {
        let mut s = replay_spec(run_id, name);
        s.execution = Some(ExecutionSpec::new("tuned_v0").strict());
        s
    };
    write(tmp.path(), "a", &strict("run_a", "a"));
    let mut b = strict("run_b", "b");
    b.value_jitter = 1e-6;
    b.decisions.swap(1, 3); // pass <-> warn: same counts, different (iter, decision)
    write(tmp.path(), "b", &b);
    let (code, out, err) = run(tmp.path(), &["diff", "--replay", "a", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("  gate_decisions               MISMATCH 2 of 6 checks differ\n      iter 150: A=pass B=warn\n      iter 250: A=warn B=pass\n"),
        "{out}"
    );
    assert!(
        out.contains("  sample_metrics               MISMATCH "),
        "{out}"
    );
    assert!(
        out.contains("  audit_metrics                MISMATCH "),
        "{out}"
    );
    assert!(
        out.contains("  gates_canonical              MISMATCH canonical gates differ"),
        "{out}"
    );
    assert!(out.ends_with("REPLAY OK: every MUST check matches; 4 SHOULD difference(s)\n"));
    // A looser tolerance absorbs the jitter; the swapped checks' audits still differ.
    let (code, out, _) = run(
        tmp.path(),
        &["diff", "--replay", "--tolerance", "1e-3", "a", "b"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("tolerance: relative 1e-3"), "{out}");
    assert!(out.contains("  sample_metrics               match    360 values within tolerance; max relative difference 1.000e-6"), "{out}");
    assert!(
        out.contains("  audit_metrics                MISMATCH 6 of 34 values outside tolerance"),
        "{out}"
    );
    let audit_details: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("  audit_metrics"))
        .skip(1)
        .take_while(|l| l.starts_with("      "))
        .collect();
    assert_eq!(audit_details.len(), 6);
    assert!(
        audit_details
            .iter()
            .all(|l| l.starts_with("      iter 150 ") || l.starts_with("      iter 250 ")),
        "{audit_details:?}"
    );
    assert!(out.ends_with("REPLAY OK: every MUST check matches; 3 SHOULD difference(s)\n"));
    snapshot(
        "should_differences",
        transcript_in(tmp.path(), &["diff", "--replay", "a", "b"]),
    );
}

#[test]
fn missing_manifest_is_a_must_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut old = replay_spec("run_old", "old");
    if let Some(x) = old.execution.as_mut() {
        x.manifest = false;
    }
    write(tmp.path(), "old", &old);
    write(tmp.path(), "new", &replay_spec("run_new", "new"));
    // An older capsule: no replay blocks at all.
    let mut legacy = CapsuleSpec::gpt_run("run_legacy", &DECISIONS);
    legacy.metrics = true;
    legacy.metrics_stream = true;
    write(tmp.path(), "legacy", &legacy);
    let (code, out, err) = run(tmp.path(), &["diff", "--replay", "old", "new"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.starts_with("REPLAY_MISMATCH manifest_hash: manifest missing\n  manifest missing in A (old): run_config_resolved.json has no manifest and manifest_hash"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "only the manifest differs: {err}");
    let (code, _, err) = run(tmp.path(), &["diff", "--replay", "new", "legacy"]);
    assert_eq!(code, 2);
    assert!(err.contains("manifest missing in B (legacy)"), "{err}");
    snapshot(
        "missing_manifest",
        transcript_in(tmp.path(), &["diff", "--replay", "old", "new"]),
    );
}

#[test]
fn stale_manifest_hash_is_a_must_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = replay_spec("run_a", "a");
    if let Some(x) = a.execution.as_mut() {
        x.manifest_hash_override = Some("0".repeat(64));
    }
    write(tmp.path(), "a", &a);
    write(tmp.path(), "b", &replay_spec("run_b", "b"));
    let (code, _, err) = run(tmp.path(), &["diff", "--replay", "a", "b"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("REPLAY_MISMATCH manifest_hash: manifest_hash does not match the recorded manifest\n  manifest_hash of A does not match its manifest (stored 000000000000 recomputed "),
        "{err}"
    );
}

#[test]
fn json_output_lists_every_check() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a", &replay_spec("run_a", "a"));
    let mut b = replay_spec("run_b", "b");
    b.decisions.push("pass".to_owned());
    write(tmp.path(), "b", &b);
    for (pair, ok, code) in [(["a", "a"], true, 0), (["a", "b"], false, 2)] {
        let out = veriscope_in(tmp.path())
            .args(["diff", "--replay", "--json"])
            .args(pair)
            .assert()
            .code(code)
            .get_output()
            .stdout
            .clone();
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["schema"], "veriscope.diff_replay/v1");
        assert_eq!(doc["ok"], json!(ok));
        assert_eq!(doc["tolerance"]["relative"].as_f64(), Some(1e-9));
        let names = |k: &str| -> Vec<String> {
            doc[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["check"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            names("must"),
            [
                "manifest_hash",
                "gate_records",
                "schema:results.json",
                "schema:results_summary.json",
                "schema:window_signature.json",
                "metrics.jsonl lines",
                "schema:metrics.jsonl",
                "governance events",
                "schema:governance events"
            ]
        );
        assert_eq!(
            names("should"),
            [
                "gate_decisions",
                "sample_metrics",
                "audit_metrics",
                "gates_canonical"
            ]
        );
        assert_eq!(doc["should"][3]["status"], "not_checked");
        if !ok {
            let bad: Vec<&str> = doc["must"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == "mismatch")
                .map(|c| c["check"].as_str().unwrap())
                .collect();
            assert_eq!(
                bad,
                ["gate_records", "metrics.jsonl lines", "governance events"]
            );
            assert_eq!(doc["must"][1]["a"]["total"], 6);
            assert_eq!(doc["must"][1]["b"]["total"], 7);
        }
    }
}

#[test]
fn flag_and_input_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a", &replay_spec("run_a", "a"));
    let (code, _, err) = run(tmp.path(), &["diff", "--tolerance", "1e-3", "a", "a"]);
    assert_eq!(code, 2);
    assert!(err.contains("--replay"), "{err}");
    let (code, _, err) = run(
        tmp.path(),
        &["diff", "--replay", "--tolerance=-1", "a", "a"],
    );
    assert_eq!(code, 2);
    assert_eq!(err, "--tolerance must be a finite number >= 0\n");
    let (code, _, err) = run(tmp.path(), &["diff", "--replay", "--all", "a", "a"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = run(tmp.path(), &["diff", "--replay", "a", "missing"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.starts_with("INVALID: "), "{err}");
}

/// A capsule showing every replay block: env fallback, strict determinism with an unmet
/// precondition, a resume and a fork source, single-process distributed metadata.
fn rich_spec(name: &str) -> CapsuleSpec {
    let mut x = ExecutionSpec::new("tuned_v0").strict();
    x.fallback_fields = vec!["eps".to_owned()];
    x.preconditions.push((
        "cublas_workspace_config".to_owned(),
        false,
        "unset".to_owned(),
        ":4096:8 or :16:8".to_owned(),
    ));
    x.attempts = vec![(None, "start".to_owned()), (Some(300), "resume".to_owned())];
    x.forked_from =
        Some(json!({"run_id": "run_src", "outdir": "src", "gate_contract_hash": "ab".repeat(32)}));
    let mut spec = replay_spec("run_rich", name).with_execution(x);
    spec.distributed = Some(distributed_payload("single_process", 1, None));
    spec
}

#[test]
fn report_and_inspect_show_the_replay_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "rich", &rich_spec("rich"));
    let (code, text, _) = run(tmp.path(), &["report", "rich"]);
    assert_eq!(code, 0);
    let hash = ExecutionSpec::new("tuned_v0").contract_hash().unwrap();
    assert!(
        text.contains(&format!(
            "Gate Contract: {} (profile tuned_v0, policy tuned_v0@1)\nFallback Fields: eps (from VERISCOPE_GATE_*)\nManifest: "
        , &hash[..12])),
        "{text}"
    );
    assert!(text.contains("\nRun Seed: 42 (flag)\nDeterminism: strict (2/3 preconditions met; unmet: cublas_workspace_config)\nLineage: 2 attempts (attempt 2 resumed after iter 300); forked from run_src (src, contract abababababab)\nDistributed: mode=single_process world_size=1 backend=unknown\n"), "{text}");
    let (_, json_text, _) = run(tmp.path(), &["report", "--json", "rich"]);
    let doc: Value = serde_json::from_str(&json_text).unwrap();
    let x = &doc["execution"];
    assert_eq!(x["gate_contract"]["hash"], json!(hash));
    assert_eq!(x["gate_contract"]["fallback_fields"], json!(["eps"]));
    assert_eq!(x["manifest"]["hash_verified"], json!(true));
    assert_eq!(x["manifest"]["run_seed"], json!(42));
    assert_eq!(
        x["determinism"]["unmet"],
        json!(["cublas_workspace_config"])
    );
    assert_eq!(
        x["determinism"]["met"],
        json!(["run_seed_fixed", "pythonhashseed_set"])
    );
    assert_eq!(
        x["lineage"]["attempts"][1]["resumed_after_iter"],
        json!(300)
    );
    assert_eq!(doc["distributed"]["mode"], "single_process");
    // Older capsules: nothing new in any format.
    write(
        tmp.path(),
        "legacy",
        &CapsuleSpec::gpt_run("run_legacy", &DECISIONS),
    );
    let (_, legacy_json, _) = run(tmp.path(), &["report", "--json", "legacy"]);
    assert!(!legacy_json.contains("\"execution\""));
    let (_, legacy_text, _) = run(tmp.path(), &["report", "legacy"]);
    assert!(!legacy_text.contains("Gate Contract") && !legacy_text.contains("Manifest:"));
    let runs: Vec<Vec<&str>> = vec![
        vec!["report", "rich"],
        vec!["report", "--format", "md", "rich"],
        vec!["report", "--format", "json", "rich"],
        vec!["inspect", "rich"],
    ];
    snapshot("report_inspect", support::transcripts_in(tmp.path(), &runs));
    let (_, html, _) = run(tmp.path(), &["report", "--format", "html", "rich"]);
    assert!(html.contains("<tr><td>Gate Contract</td><td>"), "html row");
    assert!(html.contains(
        "<tr><td>Lineage</td><td>2 attempts (attempt 2 resumed after iter 300); forked from run_src"
    ));
}

#[test]
fn unsupported_contract_is_in_the_report_header() {
    let tmp = tempfile::tempdir().unwrap();
    let mut x = ExecutionSpec::new("tuned_v0");
    x.gate_policy_version = "tuned_v0@9".to_owned();
    let spec = replay_spec("run_future", "future").with_execution(x);
    write(tmp.path(), "future", &spec);
    let (code, text, _) = run(tmp.path(), &["report", "future"]);
    assert_eq!(code, 0, "the artifacts remain a valid record");
    assert!(text.starts_with("WARNING: UNSUPPORTED_CONTRACT field=gate_policy_version value=\"tuned_v0@9\" supported=[tuned_v0@1, "), "{text}");
    assert!(
        text.contains("policy tuned_v0@9) UNSUPPORTED by this build\n"),
        "{text}"
    );
    let (_, md, _) = run(tmp.path(), &["report", "--format", "md", "future"]);
    assert!(
        md.starts_with("> **WARNING: UNSUPPORTED_CONTRACT field=gate_policy_version"),
        "{md}"
    );
    let (_, json_text, _) = run(tmp.path(), &["report", "--json", "future"]);
    let doc: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(
        doc["execution"]["gate_contract"]["unsupported"][0]
            .as_str()
            .unwrap()
            .split(" supported=")
            .next(),
        Some("UNSUPPORTED_CONTRACT field=gate_policy_version value=\"tuned_v0@9\"")
    );
    let (_, html, _) = run(tmp.path(), &["report", "--format", "html", "future"]);
    assert!(html.contains(
        "<div class=\"banner warnb\">WARNING: UNSUPPORTED_CONTRACT field=gate_policy_version"
    ));
    let (_, inspect, _) = run(tmp.path(), &["inspect", "future"]);
    assert!(
        inspect.contains("\n  WARNING     UNSUPPORTED_CONTRACT field=gate_policy_version"),
        "{inspect}"
    );
    snapshot(
        "unsupported_contract",
        support::transcripts_in(
            tmp.path(),
            &[vec!["report", "future"], vec!["inspect", "future"]],
        ),
    );
}

#[test]
fn diff_and_compare_warn_on_distributed_and_contract_differences() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = replay_spec("run_a", "a");
    a.distributed = Some(distributed_payload("single_process", 1, None));
    write(tmp.path(), "a", &a);
    let mut x = ExecutionSpec::new("tuned_v0");
    x.normalized_gate_config["eps"] = json!(0.25);
    x.normalized_gate_config["persistence_k"] = json!(3);
    let mut b = replay_spec("run_b", "b").with_execution(x);
    b.distributed = Some(distributed_payload("ddp_wrapped", 4, Some("nccl")));
    write(tmp.path(), "b", &b);
    let dist = "WARNING:DISTRIBUTED_METADATA_MISMATCH A(mode=single_process,world_size=1,backend=unknown) B(mode=ddp_wrapped,world_size=4,backend=nccl)";
    let contract = "fields: eps (A=0.2 B=0.25), persistence_k (A=2 B=3)";
    let (code, _, err) = run(tmp.path(), &["diff", "a", "b"]);
    assert_eq!(code, 0);
    assert!(err.contains(dist), "{err}");
    assert!(err.contains("WARNING:GATE_CONTRACT_MISMATCH A="), "{err}");
    assert!(err.contains(contract), "{err}");
    let (code, _, err) = run(tmp.path(), &["report", "--compare", "a", "b"]);
    assert_eq!(code, 0);
    assert!(err.contains(&format!("run=run_b:{dist}")), "{err}");
    assert!(err.contains(contract), "{err}");
    let (code, _, err) = run(tmp.path(), &["diff", "--replay", "a", "b"]);
    assert_eq!(code, 2, "different contracts: different manifests");
    assert!(err.starts_with("WARNING:DISTRIBUTED_METADATA_MISMATCH A(mode=single_process,world_size=1) B(mode=ddp_wrapped,world_size=4)\nWARNING:GATE_CONTRACT_MISMATCH"), "{err}");
    assert!(err.contains("manifest.gate_contract_hash: A="), "{err}");
    // An unrecorded side counts as one process: warned against a distributed run only.
    write(
        tmp.path(),
        "plain",
        &CapsuleSpec::gpt_run("run_plain", &DECISIONS),
    );
    let (_, _, err) = run(tmp.path(), &["diff", "plain", "a"]);
    assert!(err.is_empty(), "{err}");
    let (_, _, err) = run(tmp.path(), &["diff", "plain", "b"]);
    assert_eq!(
        err,
        "WARNING:DISTRIBUTED_METADATA_MISMATCH A(mode=unrecorded,world_size=unrecorded,backend=unrecorded) B(mode=ddp_wrapped,world_size=4,backend=nccl)\n"
    );
    snapshot(
        "warnings",
        support::transcripts_in(
            tmp.path(),
            &[
                vec!["diff", "a", "b"],
                vec!["report", "--compare", "a", "b"],
            ],
        ),
    );
}
