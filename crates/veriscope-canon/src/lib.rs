//! veriscope-canon: see the crate description in Cargo.toml.
