//! Seeded synthetic metric streams for scenario tests and benchmarks: noise around a typical
//! operating point — i.i.d., AR(1) or moving-average (autocorrelated like real metric streams),
//! optionally on a learning-curve trend (an exponentially decaying approach to the operating
//! point, like a healthy run that is still learning) — plus injected pathologies (abrupt
//! collapse, slow drift, variance blow-up, NaN bursts, missing metrics). Pure: the seed fixes
//! every value; with i.i.d. noise and no trend the stream is the original pilot stream.

use std::collections::BTreeMap;

use crate::engine::Sample;
use crate::metrics::METRIC_NAMES;
use crate::prng::SplitMix64;

/// Operating point of each metric (var_out_k, eff_dim, rankme, cos_disp).
pub const BASELINE: [f64; 4] = [0.5, 30.0, 40.0, 0.3];
/// Width of one tuned_v0 bin in raw units per metric (cal range / 16, algorithm.md §3.2).
pub const BIN_WIDTH: [f64; 4] = [1.0 / 16.0, 4.0, 63.0 / 16.0, 1.0 / 16.0];

/// Direction in which each metric moves while a healthy model learns (the built-in trainer's
/// runs: var_out_k, eff_dim and rankme rise, cos_disp falls).
pub const LEARNING_DIRECTION: [f64; 4] = [1.0, 1.0, 1.0, -1.0];

/// Noise process of every metric, in units of `noise_bins` × one bin width (unit marginal sd).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Independent Gaussian draws.
    Iid,
    /// `e_t = φ·e_{t−1} + sqrt(1 − φ²)·z_t` (stationary, lag-k autocorrelation φ^k).
    Ar1 { phi: f64 },
    /// `e_t = (z_t + … + z_{t−q}) / sqrt(q + 1)`: lag-k autocorrelation `(q + 1 − k)/(q + 1)`
    /// up to lag q, then 0 (q = 2 gives 0.67, 0.33, 0: the shape measured on real runs).
    MovingAverage { q: usize },
}

/// Deterministic baseline the noise rides on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trend {
    /// The constant operating point.
    Flat,
    /// `BASELINE − dir · amplitude_bins · bin · exp(−iter / tau_iters)`: a healthy learning
    /// curve approaching the operating point (direction [`LEARNING_DIRECTION`]).
    LearningCurve { amplitude_bins: f64, tau_iters: f64 },
}

/// What happens to the stream from `onset` on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pathology {
    None,
    /// eff_dim jumps to `to` at onset (representation collapse).
    Collapse {
        to: f64,
    },
    /// eff_dim moves by `per_iter` raw units per iteration after onset.
    Drift {
        per_iter: f64,
    },
    /// Noise of every metric is multiplied by `factor` after onset.
    VarianceBlowup {
        factor: f64,
    },
    /// Every metric is `None` for `len` iterations from onset.
    NanBurst {
        len: u64,
    },
}

/// A synthetic run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub seed: u64,
    pub iters: u64,
    pub metric_interval: u64,
    /// Noise sd as a fraction of a tuned_v0 bin width (0 = perfectly constant run).
    pub noise_bins: f64,
    pub onset: u64,
    pub pathology: Pathology,
    /// Metrics never reported (always `None`).
    pub missing: Vec<&'static str>,
    /// Noise process (default i.i.d.).
    pub noise: Noise,
    /// Baseline (default flat).
    pub trend: Trend,
}

impl Scenario {
    /// A 5000-iteration run sampled every 5 iterations, onset 2500 (the pilot timeline).
    pub fn pilot(seed: u64, noise_bins: f64, pathology: Pathology) -> Self {
        Self {
            seed,
            iters: 5000,
            metric_interval: 5,
            noise_bins,
            onset: 2500,
            pathology,
            missing: vec![],
            noise: Noise::Iid,
            trend: Trend::Flat,
        }
    }

    /// The pilot run on a healthy-learning baseline with autocorrelated noise.
    pub fn with_noise(mut self, noise: Noise, trend: Trend) -> Self {
        self.noise = noise;
        self.trend = trend;
        self
    }

    /// All samples of the run, in order.
    pub fn samples(&self) -> Vec<Sample> {
        let mut rng = SplitMix64::new(self.seed);
        let mut ewma: Option<f64> = None;
        let mut filter = NoiseFilter::default();
        (0..self.iters)
            .step_by(self.metric_interval as usize)
            .map(|iter| {
                let mut z = rng.normals(5);
                filter.apply(self.noise, &mut z[..4]);
                let loss = 2.0 + 0.002 * z[4];
                let e = ewma.map_or(loss, |e| 0.1 * loss + 0.9 * e);
                ewma = Some(e);
                Sample {
                    iter,
                    metrics: self.metrics_at(iter, &z[..4]),
                    loss: Some(loss),
                    ewma_loss: Some(e),
                    grad_norm: None,
                }
            })
            .collect()
    }

