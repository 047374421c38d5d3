//! Scenario tests of `stationary_v1` (docs/gate.md §stationary_v1): calibrated_v2's channels
//! plus a level-drift CUSUM against a reference frozen after warmup, on seeded synthetic
//! streams (the pilot timeline: 40 checks from iter 1000, W = 100, onset 2500).

mod common;

use common::{LEARNING, alarms, first_alarm_at_or_after, record_texts, replay, total_alarms};
use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateRecord};
use veriscope_gate::synthetic::{Noise, Pathology, Scenario, Trend};

const PRESET: &str = "stationary_v1";

#[test]
fn stationary_noise_stays_within_the_budget() {
    // α = 1% per check: 25 seeds × 40 checks = 1000 checks per stream → at most 10 alarms
    // (measured over 200 seeds: ≤ 0.1% in every flat cell).
    for (name, base) in [
        ("iid 0.25", Scenario::pilot(0, 0.25, Pathology::None)),
        ("iid 1.0", Scenario::pilot(0, 1.0, Pathology::None)),
        (
            "AR(1) 0.5, 1.0",
            Scenario::pilot(0, 1.0, Pathology::None)
                .with_noise(Noise::Ar1 { phi: 0.5 }, Trend::Flat),
        ),
    ] {
        let (a, n) = total_alarms(PRESET, 100..125, &base);
        assert_eq!(n, 1000, "{name}");
        assert!(a <= 10, "{name}: {a} alarms in {n} stationary checks");
    }
}

#[test]
fn slow_drift_is_caught_within_tuned_v0s_delay() {
    // −1 eff_dim unit (1/64 of its range) per window on 0.25-bin noise: calibrated_v2 never
    // flags it (limit 5); tuned_v0 needs 2.19 W on average, stationary_v1 2.08 W (200 seeds).
    let mut delays = vec![];
    for seed in 0..10 {
        let s = Scenario::pilot(seed, 0.25, Pathology::Drift { per_iter: -0.01 });
        let recs = replay(PRESET, &s);
        assert_eq!(alarms(&recs[..15]), 0, "seed {seed}: alarm before onset");
        let first = first_alarm_at_or_after(&recs, 2500).expect("drift detected");
        assert!(first.iter <= 2800, "seed {seed}: {}", first.iter);
        assert_eq!(
            first.audit["reason"], "level_drift_detected",
            "{}",
            first.audit
        );
        let flagged = first.audit["channels_flagged"].to_string();
        assert!(flagged.contains("eff_dim:drift_down"), "{flagged}");
        delays.push((first.iter - 2500) as f64 / 100.0);
        assert_eq!(alarms(&replay("calibrated_v2", &s)), 0, "seed {seed}");
    }
    let mean = delays.iter().sum::<f64>() / delays.len() as f64;
    assert!(mean <= 2.19, "mean delay {mean} W ({delays:?})");
}

#[test]
fn fast_drift_is_caught_at_the_first_check_that_sees_it() {
    // −4 units per window: the onset check (2500) holds one snapshot at zero offset, the next
    // one a full window of drift.
    for seed in 0..5 {
        let s = Scenario::pilot(seed, 0.25, Pathology::Drift { per_iter: -0.04 });
        let recs = replay(PRESET, &s);
        let first = first_alarm_at_or_after(&recs, 2500).unwrap();
        assert_eq!(first.iter, 2600, "seed {seed}");
    }
}

#[test]
fn collapse_and_variance_blow_up_keep_calibrated_v2s_delays() {
    for seed in 0..5 {
        let s = Scenario::pilot(seed, 0.25, Pathology::Collapse { to: 10.0 });
        let recs = replay(PRESET, &s);
        let at = recs.iter().find(|r| r.iter == 2500).unwrap();
        assert_eq!(at.decision, Decision::Fail, "seed {seed}: {}", at.audit);
        assert_eq!(at.audit["reason"], "spike_detected");
        let s = Scenario::pilot(seed, 0.25, Pathology::VarianceBlowup { factor: 4.0 });
        let recs = replay(PRESET, &s);
        let first = first_alarm_at_or_after(&recs, 2500).unwrap();
        assert!(first.iter <= 2600, "seed {seed}: {}", first.iter);
    }
}

#[test]
fn constant_run_never_alarms() {
    let s = Scenario::pilot(3, 0.0, Pathology::None);
    let recs = replay(PRESET, &s);
    assert_eq!(recs.len(), 40);
    assert!(
        recs.iter().all(|r| r.decision == Decision::Pass),
        "constant run alarmed"
    );
    for r in &recs[1..] {
        let d = &r.audit["per_metric"]["eff_dim"];
        assert!(d["drift_departure"].as_f64().unwrap().abs() < 1e-12, "{d}");
        assert_eq!(r.audit["worst_DW"], 0.0, "{}", r.audit);
    }
}

