//! Renderers of one capsule view: text, Markdown, JSON and HTML.

pub mod html;
pub mod json;
pub mod md;
pub mod text;

use crate::view::CapsuleView;

/// The banner shown atop a partial capsule (contract_v1 §Artifact Set "partial run capsules").
pub const PARTIAL_BANNER: &str = "PARTIAL CAPSULE: the run was interrupted before results.json was written; counts are placeholders and the capsule is not comparable.";

/// Disclaimer for universal_v0 presets (cli_contracts A8).
pub const UNIVERSAL_NOTE: &str = "universal_v0 is a plumbing/safety gate only (NaN/overflow/missing telemetry); PASS is not a full training-health claim.";

/// The distributed banner text, when the run was distributed.
pub fn distributed_banner(view: &CapsuleView) -> Option<String> {
    let d = view.distributed.as_ref().filter(|d| d.is_distributed())?;
    let (mode, ws, backend) = d.key();
    Some(format!(
        "WARNING: distributed execution detected (mode={mode}, world_size={ws}, backend={backend}). Comparisons may be misleading."
    ))
}

/// The universal_v0 disclaimer applies (preset prefix match, cli_contracts B5).
pub fn universal_preset(view: &CapsuleView) -> bool {
    view.gate_preset.trim().starts_with("universal_v0")
}

/// `WARNING: UNSUPPORTED_CONTRACT ...` / `WARNING: CONTRACT_MISMATCH ...` banners, one per
/// finding of the capsule's persisted gate contract (docs/replay.md §1 "Tokens").
pub fn contract_banners(view: &CapsuleView) -> Vec<String> {
    let Some(x) = &view.execution else {
        return Vec::new();
    };
    x.contract_findings()
        .into_iter()
        .map(|f| {
            let why = if f.starts_with("UNSUPPORTED_CONTRACT") {
                "this build cannot resume or re-run this contract; the recorded artifacts remain a valid record"
            } else {
                "the persisted gate contract is inconsistent; `veriscope validate` rejects this capsule"
            };
            format!("WARNING: {f} ({why})")
        })
        .collect()
}

/// The replay header rows (label, value) of a capsule that records a gate contract, manifest,
/// determinism or lineage (docs/replay.md); empty for older capsules.
pub fn execution_rows(view: &CapsuleView) -> Vec<(&'static str, String)> {
    let Some(x) = &view.execution else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    if let Some(t) = x.contract_text() {
        rows.push(("Gate Contract", t));
    }
    if let Some(t) = x.fallback_text() {
        rows.push(("Fallback Fields", t));
    }
    rows.push(("Manifest", x.manifest_text()));
    if let Some(t) = x.seed_text() {
        rows.push(("Run Seed", t));
    }
    if let Some(t) = x.determinism_text() {
        rows.push(("Determinism", t));
    }
    if let Some(t) = x.lineage_text() {
        rows.push(("Lineage", t));
    }
    rows.push(("Distributed", distributed_text(view)));
    rows
}

/// `mode=ddp_wrapped world_size=2 backend=nccl` / `not recorded (single process)`.
pub fn distributed_text(view: &CapsuleView) -> String {
    match &view.distributed {
        Some(d) => {
            let (mode, ws, backend) = d.key();
            format!("mode={mode} world_size={ws} backend={backend}")
        }
        None => "not recorded (single process)".to_owned(),
    }
}
