//! Tokenizers: a thin wrapper over the `tokenizers` crate, built either from a
//! Hugging Face `tokenizer.json` or from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! From GGUF (module `gguf_vocab`), a byte-level BPE (`tokenizer.ggml.model = gpt2`)
//! is rebuilt from the token list and merges, with the pre-tokenizer llama.cpp
//! selects for `tokenizer.ggml.pre` (`gpt2`, `smollm`, `llama-bpe`, `qwen2`,
//! `tekken`) spelled as the family's own `tokenizer.json` spells it; a
//! SentencePiece vocabulary (`llama`: Llama 2, Mistral, TinyLlama) from the
//! token list and scores, with byte fallback and the leading-space rule. Control
//! tokens become special added tokens (so `<|im_start|>` in text maps to its id).

mod gguf_vocab;
mod prefix;

pub use prefix::PromptPrefix;

use std::path::Path;
use std::sync::Arc;

use crate::LlamaError;
use crate::gguf::{GgufFile, GgufValue};

/// A text tokenizer with the model's special-token ids. Cheap to clone.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    origin: String,
}

/// Summarises instead of printing the whole vocabulary.
impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("origin", &self.origin)
            .field("vocab_size", &self.vocab_size())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

impl Tokenizer {
    /// The tokenizer of a checkpoint: a `.gguf` file (from its metadata), a
    /// Hugging Face folder (as [`Checkpoint::open`](crate::Checkpoint::open)
    /// reads it) or a `tokenizer.json`.
    pub fn open(path: &Path) -> Result<Self, LlamaError> {
        if path.is_dir() {
            return Ok(crate::Checkpoint::open(path)?.tokenizer);
        }
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            // The header alone: a tokenizer needs no weights, and a vocabulary-only
            // GGUF (as llama.cpp ships for its tokenizer tests) has none.
            let bytes = crate::gguf::map_file(path)?;
            let header =
                crate::gguf::parse_header(&bytes).map_err(|message| LlamaError::Format {
                    path: path.to_path_buf(),
                    message,
                })?;
            return Self::from_gguf_metadata(
                &header.metadata,
                format!("GGUF metadata of {}", path.display()),
            );
        }
        Self::from_file(path)
    }

    /// Loads a Hugging Face `tokenizer.json`. BOS/EOS come from a sibling
    /// `tokenizer_config.json` when present (`bos_token`, `eos_token`,
    /// `add_bos_token`); otherwise `add_bos` is whether the file's post-processor
    /// itself prepends the BOS token.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| LlamaError::Tokenizer {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        let side = SideConfig::read(path)?;
        let id = |tok: &Option<String>| tok.as_deref().and_then(|t| inner.token_to_id(t));
        let (bos, eos) = (id(&side.bos_token), id(&side.eos_token));
        let add_bos = match side.add_bos_token {
            Some(flag) => flag,
            None => post_processor_adds(&inner, bos),
        };
        Ok(Self {
            inner: Arc::new(inner),
            bos,
            eos,
            add_bos,
            origin,
        })
    }

    /// Writes `tokenizer.json` and the `tokenizer_config.json` beside it (BOS,
    /// EOS, whether BOS is added) into `dir`, so that [`Tokenizer::from_file`]
    /// reads back the same tokenizer: e.g. a GGUF's tokenizer, small enough to
    /// travel where the checkpoint cannot.
    pub fn save(&self, dir: &Path) -> Result<(), LlamaError> {
        let io = |path: std::path::PathBuf| move |source| LlamaError::Io { path, source };
        std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
        let json = dir.join("tokenizer.json");
        self.inner
            .save(&json, false)
            .map_err(|e| LlamaError::Tokenizer {
                origin: json.display().to_string(),
                message: e.to_string(),
            })?;
        let token = |id: Option<u32>| id.and_then(|id| self.inner.id_to_token(id));
        let config = serde_json::json!({
            "bos_token": token(self.bos),
            "eos_token": token(self.eos),
            "add_bos_token": self.add_bos,
        });
        let path = dir.join("tokenizer_config.json");
        std::fs::write(&path, config.to_string()).map_err(io(path.clone()))
    }

    /// Rebuilds the tokenizer stored in a GGUF file's metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, LlamaError> {
        Self::from_gguf_metadata(
            &file.header().metadata,
            format!("GGUF metadata of {}", file.path().display()),
        )
    }

    /// Rebuilds the tokenizer from GGUF metadata (`tokenizer.ggml.*` keys, e.g.
    /// of [`parse_header`](crate::gguf::parse_header)); `origin` names the
    /// source in errors. BOS is added to prompts as `tokenizer.ggml.add_bos_token`
    /// says, else as llama.cpp does by default (SentencePiece, Llama 3 and Tekken
    /// vocabularies: yes; other byte-level ones: no).
    pub fn from_gguf_metadata(
        metadata: &[(String, GgufValue)],
        origin: impl Into<String>,
    ) -> Result<Self, LlamaError> {
        let origin = origin.into();
        let built =
            gguf_vocab::from_metadata(metadata).map_err(|message| LlamaError::Tokenizer {
                origin: origin.clone(),
                message,
            })?;
        Ok(Self {
            inner: Arc::new(built.tokenizer),
            bos: built.bos,
            eos: built.eos,
            add_bos: built.add_bos,
            origin,
        })
    }

    /// Overrides the BOS/EOS ids (e.g. from `config.json`) where given.
    pub fn with_special_ids(mut self, bos: Option<u32>, eos: Option<u32>) -> Self {
        self.bos = bos.or(self.bos);
        self.eos = eos.or(self.eos);
        self
    }

    /// Token ids of `text`, adding no special tokens (special-token strings in
    /// the text still map to their ids).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        let enc = self.inner.encode(text, false).map_err(|e| self.error(e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of a prompt: BOS first iff [`add_bos`](Self::add_bos), then
    /// [`encode`](Self::encode).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        let mut ids: Vec<u32> = self.prompt_start().into_iter().collect();
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    /// The id a prompt starts with before its text's own: BOS iff
    /// [`add_bos`](Self::add_bos).
    fn prompt_start(&self) -> Option<u32> {
        self.bos.filter(|_| self.add_bos)
    }

    /// The text of `ids`, special tokens included, with no clean-up of spaces.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlamaError> {
        self.inner.decode(ids, false).map_err(|e| self.error(e))
    }

    /// Beginning-of-sequence id.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether prompts start with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string (vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    fn error(&self, e: tokenizers::Error) -> LlamaError {
        LlamaError::Tokenizer {
            origin: self.origin.clone(),
            message: e.to_string(),
        }
    }
}

/// The fields of a sibling `tokenizer_config.json` that matter here.
#[derive(Debug, Default)]
struct SideConfig {
    bos_token: Option<String>,
    eos_token: Option<String>,
    add_bos_token: Option<bool>,
}

impl SideConfig {
    fn read(tokenizer_json: &Path) -> Result<Self, LlamaError> {
        let path = tokenizer_json.with_file_name("tokenizer_config.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(Self::default());
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| LlamaError::Format {
                path: path.clone(),
                message: format!("invalid JSON: {e}"),
            })?;
        // Tokens are either a string or an object with `content`.
        let token = |key: &str| match &json[key] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("content")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            _ => None,
        };
        Ok(Self {
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            add_bos_token: json["add_bos_token"].as_bool(),
        })
    }
}

/// Whether encoding with special tokens prepends `bos` (Llama-3 style
/// `TemplateProcessing`).
fn post_processor_adds(tok: &tokenizers::Tokenizer, bos: Option<u32>) -> bool {
    let Some(bos) = bos else { return false };
    tok.encode("a", true)
        .map(|enc| enc.get_ids().first() == Some(&bos))
        .unwrap_or(false)
}