#[test]
fn reference_is_seeded_at_the_first_check_and_frozen_after_ref_windows() {
    let recs = replay(PRESET, &Scenario::pilot(5, 0.25, Pathology::None));
    let at = |iter: u64| &recs.iter().find(|r| r.iter == iter).unwrap().audit;
    // First check: no reference yet; its recent window (20 snapshots) starts it.
    let first = &at(1000)["per_metric"]["rankme"];
    assert_eq!(first["drift_reference_n"], 0);
    assert_eq!(first["drift_reference_frozen"], false);
    assert!(first.get("z_drift_up").is_none());
    // Each unflagged check adds its 20 values; 10 half-windows = 200 values freeze it
    // (after the check at 1900).
    assert_eq!(at(1500)["per_metric"]["rankme"]["drift_reference_n"], 100);
    assert_eq!(
        at(1900)["per_metric"]["rankme"]["drift_reference_frozen"],
        false
    );
    let frozen = &at(2000)["per_metric"]["rankme"];
    assert_eq!(frozen["drift_reference_n"], 200);
    assert_eq!(frozen["drift_reference_frozen"], true);
    assert_eq!(at(4900)["per_metric"]["rankme"]["drift_reference_n"], 200);
    let block = &at(1000)["level_drift"];
    assert_eq!(block["ref_windows"], 10);
    assert_eq!(at(1000)["family_size"], 24);
    assert_eq!(at(1000)["policy"], "calibrated_trend_cusum_level_drift");
}

#[test]
fn missing_metrics_are_not_evaluable_and_all_missing_skips() {
    let mut s = Scenario::pilot(23, 0.25, Pathology::None);
    s.missing = vec!["cos_disp"];
    let recs = replay(PRESET, &s);
    assert_eq!(recs[5].audit["evaluated"], true);
    assert_eq!(
        recs[5].audit["metrics_not_evaluable"],
        serde_json::json!(["cos_disp"])
    );
    assert!(recs[5].audit["per_metric"].get("cos_disp").is_none());
    s.missing = vec!["var_out_k", "eff_dim", "rankme", "cos_disp"];
    let recs = replay(PRESET, &s);
    assert!(recs.iter().all(|r| r.decision == Decision::Skip));
    assert_eq!(
        recs[3].audit["reason"],
        "not_evaluated_insufficient_evidence"
    );
    // A NaN burst skips, and the reference is neither reset nor fed by it.
    let s = Scenario::pilot(19, 0.25, Pathology::NanBurst { len: 100 });
    let recs = replay(PRESET, &s);
    let r = recs.iter().find(|r| r.iter == 2600).unwrap();
    assert_eq!(r.decision, Decision::Skip);
    assert_eq!(r.audit["reason"], "not_evaluated_insufficient_evidence");
    assert_eq!(alarms(&recs), 0);
}

#[test]
fn early_checks_skip_for_insufficient_history() {
    let mut s = Scenario::pilot(2, 0.25, Pathology::None);
    s.iters = 1500;
    let cfg = GateConfig::preset(PRESET)
        .unwrap()
        .with_cadence(100, 200, 5)
        .unwrap();
    let mut engine = GateEngine::new(cfg);
    let recs: Vec<GateRecord> = s
        .samples()
        .iter()
        .filter_map(|x| engine.observe(x))
        .collect();
    // 5·Wm = 100 snapshots (500 iters) are needed.
    assert_eq!(recs[0].iter, 200);
    assert_eq!(
        recs[0].audit["reason"],
        "not_evaluated_insufficient_history"
    );
    assert!(recs.iter().find(|r| r.iter == 500).unwrap().audit["evaluated"] == true);
}

#[test]
fn learning_curves_alarm_it_is_for_stationary_phases() {
    // Expected and documented: a run that is still learning moves its level at the pace of
    // the slow drift, so the frozen reference is left behind (calibrated_v2 stays quiet).
    let learning = Scenario::pilot(0, 0.25, Pathology::None)
        .with_noise(Noise::MovingAverage { q: 2 }, LEARNING);
    let (a, n) = total_alarms(PRESET, 0..5, &learning);
    assert!(a * 2 > n, "only {a} alarms in {n} learning checks");
    assert_eq!(total_alarms("calibrated_v2", 0..5, &learning).0, 0);
}

#[test]
fn same_input_gives_byte_identical_records_with_the_audit_v1_fields() {
    let s = Scenario::pilot(31, 0.5, Pathology::Drift { per_iter: -0.02 });
    assert_eq!(record_texts(PRESET, &s), record_texts(PRESET, &s));
    for r in replay(PRESET, &s) {
        for key in [
            "evaluated",
            "reason",
            "policy",
            "worst_DW",
            "eps_eff",
            "per_metric_tv",
            "evidence_total",
            "min_evidence",
        ] {
            assert!(r.audit.get(key).is_some(), "{} lacks {key}", r.iter);
        }
        if r.decision != Decision::Skip {
            let fail = r.decision == Decision::Fail;
            assert_eq!(fail, r.audit["worst_DW"].as_f64().unwrap() >= 1.0);
            assert_eq!(fail, r.audit["reason"] != "none_ok");
        }
        let text = r.to_json().to_string();
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    }
}
