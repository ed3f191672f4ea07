//! Tokenizers: a thin wrapper over the `tokenizers` crate, built either from a
//! Hugging Face `tokenizer.json` or from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! From GGUF, a GPT-2 style byte-level BPE is rebuilt from the token list and
//! merges; control tokens become special added tokens (so `<|im_start|>` in text
//! maps to its id); the pre-tokenizer follows `tokenizer.ggml.pre` as llama.cpp
//! does (for `smollm`: every digit split off, then GPT-2 byte-level splitting,
//! exactly SmolLM2's own `tokenizer.json`).

use std::path::Path;
use std::sync::Arc;

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::LlamaError;
use crate::gguf::{GgufFile, GgufValue};

/// llama.cpp's `tokenizer.ggml.token_type` for control tokens.
const TOKEN_TYPE_CONTROL: i64 = 3;
/// llama.cpp's `tokenizer.ggml.token_type` for user-defined tokens.
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// The Llama-3 pre-tokenizer regex (llama.cpp `llama-bpe`, Llama 3 `tokenizer.json`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

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
            return Self::from_gguf(&GgufFile::open(path)?);
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
        let origin = format!("GGUF metadata of {}", file.path().display());
        let err = |message: String| LlamaError::Tokenizer {
            origin: origin.clone(),
            message,
        };
        let model = file
            .metadata("tokenizer.ggml.model")
            .and_then(GgufValue::as_str);
        if model != Some("gpt2") {
            return Err(err(format!(
                "`tokenizer.ggml.model` is {model:?}; only byte-level BPE (`gpt2`) is supported"
            )));
        }
        let tokens = string_array(file, "tokenizer.ggml.tokens").map_err(&err)?;
        let merges = string_array(file, "tokenizer.ggml.merges").map_err(&err)?;
        let types = token_types(file, tokens.len()).map_err(&err)?;
        let pre = file
            .metadata("tokenizer.ggml.pre")
            .and_then(GgufValue::as_str)
            .unwrap_or("default");
        let inner = build_bpe(&tokens, &merges, &types, pre).map_err(&err)?;
        let id = |key: &str| {
            file.metadata(key)
                .and_then(GgufValue::as_u64)
                .and_then(|v| u32::try_from(v).ok())
        };
        let add_bos = file
            .metadata("tokenizer.ggml.add_bos_token")
            .and_then(GgufValue::as_bool)
            .unwrap_or(false);
        Ok(Self {
            inner: Arc::new(inner),
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            add_bos,
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
        let mut ids = Vec::new();
        if self.add_bos
            && let Some(bos) = self.bos
        {
            ids.push(bos);
        }
        ids.extend(self.encode(text)?);
        Ok(ids)
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

/// `tokenizer.ggml.tokens` / `merges` as strings.
fn string_array(file: &GgufFile, key: &str) -> Result<Vec<String>, String> {
    let values = file
        .metadata(key)
        .and_then(GgufValue::as_array)
        .ok_or_else(|| format!("missing array `{key}`"))?;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{key}`[{i}] is not a string"))
        })
        .collect()
}

/// `tokenizer.ggml.token_type`, or all-normal when absent.
fn token_types(file: &GgufFile, n_tokens: usize) -> Result<Vec<i64>, String> {
    let Some(value) = file.metadata("tokenizer.ggml.token_type") else {
        return Ok(vec![1; n_tokens]);
    };
    let values = value
        .as_array()
        .ok_or("`tokenizer.ggml.token_type` is not an array")?;
    if values.len() != n_tokens {
        return Err(format!(
            "`tokenizer.ggml.token_type` has {} entries for {n_tokens} tokens",
            values.len()
        ));
    }
    values
        .iter()
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| format!("token type {v:?} is not an integer"))
        })
        .collect()
}

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre`, as the model's
/// own `tokenizer.json` spells it.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, String> {
    let byte_level = |use_regex| ByteLevel::new(false, true, use_regex).into();
    Ok(match pre {
        "default" | "gpt2" | "gpt-2" => byte_level(true),
        "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into(),
        "llama-bpe" | "llama3" | "llama-v3" => {
            let split = Split::new(
                SplitPattern::Regex(LLAMA3_REGEX.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("Llama-3 pre-tokenizer regex: {e}"))?;
            Sequence::new(vec![split.into(), byte_level(false)]).into()
        }
        other => return Err(format!("unsupported `tokenizer.ggml.pre` = `{other}`")),
    })
}

/// Byte-level BPE over `tokens` (id = index) and `merges` ("a b" pairs).
fn build_bpe(
    tokens: &[String],
    merges: &[String],
    types: &[i64],
    pre: &str,
) -> Result<tokenizers::Tokenizer, String> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges = merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("merge #{i} `{m}` is not two tokens"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
    tok.with_decoder(Some(ByteLevel::default()));
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
        .map(|(s, t)| AddedToken::from(s.clone(), *t == TOKEN_TYPE_CONTROL))
        .collect();
    tok.add_special_tokens(&added);
    Ok(tok)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny byte-level vocabulary with digit merges: `1 2` → `12`, `12 3` → `123`.
    fn tiny(pre: &str) -> Result<tokenizers::Tokenizer, String> {
        let tokens: Vec<String> = ["<s>", "1", "2", "3", "4", "12", "123", "a", "Ġ", "Ġa"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let merges: Vec<String> = ["1 2", "12 3", "Ġ a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut types = vec![1i64; tokens.len()];
        types[0] = TOKEN_TYPE_CONTROL;
        build_bpe(&tokens, &merges, &types, pre)
    }

    fn ids(tok: &tokenizers::Tokenizer, text: &str) -> Vec<u32> {
        tok.encode(text, false).unwrap().get_ids().to_vec()
    }

    #[test]
    fn smollm_splits_every_digit_before_bpe() {
        let tok = tiny("smollm").unwrap();
        assert_eq!(ids(&tok, "1234"), vec![1, 2, 3, 4]);
        assert_eq!(ids(&tok, "a 1"), vec![7, 8, 1]);
    }

    #[test]
    fn gpt2_default_merges_digit_runs() {
        let tok = tiny("default").unwrap();
        assert_eq!(ids(&tok, "1234"), vec![6, 4]);
        assert_eq!(ids(&tok, "a a"), vec![7, 9]);
    }

    #[test]
    fn llama3_groups_digits_by_three() {
        let tok = tiny("llama-bpe").unwrap();
        assert_eq!(ids(&tok, "1234"), vec![6, 4]);
        assert_eq!(ids(&tok, "12 a"), vec![5, 9]);
    }

    #[test]
    fn control_tokens_are_special_and_matched_in_text() {
        let tok = tiny("smollm").unwrap();
        assert_eq!(ids(&tok, "a<s>1"), vec![7, 0, 1]);
        assert_eq!(tok.decode(&[7, 0, 1], false).unwrap(), "a<s>1");
    }

    #[test]
    fn unknown_pre_tokenizer_and_bad_merges_are_errors() {
        let err = tiny("qwen2").unwrap_err();
        assert!(
            err.contains("tokenizer.ggml.pre") && err.contains("qwen2"),
            "{err}"
        );
        let tokens = vec!["a".to_string()];
        let err = build_bpe(&tokens, &["ab".to_string()], &[1], "default").unwrap_err();
        assert!(err.contains("merge #0"), "{err}");
    }
}
