//! AdamW with decoupled weight decay on matrices only, global-norm gradient clipping, and the
//! warmup + cosine learning-rate schedule (algorithm.md §1, nanoGPT conventions).
//!
//! candle-nn's `AdamW` decays every parameter, so this is a small own implementation that
//! also folds the clipping factor into the moment update (no extra pass over the gradients).

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

use crate::model::Param;

/// Warmup + cosine decay: linear warmup `(it+1)/warmup`, then cosine from `lr` to `min_lr`
/// by `decay_iters`, flat `min_lr` afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_iters: u64,
    pub decay_iters: u64,
}

impl LrSchedule {
    pub fn at(&self, iter: u64) -> f64 {
        if iter < self.warmup_iters {
            return self.lr * (iter + 1) as f64 / self.warmup_iters as f64;
        }
        if iter >= self.decay_iters {
            return self.min_lr;
        }
        let span = (self.decay_iters - self.warmup_iters).max(1) as f64;
        let ratio = (iter - self.warmup_iters) as f64 / span;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
        self.min_lr + coeff * (self.lr - self.min_lr)
    }
}

/// AdamW hyper-parameters except the learning rate, which changes every step.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
}

/// Per-parameter optimizer state.
#[derive(Debug)]
pub struct Slot {
    pub param: Param,
    pub m: Var,
    pub v: Var,
}

/// What one optimizer step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// False when the norm was non-finite: the update was skipped.
    pub applied: bool,
}

/// AdamW over a fixed parameter list.
#[derive(Debug)]
pub struct AdamW {
    pub slots: Vec<Slot>,
    /// Number of updates applied so far (bias correction).
    pub step_t: u64,
    params: AdamWParams,
}

impl AdamW {
    pub fn new(params: &[Param], hp: AdamWParams) -> Result<Self> {
        let slots = params
            .iter()
            .map(|p| {
                Ok(Slot {
                    param: p.clone(),
                    m: Var::zeros(p.var.shape(), p.var.dtype(), p.var.device())?,
                    v: Var::zeros(p.var.shape(), p.var.dtype(), p.var.device())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            step_t: 0,
            params: hp,
        })
    }

    /// Global gradient norm; a parameter without a gradient is an error (candle pitfall).
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut total: Option<Tensor> = None;
        for slot in &self.slots {
            let g = grad_of(grads, &slot.param)?;
            let sq = g.sqr()?.sum_all()?;
            total = Some(match total {
                None => sq,
                Some(t) => (t + sq)?,
            });
        }
        match total {
            None => Ok(0.0),
            Some(t) => Ok(f64::from(t.to_scalar::<f32>()?).sqrt()),
        }
    }

    /// One update at learning rate `lr`. Skips the update when the gradient norm is
    /// non-finite, so one bad batch cannot poison the weights.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<StepStats> {
        let grad_norm = self.grad_norm(grads)?;
        if !grad_norm.is_finite() {
            return Ok(StepStats {
                grad_norm,
                applied: false,
            });
        }
        let hp = &self.params;
        let clip = if hp.grad_clip > 0.0 && grad_norm > hp.grad_clip {
            hp.grad_clip / (grad_norm + 1e-6)
        } else {
            1.0
        };
        self.step_t += 1;
        let t = self.step_t as i32;
        let bc1 = 1.0 - hp.beta1.powi(t);
        let bc2 = 1.0 - hp.beta2.powi(t);
        for slot in &self.slots {
            let g = grad_of(grads, &slot.param)?;
            let m = ((slot.m.as_tensor() * hp.beta1)? + (g * ((1.0 - hp.beta1) * clip))?)?;
            let v = ((slot.v.as_tensor() * hp.beta2)?
                + (g.sqr()? * ((1.0 - hp.beta2) * clip * clip))?)?;
            let denom = ((&v * (1.0 / bc2))?.sqrt()? + hp.eps)?;
            let update = ((&m * (lr / bc1))? / denom)?;
            let theta = slot.param.var.as_tensor();
            let decayed = if slot.param.decay {
                (theta * (1.0 - lr * hp.weight_decay))?
            } else {
                theta.clone()
            };
            slot.param.var.set(&(decayed - update)?)?;
            slot.m.set(&m)?;
            slot.v.set(&v)?;
        }
        Ok(StepStats {
            grad_norm,
            applied: true,
        })
    }
}

fn grad_of<'a>(grads: &'a GradStore, p: &Param) -> Result<&'a Tensor> {
    grads
        .get(p.var.as_tensor())
        .ok_or_else(|| candle_core::Error::Msg(format!("parameter {} has no gradient", p.name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn schedule_warms_up_then_decays_to_min() {
        let s = LrSchedule {
            lr: 1.0,
            min_lr: 0.1,
            warmup_iters: 10,
            decay_iters: 110,
        };
        assert!((s.at(0) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 1.0).abs() < 1e-12);
        assert!((s.at(10) - 1.0).abs() < 1e-12);
        assert!((s.at(60) - 0.55).abs() < 1e-12);
        assert_eq!(s.at(110), 0.1);
        assert_eq!(s.at(10_000), 0.1);
    }

    fn param(name: &str, decay: bool) -> Param {
        Param {
            name: name.into(),
            var: Var::ones(4, DType::F32, &Device::Cpu).unwrap(),
            decay,
        }
    }

    #[test]
    fn weight_decay_touches_matrices_only() {
        let params = [param("w", true), param("ln.bias", false)];
        let hp = AdamWParams {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.5,
            grad_clip: 0.0,
        };
        let mut opt = AdamW::new(&params, hp).unwrap();
        // The same unit gradient on both: Adam's first step moves each by lr, and only the
        // matrix is also decayed by lr·wd·θ.
        let loss = (params[0].var.as_tensor().sum_all().unwrap()
            + params[1].var.as_tensor().sum_all().unwrap())
        .unwrap();
        let grads = loss.backward().unwrap();
        let stats = opt.step(&grads, 0.1).unwrap();
        assert!(stats.applied);
        let w: Vec<f32> = params[0].var.to_vec1().unwrap();
        let b: Vec<f32> = params[1].var.to_vec1().unwrap();
        assert!((w[0] - 0.85).abs() < 1e-5, "{w:?}");
        assert!((b[0] - 0.9).abs() < 1e-5, "{b:?}");
    }

    #[test]
    fn clipping_bounds_the_first_step() {
        let params = [param("w", false)];
        let hp = AdamWParams {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: 1.0,
        };
        let mut opt = AdamW::new(&params, hp).unwrap();
        let loss = (params[0].var.as_tensor() * 100.0)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let stats = opt.step(&grads, 0.01).unwrap();
        assert!(
            (stats.grad_norm - 200.0).abs() < 1e-3,
            "{}",
            stats.grad_norm
        );
        // Adam's first step moves each coordinate by ~lr regardless of scale.
        let w: Vec<f32> = params[0].var.to_vec1().unwrap();
        assert!((w[0] - 0.99).abs() < 1e-4, "{w:?}");
    }
}
