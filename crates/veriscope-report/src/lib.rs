//! veriscope-report: what people read, paste and decide from.
//!
//! Owns the read-side views of run capsules and their renderers:
//! - [`view`]: one capsule loaded into a [`view::CapsuleView`] (validated first; the
//!   displayed final status follows contract_v1 §Precedence Map via [`overlay`]);
//! - [`render`]: `report` as text (the original's layout), Markdown (productization
//!   Appendix A), JSON (a stable document with [`report_schema`]) and self-contained HTML;
//! - [`compare`]: `Comparable(A,B)` (contract_v1 §Comparable(A,B)), `diff` and `report --compare`;
//! - [`inspect`]: the one-screen summary;
//! - [`execution`]: the gate contract, run manifest, determinism and lineage blocks shown by
//!   `report` and `inspect` (docs/replay.md);
//! - [`replay`]: `diff --replay A B`, the MUST / SHOULD / never-compared replay check;
//! - [`economic`]: the `--economic` estimate (iterations, hours and dollars a stop saves);
//! - [`calibrate`]: FAR / detection delay / overhead scoring over control and injected capsules;
//! - [`manual`]: the all-or-nothing `override` writer (manual judgement overlay + governance event).
//!
//! Libraries here take paths, the clock and the working directory as parameters; nothing reads
//! the environment.

pub mod calibrate;
pub mod compare;
pub mod economic;
mod error;
pub mod execution;
mod fmt;
pub mod inspect;
pub mod manual;
pub mod overlay;
pub mod render;
pub mod replay;
mod results_lite;
pub mod stream;
pub mod view;

pub use error::ReportError;
pub use render::json::{ReportDocument, report_document, report_schema};
pub use view::{CapsuleView, ValidationProfile, load_view, load_views};

/// Output formats of `veriscope report` (single capsule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The original's plain-text layout.
    Text,
    /// Markdown following productization Appendix A.
    Markdown,
    /// The stable JSON document ([`report_schema`]).
    Json,
    /// One self-contained HTML file with inline SVG charts.
    Html,
}

/// Renders one capsule view in `format`.
pub fn render_report(view: &CapsuleView, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Text => render::text::render(view),
        Format::Markdown => render::md::render(view),
        Format::Json => render::json::render(view)?,
        Format::Html => render::html::render(view),
    })
}
