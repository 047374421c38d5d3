//! `veriscope report` end to end: formats, exit codes, compare mode, the economic estimate,
//! and snapshots of every format over the committed fixture capsules.

mod support;

use assert_cmd::Command;
use serde_json::json;
use support::{fixtures, snapshot_name, transcripts, with_snapshot_dir};
use veriscope_capsule::fixture::{CapsuleSpec, RunConfigSpec, write_capsule};

fn veriscope() -> Command {
    Command::cargo_bin("veriscope").unwrap()
}

fn capsule(tmp: &tempfile::TempDir, name: &str, spec: &CapsuleSpec) -> std::path::PathBuf {
    let dir = tmp.path().join(name);
    write_capsule(&dir, spec).unwrap();
    dir
}

#[test]
fn renders_text_md_json_html() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = capsule(
        &tmp,
        "a",
        &CapsuleSpec::gpt_run("run_a", &["skip", "pass", "warn", "fail"]),
    );
    let text = veriscope()
        .arg("report")
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("Run ID: run_a\nStatus: SUCCESS\nFinal Status: FAIL\n"));
    assert!(text.ends_with("governance_log.jsonl: YES\n\n"));
    assert!(text.contains("  Total: 4\n  Evaluated: 3\n  PASS: 1\n  SKIP: 1\n  WARN: 1\n  FAIL: 1\n  evaluated_fraction: 0.750\n  first_evaluated_step: 150\n"));
    let md = veriscope()
        .args(["report", "--format", "md"])
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.starts_with(&format!(
        "# Veriscope Report: `{}`\n\n| Field            | Value |\n",
        dir.display()
    )));
    for section in [
        "## Gate Summary",
        "## Artifacts",
        "## Governance",
        "| Provenance | `run_config_resolved.json` |",
    ] {
        assert!(md.contains(section), "{section}");
    }
    let json = veriscope()
        .args(["report", "--json"])
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["schema"], "veriscope.report/v1");
    assert_eq!(doc["gate_summary"]["fail"], 1);
    let html = veriscope()
        .args(["report", "--format", "html"])
        .arg(&dir)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(html).unwrap().contains("<svg"));
}

#[test]
fn missing_artifacts_exit_2_with_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass"]));
    std::fs::remove_file(dir.join("window_signature.json")).unwrap();
    let out = veriscope()
        .arg("report")
        .arg(&dir)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("Cannot report: "), "{err}");
    assert!(err.contains("window_signature.json"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn compare_group_and_incompatible_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass", "fail"]));
    let b = capsule(&tmp, "b", &CapsuleSpec::gpt_run("run_b", &["pass", "fail"]));
    let mut c_spec = CapsuleSpec::gpt_run("run_c", &["pass", "fail"]);
    c_spec.gate_preset = "beta".into();
    let c = capsule(&tmp, "c", &c_spec);
    let out = veriscope()
        .args(["report", "--compare"])
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .ends_with("\nComparable group: yes, reason=OK\n")
    );
    let refused = veriscope()
        .args(["report", "--compare"])
        .args([&a, &b, &c])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(refused.stderr).unwrap();
    assert!(err.contains("INCOMPARABLE: GATE_PRESET_MISMATCH\n  ok: no\n  reason: GATE_PRESET_MISMATCH\n  details:\n    gate_preset: expected=tuned_v0 got=beta\n"), "{err}");
    let allowed = veriscope()
        .args(["report", "--compare", "--allow-incompatible"])
        .args([&a, &b, &c])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(allowed).unwrap();
    assert!(
        table.contains("| run_c | success | 0 | 0 | fail | fail | automated |"),
        "{table}"
    );
    assert!(table.contains("| no | GATE_PRESET_MISMATCH |\n\nComparable group: no, reason=GATE_PRESET_MISMATCH\n\nComparable details:\n- run_index=2\n"), "{table}");
    let json = veriscope()
        .args(["report", "--compare", "--format", "json"])
        .args([&a, &b])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["reference_run_id"], "run_a");
    assert_eq!(doc["comparisons"][1]["comparability"]["ok"], true);
}

