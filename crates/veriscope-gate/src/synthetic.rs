//! Seeded synthetic metric streams for scenario tests and benchmarks: stationary noise around
//! a typical operating point, plus injected pathologies (abrupt collapse, slow drift, variance
//! blow-up, NaN bursts, missing metrics). Pure: the seed fixes every value.

use std::collections::BTreeMap;

use crate::engine::Sample;
use crate::metrics::METRIC_NAMES;
use crate::prng::SplitMix64;

/// Operating point of each metric (var_out_k, eff_dim, rankme, cos_disp).
pub const BASELINE: [f64; 4] = [0.5, 30.0, 40.0, 0.3];
/// Width of one tuned_v0 bin in raw units per metric (cal range / 16, algorithm.md §3.2).
pub const BIN_WIDTH: [f64; 4] = [1.0 / 16.0, 4.0, 63.0 / 16.0, 1.0 / 16.0];

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
        }
    }

    /// All samples of the run, in order.
    pub fn samples(&self) -> Vec<Sample> {
        let mut rng = SplitMix64::new(self.seed);
        let mut ewma: Option<f64> = None;
        (0..self.iters)
            .step_by(self.metric_interval as usize)
            .map(|iter| {
                let z = rng.normals(5);
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
