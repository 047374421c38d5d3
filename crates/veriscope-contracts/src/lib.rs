//! veriscope-contracts: see the crate description in Cargo.toml.
