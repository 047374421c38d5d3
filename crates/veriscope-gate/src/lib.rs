//! veriscope-gate: see the crate description in Cargo.toml.
