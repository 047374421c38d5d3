//! Plain-text report: the original tool's layout (reference_outputs/report_run_a_text.stdout.txt),
//! plus a PARTIAL banner and the FAR / detection / overhead lines when their data exist.

use std::fmt::Write as _;

use super::{
    PARTIAL_BANNER, UNIVERSAL_NOTE, contract_banners, distributed_banner, execution_rows,
    universal_preset,
};
use crate::fmt::{pct, py_str_or_dash, upper_yes_no};
use crate::view::CapsuleView;

/// The seven artifacts the original always lists, in its order.
const CORE_ARTIFACTS: [&str; 7] = [
    "run_config_resolved.json",
    "window_signature.json",
    "results.json",
    "results_summary.json",
    "manual_judgement.json",
    "manual_judgement.jsonl",
    "governance_log.jsonl",
];

/// Renders the text report (ends with a newline and a blank line, as the original).
pub fn render(view: &CapsuleView) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(banner) = distributed_banner(view) {
        lines.extend([banner, String::new()]);
    }
    for banner in contract_banners(view) {
        lines.extend([banner, String::new()]);
    }
    if view.partial {
        lines.extend([PARTIAL_BANNER.to_owned(), String::new()]);
    }
    lines.push(format!("Veriscope Report: {}", view.outdir));
    lines.push(String::new());
    header_lines(view, &mut lines);
    if let Some(o) = &view.overlay {
        lines.push("MANUAL JUDGEMENT:".to_owned());
        lines.push(format!("  Status: {}", o.status.to_uppercase()));
        lines.push(format!("  Reason: {}", o.reason));
        lines.push(format!(
            "  Reviewer: {}",
            o.reviewer.as_deref().unwrap_or("-")
        ));
        lines.push(format!("  Timestamp: {}", o.ts_utc));
        lines.push(String::new());
    }
    governance_lines(view, &mut lines);
    gate_summary_lines(view, &mut lines);
    acceptance_lines(view, &mut lines);
    lines.push("Artifacts:".to_owned());
    for name in CORE_ARTIFACTS {
        let present = view.artifacts.iter().any(|a| a.path == name && a.present);
        lines.push(format!("  {name}: {}", upper_yes_no(present)));
    }
    // Beyond the original's seven, only the wrapper's captures (productization §6) are listed.
    let captures = [crate::view::RUNNER_OUTPUT_LOG, crate::view::ENVIRONMENT_TXT];
    for a in view
        .artifacts
        .iter()
        .filter(|a| a.present && captures.contains(&a.path.as_str()))
    {
        lines.push(format!("  {}: YES", a.path));
    }
    lines.push(String::new());
    if let Some((ty, msg)) = &view.error_capsule {
        lines.extend([
            "Error Capsule:".to_owned(),
            format!("  Type: {ty}"),
            format!("  Message: {msg}"),
            String::new(),
        ]);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn header_lines(view: &CapsuleView, lines: &mut Vec<String>) {
    lines.push(format!("Run ID: {}", view.run_id));
    lines.push(format!("Status: {}", view.run_status.to_uppercase()));
    lines.push(format!("Final Status: {}", view.final_status_label()));
    if universal_preset(view) {
        lines.push(format!("NOTE: {UNIVERSAL_NOTE}"));
    }
    lines.push(format!(
        "Wrapper Exit: {}",
        py_str_or_dash(view.wrapper_exit_code.as_ref())
    ));
    lines.push(format!(
        "Runner Exit: {}",
        py_str_or_dash(view.runner_exit_code.as_ref())
    ));
    lines.push(format!("Gate Preset: {}", view.gate_preset));
    lines.push(format!("Started: {}", view.started));
    lines.push(format!("Ended: {}", view.ended));
    lines.push(format!("Window Signature: {}", view.window_hash));
    for (label, value) in execution_rows(view) {
        lines.push(format!("{label}: {value}"));
    }
    lines.push(String::new());
}

fn governance_lines(view: &CapsuleView, lines: &mut Vec<String>) {
    let g = &view.governance;
    lines.push("GOVERNANCE:".to_owned());
    lines.push(format!("  Log: {}", upper_yes_no(g.present)));
    if g.present {
        lines.push(format!("  Valid: {}", upper_yes_no(g.valid)));
        lines.push(format!(
            "  Last Rev: {}",
            g.last_rev.map_or("-".to_owned(), |r| r.to_string())
        ));
        lines.push(format!(
            "  Last Hash: {}",
            g.last_hash
                .as_deref()
                .map_or("-", |h| crate::fmt::prefix(h, 12))
        ));
        lines.push(format!(
            "  Legacy (missing entry_hash): {}",
            upper_yes_no(g.legacy_missing_hash)
        ));
        if !g.event_counts.is_empty() {
            let events: Vec<String> = g
                .event_counts
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            lines.push(format!("  Events: {}", events.join(", ")));
        }
        if !g.valid {
            lines.push("  ⚠ Governance log invalid:".to_owned());
            lines.extend(g.errors.iter().map(|e| format!("    {e}")));
        }
        if g.warnings > 0 {
            lines.push(format!("  Warnings: {}", g.warnings));
        }
    }
    lines.push(String::new());
}

fn gate_summary_lines(view: &CapsuleView, lines: &mut Vec<String>) {
    let c = view.counts;
    lines.push("Gate Summary:".to_owned());
    for (label, n) in [
        ("Total", c.total()),
        ("Evaluated", c.evaluated),
        ("PASS", c.pass),
        ("SKIP", c.skip),
        ("WARN", c.warn),
        ("FAIL", c.fail),
    ] {
        lines.push(format!("  {label}: {n}"));
    }
    let na = || "not available".to_owned();
    lines.push(format!(
        "  evaluated_fraction: {}",
        view.evaluated_fraction()
            .map_or_else(na, |f| format!("{f:.3}"))
    ));
    lines.push(format!(
        "  first_evaluated_step: {}",
        view.first_evaluated_step()
            .map_or_else(na, |s| s.to_string())
    ));
    lines.push(String::new());
}

/// FAR (control), detection (injected) and overhead, only when their data exist.
fn acceptance_lines(view: &CapsuleView, lines: &mut Vec<String>) {
    let mut block = Vec::new();
    if view.injection.is_none()
        && let Some((alarms, n)) = view.far_counts()
    {
        block.push(format!(
            "  FAR (post-warmup): {} ({alarms}/{n})",
            pct(alarms as f64 / n as f64)
        ));
    }
    if let Some(line) = detection_line(view) {
        block.push(format!("  {line}"));
    }
    if let Some(o) = view.overhead {
        block.push(format!("  Overhead (wall-clock): {}", pct(o.fraction())));
    }
    if let Some(o) = view.probe_overhead() {
        block.push(format!("  {}", probe_overhead_line(o)));
    }
    if !block.is_empty() {
        lines.push("Acceptance:".to_owned());
        lines.extend(block);
        lines.push(String::new());
    }
}

/// `Overhead (probe + metrics vs training step): X.X% (from timing fields)`.
pub(crate) fn probe_overhead_line(o: crate::stream::ProbeOverhead) -> String {
    if o.is_async() {
        return format!(
            "Overhead (probe time taken from training steps): {} (asynchronous probe; its worker used {} of training time on another thread; from timing fields)",
            pct(o.fraction()),
            pct(o.worker_fraction())
        );
    }
    format!(
        "Overhead (probe + metrics vs training step): {} (from timing fields)",
        pct(o.fraction())
    )
}

/// `Detection: onset iter N; first WARN/FAIL at iter M (delay D iters = x.xx W)`.
pub(crate) fn detection_line(view: &CapsuleView) -> Option<String> {
    let (t0, alarm, _fail) = view.detection()?;
    let mut s = String::new();
    let _ = write!(s, "Detection: onset iter {t0}; ");
    match alarm {
        Some(at) => {
            let delay = at - t0;
            let _ = write!(s, "first WARN/FAIL at iter {at} (delay {delay} iters");
            if let Some(w) = view.gate_window.filter(|w| *w > 0) {
                let _ = write!(s, " = {:.2} W", delay as f64 / w as f64);
            }
            s.push(')');
        }
        None => s.push_str("no WARN/FAIL after onset"),
    }
    Some(s)
}
