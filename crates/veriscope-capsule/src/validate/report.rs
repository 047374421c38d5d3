//! Findings and the validation report: what `validate` returns instead of errors.
//!
//! Findings are values (house_style §5.3): each has a stable code, a severity, the artifact it
//! concerns and the exact contract message. The CLI renders them; `report`, `diff` and the
//! wrapper read them.

use serde::Serialize;

use crate::governance::LogReport;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the capsule invalid (exit 2).
    Error,
    /// Printed, never fatal.
    Warning,
    /// Informational (e.g. a valid partial capsule).
    Note,
}

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `WINDOW_HASH_MISMATCH` (see docs/validate.md for the catalogue).
    pub code: String,
    /// Error, warning or note.
    pub severity: Severity,
    /// The artifact concerned (file name), when there is one.
    pub artifact: Option<String>,
    /// JSON-pointer-like location inside the artifact, when known.
    pub pointer: Option<String>,
    /// The contract message or token (byte-identical to the reference where it has one).
    pub message: String,
}

impl Finding {
    pub(crate) fn new(
        code: &str,
        severity: Severity,
        artifact: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code: code.to_owned(),
            severity,
            artifact: artifact.map(str::to_owned),
            pointer: None,
            message: message.into(),
        }
    }

    /// A finding built from a token such as `WARNING:GOVERNANCE_LOG_HASH_MISMATCH line=2`:
    /// the code is the word after the severity prefix.
    pub(crate) fn from_token(token: &str, severity: Severity, artifact: Option<&str>) -> Self {
        let body = token.split_once(':').map_or(token, |(_, rest)| rest);
        let code = body.split_whitespace().next().unwrap_or(body);
        Finding::new(code, severity, artifact, token)
    }
}

/// The outcome of validating one capsule.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationReport {
    /// `OK`, or the first error's message (what the CLI prints after `INVALID: `).
    pub message: String,
    /// Every finding, in check order.
    pub findings: Vec<Finding>,
    /// The recomputed window-signature hash, when it could be computed.
    pub window_signature_hash: Option<String>,
    /// The capsule is partial: results.json absent, summary partial, or softened identity warnings.
    pub partial: bool,
    /// The governance reader's result, when the journal was read.
    #[serde(skip)]
    pub governance: Option<LogReport>,
    /// results.json as read for display, when [`super::validate_capsule_keeping_results`]
    /// asked for it and the file passed its checks.
    #[serde(skip)]
    pub results: Option<super::ResultsRead>,
}

impl ValidationReport {
    /// No error findings.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Error findings, in order.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// Warning findings, in order.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// Note findings, in order.
    pub fn notes(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Note)
    }
}
