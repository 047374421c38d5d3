//! Shared helpers of the scenario test files: replay a synthetic stream through a preset and
//! count its alarms. Each test file uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateRecord};
use veriscope_gate::synthetic::{Scenario, Trend};

/// The healthy-learning baseline of the benchmarks: a quarter of each range, τ = 1000 iters.
pub const LEARNING: Trend = Trend::LearningCurve {
    amplitude_bins: 4.0,
    tau_iters: 1000.0,
};

/// The gate records of `scenario` under `preset`.
pub fn replay(preset: &str, scenario: &Scenario) -> Vec<GateRecord> {
    let mut engine = GateEngine::new(GateConfig::preset(preset).unwrap());
    scenario
        .samples()
        .iter()
        .filter_map(|s| engine.observe(s))
        .collect()
}

/// The canonical-record texts of `scenario` under `preset` (determinism checks compare two).
pub fn record_texts(preset: &str, scenario: &Scenario) -> Vec<String> {
    replay(preset, scenario)
        .iter()
        .map(|r| r.to_json().to_string())
        .collect()
}

pub fn is_alarm(r: &GateRecord) -> bool {
    matches!(r.decision, Decision::Warn | Decision::Fail)
}

pub fn alarms(records: &[GateRecord]) -> usize {
    records.iter().filter(|r| is_alarm(r)).count()
}

/// The first warn/fail record at or after iteration `t0`.
pub fn first_alarm_at_or_after(records: &[GateRecord], t0: u64) -> Option<&GateRecord> {
    records.iter().find(|r| r.iter >= t0 && is_alarm(r))
}

/// (alarms, evaluated checks) over the seeds.
pub fn total_alarms(preset: &str, seeds: std::ops::Range<u64>, base: &Scenario) -> (usize, usize) {
    seeds
        .map(|seed| {
            let recs = replay(
                preset,
                &Scenario {
                    seed,
                    ..base.clone()
                },
            );
            let evaluated = recs.iter().filter(|r| r.decision != Decision::Skip).count();
            (alarms(&recs), evaluated)
        })
        .fold((0, 0), |(a, n), (x, m)| (a + x, n + m))
}
