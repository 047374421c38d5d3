//! Cross-checks `veriscope_gate::metrics` against numpy reference values produced by
//! tests/gen/gen_metric_vectors.py (committed output: tests/data/metric_vectors.json).

use serde_json::Value;
use veriscope_gate::metrics::{MetricConfig, MetricState, jl_matrix};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/metric_vectors.json")).expect("valid fixture JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let err = (got - want).abs() / want.abs().max(1e-300);
    assert!(
        err <= tol,
        "{what}: got {got}, numpy {want}, rel err {err:e}"
    );
}

#[test]
fn jl_matrix_is_bit_identical_to_the_python_recipe() {
    let v = vectors();
    let want: Vec<f64> = v["jl_16x8"].as_array().unwrap().iter().map(f).collect();
    let a = jl_matrix(16, 8, 42);
    for i in 0..16 {
        for j in 0..8 {
            // Bitwise: splitmix64 + Box–Muller with libm log/cos/sin and IEEE sqrt.
            assert_eq!(
                a[(i, j)].to_bits(),
                want[i * 8 + j].to_bits(),
                "JL[{i},{j}]"
            );
        }
    }
}

#[test]
fn canonical_384x64_jl_matrix_matches_python_checksums() {
    let v = vectors();
    let a = jl_matrix(384, 64, 42);
    assert_eq!(a[(0, 0)].to_bits(), f(&v["jl_384x64_first"]).to_bits());
    assert_eq!(a[(383, 63)].to_bits(), f(&v["jl_384x64_last"]).to_bits());
    let mut sum = 0.0;
    let mut sum_sq = 0.0;
    for i in 0..384 {
        for j in 0..64 {
            sum += a[(i, j)];
            sum_sq += a[(i, j)] * a[(i, j)];
        }
    }
    // Summation order differs from numpy's pairwise sum, hence a tolerance here.
    assert!((sum - f(&v["jl_384x64_sum"])).abs() < 1e-9);
    assert_rel(sum_sq, f(&v["jl_384x64_sum_sq"]), 1e-12, "sum of squares");
    // E[sum of squares] = d_in = 384 for entries N(0, 1/64).
    assert!((sum_sq - 384.0).abs() < 20.0);
}

#[test]
fn snapshots_with_gauge_match_numpy_reference() {
    let v = vectors();
    let c = &v["config"];
    let (n, d) = (
        c["n"].as_u64().unwrap() as usize,
        c["d"].as_u64().unwrap() as usize,
    );
    let cfg = MetricConfig {
        rp_dim: c["rp_dim"].as_u64().unwrap() as usize,
        cos_pairs: c["cos_pairs"].as_u64().unwrap() as usize,
        seed: c["seed"].as_u64().unwrap(),
        ..MetricConfig::default()
    };
    let mut state = MetricState::new(cfg);
    for snap in v["snapshots"].as_array().unwrap() {
        let h: Vec<f32> = snap["h"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| f(x) as f32)
            .collect();
        let iter = snap["iter"].as_u64().unwrap();
        let got = state.snapshot(&h, n, d, iter);
        let what = |m: &str| format!("iter {iter} {m}");
        assert_rel(
            got.var_out_k.unwrap(),
            f(&snap["var_out_k"]),
            1e-9,
            &what("var_out_k"),
        );
        assert_rel(
            got.eff_dim.unwrap(),
            f(&snap["eff_dim"]),
            1e-9,
            &what("eff_dim"),
        );
        assert_rel(
            got.rankme.unwrap(),
            f(&snap["rankme"]),
            1e-9,
            &what("rankme"),
        );
        assert_rel(
            got.cos_disp.unwrap(),
            f(&snap["cos_disp"]),
            1e-9,
            &what("cos_disp"),
        );
        assert_eq!(got.k_used, 3); // round(sqrt(8)) = 3
    }
}
