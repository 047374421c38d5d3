//! Distribution functions of `calibrated_v2` (docs/gate.md §calibrated_v2): log-gamma, the
//! regularized incomplete beta function, Student-t and Fisher-F upper tails, and the
//! standard-normal quantile (Wichura's AS 241). Plain f64 arithmetic with `ln`/`exp`/`sqrt`
//! only, so the results are deterministic on one platform.

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error ≲ 1e-15; reflection below 0.5).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x)Γ(1−x) = π / sin(πx)
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-15;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=500 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta `I_x(a, b)` for `a, b > 0`, `x` clamped to [0, 1].
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// `P(T > t)` for Student's t with `df > 0` degrees of freedom (real-valued df allowed).
pub fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    if t == f64::INFINITY {
        return 0.0;
    }
    if t == f64::NEG_INFINITY {
        return 1.0;
    }
    // For |t| large, df/(df+t²) underflows gracefully towards 0 (tail → 0).
    let tail = 0.5 * inc_beta(0.5 * df, 0.5, df / (df + t * t));
    if t > 0.0 { tail } else { 1.0 - tail }
}

/// `P(F > x)` for Fisher's F with `(d1, d2)` degrees of freedom (real-valued allowed).
pub fn f_sf(x: f64, d1: f64, d2: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    inc_beta(0.5 * d2, 0.5 * d1, d2 / (d2 + d1 * x))
}

fn horner(c: &[f64; 8], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
}

/// Standard-normal quantile `Φ⁻¹(p)` (Wichura 1988, AS 241 PPND16; ~1e-16 relative).
/// `p ≤ 0` gives −∞, `p ≥ 1` gives +∞, NaN gives NaN. The coefficients are the published
/// 20-digit ones (hence the excessive-precision allowance).
#[allow(clippy::excessive_precision)]
pub fn norm_ppf(p: f64) -> f64 {
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * horner(&A, r) / horner(&B, r);
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let r = (-r.ln()).sqrt();
    let v = if r <= 5.0 {
        let r = r - 1.6;
        horner(&C, r) / horner(&D, r)
    } else {
        let r = r - 5.0;
        horner(&E, r) / horner(&F, r)
    };
    if q < 0.0 { -v } else { v }
}

/// The normal score of an upper-tail probability: `z = −Φ⁻¹(p)`, so `P(Z ≥ z) = p`,
/// clamped to `[−Z_CAP, Z_CAP]` (p = 0 or 1 stay finite).
pub fn z_of_upper_tail(p: f64) -> f64 {
    (-norm_ppf(p)).clamp(-Z_CAP, Z_CAP)
}

/// Normal scores are clamped to ±40 (p ≈ 1e-350 is already below f64's range).
pub const Z_CAP: f64 = 40.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_matches_reference_values() {
        // Reference values from mpmath at 30 digits.
        assert!(close(ln_gamma(0.5), 0.572_364_942_924_700_1, 1e-14));
        assert!(close(ln_gamma(17.3), 31.515_624_178_175_29, 1e-14));
        assert!(close(ln_gamma(123.456), 469.605_547_129_929_5, 1e-14));
        assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
    }

    #[test]
    fn t_and_f_tails_match_reference_values() {
        assert!(close(t_sf(2.0, 10.0), 0.036_694_017_385_370_19, 1e-12));
        assert!(close(t_sf(5.5, 24.0), 5.894_234_442_803_541e-6, 1e-10));
        assert!(close(t_sf(0.5, 3.7), 0.322_667_816_659_966, 1e-12));
        assert!(close(t_sf(-0.5, 3.7), 1.0 - 0.322_667_816_659_966, 1e-12));
        assert_eq!(t_sf(0.0, 5.0), 0.5);
        assert!(close(
            f_sf(4.0, 18.0, 38.0),
            1.591_122_897_230_634e-4,
            1e-10
        ));
        assert!(close(f_sf(1.0, 8.6, 34.3), 0.456_755_088_802_147_5, 1e-12));
        assert!(close(f_sf(30.0, 5.0, 7.0), 1.377_572_189_549_965e-4, 1e-10));
        assert_eq!(f_sf(0.0, 3.0, 4.0), 1.0);
        assert_eq!(t_sf(f64::INFINITY, 3.0), 0.0);
    }

    #[test]
    fn normal_quantile_matches_reference_values() {
        assert!(close(norm_ppf(0.975), 1.959_963_984_540_054, 1e-15));
        assert!(close(norm_ppf(1e-10), -6.361_340_902_404_056, 1e-14));
        assert_eq!(norm_ppf(0.5), 0.0);
        assert_eq!(norm_ppf(0.0), f64::NEG_INFINITY);
        assert_eq!(z_of_upper_tail(0.0), Z_CAP);
        assert_eq!(z_of_upper_tail(1.0), -Z_CAP);
        assert!(close(z_of_upper_tail(0.025), 1.959_963_984_540_054, 1e-14));
    }
}
