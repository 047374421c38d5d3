//! veriscope-runner: see the crate description in Cargo.toml.
