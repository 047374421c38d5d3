//! Pathology injection (algorithm.md §12): LR spike, input-token corruption, and a
//! representation collapse that pulls a block's output toward a fixed low-rank subspace.
//!
//! One injection per run, active on iterations `[at, at + len)`. The hello line records it
//! (docs/metrics-stream.md §hello `injection`); samples carry `injection_active`.
//! Unlike the reference, the fixed probe batch never sees data corruption: the gate then
//! sees what the corrupted training did to the model, not the corrupted inputs themselves.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::seeds::derive_seed;

/// How corrupted input positions are rewritten (algorithm.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CorruptMode {
    /// Shuffle the chosen tokens among themselves.
    Permute,
    /// Replace them by uniform token ids.
    Random,
    /// Set them to token id 0.
    Mask,
}

/// The injected pathology, serialized as the hello line's `injection` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Injection {
    /// lr = schedule(it) × mult.
    LrSpike { at: u64, len: u64, mult: f64 },
    /// Training inputs X are corrupted, targets Y unchanged.
    DataCorrupt {
        at: u64,
        len: u64,
        frac: f64,
        mode: CorruptMode,
    },
    /// Block `layer`'s output h becomes (1−scale)·h + scale·h·P·Pᵀ, with P a fixed orthonormal
    /// `n_embd × rank` basis: the residual stream loses all but `rank` directions.
    Collapse {
        at: u64,
        len: u64,
        scale: f64,
        rank: usize,
        layer: usize,
    },
}

impl Injection {
    fn window(&self) -> (u64, u64) {
        match *self {
            Self::LrSpike { at, len, .. }
            | Self::DataCorrupt { at, len, .. }
            | Self::Collapse { at, len, .. } => (at, len),
        }
    }

    /// First injected iteration (the scorer's onset).
    pub fn onset(&self) -> u64 {
        self.window().0
    }

    /// True on iterations `[at, at + len)`.
    pub fn is_active(&self, iter: u64) -> bool {
        let (at, len) = self.window();
        iter >= at && iter - at < len
    }

    /// LR multiplier at `iter` (1.0 outside an active LR spike).
    pub fn lr_multiplier(&self, iter: u64) -> f64 {
        match *self {
            Self::LrSpike { mult, .. } if self.is_active(iter) => mult,
            _ => 1.0,
        }
    }

    /// Collapse strength at `iter` for `layer`, if a collapse is active there.
    pub fn collapse_scale(&self, iter: u64, layer: usize) -> Option<f64> {
        match *self {
            Self::Collapse {
                scale, layer: l, ..
            } if l == layer && self.is_active(iter) => Some(scale),
            _ => None,
        }
    }

    /// Checks ranges; the message names the offending flag.
    pub fn validate(&self, n_layer: usize) -> Result<(), String> {
        if self.window().1 == 0 {
            return Err("injection length (--*-len) must be positive".into());
        }
        match *self {
            Self::LrSpike { mult, .. } if !(mult.is_finite() && mult > 0.0) => Err(format!(
                "--lr-spike-mult must be finite and > 0, got {mult}"
            )),
            Self::DataCorrupt { frac, .. } if !(0.0..=1.0).contains(&frac) => {
                Err(format!("--data-corrupt-frac must be in [0, 1], got {frac}"))
            }
            Self::Collapse { scale, .. } if !(0.0..=1.0).contains(&scale) => {
                Err(format!("--collapse-scale must be in [0, 1], got {scale}"))
            }
            Self::Collapse { rank: 0, .. } => Err("--collapse-rank must be >= 1".into()),
            Self::Collapse { layer, .. } if layer >= n_layer => {
                Err(format!("--collapse-layer {layer} >= n_layer {n_layer}"))
            }
            _ => Ok(()),
        }
    }
}

