//! Gate benchmark (harness-less): cost of one metric snapshot and one gate check, memory per
//! run, and the false-alarm rate / detection delay of tuned_v0, calibrated_v1, calibrated_v2
//! and stationary_v1 on seeded synthetic runs (i.i.d. noise, and healthy-learning baselines
//! with autocorrelated noise).
//!
//! Run: `cargo bench -p veriscope-gate --bench gate_bench [-- SEEDS [PRESET...]]` (default 200
//! seeds, every preset above; naming presets restricts the report to them).
//! Prints a markdown report; docs/gate.md §Measured holds the figures of record.

use std::hint::black_box;
use std::time::Instant;

use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateRecord};
use veriscope_gate::metrics::{MetricConfig, MetricState};
use veriscope_gate::prng::SplitMix64;
use veriscope_gate::synthetic::{Noise, Pathology, Scenario, Trend};

const PRESETS: [&str; 4] = [
    "tuned_v0",
    "calibrated_v1",
    "calibrated_v2",
    "stationary_v1",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200);
    let named: Vec<&str> = PRESETS
        .into_iter()
        .filter(|p| args.iter().any(|a| a == p))
        .collect();
    let presets: Vec<&str> = if named.is_empty() {
        PRESETS.to_vec()
    } else {
        named
    };
    println!("## Measured (veriscope-gate bench, {seeds} seeds)\n");
    bench_snapshot(4096, 384);
    bench_snapshot(512, 64);
    for &preset in &presets {
        bench_check(preset);
    }
    println!();
    println!(
        "| baseline | noise (bins) | preset | FAR/check healthy | collapse: delay W (missed) | drift −1/W: delay W (missed) | drift −4/W: delay W (missed) | var ×4: delay W (missed) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let curve = Trend::LearningCurve {
        amplitude_bins: 4.0,
        tau_iters: 1000.0,
    };
    let rows: [(&str, Noise, Trend, &[f64]); 4] = [
        ("flat, i.i.d.", Noise::Iid, Trend::Flat, &[0.25, 0.5, 1.0]),
        (
            "flat, AR(1) 0.5",
            Noise::Ar1 { phi: 0.5 },
            Trend::Flat,
            &[0.25, 1.0],
        ),
        (
            "learning curve, MA(2)",
            Noise::MovingAverage { q: 2 },
            curve,
            &[0.25, 1.0],
        ),
        (
            "learning curve, AR(1) 0.7",
            Noise::Ar1 { phi: 0.7 },
            curve,
            &[0.5],
        ),
    ];
    for (label, noise, trend, levels) in rows {
        for &level in levels {
            for &preset in &presets {
                quality_row(label, preset, level, noise, trend, seeds);
            }
        }
    }
}

fn median_us(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn bench_snapshot(n: usize, d: usize) {
    let h: Vec<f32> = SplitMix64::new(1)
        .normals(n * d)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let mut state = MetricState::new(MetricConfig::default());
    state.snapshot(&h, n, d, 0); // warm: JL matrix cached, gauge initialized
    let runs = if n * d > 100_000 { 15 } else { 200 };
    let times: Vec<f64> = (1..=runs)
        .map(|i| {
            let t = Instant::now();
            black_box(state.snapshot(black_box(&h), n, d, i * 5));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    println!(
        "- metric snapshot N={n}, D={d} -> {} (f64, single thread): median {:.0} µs over {runs} runs",
        d.min(64),
        median_us(times)
    );
}

fn bench_check(preset: &str) {
    let samples = Scenario::pilot(3, 0.5, Pathology::None).samples();
    let cfg = GateConfig::preset(preset).unwrap();
    let mut times = vec![];
    let mut observe = vec![];
    for _ in 0..20 {
        let mut engine = GateEngine::new(cfg.clone());
        for s in &samples {
            let t = Instant::now();
            let rec = engine.observe(s);
            let us = t.elapsed().as_secs_f64() * 1e6;
            if rec.is_some() {
                times.push(us);
            } else {
                observe.push(us);
            }
        }
    }
    // Memory: the snapshot ring (per snapshot: iter, Vec header + one Option<f64> per metric,
    // loss and ewma) plus, for the parity presets and calibrated_v1, the regime reference
    // (≤ 5 windows × Wm values per metric once frozen, ≤ 20 windows while accumulating).
    let m = cfg.weights.len();
    let snap = 8 + 24 + 16 * m + 32;
    let ring = cfg.history_snapshots() * snap;
    let regime = if cfg.sequential.is_some() {
        // three CUSUMs and ≤ 4 autocorrelation triples per metric; stationary_v1 adds two
        // CUSUMs and a reference (sum, count, variance, frozen flag)
        m * (3 * 8 + 4 * 24) + cfg.stationary.as_ref().map_or(0, |_| m * 6 * 8)
    } else {
        cfg.regime.max_accumulator_windows * cfg.snapshots_per_window() * m * 8
    };
    println!(
        "- one gate check ({preset}, W=100, Wm=20, incl. audit JSON): median {:.1} µs over {} checks; observe without a check {:.2} µs; memory ≈ {:.1} KiB (ring of {} snapshots {:.1} KiB + state ≤ {:.1} KiB)",
        median_us(times.clone()),
        times.len(),
        median_us(observe),
        (ring + regime) as f64 / 1024.0,
        cfg.history_snapshots(),
        ring as f64 / 1024.0,
        regime as f64 / 1024.0,
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
fn delay(preset: &str, base: &Scenario, pathology: Pathology, seeds: u64) -> (f64, u64) {
    let (mut sum, mut hits, mut missed) = (0.0, 0u64, 0u64);
    let w = GateConfig::preset(preset).unwrap().gate_window as f64;
    for seed in 0..seeds {
        let s = Scenario {
            seed: 10_000 + seed,
            pathology,
            ..base.clone()
        };
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

fn quality_row(label: &str, preset: &str, level: f64, noise: Noise, trend: Trend, seeds: u64) {
    let base = Scenario::pilot(0, level, Pathology::None).with_noise(noise, trend);
    let (mut alarms, mut evaluated) = (0u64, 0u64);
    for seed in 0..seeds {
        let s = Scenario {
            seed,
            ..base.clone()
        };
        for r in replay(preset, &s) {
            if r.decision != Decision::Skip {
                evaluated += 1;
                alarms += u64::from(is_alarm(&r));
            }
        }
    }
    let cells: Vec<String> = [
        Pathology::Collapse { to: 10.0 },
        Pathology::Drift { per_iter: -0.01 },
        Pathology::Drift { per_iter: -0.04 },
        Pathology::VarianceBlowup { factor: 4.0 },
    ]
    .into_iter()
    .map(|p| {
        let (d, missed) = delay(preset, &base, p, seeds);
        format!("{d:.2} ({missed})")
    })
    .collect();
    println!(
        "| {label} | {level} | {preset} | {:.2}% ({alarms}/{evaluated}) | {} |",
        100.0 * alarms as f64 / evaluated as f64,
        cells.join(" | ")
    );
}