#[test]
fn compare_rejects_partial_and_missing_governance() {
    let tmp = tempfile::tempdir().unwrap();
    let a = capsule(&tmp, "a", &CapsuleSpec::gpt_run("run_a", &["pass"]));
    let p = CapsuleSpec::gpt_run("run_p", &["pass"]).interrupted();
    let p = capsule(&tmp, "p", &p);
    let err = veriscope()
        .args(["report", "--compare"])
        .args([&a, &p])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("INCOMPARABLE: PARTIAL_CAPSULE")
    );
    let mut n = CapsuleSpec::gpt_run("run_n", &["pass"]);
    n.governance = false;
    let n = capsule(&tmp, "n", &n);
    let err = veriscope()
        .args(["report", "--compare"])
        .args([&a, &n])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with("INVALID: ") && err.contains("governance_log.jsonl"),
        "{err}"
    );
}

/// The economic flags of the reference example (cli_contracts A8, edge_cases.txt).
const ECONOMIC: [&str; 7] = [
    "--economic",
    "--planned-total-iters",
    "100",
    "--price-per-gpu-hour",
    "2.5",
    "--gpus",
    "2",
];

#[test]
fn every_format_over_the_valid_fixtures() {
    let dirs = fixtures("valid");
    assert!(dirs.len() >= 7, "expected the generated fixtures: {dirs:?}");
    with_snapshot_dir("report", || {
        for rel in &dirs {
            let rel = rel.as_str();
            let mut runs: Vec<Vec<&str>> = ["text", "md", "json", "html"]
                .into_iter()
                .map(|f| vec!["report", rel, "--format", f])
                .collect();
            runs.push([&["report", rel][..], &ECONOMIC[..]].concat());
            // Planned iterations and step time from the capsule itself, when recorded.
            runs.push(vec!["report", rel, "--format", "md", "--economic"]);
            insta::assert_snapshot!(snapshot_name(rel), transcripts(&runs));
        }
    });
}

#[test]
fn text_report_over_the_invalid_fixtures() {
    // report tolerates what its profile allows (an invalid journal is shown, not fatal) and
    // refuses the rest with `Cannot report: <validator message>`, exit 2.
    let dirs = fixtures("invalid");
    let runs: Vec<Vec<&str>> = dirs.iter().map(|d| vec!["report", d.as_str()]).collect();
    with_snapshot_dir("report", || {
        insta::assert_snapshot!("invalid", transcripts(&runs));
    });
}

#[test]
fn compare_over_the_fixtures() {
    let v = |n: &str| format!("fixtures/capsules/valid/{n}");
    let (four, ovl, ddp, ovr, fail, part) = (
        v("four_gate"),
        v("override_overlay"),
        v("distributed_ddp"),
        v("overrides_applied"),
        v("failing_run"),
        v("partial"),
    );
    let group = ["report", "--compare", &four, &ovl, &ddp, &ovr];
    let runs = vec![
        group.to_vec(),
        [&group[..], &["--format", "md"]].concat(),
        [&group[..], &["--format", "json"]].concat(),
        vec!["report", "--compare", &four, &fail],
        vec![
            "report",
            "--compare",
            &four,
            &fail,
            &part,
            "--allow-incompatible",
        ],
        vec!["report", "--compare", &four, &part, "--format", "json"],
    ];
    with_snapshot_dir("report", || {
        insta::assert_snapshot!("compare", transcripts(&runs));
    });
}

