//! Two-sample statistics of the gate: declared transport into [0,1] (algorithm.md §3.2),
//! fixed-bin total variation (§4.1), the reference's zero-TV rescue (§4.4), the capped
//! finite-sample term eps_stat (§5.1), and the exact two-sample Kolmogorov–Smirnov test used
//! by calibrated_v1 (docs/gate.md §calibrated_v1).

/// `clip((x − lo) / max(1e-12, hi − lo), 0, 1)`; an invalid range falls back to (0, 1) (§3.2).
pub fn transport(x: f64, (lo, hi): (f64, f64)) -> f64 {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    ((x - lo) / (hi - lo).max(1e-12)).clamp(0.0, 1.0)
}

/// Bin index with numpy histogram semantics on [0,1]: `floor(x·bins)`, the last bin closed.
fn bin_index(x: f64, bins: usize) -> usize {
    ((x * bins as f64).floor() as usize).min(bins - 1)
}

/// TV between fixed-bin histograms of `a` and `b` (values already in [0,1]) (§4.1).
/// Both empty → `Some(0)`, exactly one empty → `None` (not evaluable).
pub fn tv_hist_fixed(a: &[f64], b: &[f64], bins: usize) -> Option<f64> {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Some(0.0),
        (true, false) | (false, true) => return None,
        _ => {}
    }
    let mut ha = vec![0usize; bins];
    let mut hb = vec![0usize; bins];
    a.iter().for_each(|&x| ha[bin_index(x, bins)] += 1);
    b.iter().for_each(|&x| hb[bin_index(x, bins)] += 1);
    Some(tv_counts(&ha, a.len(), &hb, b.len()))
}

fn tv_counts(ha: &[usize], na: usize, hb: &[usize], nb: usize) -> f64 {
    let (na, nb) = (na as f64, nb as f64);
    0.5 * ha
        .iter()
        .zip(hb)
        .map(|(&p, &q)| (p as f64 / na - q as f64 / nb).abs())
        .sum::<f64>()
}

/// The reference's fine-bin rescue TV (§4.4): 256 bins over the joint observed span. `None`
/// when the span is (numerically) empty.
pub fn tv_fine_rescue(a: &[f64], b: &[f64], coarse_bins: usize) -> Option<f64> {
    let fine = (8 * coarse_bins).clamp(256, 4096);
    let (lo, hi) = a
        .iter()
        .chain(b)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let span = hi - lo;
    if a.is_empty() || b.is_empty() || span.is_nan() || span <= 1e-15 {
        return None;
    }
    let scale = |x: f64| (x - lo) / (hi - lo);
    let mut ha = vec![0usize; fine];
    let mut hb = vec![0usize; fine];
    a.iter().for_each(|&x| ha[bin_index(scale(x), fine)] += 1);
    b.iter().for_each(|&x| hb[bin_index(scale(x), fine)] += 1);
    Some(tv_counts(&ha, a.len(), &hb, b.len()).clamp(0.0, 1.0))
}

/// Per-metric finite-sample term `sqrt((ln max(2,k) + ln(1/α)) / (2n))` clamped to [0,1];
/// 1 when n = 0 (§5.1).
pub fn eps_stat_metric(n: usize, bins: usize, alpha: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let k = bins.max(2) as f64;
    ((k.ln() + (1.0 / alpha.max(1e-12)).ln()) / (2.0 * n as f64))
        .sqrt()
        .clamp(0.0, 1.0)
}

/// Weighted mean of `values[i]` with weights `|w[i]|`, over entries that are `Some`.
pub fn weighted_mean(values: &[Option<f64>], weights: &[f64]) -> Option<f64> {
    let (num, den) = values
        .iter()
        .zip(weights)
        .filter_map(|(v, w)| v.map(|v| (v * w.abs(), w.abs())))
        .fold((0.0, 0.0), |(n, d), (a, b)| (n + a, d + b));
    (den > 0.0).then(|| num / den)
}

/// Two-sample Kolmogorov–Smirnov statistic as the integer `max |i·m − j·n|` over the
/// distinct values of the pooled sample (ties advance both sides together), so that
/// `D = s / (n·m)`. Inputs must be sorted ascending and finite.
pub fn ks_statistic_scaled(a: &[f64], b: &[f64]) -> u64 {
    let (n, m) = (a.len() as i64, b.len() as i64);
    let (mut i, mut j, mut best) = (0usize, 0usize, 0i64);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => break,
        };
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        best = best.max((i as i64 * m - j as i64 * n).abs());
    }
    best as u64
}

