//! Process exit codes: the one table every command maps its outcome through.
//!
//! See contract_v1 §Exit Codes and productization §2.7. Gate decisions (`warn`, `fail`) are
//! data in the artifacts, never exit codes.
//!
//! | Command | `0` [`OK`] | `1` [`REFUSED`] | `2` [`INVALID`] | `3` [`INTERNAL`] |
//! | --- | --- | --- | --- | --- |
//! | `run` | runner exited 0, `run_status = success` | OUTDIR already holds a capsule, GPU lock held | runner crash / non-zero / signal (`user_code_failure`), summary missing or invalid | wrapper internal error (`veriscope_failure`) |
//! | `validate` | valid capsule | - | schema or cross-artifact findings | internal error |
//! | `report`, `inspect` | rendered | - | invalid or missing artifacts | internal error |
//! | `diff`, `report --compare` | comparable (warnings allowed) | - | incomparable, invalid, partial, missing/invalid governance | internal error |
//! | `override` | judgement written and appended | - | refused (missing results, exists without `--force`, bad input, invalid chain) | internal error |
//! | `calibrate` | written | - | missing or invalid inputs | internal error |
//! | `schema`, `canon` | printed | - | unknown name, unreadable or invalid input | internal error |
//!
//! Usage errors from argument parsing also exit [`INVALID`].

use crate::RunStatus;

/// Success: valid, rendered, comparable, written.
pub const OK: u8 = 0;
/// Refused before doing anything (for example `run` into an OUTDIR that already holds a
/// capsule without `--force`, or a held GPU lock). Nothing was mutated.
pub const REFUSED: u8 = 1;
/// Invalid or missing input, findings, incomparable runs, or a runner failure for `run`.
pub const INVALID: u8 = 2;
/// Veriscope itself failed (a bug, an IO error it could not recover from).
pub const INTERNAL: u8 = 3;

/// Exit code of `veriscope run` for a final `run_status` (productization §2.7).
pub fn for_run_status(status: RunStatus) -> u8 {
    match status {
        RunStatus::Success => OK,
        RunStatus::UserCodeFailure => INVALID,
        RunStatus::VeriscopeFailure => INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_status_maps_to_contract_codes() {
        assert_eq!(for_run_status(RunStatus::Success), 0);
        assert_eq!(for_run_status(RunStatus::UserCodeFailure), 2);
        assert_eq!(for_run_status(RunStatus::VeriscopeFailure), 3);
    }

    #[test]
    fn codes_are_distinct() {
        let codes = [OK, REFUSED, INVALID, INTERNAL];
        for (i, a) in codes.iter().enumerate() {
            for b in &codes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
