//! The one pseudo-random generator of the gate: splitmix64, plus the two derived draws the
//! metrics need (uniform doubles and Box–Muller normals).
//!
//! Why not `rand`: the Python SDK must reproduce the JL matrix and the `cos_disp` pair
//! sample bit for bit, and splitmix64 is a dozen lines in any language. The exact algorithm
//! is specified in docs/gate.md §PRNG; change nothing here without bumping `metric_defs`.

/// splitmix64 (Steele, Lea, Flood 2014): a 64-bit state advanced by the golden-ratio
/// increment, output through a bijective mixer.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is `mix(seed + 0x9E3779B97F4A7C15)`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform double in [0, 1): the top 53 bits times 2^-53 (exact, no rounding).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform index in [0, n) as `next_u64() % n`; the modulo bias (< n / 2^64) is
    /// irrelevant at our sizes and keeps the recipe trivial to port. `n` must be > 0.
    pub fn next_below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A pair of independent standard normals by Box–Muller:
    /// `u1 = 1 - next_f64()` (in (0, 1], so the log is finite), `u2 = next_f64()`,
    /// `r = sqrt(-2 ln u1)`, returns `(r cos(2π u2), r sin(2π u2))`.
    pub fn next_normal_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        (r * theta.cos(), r * theta.sin())
    }

    /// `count` standard normals: Box–Muller pairs consumed in order (z0 then z1); when
    /// `count` is odd the last pair's second value is dropped.
    pub fn normals(&mut self, count: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(count + 1);
        while out.len() < count {
            let (z0, z1) = self.next_normal_pair();
            out.push(z0);
            out.push(z1);
        }
        out.truncate(count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_published_reference_values() {
        // Reference outputs for seed 1234567 from the splitmix64.c test vectors.
        let mut rng = SplitMix64::new(1_234_567);
        let expected = [
            6_457_827_717_110_365_317u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn uniforms_stay_in_unit_interval_and_indices_below_bound() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.next_below(13) < 13);
        }
    }

    #[test]
    fn normals_have_roughly_unit_variance_and_odd_counts_truncate() {
        let z = SplitMix64::new(99).normals(20_001);
        assert_eq!(z.len(), 20_001);
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}
