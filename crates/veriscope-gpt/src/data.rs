//! Training text: the embedded public-domain corpus (corpus/README.md) or `--data FILE`,
//! a character vocabulary, the train/val split, and seeded batch sampling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// The embedded corpus: KJV Genesis and Exodus (public domain; corpus/README.md).
pub const EMBEDDED_CORPUS: &str = include_str!("../corpus/kjv_genesis_exodus.txt");
/// How the embedded corpus is named in the describe JSON and hello line.
pub const EMBEDDED_NAME: &str = "embedded:kjv_genesis_exodus";

/// Character-level vocabulary: the sorted distinct chars of the text.
#[derive(Debug, Clone)]
pub struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self { chars }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        text.chars()
            .map(|c| self.chars.binary_search(&c).expect("char is in the vocab") as u32)
            .collect()
    }
}

/// Encoded text split into a training head and a held-out tail.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub val: Vec<u32>,
    /// sha256 (hex) of the whole UTF-8 text, for the run spec (identifies the data without
    /// its path).
    pub text_sha256: String,
}

impl Dataset {
    /// Encodes `text` and holds out its last `val_frac`. Both parts must hold at least one
    /// window of `block + 1` tokens.
    pub fn from_text(text: &str, val_frac: f64, block: usize) -> Result<Self, String> {
        let vocab = Vocab::from_text(text);
        let ids = vocab.encode(text);
        let n_val = ((ids.len() as f64) * val_frac).round() as usize;
        let n_train = ids.len() - n_val;
        if n_train <= block + 1 || n_val <= block + 1 {
            return Err(format!(
                "text of {} chars is too short for block_size {block} with val_frac {val_frac}",
                ids.len()
            ));
        }
        Ok(Self {
            vocab,
            train: ids[..n_train].to_vec(),
            val: ids[n_train..].to_vec(),
            text_sha256: hex::encode(Sha256::digest(text.as_bytes())),
        })
    }
}

/// Row-major `batch × block` inputs and next-token targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub x: Vec<u32>,
    pub y: Vec<u32>,
    pub batch: usize,
    pub block: usize,
}

/// Random windows of `split`, drawn from a generator seeded with `seed`.
pub fn sample_batch(split: &[u32], batch: usize, block: usize, seed: u64) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(batch * block);
    let mut y = Vec::with_capacity(batch * block);
    for _ in 0..batch {
        let start = rng.random_range(0..split.len() - block - 1);
        x.extend_from_slice(&split[start..start + block]);
        y.extend_from_slice(&split[start + 1..start + block + 1]);
    }
    Batch { x, y, batch, block }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_corpus_is_a_few_hundred_kb_of_prose() {
        assert!(EMBEDDED_CORPUS.len() > 300_000);
        let ds = Dataset::from_text(EMBEDDED_CORPUS, 0.1, 64).unwrap();
        assert!(ds.vocab.len() > 50 && ds.vocab.len() < 100);
        assert!(ds.val.len() * 9 <= ds.train.len() + 9);
        assert_eq!(ds.text_sha256.len(), 64);
        let other = Dataset::from_text(&EMBEDDED_CORPUS[1..], 0.1, 64).unwrap();
        assert_ne!(ds.text_sha256, other.text_sha256);
    }

    #[test]
    fn targets_are_inputs_shifted_by_one() {
        let split: Vec<u32> = (0..100).collect();
        let b = sample_batch(&split, 3, 8, 5);
        for (xr, yr) in b.x.chunks(8).zip(b.y.chunks(8)) {
            assert_eq!(&xr[1..], &yr[..7]);
            assert_eq!(yr[7], xr[7] + 1);
        }
        assert_eq!(b, sample_batch(&split, 3, 8, 5));
    }

    #[test]
    fn too_short_text_is_rejected() {
        assert!(Dataset::from_text("abc", 0.1, 64).is_err());
    }
}
