//! Snapshot tests of every report format over synthetic capsules: passing, failing,
//! overridden, partial, distributed, injected (with timing). Temp paths and the journal's last
//! hash (which covers the temp path) are scrubbed so snapshots are stable.

use std::path::Path;

use serde_json::json;
use veriscope_report::manual::{OverrideRequest, Timestamp, apply_override};
use veriscope_report::synth::{CapsuleSpec, write_capsule};
use veriscope_report::{CapsuleView, Format, ValidationProfile, load_view, render_report};

fn build(spec: &CapsuleSpec) -> (tempfile::TempDir, CapsuleView) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(&dir, spec).unwrap();
    let view = load_view(&dir, ValidationProfile::Report).unwrap();
    (tmp, view)
}

fn scrub(text: &str, view: &CapsuleView) -> String {
    let mut out = text.replace(&view.outdir, "<OUTDIR>");
    if let Some(h) = &view.governance.last_hash {
        out = out
            .replace(h.as_str(), "<LAST_HASH>")
            .replace(&h[..12], "<LAST_HASH12>");
    }
    out
}

fn all_formats(view: &CapsuleView) -> String {
    [Format::Text, Format::Markdown, Format::Json]
        .into_iter()
        .map(|f| {
            format!(
                "===== {f:?}\n{}",
                scrub(&render_report(view, f).unwrap(), view)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn failing_run_all_formats() {
    let (_tmp, view) = build(&CapsuleSpec::new(
        "run_fail",
        &["skip", "pass", "pass", "warn", "fail", "pass"],
    ));
    assert_eq!(view.final_decision, "fail");
    assert_eq!(view.first_fail_iter, Some(300));
    insta::assert_snapshot!(all_formats(&view));
}

#[test]
fn passing_control_shows_far_and_overhead() {
    let mut spec = CapsuleSpec::new("run_ctl", &["pass"; 20]);
    spec.gates[7].1 = "warn";
    spec.timing = Some((103.1, 100.0));
    let (_tmp, view) = build(&spec);
    let md = render_report(&view, Format::Markdown).unwrap();
    assert!(
        md.contains("## False Alarm Rate (control)\n- FAR (post-warmup): 5.0% (1/20)"),
        "{md}"
    );
    assert!(
        md.contains("- Overhead (wall-clock): 3.1% (from timing fields)"),
        "{md}"
    );
    assert!(
        !md.contains("## Manual Judgement"),
        "no overlay, no section"
    );
    insta::assert_snapshot!(scrub(&md, &view));
}

#[test]
fn overridden_run_shows_manual_status_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(&dir, &CapsuleSpec::new("run_ovr", &["pass", "fail"])).unwrap();
    let req = OverrideRequest {
        outdir: dir.clone(),
        status: "pass".into(),
        reason: "known false positive | data reload".into(),
        reviewer: Some("alice".into()),
        ts_utc: Some("2026-01-02T03:04:05".into()),
        force: false,
    };
    apply_override(&req, Timestamp::UNIX_EPOCH).unwrap();
    let view = load_view(&dir, ValidationProfile::Report).unwrap();
    assert_eq!(view.effective_decision(), "pass");
    assert_eq!(view.decision_source(), "manual");
    let text = render_report(&view, Format::Text).unwrap();
    assert!(text.contains("Final Status: MANUAL PASS"));
    assert!(text.contains("MANUAL JUDGEMENT:\n  Status: PASS\n  Reason: known false positive | data reload\n  Reviewer: alice\n  Timestamp: 2026-01-02T03:04:05Z"));
    insta::assert_snapshot!(all_formats(&view));
}

#[test]
fn partial_capsule_has_banner() {
    let mut spec = CapsuleSpec::new("run_part", &["pass", "pass"]);
    spec.partial = true;
    let (_tmp, view) = build(&spec);
    assert!(view.partial);
    for f in [Format::Text, Format::Markdown, Format::Html] {
        let out = render_report(&view, f).unwrap();
        assert!(out.contains("PARTIAL CAPSULE"), "{f:?}");
    }
    let text = render_report(&view, Format::Text).unwrap();
    assert!(
        text.contains("  evaluated_fraction: not available\n  first_evaluated_step: not available")
    );
    insta::assert_snapshot!(all_formats(&view));
}

#[test]
fn distributed_run_has_warning_banner() {
    let mut spec = CapsuleSpec::new("run_ddp", &["pass", "pass"]);
    spec.distributed = Some(
        json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 4, "backend": "nccl", "rank": 0, "local_rank": 0, "ddp_wrapped": true}),
    );
    let (_tmp, view) = build(&spec);
    let text = render_report(&view, Format::Text).unwrap();
    assert!(text.starts_with("WARNING: distributed execution detected (mode=ddp_wrapped, world_size=4, backend=nccl). Comparisons may be misleading.\n\n"));
    insta::assert_snapshot!(scrub(
        &render_report(&view, Format::Markdown).unwrap(),
        &view
    ));
}

#[test]
fn injected_run_reports_detection_delay_and_html_charts() {
    let mut spec = CapsuleSpec::new(
        "run_inj",
        &["pass", "pass", "pass", "pass", "warn", "fail", "fail"],
    );
    spec.injection = Some((240, 100));
    spec.metrics = true;
    let (_tmp, view) = build(&spec);
    // t0 = max(240, warmup 100) = 240; first warn at iter 300 -> 60 iters = 1.20 W.
    let text = render_report(&view, Format::Text).unwrap();
    assert!(
        text.contains(
            "  Detection: onset iter 240; first WARN/FAIL at iter 300 (delay 60 iters = 1.20 W)"
        ),
        "{text}"
    );
    assert!(
        !text.contains("FAR (post-warmup)"),
        "FAR is for control runs"
    );
    let html = render_report(&view, Format::Html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // The only URLs are SVG namespace declarations: nothing is fetched.
    assert_eq!(
        html.matches("http://").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(!html.contains("https://"));
    assert!(!html.contains("<script"), "no script, self-contained");
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "D_W, eff_dim, var_out_k, loss"
    );
    assert!(
        html.contains("fill=\"#cf222e\" fill-opacity=\"0.10\""),
        "injection window shaded"
    );
    assert!(html.contains("D_W against eps_eff per gate check"));
    // Manual visual check: VERISCOPE_HTML_OUT=/tmp/r.html, then scripts/render_html.sh.
    if let Some(path) = std::env::var_os("VERISCOPE_HTML_OUT") {
        std::fs::write(path, &html).unwrap();
    }
}

#[test]
fn metrics_stream_drives_charts_and_probe_overhead() {
    let mut spec = CapsuleSpec::new(
        "run_stream",
        &["pass", "pass", "pass", "pass", "warn", "fail", "fail"],
    );
    spec.injection = Some((240, 100));
    spec.metrics_stream = true;
    let (_tmp, view) = build(&spec);
    let stream = view.stream.as_ref().expect("metrics.jsonl loaded");
    assert_eq!(stream.path, "metrics.jsonl");
    assert_eq!(stream.samples, 41);
    // The real eff_dim values: 17 ± 1, pulled down after the injection onset at 240.
    let eff = &stream.metrics["eff_dim"];
    let lo = eff.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = eff.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    assert!(
        lo > 13.0 && lo < 14.5 && hi > 17.5 && hi <= 18.0,
        "{lo} {hi}"
    );
    let html = render_report(&view, Format::Html).unwrap();
    assert!(
        html.contains(&format!("eff_dim (min {}, max {})", short(lo), short(hi))),
        "eff_dim chart legend shows the values' range"
    );
    assert!(
        !html.contains("per-metric TV"),
        "real values, not the TV fallback"
    );
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "D_W, var_out_k, eff_dim, rankme, cos_disp, loss"
    );
    assert!(html.contains("ewma_loss"));
    assert!(
        html.contains("fill=\"#cf222e\" fill-opacity=\"0.10\""),
        "injection window shaded"
    );
    // Gate checks are drawn as decision-coloured dots on the metric curves.
    assert!(html.contains("r=\"3.2\" fill=\"#cf222e\""));
    // Overhead: 41 samples x (3 + 1) ms of probe and metrics over the training time they
    // cover: step_ms (50) is a per-step mean, weighted by the 10-iteration gap between
    // samples (the first sample counts one step): 164 / (50 + 40 x 10 x 50) = 0.8%.
    let line = "Overhead (probe + metrics vs training step): 0.8% (from timing fields)";
    for f in [Format::Text, Format::Markdown, Format::Html] {
        let out = render_report(&view, f).unwrap();
        assert!(out.contains(line), "{f:?}: {out}");
    }
    let doc: serde_json::Value =
        serde_json::from_str(&render_report(&view, Format::Json).unwrap()).unwrap();
    let fraction = doc["probe_overhead"]["fraction"].as_f64().unwrap();
    assert!((fraction - 164.0 / 20050.0).abs() < 1e-12, "{fraction}");
    assert_eq!(doc["probe_overhead"]["samples"], json!(41));
    insta::assert_snapshot!(scrub(
        &render_report(&view, Format::Markdown).unwrap(),
        &view
    ));
    if let Some(path) = std::env::var_os("VERISCOPE_STREAM_HTML_OUT") {
        std::fs::write(path, &html).unwrap();
    }
}

#[test]
fn partial_capsule_reads_default_metrics_jsonl() {
    let mut spec = CapsuleSpec::new("run_partial_stream", &["pass", "pass"]);
    spec.partial = true;
    spec.metrics_stream = true;
    let (_tmp, view) = build(&spec);
    assert!(view.partial);
    let stream = view.stream.as_ref().expect("default metrics.jsonl");
    assert!(stream.metrics.contains_key("rankme"));
    let html = render_report(&view, Format::Html).unwrap();
    assert!(html.contains("rankme (min "), "{html}");
}

#[test]
fn without_stream_charts_are_labelled_per_metric_tv() {
    let (_tmp, view) = build(&CapsuleSpec::new("run_tv", &["pass", "warn", "pass"]));
    assert!(view.stream.is_none());
    let html = render_report(&view, Format::Html).unwrap();
    assert!(html.contains("eff_dim: per-metric TV"));
    assert!(html.contains("no metrics stream in this capsule"));
    assert!(!html.contains("probe + metrics"));
}

/// `short_float` as the report prints axis and range labels (values here are in 1e-3..1e6).
fn short(x: f64) -> String {
    format!("{x:.4}")
}

#[test]
fn invalid_capsule_cannot_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cap");
    write_capsule(&dir, &CapsuleSpec::new("r", &["pass"])).unwrap();
    std::fs::remove_file(dir.join("results_summary.json")).unwrap();
    let err = load_view(&dir, ValidationProfile::Report).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().starts_with("Cannot report: "), "{err}");
    let missing = load_view(
        Path::new("/nonexistent/veriscope"),
        ValidationProfile::Report,
    )
    .unwrap_err();
    assert!(missing.to_string().contains("not found"), "{missing}");
}

#[test]
fn report_schema_describes_the_document() {
    let schema = veriscope_report::report_schema();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "schema",
        "run_id",
        "effective_decision",
        "gate_summary",
        "governance",
        "artifacts",
        "manual_judgement",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
}
