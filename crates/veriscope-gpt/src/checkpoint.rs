//! Checkpoints: parameters and AdamW moments in one safetensors file (candle's writer), plus
//! a small JSON sidecar with the loop state. `--resume` loads the newest complete pair.
//!
//! Each file is written under a `.tmp` name and renamed, and the sidecar after the tensors,
//! so a pair with a sidecar is complete even when the process is killed mid-save. After a
//! save only the newest [`KEEP`] complete pairs are kept (docs/replay.md §3: the wrapper's
//! `<OUTDIR>/checkpoints` must not grow with the run).
//! Batches, corruption and the probe batch are derived from (seed, iter) (seeds.rs), and the
//! sidecar carries the loop state a sample line depends on (EWMA loss, non-finite counts and
//! the eval loss not yet reported), so a resumed run emits the samples an uninterrupted one
//! would. Scalars are also stored as their f64 bit patterns: restoring must be exact.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::ModelDims;
use crate::optim::AdamW;

/// Complete checkpoint pairs kept in a directory.
pub const KEEP: usize = 2;

/// Loop state saved beside the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Last completed iteration; training resumes at `iter + 1`.
    pub iter: u64,
    pub step_t: u64,
    /// For reading; [`CheckpointMeta::ewma`] restores from `ewma_loss_bits`.
    pub ewma_loss: Option<f64>,
    #[serde(default)]
    pub ewma_loss_bits: Option<u64>,
    /// Non-finite loss / gradient counts since the last sample line (reported by the next).
    #[serde(default)]
    pub pending_nonfinite_loss: u64,
    #[serde(default)]
    pub pending_nonfinite_grad: u64,
    /// Eval loss computed since the last sample line, as f64 bits (attached to the next).
    #[serde(default)]
    pub pending_val_loss_bits: Option<u64>,
    /// The probe's metric gauge (EMA standardization) after the last sample up to `iter`,
    /// so a resumed run's metrics continue bit for bit (docs/replay.md §3). Stored as f64
    /// bits: JSON float text read back by serde_json is not always the same double.
    #[serde(default, with = "gauge_bits")]
    pub gauge: Option<veriscope_gate::metrics::GaugeState>,
    /// sha256 of the run spec that wrote it; a resume under another spec is warned about.
    #[serde(default)]
    pub spec_sha256: Option<String>,
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

/// `Option<GaugeState>` as `{"mean_bits": [..], "scale_bits": [..], "updates": n}`.
mod gauge_bits {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use veriscope_gate::metrics::GaugeState;

    #[derive(Serialize, Deserialize)]
    struct Bits {
        mean_bits: Vec<u64>,
        scale_bits: Vec<u64>,
        updates: u64,
    }

