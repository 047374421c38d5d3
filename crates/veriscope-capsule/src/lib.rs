//! veriscope-capsule: see the crate description in Cargo.toml.
