//! Markdown report following productization Appendix A's skeleton: title, run metadata table,
//! Gate Summary, FAR / detection / overhead when the data exist, Manual Judgement only when an
//! overlay exists (productization §2.4), Artifacts with paths relative to OUTDIR, Governance.

use super::{
    PARTIAL_BANNER, UNIVERSAL_NOTE, contract_banners, distributed_banner, execution_rows,
    universal_preset,
};
use crate::fmt::{md_cell, pct, prefix, py_str_or_dash};
use crate::view::CapsuleView;

/// Width of the metadata table's first column in Appendix A.
const FIELD_WIDTH: usize = 16;

/// Renders the Markdown report (ends with one newline).
pub fn render(view: &CapsuleView) -> String {
    let mut out: Vec<String> = Vec::new();
    if let Some(banner) = distributed_banner(view) {
        out.extend([format!("> **{banner}**"), String::new()]);
    }
    for banner in contract_banners(view) {
        out.extend([format!("> **{}**", md_cell(&banner)), String::new()]);
    }
    if view.partial {
        out.extend([format!("> **{PARTIAL_BANNER}**"), String::new()]);
    }
    out.extend([
        format!("# Veriscope Report: `{}`", view.outdir),
        String::new(),
    ]);
    metadata(view, &mut out);
    if universal_preset(view) {
        out.extend([format!("> **NOTE:** {UNIVERSAL_NOTE}"), String::new()]);
    }
    gate_summary(view, &mut out);
    acceptance(view, &mut out);
    manual_judgement(view, &mut out);
    artifacts(view, &mut out);
    governance(view, &mut out);
    if let Some((ty, msg)) = &view.error_capsule {
        out.extend([
            "## Error Capsule".to_owned(),
            String::new(),
            format!("- **Type**: `{ty}`"),
            format!("- **Message**: {msg}"),
            String::new(),
        ]);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out.join("\n") + "\n"
}

fn row(field: &str, value: &str) -> String {
    format!("| {field:<FIELD_WIDTH$} | {value} |")
}

fn metadata(view: &CapsuleView, out: &mut Vec<String>) {
    out.push(row("Field", "Value"));
    out.push(format!("|{}|-------|", "-".repeat(FIELD_WIDTH + 2)));
    out.push(row("Run ID", &format!("`{}`", view.run_id)));
    out.push(row("Status", &view.run_status));
    out.push(row(
        "Final Status",
        &format!("**{}**", view.final_status_label()),
    ));
    out.push(row(
        "Wrapper Exit",
        &py_str_or_dash(view.wrapper_exit_code.as_ref()),
    ));
    out.push(row(
        "Runner Exit",
        &py_str_or_dash(view.runner_exit_code.as_ref()),
    ));
    out.push(row(
        "gate_preset",
        &format!("`{}`", md_cell(&view.gate_preset)),
    ));
    out.push(row("Started", &view.started));
    out.push(row(
        "Ended",
        if view.ended.is_empty() {
            "-"
        } else {
            &view.ended
        },
    ));
    out.push(row(
        "Window Signature",
        &format!("`sha256:{}`", view.window_hash),
    ));
    for (label, value) in execution_rows(view) {
        out.push(row(label, &md_cell(&value)));
    }
    out.push(String::new());
}

fn gate_summary(view: &CapsuleView, out: &mut Vec<String>) {
    let c = view.counts;
    let headers = ["Total checks", "Evaluated", "SKIP", "WARN", "FAIL"];
    let values = [c.total(), c.evaluated, c.skip, c.warn, c.fail];
    out.extend(["## Gate Summary".to_owned(), String::new()]);
    out.push(format!("| {} |", headers.join(" | ")));
    out.push(format!(
        "|{}|",
        headers
            .iter()
            .map(|h| format!("{}:", "-".repeat(h.len() + 1)))
            .collect::<Vec<_>>()
            .join("|")
    ));
    let cells: Vec<String> = headers
        .iter()
        .zip(values)
        .map(|(h, v)| format!("{:<w$}", v, w = h.len()))
        .collect();
    out.push(format!("| {} |", cells.join(" | ")));
    out.push(String::new());
    let na = || "not available".to_owned();
    out.push(format!("- PASS: {}", c.pass));
    out.push(format!(
        "- evaluated_fraction: {}",
        view.evaluated_fraction()
            .map_or_else(na, |f| format!("{f:.3}"))
    ));
    out.push(format!(
        "- first_evaluated_step: {}",
        view.first_evaluated_step()
            .map_or_else(na, |s| s.to_string())
    ));
    out.push(format!(
        "- first_fail_iter: {}",
        view.first_fail_iter
            .map_or_else(|| "-".to_owned(), |s| s.to_string())
    ));
    out.push(String::new());
}

fn acceptance(view: &CapsuleView, out: &mut Vec<String>) {
    if view.injection.is_none()
        && let Some((alarms, n)) = view.far_counts()
    {
        out.extend([
            "## False Alarm Rate (control)".to_owned(),
            format!(
                "- FAR (post-warmup): {} ({alarms}/{n})",
                pct(alarms as f64 / n as f64)
            ),
            String::new(),
        ]);
    }
    if let Some(line) = super::text::detection_line(view) {
        out.extend([
            "## Detection (injected)".to_owned(),
            format!("- {line}"),
            String::new(),
        ]);
    }
    let mut overhead = Vec::new();
    if let Some(o) = view.overhead {
        overhead.push(format!(
            "- Overhead (wall-clock): {} (from timing fields)",
            pct(o.fraction())
        ));
    }
    if let Some(o) = view.probe_overhead() {
        overhead.push(format!("- {}", super::text::probe_overhead_line(o)));
    }
    if !overhead.is_empty() {
        out.push("## Overhead".to_owned());
        out.append(&mut overhead);
        out.push(String::new());
    }
}

fn manual_judgement(view: &CapsuleView, out: &mut Vec<String>) {
    let Some(o) = &view.overlay else { return };
    out.extend([
        "## Manual Judgement".to_owned(),
        String::new(),
        "| Field | Value |".to_owned(),
        "|---|---|".to_owned(),
    ]);
    out.push(format!("| Status | **{}** |", o.status.to_uppercase()));
    out.push(format!("| Reason | {} |", md_cell(&o.reason)));
    out.push(format!(
        "| Reviewer | {} |",
        o.reviewer
            .as_deref()
            .map_or_else(|| "-".to_owned(), md_cell)
    ));
    out.push(format!("| Timestamp | {} |", o.ts_utc));
    let source = match o.rev {
        Some(rev) => format!("`manual_judgement.{}` (rev {rev})", o.source.as_str()),
        None => format!("`manual_judgement.{}`", o.source.as_str()),
    };
    out.push(format!("| Source | {source} |"));
    out.push(String::new());
    out.push(format!(
        "- Automated decision: `{}` (the overlay does not change gate records)",
        view.final_decision
    ));
    out.push(String::new());
}

fn artifacts(view: &CapsuleView, out: &mut Vec<String>) {
    out.extend([
        "## Artifacts".to_owned(),
        String::new(),
        "| Artifact | Path |".to_owned(),
        "|---------|------|".to_owned(),
    ]);
    for a in view.artifacts.iter().filter(|a| a.present) {
        out.push(format!("| {} | `{}` |", a.label, a.path));
    }
    out.push(String::new());
}

fn governance(view: &CapsuleView, out: &mut Vec<String>) {
    let g = &view.governance;
    out.extend(["## Governance".to_owned(), String::new()]);
    if !g.present {
        out.push("- Log: not present".to_owned());
        out.push(String::new());
        return;
    }
    out.push("- Log: `governance_log.jsonl`".to_owned());
    out.push(format!(
        "- Valid: {}",
        if g.valid { "yes" } else { "**NO**" }
    ));
    let hash = g
        .last_hash
        .as_deref()
        .map_or_else(|| "-".to_owned(), |h| format!("`{}`", prefix(h, 12)));
    out.push(format!(
        "- Last rev: {} ({hash})",
        g.last_rev.map_or_else(|| "-".to_owned(), |r| r.to_string())
    ));
    if g.legacy_missing_hash {
        out.push("- Legacy entries (missing entry_hash): yes".to_owned());
    }
    if !g.event_counts.is_empty() {
        let events: Vec<String> = g
            .event_counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push(format!("- Events: {}", events.join(", ")));
    }
    if g.warnings > 0 {
        out.push(format!("- Warnings: {}", g.warnings));
    }
    for e in &g.errors {
        out.push(format!("- Error: `{}`", md_cell(e)));
    }
    out.push(String::new());
}
