//! `veriscope inspect`: a one-screen summary for humans — status, a compact decision strip,
//! first fail, overlay, governance validity and where to look next (cli_contracts A11 shows
//! what the original printed; this is deliberately shorter and more pointed).

use crate::fmt::prefix;
use crate::view::{CapsuleView, GatePoint};

/// Widest decision strip; longer runs are bucketed (worst decision per bucket).
pub const STRIP_WIDTH: usize = 64;

/// The artifacts `inspect` lists when a capsule is invalid (cli_contracts A11).
pub const EXPECTED_ARTIFACTS_HELP: &str = "Expected canonical artifacts under OUTDIR:\n  - window_signature.json\n  - results.json\n  - results_summary.json\nOptional:\n  - run_config_resolved.json\n  - manual_judgement.json\n  - manual_judgement.jsonl\n  - governance_log.jsonl";

fn severity(decision: &str) -> u8 {
    match decision {
        "fail" => 3,
        "warn" => 2,
        "pass" => 1,
        _ => 0,
    }
}

fn glyph(severity: u8) -> char {
    match severity {
        3 => 'F',
        2 => 'W',
        1 => '.',
        _ => '-',
    }
}

/// Decision strip: `.` pass, `W` warn, `F` fail, `-` skip; returns the strip and the number of
/// checks per character.
pub fn decision_strip(gates: &[GatePoint], width: usize) -> (String, usize) {
    let per = gates.len().div_ceil(width.max(1)).max(1);
    let strip = gates
        .chunks(per)
        .map(|c| glyph(c.iter().map(|g| severity(&g.decision)).max().unwrap_or(0)))
        .collect();
    (strip, per)
}

/// Renders the summary (ends with a newline).
pub fn render(view: &CapsuleView) -> String {
    let mut l: Vec<String> = Vec::new();
    let partial = if view.partial {
        "  [PARTIAL: interrupted run, not comparable]"
    } else {
        ""
    };
    l.push(format!("{}{partial}", view.outdir));
    let status = match &view.overlay {
        Some(o) => format!(
            "MANUAL {} (automated: {})",
            o.status.to_uppercase(),
            view.final_decision.to_uppercase()
        ),
        None => format!("{} (automated)", view.final_decision.to_uppercase()),
    };
    l.push(format!("  Status      {status}"));
    l.push(format!(
        "  Run         {} · run_status {} · preset {} · runner exit {}",
        view.run_id,
        view.run_status,
        view.gate_preset,
        crate::fmt::py_str_or_dash(view.runner_exit_code.as_ref())
    ));
    execution_lines(view, &mut l);
    let c = view.counts;
    l.push(format!(
        "  Gates       {} checks: {} evaluated, {} pass, {} warn, {} fail, {} skip",
        c.total(),
        c.evaluated,
        c.pass,
        c.warn,
        c.fail,
        c.skip
    ));
    if !view.gates.is_empty() {
        let (strip, per) = decision_strip(&view.gates, STRIP_WIDTH);
        let first = view.gates.first().map_or(0, |g| g.iter);
        let last = view.gates.last().map_or(0, |g| g.iter);
        l.push(format!("  Timeline    {strip}  (iters {first}..{last}; {per} check(s)/char; . pass W warn F fail - skip)"));
    }
    l.push(format!("  First fail  {}", first_fail_text(view)));
    if let Some(line) = crate::render::text::detection_line(view) {
        l.push(format!("  {line}"));
    }
    if !view.notifications.is_empty() {
        l.push(format!("  Notified    {}", notifications_text(view)));
    }
    l.push(format!("  Overlay     {}", overlay_text(view)));
    l.push(format!("  Governance  {}", governance_text(view)));
    if let Some(d) = view.distributed.as_ref().filter(|d| d.is_distributed()) {
        let (mode, ws, backend) = d.key();
        l.push(format!("  Distributed mode={mode} world_size={ws} backend={backend} (comparisons may be misleading)"));
    }
    let warnings: Vec<&String> = view
        .validation_warnings
        .iter()
        .chain(&view.overlay_warnings)
        .collect();
    if !warnings.is_empty() {
        l.push(format!("  Warnings    {}", warnings.len()));
        l.extend(warnings.iter().take(5).map(|w| format!("    {w}")));
    }
    l.push("  Next".to_owned());
    l.extend(next_steps(view).into_iter().map(|s| format!("    {s}")));
    l.join("\n") + "\n"
}

