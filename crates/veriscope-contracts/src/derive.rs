//! Decision derivations shared by the gate, the writer and the validator
//! (productization §4C "Decision derivation rules", §4D "final_decision policy").

use crate::{CountsV1, Decision, GateRecordV1};

/// The decision of one gate check from its booleans: not evaluated is `skip`; `ok = false`
/// is `fail` (fail dominates warn); `warn` is `warn`; otherwise `pass` (cli_contracts A4).
pub fn derive_gate_decision(evaluated: bool, ok: bool, warn: bool) -> Decision {
    if !evaluated {
        Decision::Skip
    } else if !ok {
        Decision::Fail
    } else if warn {
        Decision::Warn
    } else {
        Decision::Pass
    }
}

/// The run's automated outcome: any fail, else any warn, else any pass, else skip.
pub fn derive_final_decision(counts: &CountsV1) -> Decision {
    if counts.fail > 0 {
        Decision::Fail
    } else if counts.warn > 0 {
        Decision::Warn
    } else if counts.pass > 0 {
        Decision::Pass
    } else {
        Decision::Skip
    }
}

/// Counts of `gates` by decision; every non-skip gate counts as evaluated.
pub fn counts_from_gates(gates: &[GateRecordV1]) -> CountsV1 {
    let mut counts = CountsV1::default();
    for gate in gates {
        match gate.decision {
            Decision::Skip => counts.skip += 1,
            Decision::Pass => counts.pass += 1,
            Decision::Warn => counts.warn += 1,
            Decision::Fail => counts.fail += 1,
        }
    }
    counts.evaluated = counts.pass + counts.warn + counts.fail;
    counts
}

/// Iteration of the earliest `fail` gate, or `None`.
///
/// Iteration 0 is a valid first fail: the original treated 0 as missing (cli_contracts
/// A17.2); we fix that.
pub fn first_fail_iter_from_gates(gates: &[GateRecordV1]) -> Option<u64> {
    gates
        .iter()
        .filter(|g| g.decision == Decision::Fail)
        .map(|g| g.iter)
        .min()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gate(iter: u64, decision: &str) -> GateRecordV1 {
        let evaluated = decision != "skip";
        serde_json::from_value(json!({
            "iter": iter, "decision": decision,
            "audit": {"evaluated": evaluated, "reason": decision, "policy": "either",
                      "evidence_total": 16, "min_evidence": 16, "per_metric_tv": {}}
        }))
        .unwrap()
    }

    #[test]
    fn gate_decision_truth_table() {
        assert_eq!(derive_gate_decision(false, false, true), Decision::Skip);
        assert_eq!(derive_gate_decision(true, false, true), Decision::Fail);
        assert_eq!(derive_gate_decision(true, false, false), Decision::Fail);
        assert_eq!(derive_gate_decision(true, true, true), Decision::Warn);
        assert_eq!(derive_gate_decision(true, true, false), Decision::Pass);
    }

    #[test]
    fn final_decision_priority() {
        let mut c = CountsV1::default();
        assert_eq!(derive_final_decision(&c), Decision::Skip);
        c.pass = 1;
        assert_eq!(derive_final_decision(&c), Decision::Pass);
        c.warn = 1;
        assert_eq!(derive_final_decision(&c), Decision::Warn);
        c.fail = 1;
        assert_eq!(derive_final_decision(&c), Decision::Fail);
    }

    #[test]
    fn counts_and_first_fail_from_gates() {
        let gates = [
            gate(0, "pass"),
            gate(1, "warn"),
            gate(2, "fail"),
            gate(3, "skip"),
            gate(5, "fail"),
        ];
        let c = counts_from_gates(&gates);
        assert_eq!(c.core(), [4, 1, 1, 1, 2]);
        assert_eq!(first_fail_iter_from_gates(&gates), Some(2));
        assert_eq!(first_fail_iter_from_gates(&gates[..2]), None);
    }

    /// Regression for cli_contracts A17.2: a fail at iteration 0 is a real first fail.
    #[test]
    fn first_fail_at_iter_zero_is_kept() {
        assert_eq!(first_fail_iter_from_gates(&[gate(0, "fail")]), Some(0));
    }
}
