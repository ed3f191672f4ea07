//! [`Checkpoint::open`]: one entry point for GGUF files and Hugging Face
//! directories (safetensors or PyTorch `.bin` weights), giving weights and
//! tokenizer together; [`Checkpoint::open_spec`] also takes `org/name[@rev]`
//! from the local Hugging Face hub cache.

use std::path::{Path, PathBuf};

use crate::hf::HfCheckpoint;
use crate::hub::{HubCache, RepoSpec};
use crate::pytorch::{PytorchCheckpoint, has_pytorch_weights};
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
    /// Face directory (`config.json`, `tokenizer.json`, and safetensors or,
    /// when the folder has none, PyTorch `pytorch_model.bin` weights).
    ///
    /// A folder without `config.json` holding exactly one `.gguf` file (a GGUF
    /// repository in the hub cache) opens that file; with several, the error
    /// lists them.
    pub fn open(path: &Path) -> Result<Self, LlamaError> {
        if path.is_dir()
            && !path.join("config.json").is_file()
            && let Some(file) = single_gguf(path)?
        {
            return Self::open(&file);
        }
        if path.is_dir() {
            let weights = open_folder_weights(path)?;
            let config = weights.config();
            let tokenizer = Tokenizer::from_file(path.join("tokenizer.json"))?
                .with_special_ids(config.bos_token_id, config.eos_token_id);
            return Ok(Self { weights, tokenizer });
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

    /// Opens `org/name[@revision]` from `cache` (see [`crate::hub`]).
    pub fn open_hub(spec: &RepoSpec, cache: &HubCache) -> Result<Self, LlamaError> {
        Self::open(&cache.resolve(spec)?)
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

/// The one `.gguf` file of a folder; `None` when it has none; an error naming
/// them when it has several (which to load cannot be guessed).
fn single_gguf(dir: &Path) -> Result<Option<PathBuf>, LlamaError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LlamaError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(LlamaError::Format {
            path: dir.to_path_buf(),
            message: format!(
                "several GGUF files and no config.json; pass one of them: {}",
                found
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The weights of a Hugging Face folder: safetensors when it has them (the
/// format transformers prefers too), else PyTorch `.bin` files. The
/// architecture in `config.json` is checked by both readers before any tensor.
fn open_folder_weights(dir: &Path) -> Result<Box<dyn WeightSource + Send + Sync>, LlamaError> {
    let safetensors = ["model.safetensors", "model.safetensors.index.json"]
        .iter()
        .any(|f| dir.join(f).is_file());
    if safetensors {
        Ok(Box::new(HfCheckpoint::open(dir)?))
    } else if has_pytorch_weights(dir) {
        Ok(Box::new(PytorchCheckpoint::open(dir)?))
    } else {
        let message = if dir.join("config.json").is_file() {
            "no weights: expected model.safetensors, model.safetensors.index.json, \
             pytorch_model.bin or pytorch_model.bin.index.json"
        } else {
            "not a checkpoint folder: no config.json and no weights"
        };
        Err(LlamaError::Format {
            path: dir.to_path_buf(),
            message: message.into(),
        })
    }
}
