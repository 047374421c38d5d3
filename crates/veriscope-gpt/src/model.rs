//! The char-level GPT (nanoGPT architecture) on candle: token + position embeddings, pre-LN
//! causal self-attention blocks, a GELU MLP, final LayerNorm and an untied LM head.
//!
//! Only composite candle ops are used in the forward pass. candle 0.11's fused LayerNorm,
//! `softmax_last_dim` and `rms_norm` have no backward and silently cut gradients
//! (shared/design/ml_framework_bench.md §Rough edges), so this module uses
//! `ops::layer_norm_slow` and `ops::softmax`; `tests::every_parameter_gets_a_gradient`
//! guards it.

use candle_core::{D, DType, Device, Result, Tensor, Var};
use candle_nn::ops;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::config::{GeluKind, ModelDims};
use crate::seeds::{STREAM_COLLAPSE, STREAM_INIT, derive_seed};

const LN_EPS: f32 = 1e-5;
const INIT_STD: f64 = 0.02;

/// One named trainable tensor.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub var: Var,
    /// AdamW weight decay applies to matrices only (embeddings and linear weights).
    pub decay: bool,
}

/// LayerNorm affine parameters.
#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm_slow(x, &self.weight, &self.bias, LN_EPS)
    }

    fn map(&self, f: &impl Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        Ok(Self {
            weight: f(&self.weight)?,
            bias: f(&self.bias)?,
        })
    }
}

/// Linear weights are stored `(in, out)` so the forward is a plain `x · W`.
#[derive(Debug, Clone)]
struct Block {
    ln1: LayerNorm,
    attn_qkv: Tensor,
    attn_proj: Tensor,
    ln2: LayerNorm,
    mlp_fc: Tensor,
    mlp_proj: Tensor,
}

impl Block {
    fn map(&self, f: &impl Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        Ok(Self {
            ln1: self.ln1.map(f)?,
            attn_qkv: f(&self.attn_qkv)?,
            attn_proj: f(&self.attn_proj)?,
            ln2: self.ln2.map(f)?,
            mlp_fc: f(&self.mlp_fc)?,
            mlp_proj: f(&self.mlp_proj)?,
        })
    }
}

/// Representation-collapse hook for one forward pass (injection.rs `Collapse`).
#[derive(Debug, Clone)]
pub struct CollapseHook {
    pub layer: usize,
    pub scale: f64,
    /// `n_embd × n_embd` projector P·Pᵀ onto the kept subspace.
    pub projector: Tensor,
}

/// The network: shape, weights and the constant causal mask. Inside [`Gpt`] the weight
/// tensors are the trainable `Var`s themselves (same storage, so the optimizer's in-place
/// updates are seen and gradients flow); a [`GptSnapshot`] holds detached copies.
#[derive(Debug, Clone)]
struct Net {
    dims: ModelDims,
    gelu: GeluKind,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Tensor,
    mask: Tensor,
}

/// The model: the network plus its named trainable parameters.
#[derive(Debug)]
pub struct Gpt {
    net: Net,
    vocab_size: usize,
    params: Vec<Param>,
}

/// A frozen, detached copy of a [`Gpt`]'s weights at one moment: later optimizer steps do
/// not change it, and its forward records no autograd graph. The asynchronous probe runs on
/// it in another thread (trainer.rs).
#[derive(Debug, Clone)]
pub struct GptSnapshot {
    net: Net,
}

/// Builds parameters in a fixed order from one seeded generator per parameter, so the
/// initialization is identical on every device and for every thread count.
struct ParamFactory<'a> {
    device: &'a Device,
    seed: u64,
    params: Vec<Param>,
}

impl ParamFactory<'_> {
    /// The returned tensor shares storage with the registered `Var`.
    fn normal(&mut self, name: &str, shape: (usize, usize), std: f64) -> Result<Tensor> {
        let ordinal = self.params.len() as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, STREAM_INIT, ordinal));
        let dist = Normal::new(0.0f32, std as f32).expect("std is positive");
        let data: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| dist.sample(&mut rng))
            .collect();
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, self.device)?)?;
        self.push(name, &var, true);
        Ok(var.as_tensor().clone())
    }

    fn layer_norm(&mut self, name: &str, n: usize) -> Result<LayerNorm> {
        let weight = Var::ones(n, DType::F32, self.device)?;
        let bias = Var::zeros(n, DType::F32, self.device)?;
        self.push(&format!("{name}.weight"), &weight, false);
        self.push(&format!("{name}.bias"), &bias, false);
        Ok(LayerNorm {
            weight: weight.as_tensor().clone(),
            bias: bias.as_tensor().clone(),
        })
    }

    fn push(&mut self, name: &str, var: &Var, decay: bool) {
        self.params.push(Param {
            name: name.to_string(),
            var: var.clone(),
            decay,
        });
    }
}