/// Contract, manifest, lineage and distributed lines when the capsule records them
/// (docs/replay.md); contract findings first, so they cannot be missed.
fn execution_lines(view: &CapsuleView, l: &mut Vec<String>) {
    let Some(x) = &view.execution else { return };
    for f in x.contract_findings() {
        l.push(format!("  WARNING     {f}"));
    }
    let mut contract = x.contract_text().unwrap_or_else(|| "-".to_owned());
    if let Some(fb) = x.fallback_text() {
        contract.push_str(&format!(" · fallback fields {fb}"));
    }
    l.push(format!("  Contract    {contract}"));
    let mut manifest = x.manifest_text();
    if let Some(seed) = x.seed_text() {
        manifest.push_str(&format!(" · seed {seed}"));
    }
    if let Some(d) = x.determinism_text() {
        manifest.push_str(&format!(" · determinism {d}"));
    }
    l.push(format!("  Manifest    {manifest}"));
    if let Some(t) = x.lineage_text() {
        l.push(format!("  Lineage     {t}"));
    }
    if !view
        .distributed
        .as_ref()
        .is_some_and(|d| d.is_distributed())
    {
        // A distributed run gets its own line below.
        l.push(format!(
            "  Distributed {}",
            crate::render::distributed_text(view)
        ));
    }
}

fn first_fail_text(view: &CapsuleView) -> String {
    let Some(iter) = view.first_fail_iter else {
        return "none".to_owned();
    };
    match view
        .gates
        .iter()
        .find(|g| g.iter == iter && g.decision == "fail")
    {
        Some(g) => {
            let dw = g
                .worst_dw
                .map_or_else(|| "-".to_owned(), crate::fmt::short_float);
            let eps = g
                .eps_eff
                .map_or_else(|| "-".to_owned(), crate::fmt::short_float);
            format!(
                "iter {iter} (worst D_W {dw} vs eps_eff {eps}; reason {})",
                if g.reason.is_empty() { "-" } else { &g.reason }
            )
        }
        None => format!("iter {iter}"),
    }
}

fn overlay_text(view: &CapsuleView) -> String {
    match &view.overlay {
        None => "none".to_owned(),
        Some(o) => format!(
            "{} by {} at {} (manual_judgement.{}): {}",
            o.status.to_uppercase(),
            o.reviewer.as_deref().unwrap_or("-"),
            o.ts_utc,
            o.source.as_str(),
            o.reason
        ),
    }
}

fn governance_text(view: &CapsuleView) -> String {
    let g = &view.governance;
    if !g.present {
        return "no governance_log.jsonl (diff/compare will refuse this capsule)".to_owned();
    }
    let rev = g.last_rev.map_or_else(|| "-".to_owned(), |r| r.to_string());
    let hash = g.last_hash.as_deref().map_or("-", |h| prefix(h, 12));
    if g.valid {
        let legacy = if g.legacy_missing_hash {
            ", legacy entries without entry_hash"
        } else {
            ""
        };
        format!("valid, rev {rev} ({hash}){legacy}")
    } else {
        format!("INVALID: {}", g.errors.first().map_or("-", String::as_str))
    }
}

/// `gate_fail@50 exit 0 · run_end exit 0` (docs/notify.md).
fn notifications_text(view: &CapsuleView) -> String {
    view.notifications
        .iter()
        .map(|n| match n.iter {
            Some(iter) => format!("{}@{iter} {}", n.event, n.outcome),
            None => format!("{} {}", n.event, n.outcome),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn next_steps(view: &CapsuleView) -> Vec<String> {
    let dir = &view.outdir;
    let mut steps = Vec::new();
    if let Some(iter) = view.first_fail_iter {
        steps.push(format!("{dir}/results.json: gates[] at iter {iter} (audit.per_metric_tv names the drifting metrics)"));
    }
    if view
        .artifacts
        .iter()
        .any(|a| a.path == crate::view::RUNNER_OUTPUT_LOG && a.present)
    {
        steps.push(format!(
            "{dir}/{}: runner stdout/stderr",
            crate::view::RUNNER_OUTPUT_LOG
        ));
    }
    if view.governance.present && !view.governance.valid {
        steps.push(format!("veriscope validate {dir} --strict-governance"));
    }
    steps.push(format!("veriscope report {dir} --format md > report.md"));
    if view.final_decision == "fail" && view.overlay.is_none() {
        steps.push(format!(
            "known false positive? veriscope override {dir} --status pass --reason \"...\""
        ));
    }
    steps
}
