//! [`Checkpoint::open`]: one entry point for GGUF files and Hugging Face
//! directories, giving weights and tokenizer together.

use std::path::Path;

use crate::hf::HfCheckpoint;
use crate::{GgufFile, LlamaError, RandomWeights, Tokenizer, WeightSource};

/// A model's weights and tokenizer.
pub struct Checkpoint {
    /// The weights, in Hugging Face naming.
    pub weights: Box<dyn WeightSource + Send + Sync>,
    /// The tokenizer that goes with them.
    pub tokenizer: Tokenizer,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("config", self.weights.config())
            .field("tokenizer", &self.tokenizer)
            .finish()
    }
}

impl Checkpoint {
    /// Opens a `.gguf` file (tokenizer rebuilt from its metadata) or a Hugging
    /// Face directory (`config.json`, safetensors, `tokenizer.json`).
    pub fn open(path: &Path) -> Result<Self, LlamaError> {
        if path.is_dir() {
            let weights = HfCheckpoint::open(path)?;
            let config = weights.config();
            let tokenizer = Tokenizer::from_file(path.join("tokenizer.json"))?
                .with_special_ids(config.bos_token_id, config.eos_token_id);
            return Ok(Self {
                weights: Box::new(weights),
                tokenizer,
            });
        }
        let is_gguf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        if !is_gguf {
            return Err(LlamaError::Format {
                path: path.to_path_buf(),
                message: "not a checkpoint: expected a .gguf file or a Hugging Face directory"
                    .into(),
            });
        }
        let weights = GgufFile::open(path)?;
        let tokenizer = Tokenizer::from_gguf(&weights)?;
        Ok(Self {
            weights: Box::new(weights),
            tokenizer,
        })
    }

    /// Seeded random weights of a config driven by the tokenizer of another
    /// checkpoint (see [`Tokenizer::open`]): a real model's compute on real
    /// prompts without its weights. The tokenizer's ids must fit the config's
    /// vocabulary.
    pub fn random(weights: RandomWeights, tokenizer_path: &Path) -> Result<Self, LlamaError> {
        let tokenizer = Tokenizer::open(tokenizer_path)?;
        let vocab = weights.config().vocab_size;
        if tokenizer.vocab_size() > vocab {
            return Err(LlamaError::Format {
                path: tokenizer_path.to_path_buf(),
                message: format!(
                    "the tokenizer has {} tokens, more than the random model's vocabulary of {vocab}",
                    tokenizer.vocab_size()
                ),
            });
        }
        Ok(Self {
            weights: Box::new(weights),
            tokenizer,
        })
    }
}