impl Gpt {
    /// A freshly initialized model (nanoGPT init: N(0, 0.02), residual projections scaled by
    /// 1/sqrt(2·n_layer)).
    pub fn new(
        dims: &ModelDims,
        vocab_size: usize,
        gelu: GeluKind,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let c = dims.n_embd;
        let proj_std = INIT_STD / ((2 * dims.n_layer) as f64).sqrt();
        let mut f = ParamFactory {
            device,
            seed,
            params: Vec::new(),
        };
        let wte = f.normal("wte", (vocab_size, c), INIT_STD)?;
        let wpe = f.normal("wpe", (dims.block_size, c), INIT_STD)?;
        let mut blocks = Vec::with_capacity(dims.n_layer);
        for i in 0..dims.n_layer {
            let p = format!("h.{i}");
            blocks.push(Block {
                ln1: f.layer_norm(&format!("{p}.ln_1"), c)?,
                attn_qkv: f.normal(&format!("{p}.attn.c_attn"), (c, 3 * c), INIT_STD)?,
                attn_proj: f.normal(&format!("{p}.attn.c_proj"), (c, c), proj_std)?,
                ln2: f.layer_norm(&format!("{p}.ln_2"), c)?,
                mlp_fc: f.normal(&format!("{p}.mlp.c_fc"), (c, 4 * c), INIT_STD)?,
                mlp_proj: f.normal(&format!("{p}.mlp.c_proj"), (4 * c, c), proj_std)?,
            });
        }
        let ln_f = f.layer_norm("ln_f", c)?;
        let lm_head = f.normal("lm_head", (c, vocab_size), INIT_STD)?;
        let mask = causal_mask(dims.block_size, device)?;
        Ok(Self {
            net: Net {
                dims: dims.clone(),
                gelu,
                wte,
                wpe,
                blocks,
                ln_f,
                lm_head,
                mask,
            },
            vocab_size,
            params: f.params,
        })
    }

    /// All trainable parameters, in a fixed order with stable names.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Total number of scalar parameters.
    pub fn n_params(&self) -> usize {
        self.params.iter().map(|p| p.var.elem_count()).sum()
    }

    pub fn dims(&self) -> &ModelDims {
        &self.net.dims
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Logits `(batch·t, vocab)` for `(batch, t)` u32 token ids with `t <= block_size`.
    pub fn forward(&self, idx: &Tensor, collapse: Option<&CollapseHook>) -> Result<Tensor> {
        self.net.forward(idx, collapse)
    }

    /// The residual stream after block `layer` (before the final LayerNorm),
    /// `(batch·t, n_embd)`. Runs only blocks `0..=layer`, on detached views of the weights
    /// (shared storage, no copy) so no autograd graph is recorded: ~20% cheaper than a
    /// tracked forward at cpu_small size.
    pub fn hidden(
        &self,
        idx: &Tensor,
        layer: usize,
        collapse: Option<&CollapseHook>,
    ) -> Result<Tensor> {
        self.net
            .map_weights(&|t| Ok(t.detach()))?
            .hidden(idx, layer, collapse)
    }

    /// Deep copy of the current weights (about 0.4 MB for cpu_small), detached from autograd.
    pub fn snapshot(&self) -> Result<GptSnapshot> {
        Ok(GptSnapshot {
            net: self.net.map_weights(&|t| Ok(t.copy()?.detach()))?,
        })
    }
}

impl GptSnapshot {
    /// As [`Gpt::hidden`], on the frozen weights.
    pub fn hidden(
        &self,
        idx: &Tensor,
        layer: usize,
        collapse: Option<&CollapseHook>,
    ) -> Result<Tensor> {
        self.net.hidden(idx, layer, collapse)
    }
}

impl Net {
    fn map_weights(&self, f: &impl Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        Ok(Self {
            dims: self.dims.clone(),
            gelu: self.gelu,
            wte: f(&self.wte)?,
            wpe: f(&self.wpe)?,
            blocks: self
                .blocks
                .iter()
                .map(|b| b.map(f))
                .collect::<Result<Vec<_>>>()?,
            ln_f: self.ln_f.map(f)?,
            lm_head: f(&self.lm_head)?,
            mask: self.mask.clone(),
        })
    }

