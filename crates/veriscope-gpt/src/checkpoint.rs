//! Checkpoints: parameters and AdamW moments in one safetensors file (candle's writer), plus
//! a small JSON sidecar with the loop state. `--resume` loads the newest complete pair.
//!
//! The sidecar is written after the tensors, so a pair with a sidecar is complete.
//! Batches, corruption and the probe batch are derived from (seed, iter) (seeds.rs), so a
//! resumed run continues exactly as an uninterrupted one would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::ModelDims;
use crate::optim::AdamW;

/// Loop state saved beside the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Last completed iteration; training resumes at `iter + 1`.
    pub iter: u64,
    pub step_t: u64,
    pub ewma_loss: Option<f64>,
    pub seed: u64,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub block_size: usize,
    pub vocab_size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint io error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("checkpoint sidecar {path} is not valid: {message}")]
    Meta { path: PathBuf, message: String },
    #[error("checkpoint does not match this run: {0}")]
    Mismatch(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn stem(iter: u64) -> String {
    format!("ckpt_{iter:08}")
}

/// Saves parameters, moments and meta; returns the tensor file path.
pub fn save(dir: &Path, opt: &AdamW, meta: &CheckpointMeta) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for slot in &opt.slots {
        let name = &slot.param.name;
        tensors.insert(format!("param.{name}"), slot.param.var.as_tensor().clone());
        tensors.insert(format!("adam_m.{name}"), slot.m.as_tensor().clone());
        tensors.insert(format!("adam_v.{name}"), slot.v.as_tensor().clone());
    }
    let st_path = dir.join(format!("{}.safetensors", stem(meta.iter)));
    candle_core::safetensors::save(&tensors, &st_path)?;
    let meta_path = dir.join(format!("{}.json", stem(meta.iter)));
    let text = serde_json::to_string_pretty(meta).expect("meta serializes");
    std::fs::write(&meta_path, text + "\n").map_err(io_err(&meta_path))?;
    Ok(st_path)
}

/// The newest complete checkpoint in `dir` (by iteration), if any.
pub fn latest(dir: &Path) -> Result<Option<(PathBuf, CheckpointMeta)>, CheckpointError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut best: Option<(PathBuf, CheckpointMeta)> = None;
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        let is_meta = path.extension().is_some_and(|e| e == "json")
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ckpt_"));
        if !is_meta {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let meta: CheckpointMeta =
            serde_json::from_str(&text).map_err(|e| CheckpointError::Meta {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let st = path.with_extension("safetensors");
        if st.exists() && best.as_ref().is_none_or(|(_, b)| meta.iter > b.iter) {
            best = Some((st, meta));
        }
    }
    Ok(best)
}

/// Loads a checkpoint into `opt` (parameters and moments), after checking it fits.
pub fn restore(
    st_path: &Path,
    meta: &CheckpointMeta,
    dims: &ModelDims,
    vocab_size: usize,
    opt: &mut AdamW,
    device: &Device,
) -> Result<(), CheckpointError> {
    let same = meta.n_layer == dims.n_layer
        && meta.n_head == dims.n_head
        && meta.n_embd == dims.n_embd
        && meta.block_size == dims.block_size
        && meta.vocab_size == vocab_size;
    if !same {
        return Err(CheckpointError::Mismatch(format!(
            "checkpoint model {}x{} (heads {}, block {}, vocab {}) vs run {}x{} (heads {}, block {}, vocab {})",
            meta.n_layer,
            meta.n_embd,
            meta.n_head,
            meta.block_size,
            meta.vocab_size,
            dims.n_layer,
            dims.n_embd,
            dims.n_head,
            dims.block_size,
            vocab_size
        )));
    }
    let tensors = candle_core::safetensors::load(st_path, device)?;
    let get = |key: String| {
        tensors
            .get(&key)
            .cloned()
            .ok_or_else(|| CheckpointError::Mismatch(format!("tensor {key} missing")))
    };
    for slot in &opt.slots {
        let name = &slot.param.name;
        slot.param.var.set(&get(format!("param.{name}"))?)?;
        slot.m.set(&get(format!("adam_m.{name}"))?)?;
        slot.v.set(&get(format!("adam_v.{name}"))?)?;
    }
    opt.step_t = meta.step_t;
    Ok(())
}