/// Exact permutation p-value `P(S ≥ s)` of the scaled KS statistic for sample sizes n and m
/// under exchangeability (continuous case; conservative with ties). Lattice-path recursion:
/// `f(i,j)` = fraction of monotone paths from (0,0) to (i,j) that keep `|i·m − j·n| < s`,
/// `f(i,j) = f(i−1,j)·i/(i+j) + f(i,j−1)·j/(i+j)`; the p-value is `1 − f(n,m)`.
pub fn ks_exact_pvalue(s: u64, n: usize, m: usize) -> f64 {
    if s == 0 || n == 0 || m == 0 {
        return 1.0;
    }
    let inside = |i: usize, j: usize| ((i * m) as i64 - (j * n) as i64).unsigned_abs() < s;
    let mut row = vec![0.0f64; m + 1];
    for i in 0..=n {
        for j in 0..=m {
            row[j] = if !inside(i, j) {
                0.0
            } else if i == 0 && j == 0 {
                1.0
            } else {
                let t = (i + j) as f64;
                let up = if i > 0 { row[j] * i as f64 / t } else { 0.0 };
                let left = if j > 0 {
                    row[j - 1] * j as f64 / t
                } else {
                    0.0
                };
                up + left
            };
        }
    }
    (1.0 - row[m]).clamp(0.0, 1.0)
}

/// Median of a non-empty sorted slice.
pub fn median_sorted(x: &[f64]) -> f64 {
    let n = x.len();
    if n % 2 == 1 {
        x[n / 2]
    } else {
        0.5 * (x[n / 2 - 1] + x[n / 2])
    }
}

/// Lower nearest-rank quantile of a non-empty sorted slice: `x[floor(q·(n−1))]`.
pub fn quantile_sorted(x: &[f64], q: f64) -> f64 {
    x[((x.len() - 1) as f64 * q).floor() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_clips_and_falls_back() {
        assert_eq!(transport(32.0, (0.0, 64.0)), 0.5);
        assert_eq!(transport(-3.0, (0.0, 64.0)), 0.0);
        assert_eq!(transport(99.0, (0.0, 64.0)), 1.0);
        assert_eq!(transport(0.25, (f64::NAN, 1.0)), 0.25);
    }

    #[test]
    fn tv_uses_numpy_edges_and_closed_last_bin() {
        assert_eq!(tv_hist_fixed(&[1.0], &[0.99], 16), Some(0.0));
        assert_eq!(tv_hist_fixed(&[0.0625], &[0.0624], 16), Some(1.0));
        assert_eq!(tv_hist_fixed(&[0.1, 0.9], &[0.1, 0.1], 16), Some(0.5));
        assert_eq!(tv_hist_fixed(&[], &[], 16), Some(0.0));
        assert_eq!(tv_hist_fixed(&[0.1], &[], 16), None);
    }

    #[test]
    fn eps_stat_matches_worked_values() {
        for (n, want) in [(10, 0.5370), (20, 0.3797), (37, 0.2792), (100, 0.1698)] {
            assert!((eps_stat_metric(n, 16, 0.05) - want).abs() < 5e-5, "n={n}");
        }
        assert_eq!(eps_stat_metric(0, 16, 0.05), 1.0);
    }

    #[test]
    fn weighted_mean_renormalizes_over_present_values() {
        let w = [0.35, 0.35, 0.2, 0.1];
        assert_eq!(weighted_mean(&[Some(1.0), None, None, None], &w), Some(1.0));
        assert_eq!(weighted_mean(&[None; 4], &w), None);
    }

    #[test]
    fn rescue_turns_tiny_differences_into_large_tv() {
        // The stability paradox of §4.4 / §16 item 3, reproduced on purpose.
        let a = [0.5000, 0.5001, 0.5002];
        let b = [0.5003, 0.5004, 0.5005];
        assert_eq!(tv_hist_fixed(&a, &b, 16), Some(0.0));
        assert!(tv_fine_rescue(&a, &b, 16).unwrap() > 0.999);
        assert_eq!(tv_fine_rescue(&[0.5], &[0.5], 16), None);
    }

    #[test]
    fn ks_statistic_handles_ties_and_separation() {
        assert_eq!(ks_statistic_scaled(&[1.0, 2.0], &[3.0, 4.0]), 4); // D = 1
        assert_eq!(ks_statistic_scaled(&[1.0, 1.0], &[1.0, 1.0, 1.0]), 0);
        assert_eq!(ks_statistic_scaled(&[1.0, 3.0], &[2.0, 4.0]), 2); // D = 1/2
    }

    #[test]
    fn ks_exact_pvalue_matches_combinatorics() {
        // Complete separation of 20 vs 20: only 2 of C(40,20) orderings reach D = 1.
        let c40_20 = 137_846_528_820.0;
        let p = ks_exact_pvalue(400, 20, 20);
        assert!((p - 2.0 / c40_20).abs() < 1e-15, "{p}");
        // n = m = 1: D = 1 always.
        assert_eq!(ks_exact_pvalue(1, 1, 1), 1.0);
        // n = m = 2, D ≥ 1 (s = 4): orderings aabb, bbaa of 6 → 1/3.
        assert!((ks_exact_pvalue(4, 2, 2) - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(ks_exact_pvalue(0, 5, 5), 1.0);
    }
}