/// Runs `veriscope report` in `dir`; returns (exit code, stdout, stderr).
fn run_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = veriscope().current_dir(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn economic_flag_errors_exit_2_with_the_contract_messages() {
    let tmp = tempfile::tempdir().unwrap();
    write_capsule(
        &tmp.path().join("cap_a"),
        &CapsuleSpec::four_gate("run_a", "cap_a"),
    )
    .unwrap();
    let cases: [(&[&str], &str); 12] = [
        // Validated always, even without --economic, in the contract's order.
        (
            &["report", "cap_a", "--planned-total-iters", "0"],
            "--planned-total-iters must be >= 1",
        ),
        (
            &[
                "report",
                "cap_a",
                "--format",
                "md",
                "--economic",
                "--planned-total-iters",
                "0",
            ],
            "--planned-total-iters must be >= 1",
        ),
        (
            &[
                "report",
                "cap_a",
                "--planned-total-iters",
                "-5",
                "--gpus",
                "0",
            ],
            "--planned-total-iters must be >= 1",
        ),
        (
            &["report", "cap_a", "--price-per-gpu-hour", "-0.5"],
            "--price-per-gpu-hour must be >= 0",
        ),
        (
            &["report", "cap_a", "--price-per-gpu-hour", "inf"],
            "--price-per-gpu-hour must be a finite number",
        ),
        (&["report", "cap_a", "--gpus", "0"], "--gpus must be >= 1"),
        (
            &["report", "--compare", "cap_a", "cap_a", "--gpus", "-1"],
            "--gpus must be >= 1",
        ),
        (
            &["report", "cap_a", "--economic", "--json"],
            "--economic is not supported with JSON output",
        ),
        (
            &["report", "cap_a", "--economic", "--format", "json"],
            "--economic is not supported with JSON output",
        ),
        (
            &["report", "--compare", "cap_a", "cap_a", "--economic"],
            "--economic is only supported for single-OUTDIR report output",
        ),
        (
            &["report", "cap_a", "--economic", "--format", "html"],
            "--economic is supported with text and md output only",
        ),
        (
            &["inspect", "cap_a", "--economic", "--gpus", "0"],
            "--gpus must be >= 1",
        ),
    ];
    for (args, message) in cases {
        let (code, out, err) = run_in(tmp.path(), args);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (2, "", &*format!("{message}\n")),
            "{args:?}"
        );
    }
    // Flags are checked before the capsule is read; inspect validates the capsule first.
    let (code, _, err) = run_in(tmp.path(), &["report", "missing", "--gpus", "0"]);
    assert_eq!((code, err.as_str()), (2, "--gpus must be >= 1\n"));
    let (code, _, err) = run_in(tmp.path(), &["inspect", "missing", "--gpus", "0"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("INVALID: "), "{err}");
    // A non-integer is a usage error from the parser (exit 2), as argparse's int().
    let (code, _, _) = run_in(
        tmp.path(),
        &["report", "cap_a", "--planned-total-iters", "1e3"],
    );
    assert_eq!(code, 2);
}

#[test]
fn economic_estimate_matches_the_reference_example() {
    // edge_cases.txt: `report cap_a --economic --planned-total-iters 100 --price-per-gpu-hour
    // 2.5 --gpus 2` over the reference's 4-gate capsule. Our text report adds the Acceptance
    // block (FAR) the original lacks (docs/report.md); everything else is the reference's.
    let tmp = tempfile::tempdir().unwrap();
    write_capsule(
        &tmp.path().join("cap_a"),
        &CapsuleSpec::four_gate("run_a", "cap_a"),
    )
    .unwrap();
    let (code, out, err) = run_in(
        tmp.path(),
        &[&["report", "cap_a"][..], &ECONOMIC[..]].concat(),
    );
    assert_eq!((code, err.as_str()), (0, ""));
    let expected_tail = "Gate Summary:
  Total: 4
  Evaluated: 3
  PASS: 1
  SKIP: 1
  WARN: 1
  FAIL: 1
  evaluated_fraction: 0.750
  first_evaluated_step: 0

Acceptance:
  FAR (post-warmup): 66.7% (2/3)

Artifacts:
  run_config_resolved.json: NO
  window_signature.json: YES
  results.json: YES
  results_summary.json: YES
  manual_judgement.json: NO
  manual_judgement.jsonl: NO
  governance_log.jsonl: YES

Economic Estimate
-----------------

first_fail_iter: 2
planned_total_iters: 100

saved_iters: 98
saved_wall_clock: not available
saved_cost: not available

action: stop recommended
";
    assert!(
        out.starts_with(
            "Veriscope Report: cap_a\n\nRun ID: run_a\nStatus: SUCCESS\nFinal Status: FAIL\n"
        ),
        "{out}"
    );
    assert!(out.ends_with(expected_tail), "{out}");
    let (code, md, _) = run_in(
        tmp.path(),
        &[
            "report",
            "cap_a",
            "--format",
            "md",
            "--economic",
            "--planned-total-iters",
            "100",
        ],
    );
    assert_eq!(code, 0);
    assert!(md.ends_with("\n\n## Economic Estimate\n\n- first_fail_iter: 2\n- planned_total_iters: 100\n- saved_iters: 98\n- saved_wall_clock: not available\n- saved_cost: not available\n- action: stop recommended\n"), "{md}");
    // Without --economic the text report still ends with the blank line.
    let (_, plain, _) = run_in(
        tmp.path(),
        &["report", "cap_a", "--planned-total-iters", "100"],
    );
    assert!(plain.ends_with("governance_log.jsonl: YES\n\n"));
}

/// The `key: value` lines of the text estimate.
fn estimate_lines(out: &str) -> Vec<&str> {
    let block = &out[out.find("Economic Estimate\n").expect("economic block")..];
    block.lines().skip(2).filter(|l| !l.is_empty()).collect()
}

#[test]
fn economic_numbers_from_each_step_time_source() {
    let tmp = tempfile::tempdir().unwrap();
    let decisions = ["pass", "pass", "warn", "fail", "pass"]; // iters 100..300, first fail 250
    // 1. results.json step_time metrics (mean), planned from the forwarded gpt flag.
    let mut metric = CapsuleSpec::gpt_run("run_metric", &decisions);
    metric.step_time_s = Some(0.5);
    metric.run_config = Some(RunConfigSpec {
        forwarded_args: Some(vec!["--max_iters=1250".into()]),
        timing: Some((9_999.0, 9_000.0)),
        ..RunConfigSpec::new("gpt")
    });
    write_capsule(&tmp.path().join("metric"), &metric).unwrap();
    let (code, out, _) = run_in(
        tmp.path(),
        &[
            "report",
            "metric",
            "--economic",
            "--price-per-gpu-hour",
            "3",
        ],
    );
    assert_eq!(code, 0);
    // (1250 - 250) x 0.5 s = 500 s = 0.14 h; 500 / 3600 x 3 x 1 = 0.4166.
    assert_eq!(
        estimate_lines(&out),
        [
            "first_fail_iter: 250",
            "planned_total_iters: 1250",
            "saved_iters: 1000",
            "saved_wall_clock: 0.14 hours",
            "saved_cost: $0.42 (assuming 1 GPU at $3/hr)",
            "action: stop recommended",
        ]
    );
    // 2. runner_wall_s / planned when no step_time metric; an hf run's --max_steps; the flag
    //    overrides the recorded value.
    let mut wall = CapsuleSpec::gpt_run("run_wall", &decisions);
    wall.run_config = Some(RunConfigSpec {
        forwarded_args: Some(vec![
            "--max_steps".into(),
            "2250".into(),
            "--max_iters".into(),
            "7".into(),
        ]),
        timing: Some((3_700.0, 3_600.0)),
        ..RunConfigSpec::new("hf")
    });
    write_capsule(&tmp.path().join("wall"), &wall).unwrap();
    let (_, out, _) = run_in(
        tmp.path(),
        &[
            "report",
            "wall",
            "--economic",
            "--price-per-gpu-hour",
            "2",
            "--gpus",
            "8",
        ],
    );
    // step = 3600 / 2250 = 1.6 s; 2000 x 1.6 = 3200 s = 0.89 h; x 2 $/h x 8 = $14.22.
    assert_eq!(
        estimate_lines(&out)[1..5],
        [
            "planned_total_iters: 2250",
            "saved_iters: 2000",
            "saved_wall_clock: 0.89 hours",
            "saved_cost: $14.22 (assuming 8 GPUs at $2/hr)",
        ]
    );
    let (_, out, _) = run_in(
        tmp.path(),
        &[
            "report",
            "wall",
            "--economic",
            "--planned-total-iters",
            "4050",
        ],
    );
    // step = 3600 / 4050; 3800 iters saved = 3377.8 s = 0.94 h; no price, no cost.
    assert_eq!(
        estimate_lines(&out)[1..5],
        [
            "planned_total_iters: 4050",
            "saved_iters: 3800",
            "saved_wall_clock: 0.94 hours",
            "saved_cost: not available",
        ]
    );
    // 3. The metrics stream's step_ms (50 ms) when the run config has neither; our trainer's
    //    --max-iters spelling in the wrapper's raw forwarded args.
    let mut stream = CapsuleSpec::gpt_run("run_stream", &decisions);
    stream.metrics_stream = true;
    write_capsule(&tmp.path().join("stream"), &stream).unwrap();
    let rc_path = tmp.path().join("stream/run_config_resolved.json");
    let mut rc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rc_path).unwrap()).unwrap();
    rc["argv"] = json!({"raw_forwarded_args": ["--", "--max-iters", "72250", "--seed", "1"]});
    std::fs::write(&rc_path, rc.to_string()).unwrap();
    let (_, out, _) = run_in(
        tmp.path(),
        &[
            "report",
            "stream",
            "--economic",
            "--price-per-gpu-hour",
            "1.25",
            "--gpus",
            "4",
        ],
    );
    // 72000 x 0.05 s = 3600 s = 1.00 h; x 1.25 x 4 = $5.
    assert_eq!(
        estimate_lines(&out)[1..5],
        [
            "planned_total_iters: 72250",
            "saved_iters: 72000",
            "saved_wall_clock: 1.00 hours",
            "saved_cost: $5.00 (assuming 4 GPUs at $1.25/hr)",
        ]
    );
    // A first fail at iteration 0 is a first fail: everything planned is saved.
    let mut zero = CapsuleSpec::four_gate("run_zero", "zero");
    zero.decisions = vec!["fail".into(), "pass".into()];
    write_capsule(&tmp.path().join("zero"), &zero).unwrap();
    let (code, out, err) = run_in(
        tmp.path(),
        &[
            "report",
            "zero",
            "--economic",
            "--planned-total-iters",
            "40",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        estimate_lines(&out)[..3],
        [
            "first_fail_iter: 0",
            "planned_total_iters: 40",
            "saved_iters: 40"
        ]
    );
    // A planned total below the first fail saves nothing; actions follow the automated decision.
    let (_, out, _) = run_in(
        tmp.path(),
        &[
            "report",
            "metric",
            "--economic",
            "--planned-total-iters",
            "200",
        ],
    );
    assert_eq!(estimate_lines(&out)[2], "saved_iters: 0");
    for (name, decisions, action) in [
        ("warn", &["pass", "warn"][..], "investigate"),
        ("pass", &["pass", "pass"][..], "continue"),
        ("skip", &["skip"][..], "no evaluated gate yet"),
    ] {
        write_capsule(
            &tmp.path().join(name),
            &CapsuleSpec::gpt_run(name, decisions),
        )
        .unwrap();
        let (_, out, _) = run_in(
            tmp.path(),
            &["report", name, "--economic", "--planned-total-iters", "10"],
        );
        let lines = estimate_lines(&out);
        assert_eq!(lines[0], "first_fail_iter: not available");
        assert_eq!(lines[2], "saved_iters: not available");
        assert_eq!(lines[5], format!("action: {action}"));
    }
}
