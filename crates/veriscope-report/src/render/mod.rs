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
