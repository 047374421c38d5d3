//! veriscope-report: see the crate description in Cargo.toml.
