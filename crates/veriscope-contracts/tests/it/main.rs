//! Integration tests of veriscope-contracts: artifact round trips and rules
//! (cli_contracts B2), committed schemas, and the finding-code documentation.

mod artifacts;
mod docs;
mod schemas;
