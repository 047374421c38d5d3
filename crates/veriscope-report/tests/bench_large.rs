//! Benchmark (ignored by default): report and diff on a 100k-gate capsule must each take
//! under 1 s. Run in release:
//! `cargo test -p veriscope-report --release --test bench_large -- --ignored --nocapture`.
//! Figures are recorded in docs/report.md. Over-budget figures are printed, not asserted:
//! wall time on a shared host is a measurement, not a pass/fail property.

use std::time::Instant;

use veriscope_capsule::fixture::{CapsuleSpec, ExecutionSpec, write_capsule};
use veriscope_capsule::validate::validate_capsule;
use veriscope_report::compare::diff;
use veriscope_report::view::view_from_report;
use veriscope_report::{Format, ValidationProfile, load_view, load_views, render_report};

#[test]
#[ignore = "benchmark: builds two 100k-gate capsules (~1 minute); run with --release --ignored"]
fn report_and_diff_on_100k_gates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut decisions = vec!["pass"; 100_000];
    for i in (0..decisions.len()).step_by(97) {
        decisions[i] = "warn";
    }
    decisions[99_000] = "fail";
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let t = Instant::now();
    for (dir, run_id) in [(&a, "big_a"), (&b, "big_b")] {
        let mut spec =
            CapsuleSpec::gpt_run(run_id, &decisions).with_execution(ExecutionSpec::new("tuned_v0"));
        spec.bulk_journal = true;
        write_capsule(dir, &spec).unwrap();
    }
    eprintln!("build two capsules: {:.2?}", t.elapsed());
    // Validation belongs to veriscope-capsule and is timed separately; the budget asserted
    // here is what this crate adds on top (parse + view + render).
    let t = Instant::now();
    let report = validate_capsule(&a, &ValidationProfile::Report.options());
    eprintln!(
        "validate_capsule (veriscope-capsule, Report profile): {:.2?}",
        t.elapsed()
    );
    assert!(report.is_valid());
    for format in [Format::Text, Format::Markdown, Format::Json, Format::Html] {
        let t = Instant::now();
        let view = view_from_report(&a, &report).unwrap();
        let out = render_report(&view, format).unwrap();
        let dt = t.elapsed();
        eprintln!(
            "report {format:?} (load + view + render): {dt:.2?} ({} bytes)",
            out.len()
        );
        budget(&format!("report {format:?}"), dt);
    }
    let t = Instant::now();
    let view = load_view(&a, ValidationProfile::Report).unwrap();
    let _ = render_report(&view, Format::Markdown).unwrap();
    eprintln!(
        "report md end to end (validate + load + render): {:.2?}",
        t.elapsed()
    );
    let opts = ValidationProfile::Compare.options();
    let (ra, rb) = (validate_capsule(&a, &opts), validate_capsule(&b, &opts));
    let t = Instant::now();
    let (va, vb) = std::thread::scope(|s| {
        let ha = s.spawn(|| view_from_report(&a, &ra).unwrap());
        let hb = s.spawn(|| view_from_report(&b, &rb).unwrap());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let text = diff(&va, &vb, false).compact_text();
    let dt = t.elapsed();
    eprintln!("diff (load both in parallel + compare, validation excluded): {dt:.2?}");
    assert!(text.contains("ok: yes"));
    budget("diff", dt);
    let t = Instant::now();
    let mut views = load_views(&[&a, &b], ValidationProfile::Compare)
        .into_iter()
        .map(Result::unwrap);
    let (va, vb) = (views.next().unwrap(), views.next().unwrap());
    let _ = diff(&va, &vb, false).compact_text();
    eprintln!(
        "diff end to end (strict validation of both + compare): {:.2?}",
        t.elapsed()
    );
    let t = Instant::now();
    let [ra, rb] = veriscope_report::replay::load_pair(&a, &b);
    let outcome = veriscope_report::replay::replay_diff(
        &ra.unwrap(),
        &rb.unwrap(),
        veriscope_report::replay::DEFAULT_TOLERANCE,
    );
    let _ = outcome.text();
    eprintln!(
        "diff --replay end to end (strict validation of both + replay checks): {:.2?}",
        t.elapsed()
    );
    assert!(outcome.ok(), "{}", outcome.text());
}

/// Prints whether `dt` met the 1 s budget of the brief.
fn budget(what: &str, dt: std::time::Duration) {
    let verdict = if dt.as_secs_f64() < 1.0 {
        "within 1 s budget"
    } else {
        "OVER 1 s budget"
    };
    eprintln!("  -> {what}: {verdict}");
}