    /// Embeddings then blocks `0..=last`, with the collapse hook after its block; returns the
    /// residual stream `(b, t, c)`.
    fn trunk(&self, idx: &Tensor, last: usize, collapse: Option<&CollapseHook>) -> Result<Tensor> {
        let (b, t) = idx.dims2()?;
        let c = self.dims.n_embd;
        let tok = self.wte.index_select(&idx.flatten_all()?, 0)?;
        let pos = self.wpe.narrow(0, 0, t)?;
        let mut x = tok.reshape((b, t, c))?.broadcast_add(&pos)?;
        let mask = self.mask.narrow(0, 0, t)?.narrow(1, 0, t)?;
        for (i, block) in self.blocks.iter().enumerate().take(last + 1) {
            x = self.block_forward(block, &x, &mask)?;
            if let Some(hook) = collapse.filter(|h| h.layer == i) {
                x = apply_collapse(&x, hook)?;
            }
        }
        Ok(x)
    }

    fn forward(&self, idx: &Tensor, collapse: Option<&CollapseHook>) -> Result<Tensor> {
        let (b, t) = idx.dims2()?;
        let x = self.trunk(idx, self.blocks.len().saturating_sub(1), collapse)?;
        let x = self.ln_f.forward(&x)?.reshape((b * t, self.dims.n_embd))?;
        x.matmul(&self.lm_head)
    }

    /// The probe needs no logits: stopping after the probed block skips the later blocks,
    /// the final LayerNorm and the LM head.
    fn hidden(
        &self,
        idx: &Tensor,
        layer: usize,
        collapse: Option<&CollapseHook>,
    ) -> Result<Tensor> {
        if layer >= self.blocks.len() {
            candle_core::bail!("probe layer {layer} >= n_layer {}", self.blocks.len());
        }
        let (b, t) = idx.dims2()?;
        self.trunk(idx, layer, collapse)?
            .reshape((b * t, self.dims.n_embd))
    }

    fn block_forward(&self, blk: &Block, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let x = (x + self.attention(blk, &blk.ln1.forward(x)?, mask)?)?;
        let h = blk.ln2.forward(&x)?;
        let (b, t, c) = h.dims3()?;
        let h = h.reshape((b * t, c))?.matmul(&blk.mlp_fc)?;
        let h = self.gelu(&h)?.matmul(&blk.mlp_proj)?;
        x + h.reshape((b, t, c))?
    }

    fn attention(&self, blk: &Block, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let nh = self.dims.n_head;
        let hd = c / nh;
        let qkv = x.reshape((b * t, c))?.matmul(&blk.attn_qkv)?;
        // (b, t, 3, nh, hd) -> (3, b, nh, t, hd)
        let qkv = qkv.reshape((b, t, 3, nh, hd))?.permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let att = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let att = ops::softmax(&att.broadcast_add(mask)?, D::Minus1)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, c))?;
        y.matmul(&blk.attn_proj)?.reshape((b, t, c))
    }

    fn gelu(&self, x: &Tensor) -> Result<Tensor> {
        match self.gelu {
            GeluKind::Tanh => x.gelu(),
            GeluKind::Sigmoid => x * ops::sigmoid(&(x * 1.702)?)?,
        }
    }
}

/// `(block, block)` additive mask: 0 on and below the diagonal, −inf above.
fn causal_mask(block: usize, device: &Device) -> Result<Tensor> {
    let data: Vec<f32> = (0..block)
        .flat_map(|i| (0..block).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::from_vec(data, (block, block), device)
}

/// h ← (1−s)·h + s·h·(P·Pᵀ); gradients flow through both terms.
fn apply_collapse(x: &Tensor, hook: &CollapseHook) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    let flat = x.reshape((b * t, c))?;
    let projected = flat.matmul(&hook.projector)?;
    let mixed = ((flat * (1.0 - hook.scale))? + (projected * hook.scale)?)?;
    mixed.reshape((b, t, c))
}

