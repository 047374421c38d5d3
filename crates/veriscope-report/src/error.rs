//! Errors of the report crate. Each maps to an exit code of contract_v1 §Exit Codes.

use std::path::PathBuf;

/// Why a view could not be produced or an output written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The capsule is missing or invalid: `report` exits 2 (contract_v1 §Exit Codes).
    #[error("Cannot report: {0}")]
    CannotReport(String),
    /// Input rejected with a contract token (diff/compare/calibrate/override): exit 2.
    #[error("{token}: {message}")]
    Invalid {
        /// Contract token, e.g. `MISSING_RESULTS_SUMMARY`.
        token: String,
        /// What is wrong.
        message: String,
    },
    /// A value could not be rendered as canonical JSON (a NaN slipped in): exit 3.
    #[error("cannot render JSON: {0}")]
    Canon(#[from] veriscope_canon::CanonError),
    /// Writing an output failed: exit 3.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// A tokenised input error.
    pub fn invalid(token: &str, message: impl Into<String>) -> Self {
        ReportError::Invalid {
            token: token.to_owned(),
            message: message.into(),
        }
    }

    /// Exit code for this error (2 for input problems, 3 for internal failures).
    pub fn exit_code(&self) -> u8 {
        match self {
            ReportError::CannotReport(_) | ReportError::Invalid { .. } => {
                veriscope_contracts::exit::INVALID
            }
            ReportError::Canon(_) | ReportError::Io { .. } => veriscope_contracts::exit::INTERNAL,
        }
    }
}