/// Corrupts a row-major `batch × block` input batch in place (algorithm.md §12): per sequence,
/// `n = round(block·frac)` positions, the first n of a random permutation, rewritten by `mode`.
/// The generator is seeded from (seed, iter), so a resumed run corrupts identically.
pub fn corrupt_inputs(
    x: &mut [u32],
    block: usize,
    frac: f64,
    mode: CorruptMode,
    vocab_size: usize,
    seed: u64,
    iter: u64,
) {
    let n = ((block as f64) * frac).round().clamp(0.0, block as f64) as usize;
    if n == 0 || block == 0 {
        return;
    }
    let mut rng =
        ChaCha8Rng::seed_from_u64(derive_seed(seed, crate::seeds::STREAM_INJECTION, iter));
    let mut order: Vec<usize> = (0..block).collect();
    for row in x.chunks_mut(block) {
        order.shuffle(&mut rng);
        let picked = &order[..n];
        match mode {
            CorruptMode::Permute => {
                let mut vals: Vec<u32> = picked.iter().map(|&p| row[p]).collect();
                vals.shuffle(&mut rng);
                for (&p, v) in picked.iter().zip(vals) {
                    row[p] = v;
                }
            }
            CorruptMode::Random => {
                for &p in picked {
                    row[p] = rng.random_range(0..vocab_size as u32);
                }
            }
            CorruptMode::Mask => {
                for &p in picked {
                    row[p] = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corrupt(at: u64, len: u64) -> Injection {
        Injection::DataCorrupt {
            at,
            len,
            frac: 0.15,
            mode: CorruptMode::Permute,
        }
    }

    #[test]
    fn active_window_is_half_open() {
        let inj = corrupt(100, 40);
        assert!(!inj.is_active(99));
        assert!(inj.is_active(100));
        assert!(inj.is_active(139));
        assert!(!inj.is_active(140));
        assert_eq!(inj.onset(), 100);
    }

    #[test]
    fn lr_spike_multiplies_only_inside_its_window() {
        let inj = Injection::LrSpike {
            at: 10,
            len: 5,
            mult: 8.0,
        };
        assert_eq!(inj.lr_multiplier(9), 1.0);
        assert_eq!(inj.lr_multiplier(10), 8.0);
        assert_eq!(inj.lr_multiplier(14), 8.0);
        assert_eq!(inj.lr_multiplier(15), 1.0);
        assert_eq!(corrupt(10, 5).lr_multiplier(12), 1.0);
    }

    #[test]
    fn collapse_applies_to_its_layer_only() {
        let inj = Injection::Collapse {
            at: 0,
            len: 3,
            scale: 0.9,
            rank: 2,
            layer: 1,
        };
        assert_eq!(inj.collapse_scale(1, 1), Some(0.9));
        assert_eq!(inj.collapse_scale(1, 0), None);
        assert_eq!(inj.collapse_scale(3, 1), None);
    }

    #[test]
    fn serializes_as_tagged_hello_object() {
        let v = serde_json::to_value(corrupt(2500, 400)).unwrap();
        assert_eq!(v["kind"], "data_corrupt");
        assert_eq!(v["mode"], "permute");
        assert_eq!(v["at"], 2500);
    }

    #[test]
    fn validation_names_the_bad_flag() {
        let bad = Injection::LrSpike {
            at: 1,
            len: 1,
            mult: f64::NAN,
        };
        assert!(bad.validate(2).unwrap_err().contains("--lr-spike-mult"));
        let layer = Injection::Collapse {
            at: 1,
            len: 1,
            scale: 0.5,
            rank: 2,
            layer: 2,
        };
        assert!(layer.validate(2).unwrap_err().contains("--collapse-layer"));
    }

    #[test]
    fn permute_keeps_the_multiset_and_touches_round_frac_positions() {
        let block = 20;
        let orig: Vec<u32> = (0..2 * block as u32).collect();
        let mut x = orig.clone();
        corrupt_inputs(&mut x, block, 0.5, CorruptMode::Permute, 64, 7, 3);
        for (a, b) in x.chunks(block).zip(orig.chunks(block)) {
            let mut sa = a.to_vec();
            sa.sort();
            assert_eq!(sa, b, "permute must keep each row's tokens");
            let changed = a.iter().zip(b).filter(|(p, q)| p != q).count();
            assert!(changed <= 10, "at most round(20*0.5) positions move");
        }
        assert_ne!(x, orig);
    }

    #[test]
    fn mask_sets_exactly_n_positions_to_zero_and_is_deterministic() {
        let mut a = vec![5u32; 40];
        let mut b = vec![5u32; 40];
        corrupt_inputs(&mut a, 20, 0.15, CorruptMode::Mask, 64, 1, 9);
        corrupt_inputs(&mut b, 20, 0.15, CorruptMode::Mask, 64, 1, 9);
        assert_eq!(a, b);
        assert_eq!(a.iter().filter(|&&t| t == 0).count(), 2 * 3); // round(20*0.15) = 3 per row
    }
}