    pub fn serialize<S: Serializer>(g: &Option<GaugeState>, s: S) -> Result<S::Ok, S::Error> {
        g.as_ref()
            .map(|g| Bits {
                mean_bits: g.mean.iter().map(|x| x.to_bits()).collect(),
                scale_bits: g.scale.iter().map(|x| x.to_bits()).collect(),
                updates: g.updates,
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GaugeState>, D::Error> {
        Ok(Option::<Bits>::deserialize(d)?.map(|b| GaugeState {
            mean: b.mean_bits.into_iter().map(f64::from_bits).collect(),
            scale: b.scale_bits.into_iter().map(f64::from_bits).collect(),
            updates: b.updates,
        }))
    }
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

impl CheckpointMeta {
    /// The EWMA loss, exact when the bits were saved.
    pub fn ewma(&self) -> Option<f64> {
        self.ewma_loss_bits.map(f64::from_bits).or(self.ewma_loss)
    }

    pub fn pending_val_loss(&self) -> Option<f64> {
        self.pending_val_loss_bits.map(f64::from_bits)
    }
}

/// Writes through a temporary name, then renames (a reader never sees a partial file).
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<(), CheckpointError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Saves parameters, moments and meta, then prunes to the newest [`KEEP`] pairs; returns
/// the tensor file path.
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
    write_atomic(&st_path, |tmp| {
        candle_core::safetensors::save(&tensors, tmp).map_err(CheckpointError::from)
    })?;
    let meta_path = dir.join(format!("{}.json", stem(meta.iter)));
    let text = serde_json::to_string_pretty(meta).expect("meta serializes") + "\n";
    write_atomic(&meta_path, |tmp| {
        std::fs::write(tmp, &text).map_err(io_err(tmp))
    })?;
    prune(dir, KEEP)?;
    Ok(st_path)
}

/// Iteration of a checkpoint file name (`ckpt_<iter>.json|.safetensors[.tmp]`).
fn iter_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("ckpt_")?;
    let digits = rest.split('.').next()?;
    digits.parse().ok()
}

/// Keeps the newest `keep` complete pairs; removes older pairs and any leftover file of an
/// older, incomplete save. Files of other names are never touched.
pub fn prune(dir: &Path, keep: usize) -> Result<(), CheckpointError> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if let Some(it) = path.file_name().and_then(|n| n.to_str()).and_then(iter_of)
            && path.is_file()
        {
            files.push((it, path));
        }
    }
    let mut complete: Vec<u64> = files
        .iter()
        .filter(|(it, p)| {
            p.extension().is_some_and(|e| e == "json")
                && dir.join(format!("{}.safetensors", stem(*it))).exists()
        })
        .map(|(it, _)| *it)
        .collect();
    complete.sort_unstable_by(|a, b| b.cmp(a));
    let Some(&oldest_kept) = complete.get(keep.max(1) - 1).or(complete.last()) else {
        return Ok(());
    };
    for (it, path) in files {
        if it < oldest_kept {
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GeluKind;
    use crate::model::Gpt;
    use crate::optim::AdamWParams;

    fn opt() -> (AdamW, ModelDims) {
        let dims = ModelDims {
            n_layer: 1,
            n_head: 1,
            n_embd: 8,
            block_size: 4,
        };
        let model = Gpt::new(&dims, 5, GeluKind::Sigmoid, 1, &Device::Cpu).unwrap();
        let hp = AdamWParams {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            grad_clip: 1.0,
        };
        (AdamW::new(model.params(), hp).unwrap(), dims)
    }

    fn meta(iter: u64, dims: &ModelDims) -> CheckpointMeta {
        let ewma = 1.0 / 3.0 + iter as f64 * 1e-17;
        CheckpointMeta {
            iter,
            step_t: iter + 1,
            ewma_loss: Some(ewma),
            ewma_loss_bits: Some(ewma.to_bits()),
            pending_nonfinite_loss: 1,
            pending_nonfinite_grad: 2,
            pending_val_loss_bits: Some(0.1f64.to_bits()),
            gauge: Some(veriscope_gate::metrics::GaugeState {
                mean: vec![0.5, -1.0 / 3.0],
                scale: vec![2.0, 1e-300],
                updates: 7,
            }),
            spec_sha256: None,
            seed: 3,
            n_layer: dims.n_layer,
            n_head: dims.n_head,
            n_embd: dims.n_embd,
            block_size: dims.block_size,
            vocab_size: 5,
        }
    }

    #[test]
    fn only_the_newest_two_pairs_are_kept_and_leftovers_go() {
        let dir = tempfile::tempdir().unwrap();
        let (opt, dims) = opt();
        // A leftover of an older save killed mid-way, and an unrelated file.
        std::fs::write(dir.path().join("ckpt_00000000.safetensors.tmp"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
        for it in [1, 4, 9] {
            save(dir.path(), &opt, &meta(it, &dims)).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ckpt_00000004.json",
                "ckpt_00000004.safetensors",
                "ckpt_00000009.json",
                "ckpt_00000009.safetensors",
                "notes.txt"
            ]
        );
        let (_, newest) = latest(dir.path()).unwrap().unwrap();
        assert_eq!(newest.iter, 9);
    }

    #[test]
    fn a_pair_without_its_sidecar_is_not_resumed_from() {
        let dir = tempfile::tempdir().unwrap();
        let (opt, dims) = opt();
        save(dir.path(), &opt, &meta(3, &dims)).unwrap();
        save(dir.path(), &opt, &meta(5, &dims)).unwrap();
        std::fs::remove_file(dir.path().join("ckpt_00000005.json")).unwrap();
        assert_eq!(latest(dir.path()).unwrap().unwrap().1.iter, 3);
    }

    #[test]
    fn loop_state_round_trips_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let (opt, dims) = opt();
        let m = meta(7, &dims);
        save(dir.path(), &opt, &m).unwrap();
        let (_, back) = latest(dir.path()).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(back.ewma().unwrap().to_bits(), m.ewma_loss_bits.unwrap());
        assert_eq!(back.pending_val_loss(), Some(0.1));
    }
}