/// The `n × n` projector onto a fixed random `rank`-dimensional subspace (Gram–Schmidt on
/// seeded Gaussian vectors).
pub fn collapse_projector(
    n: usize,
    rank: usize,
    seed: u64,
    layer: usize,
    device: &Device,
) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, STREAM_COLLAPSE, layer as u64));
    let normal = Normal::new(0.0f64, 1.0).expect("unit normal");
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(rank);
    while basis.len() < rank.min(n) {
        let mut v: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        for u in &basis {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-8 {
            basis.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    let mut proj = vec![0f32; n * n];
    for u in &basis {
        for i in 0..n {
            for j in 0..n {
                proj[i * n + j] += (u[i] * u[j]) as f32;
            }
        }
    }
    Tensor::from_vec(proj, (n, n), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (Gpt, Tensor, Tensor) {
        let dims = ModelDims {
            n_layer: 2,
            n_head: 2,
            n_embd: 16,
            block_size: 8,
        };
        let dev = Device::Cpu;
        let model = Gpt::new(&dims, 11, GeluKind::Tanh, 3, &dev).unwrap();
        let x: Vec<u32> = (0..16).map(|i| (i * 7 % 11) as u32).collect();
        let y: Vec<u32> = (0..16).map(|i| (i * 5 % 11) as u32).collect();
        let x = Tensor::from_vec(x, (2, 8), &dev).unwrap();
        let y = Tensor::from_vec(y, 16, &dev).unwrap();
        (model, x, y)
    }

    #[test]
    fn every_parameter_gets_a_nonzero_gradient() {
        for gelu in [GeluKind::Tanh, GeluKind::Sigmoid] {
            let (mut model, x, y) = tiny();
            model.net.gelu = gelu;
            let logits = model.forward(&x, None).unwrap();
            let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
            let grads = loss.backward().unwrap();
            for p in model.params() {
                let g = grads
                    .get(p.var.as_tensor())
                    .unwrap_or_else(|| panic!("{} has no gradient ({gelu:?})", p.name));
                let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
                assert!(
                    norm > 0.0 && norm.is_finite(),
                    "{}: grad norm {norm}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn same_seed_gives_identical_parameters() {
        let (a, _, _) = tiny();
        let (b, _, _) = tiny();
        for (pa, pb) in a.params().iter().zip(b.params()) {
            let va: Vec<f32> = pa.var.flatten_all().unwrap().to_vec1().unwrap();
            let vb: Vec<f32> = pb.var.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(va, vb, "{}", pa.name);
        }
    }

    #[test]
    fn snapshot_matches_the_live_model_and_ignores_later_updates() {
        let (model, x, _) = tiny();
        let live = |m: &Gpt| -> Vec<f32> {
            m.hidden(&x, 1, None)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let snap = model.snapshot().unwrap();
        let frozen = || -> Vec<f32> {
            snap.hidden(&x, 1, None)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let before = live(&model);
        assert_eq!(frozen(), before, "bit-identical to the live weights");
        // An optimizer-style in-place update of every Var leaves the snapshot alone.
        for p in model.params() {
            p.var
                .set(&p.var.as_tensor().affine(0.5, 0.01).unwrap())
                .unwrap();
        }
        assert_ne!(live(&model), before);
        assert_eq!(frozen(), before);
        assert!(
            snap.hidden(&x, 2, None).is_err(),
            "only existing blocks can be probed"
        );
    }

    #[test]
    fn attention_is_causal() {
        // Changing the last token must not change the logits of earlier positions.
        let (model, x, _) = tiny();
        let mut ids: Vec<u32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let a = model.forward(&x, None).unwrap();
        ids[7] = (ids[7] + 1) % 11;
        let x2 = Tensor::from_vec(ids, (2, 8), &Device::Cpu).unwrap();
        let b = model.forward(&x2, None).unwrap();
        let diff: f32 = (a.narrow(0, 0, 7).unwrap() - b.narrow(0, 0, 7).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert_eq!(diff, 0.0);
    }

    #[test]
    fn full_collapse_leaves_rank_r_hidden_states() {
        let (model, x, _) = tiny();
        let proj = collapse_projector(16, 2, 1, 1, &Device::Cpu).unwrap();
        let hook = CollapseHook {
            layer: 1,
            scale: 1.0,
            projector: proj.clone(),
        };
        let h = model.hidden(&x, 1, Some(&hook)).unwrap();
        // h already lies in the subspace: projecting again changes nothing.
        let again = h.matmul(&proj).unwrap();
        let diff: f32 = (h - again)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
    }
}