    fn metrics_at(&self, iter: u64, z: &[f64]) -> BTreeMap<String, Option<f64>> {
        let active = iter >= self.onset;
        let noise_mult = match self.pathology {
            Pathology::VarianceBlowup { factor } if active => factor,
            _ => 1.0,
        };
        METRIC_NAMES
            .iter()
            .enumerate()
            .map(|(m, name)| {
                let mut v = BASELINE[m] + z[m] * self.noise_bins * BIN_WIDTH[m] * noise_mult;
                if let Trend::LearningCurve {
                    amplitude_bins,
                    tau_iters,
                } = self.trend
                {
                    v -= LEARNING_DIRECTION[m]
                        * amplitude_bins
                        * BIN_WIDTH[m]
                        * (-(iter as f64) / tau_iters).exp();
                }
                if m == 1 && active {
                    match self.pathology {
                        Pathology::Collapse { to } => v += to - BASELINE[1],
                        Pathology::Drift { per_iter } => v += per_iter * (iter - self.onset) as f64,
                        _ => {}
                    }
                }
                let burst = matches!(self.pathology, Pathology::NanBurst { len } if active && iter < self.onset + len);
                let value = (!burst && !self.missing.contains(name)).then_some(v);
                (name.to_string(), value)
            })
            .collect()
    }
}

/// State of the noise filter across samples (per metric).
#[derive(Debug, Default)]
struct NoiseFilter {
    previous: Vec<f64>,
    past: Vec<std::collections::VecDeque<f64>>,
}

impl NoiseFilter {
    /// Turns i.i.d. N(0,1) draws into the configured process, in place.
    fn apply(&mut self, noise: Noise, z: &mut [f64]) {
        match noise {
            Noise::Iid => {}
            Noise::Ar1 { phi } => {
                if self.previous.is_empty() {
                    self.previous = z.to_vec();
                } else {
                    let c = (1.0 - phi * phi).max(0.0).sqrt();
                    for (e, x) in self.previous.iter_mut().zip(z.iter_mut()) {
                        *e = phi * *e + c * *x;
                        *x = *e;
                    }
                }
            }
            Noise::MovingAverage { q } => {
                self.past.resize_with(z.len(), Default::default);
                for (hist, x) in self.past.iter_mut().zip(z.iter_mut()) {
                    hist.push_back(*x);
                    while hist.len() > q + 1 {
                        hist.pop_front();
                    }
                    *x = hist.iter().sum::<f64>() / (hist.len() as f64).sqrt();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eff_dim(s: &Scenario) -> Vec<f64> {
        s.samples()
            .iter()
            .map(|x| x.metrics["eff_dim"].unwrap())
            .collect()
    }

    fn lag_corr(x: &[f64], k: usize) -> f64 {
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let den: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        x.iter()
            .zip(&x[k..])
            .map(|(a, b)| (a - mean) * (b - mean))
            .sum::<f64>()
            / den
    }

    #[test]
    fn autocorrelated_noise_has_the_stated_lag_structure() {
        let mut s = Scenario::pilot(5, 1.0, Pathology::None);
        s.iters = 50_000;
        let iid = eff_dim(&s);
        assert!(lag_corr(&iid, 1).abs() < 0.05);
        let ar = eff_dim(&s.clone().with_noise(Noise::Ar1 { phi: 0.5 }, Trend::Flat));
        assert!((lag_corr(&ar, 1) - 0.5).abs() < 0.05 && (lag_corr(&ar, 2) - 0.25).abs() < 0.05);
        let ma = eff_dim(&s.with_noise(Noise::MovingAverage { q: 2 }, Trend::Flat));
        assert!((lag_corr(&ma, 1) - 2.0 / 3.0).abs() < 0.05 && lag_corr(&ma, 3).abs() < 0.05);
    }

    #[test]
    fn learning_curve_approaches_the_operating_point() {
        let s = Scenario::pilot(1, 0.0, Pathology::None).with_noise(
            Noise::Iid,
            Trend::LearningCurve {
                amplitude_bins: 4.0,
                tau_iters: 1000.0,
            },
        );
        let v = eff_dim(&s);
        assert!((v[0] - 14.0).abs() < 1e-9, "{}", v[0]);
        assert!(v.windows(2).all(|w| w[1] > w[0]));
        assert!((v[v.len() - 1] - 30.0).abs() < 0.2);
    }
}
