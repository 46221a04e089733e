//! Sentence embeddings with all-MiniLM-L6-v2 (384 dimensions), run by candle on the CPU.
//!
//! The model files are fetched by `scripts/fetch-model.sh` into `models/all-MiniLM-L6-v2/` and
//! checked against `models/manifest.toml`; this module checks the weights' SHA-256 again when it
//! loads them, so a partial or altered download is refused with a message saying how to fetch
//! it, never used. Output: mean pooling over the tokens, then L2 normalisation, as the model's
//! sentence-transformers configuration prescribes.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::bert::{BertConfig, BertEncoder, mean_pool_normalised};
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

/// SHA-256 of the weights, as in `models/manifest.toml` (a test keeps the two in step).
pub const WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// The model's maximum sequence length (sentence_bert_config.json); longer texts are truncated.
pub const MAX_TOKENS: usize = 256;

const FETCH_HINT: &str = "run `make setup` (scripts/fetch-model.sh) to fetch and check the model";

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model is missing: {path} does not exist; {FETCH_HINT}")]
    Missing { path: PathBuf },
    #[error("the embedding model file {path} is corrupt ({reason}); {FETCH_HINT}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
}

/// Which model (and which weights) produced a vector: vectors of different ids never mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelId {
    pub name: &'static str,
    pub dimensions: usize,
    /// The first 16 hex digits of the weights' SHA-256.
    pub version: String,
}

pub struct Embedder {
    model: BertEncoder,
    tokenizer: Tokenizer,
    id: ModelId,
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EmbedError::Missing {
            path: path.to_owned(),
        },
        _ => EmbedError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        },
    })
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model from `dir` (e.g. `models/all-MiniLM-L6-v2`).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let weights_path = dir.join("model.safetensors");
        let weights = read(&weights_path)?;
        let digest: String = Sha256::digest(&weights)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if digest != WEIGHTS_SHA256 {
            return Err(EmbedError::Corrupt {
                path: weights_path,
                reason: format!("SHA-256 {digest}, expected {WEIGHTS_SHA256}"),
            });
        }
        let config_path = dir.join("config.json");
        let config: BertConfig =
            serde_json::from_slice(&read(&config_path)?).map_err(|e| EmbedError::Corrupt {
                path: config_path,
                reason: e.to_string(),
            })?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_bytes(read(&tokenizer_path)?).map_err(|e| EmbedError::Corrupt {
                path: tokenizer_path,
                reason: e.to_string(),
            })?;
        // The packaged tokenizer pads and truncates to a fixed 128; the model wants no padding
        // (sequences are packed end to end, see `bert`) and truncation at 256, or its
        // embeddings differ from the reference.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let model = BertEncoder::load(vb, &config)?;
        Ok(Self {
            model,
            tokenizer,
            id: ModelId {
                name: "all-MiniLM-L6-v2",
                dimensions: config.hidden_size,
                version: digest[..16].to_owned(),
            },
        })
    }

    pub fn id(&self) -> &ModelId {
        &self.id
    }

    /// Embeds many texts in batches of `batch`, grouping texts of similar length (as
    /// sentence-transformers does) so little work is spent on padding; vectors come back in the
    /// order of `texts`. `after_batch` is told how many are done, for progress bars, and may
    /// return false to stop early: then the result is `None`.
    pub fn embed_many(
        &self,
        texts: &[&str],
        batch: usize,
        after_batch: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Option<Vec<Vec<f32>>>, EmbedError> {
        let batch = batch.max(1);
        let mut order: Vec<usize> = (0..texts.len()).collect();
        // Character count is a good, cheap proxy for token count when sorting.
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut done = 0;
        for group in order.chunks(batch) {
            let refs: Vec<&str> = group.iter().map(|&i| texts[i]).collect();
            for (&i, v) in group.iter().zip(self.embed(&refs)?) {
                out[i] = Some(v);
            }
            done += group.len();
            if !after_batch(done) {
                return Ok(None);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// One L2-normalised vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let lengths: Vec<usize> = encodings.iter().map(|e| e.get_ids().len()).collect();
        let total: usize = lengths.iter().sum();
        let mut ids = Vec::with_capacity(total);
        let mut types = Vec::with_capacity(total);
        for e in &encodings {
            ids.extend(e.get_ids().iter().copied());
            types.extend(e.get_type_ids().iter().copied());
        }
        let hidden = self.model.forward(&ids, &types, &lengths)?;
        Ok(mean_pool_normalised(
            &hidden,
            self.model.hidden_size(),
            &lengths,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_hash_matches_the_manifest() {
        let manifest = include_str!("../../../models/manifest.toml");
        let line = manifest
            .lines()
            .find(|l| l.starts_with("\"model.safetensors\""))
            .expect("the manifest lists the weights");
        assert!(
            line.contains(WEIGHTS_SHA256),
            "models/manifest.toml and WEIGHTS_SHA256 disagree: {line}"
        );
    }

    #[test]
    fn a_missing_model_says_how_to_fetch_it() {
        let dir = std::env::temp_dir().join("ils-no-model-here");
        let err = Embedder::load(&dir).expect_err("no model");
        let message = err.to_string();
        assert!(message.contains("make setup"), "{message}");
        assert!(matches!(err, EmbedError::Missing { .. }));
    }
}
