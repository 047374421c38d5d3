//! Prints, as one JSON document, what `veriscope_gate` computes for deterministic inputs:
//! splitmix64 outputs, normals, a JL matrix, and metric snapshots of a few scenarios.
//! python/tests/test_rust_agreement.py rebuilds the same inputs and compares.
//!
//! Inputs are generated from `SplitMix64::normals` and transformed elementwise in f64
//! (no fused multiply-add), then cast to f32, so numpy reproduces them bit for bit.

use serde_json::{Value, json};
use veriscope_gate::metrics::{MetricConfig, MetricState, MetricValues, jl_matrix};
use veriscope_gate::prng::SplitMix64;

/// One scenario input: `n × d` f32, row-major.
fn make_input(kind: &str, n: usize, d: usize, seed: u64, t: usize) -> Vec<f32> {
    let z = SplitMix64::new(seed).normals(n * d);
    match kind {
        // Gaussian whose scale and offset drift with the snapshot index.
        "drift" => {
            let scale = 1.0 + 0.25 * t as f64;
            let offset = 0.5 * t as f64;
            z.iter().map(|x| (x * scale + offset) as f32).collect()
        }
        // Rank-2 signal plus small noise: a collapsed representation.
        "lowrank" => {
            let a = SplitMix64::new(seed ^ 0xA5A5).normals(n);
            let b = SplitMix64::new(seed ^ 0x5A5A).normals(n);
            let u = SplitMix64::new(seed ^ 0x1111).normals(d);
            let v = SplitMix64::new(seed ^ 0x2222).normals(d);
            (0..n * d)
                .map(|idx| {
                    let (i, j) = (idx / d, idx % d);
                    (a[i] * u[j] + b[i] * v[j] + 0.01 * z[idx]) as f32
                })
                .collect()
        }
        _ => z.iter().map(|x| *x as f32).collect(),
    }
}

fn values_json(v: &MetricValues) -> Value {
    json!({
        "var_out_k": v.var_out_k, "eff_dim": v.eff_dim, "rankme": v.rankme,
        "cos_disp": v.cos_disp, "k_used": v.k_used, "nonfinite_inputs": v.nonfinite_inputs,
    })
}

/// A scenario: a list of snapshots fed to one `MetricState`.
fn scenario(name: &str, kind: &str, n: usize, d: usize, iters: &[u64], nan_at: Option<usize>) -> Value {
    let mut state = MetricState::new(MetricConfig::default());
    let snapshots: Vec<Value> = iters
        .iter()
        .enumerate()
        .map(|(t, &iter)| {
            let seed = 1000 + 7 * t as u64 + d as u64;
            let mut h = make_input(kind, n, d, seed, t);
            if let Some(pos) = nan_at.filter(|_| t == 1) {
                h[pos] = f32::NAN;
            }
            let v = state.snapshot(&h, n, d, iter);
            json!({"t": t, "iter": iter, "seed": seed, "values": values_json(&v)})
        })
        .collect();
    json!({"name": name, "kind": kind, "n": n, "d": d, "nan_at_t1": nan_at, "snapshots": snapshots})
}

fn main() {
    let mut rng = SplitMix64::new(1_234_567);
    let u64s: Vec<String> = (0..5).map(|_| rng.next_u64().to_string()).collect();
    let mut rng = SplitMix64::new(7);
    let f64s: Vec<f64> = (0..5).map(|_| rng.next_f64()).collect();
    let jl = jl_matrix(10, 4, 42);
    let jl_rows: Vec<Vec<f64>> = (0..10).map(|i| (0..4).map(|j| jl[(i, j)]).collect()).collect();
    let big = jl_matrix(96, 64, 42);
    let big_sum: f64 = (0..96).flat_map(|i| (0..64).map(move |j| (i, j))).map(|(i, j)| big[(i, j)]).sum();

    let doc = json!({
        "generator": "python/tests/rust_agreement (cargo run --release), veriscope_gate::metrics",
        "prng": {
            "seed_u64": 1_234_567, "u64": u64s,
            "seed_f64": 7, "f64": f64s,
            "seed_normals": 99, "normals": SplitMix64::new(99).normals(7),
        },
        "jl": {"d": 10, "k": 4, "base": 42, "rows": jl_rows, "sum_96x64": big_sum},
        "scenarios": [
            scenario("drift_d96", "drift", 256, 96, &[0, 5, 10, 15], None),
            scenario("plain_d48", "plain", 200, 48, &[0, 5, 10], None),
            scenario("lowrank_d48", "lowrank", 128, 48, &[0, 5, 10], None),
            scenario("nan_burst", "plain", 64, 16, &[0, 5, 10], Some(17)),
            scenario("three_rows", "plain", 3, 8, &[0, 5], None),
            scenario("one_row", "plain", 1, 8, &[0], None),
        ],
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("serializable"));
}
