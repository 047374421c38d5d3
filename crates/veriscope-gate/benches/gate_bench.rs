//! Gate benchmark (harness-less): cost of one metric snapshot and one gate check, and the
//! false-alarm rate / detection delay of tuned_v0 vs calibrated_v1 on seeded synthetic runs.
//!
//! Run: `cargo bench -p veriscope-gate --bench gate_bench [-- SEEDS]` (default 200 seeds).
//! Prints a markdown report; docs/gate.md §Measured holds the figures of record.

use std::hint::black_box;
use std::time::Instant;

use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateRecord};
use veriscope_gate::metrics::{MetricConfig, MetricState};
use veriscope_gate::prng::SplitMix64;
use veriscope_gate::synthetic::{Pathology, Scenario};

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    println!("## Measured (veriscope-gate bench, {seeds} seeds)\n");
    bench_snapshot();
    for preset in ["tuned_v0", "calibrated_v1"] {
        bench_check(preset);
    }
    println!();
    println!(
        "| preset | noise (bins) | FAR/check stationary | collapse: delay W (missed) | drift: delay W (missed) | var ×4: delay W (missed) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for noise in [0.25, 0.5, 1.0] {
        for preset in ["tuned_v0", "calibrated_v1"] {
            quality_row(preset, noise, seeds);
        }
    }
}

fn median_us(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn bench_snapshot() {
    let (n, d) = (4096, 384);
    let h: Vec<f32> = SplitMix64::new(1)
        .normals(n * d)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let mut state = MetricState::new(MetricConfig::default());
    state.snapshot(&h, n, d, 0); // warm: JL matrix cached, gauge initialized
    let times: Vec<f64> = (1..=15)
        .map(|i| {
            let t = Instant::now();
            black_box(state.snapshot(black_box(&h), n, d, i * 5));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    println!(
        "- metric snapshot N={n}, D={d} -> 64 (f64, single thread): median {:.0} µs over 15 runs",
        median_us(times)
    );
}

fn bench_check(preset: &str) {
    let samples = Scenario::pilot(3, 0.5, Pathology::None).samples();
    let mut times = vec![];
    for _ in 0..20 {
        let mut engine = GateEngine::new(GateConfig::preset(preset).unwrap());
        for s in &samples {
            let t = Instant::now();
            let rec = engine.observe(s);
            let us = t.elapsed().as_secs_f64() * 1e6;
            if rec.is_some() {
                times.push(us);
            }
        }
    }
    println!(
        "- one gate check ({preset}, W=100, Wm=20, incl. audit JSON): median {:.1} µs over {} checks",
        median_us(times.clone()),
        times.len()
    );
}

fn replay(preset: &str, s: &Scenario) -> Vec<GateRecord> {
    let mut engine = GateEngine::new(GateConfig::preset(preset).unwrap());
    s.samples()
        .iter()
        .filter_map(|x| engine.observe(x))
        .collect()
}

fn is_alarm(r: &GateRecord) -> bool {
    matches!(r.decision, Decision::Warn | Decision::Fail)
}

/// Mean delay in units of W over detected runs (first warn/fail at or after onset), and misses.
fn delay(preset: &str, noise: f64, pathology: Pathology, seeds: u64) -> (f64, u64) {
    let (mut sum, mut hits, mut missed) = (0.0, 0u64, 0u64);
    for seed in 0..seeds {
        let s = Scenario::pilot(10_000 + seed, noise, pathology);
        let w = GateConfig::preset(preset).unwrap().gate_window as f64;
        match replay(preset, &s)
            .iter()
            .find(|r| r.iter >= s.onset && is_alarm(r))
        {
            Some(r) => {
                sum += (r.iter - s.onset) as f64 / w;
                hits += 1;
            }
            None => missed += 1,
        }
    }
    (
        if hits > 0 {
            sum / hits as f64
        } else {
            f64::NAN
        },
        missed,
    )
}

fn quality_row(preset: &str, noise: f64, seeds: u64) {
    let (mut alarms, mut evaluated) = (0u64, 0u64);
    for seed in 0..seeds {
        for r in replay(preset, &Scenario::pilot(seed, noise, Pathology::None)) {
            if r.decision != Decision::Skip {
                evaluated += 1;
                alarms += u64::from(is_alarm(&r));
            }
        }
    }
    let cells: Vec<String> = [
        Pathology::Collapse { to: 10.0 },
        Pathology::Drift { per_iter: -0.01 },
        Pathology::VarianceBlowup { factor: 4.0 },
    ]
    .into_iter()
    .map(|p| {
        let (d, missed) = delay(preset, noise, p, seeds);
        format!("{d:.2} ({missed})")
    })
    .collect();
    println!(
        "| {preset} | {noise} | {:.2}% ({alarms}/{evaluated}) | {} |",
        100.0 * alarms as f64 / evaluated as f64,
        cells.join(" | ")
    );
}
