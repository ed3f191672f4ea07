//! Model hyper-parameters, mirroring Hugging Face `config.json` for `LlamaForCausalLM`.

use serde::{Deserialize, Serialize};

/// Hyper-parameters of a Llama-family model; field names follow Hugging Face
/// `config.json` so a config file deserialises directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size (rows of the embedding matrix).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU feed-forward layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (GQA); defaults to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; defaults to `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Longest context the model was trained for.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Llama-3 style RoPE frequency scaling, if any.
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// Whether the LM head shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
}

/// Llama-3 RoPE scaling parameters (`rope_scaling` in `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    /// Scaling kind; only `"llama3"` changes frequencies, others are accepted as-is.
    #[serde(alias = "type")]
    pub rope_type: String,
    /// Overall context extension factor.
    #[serde(default = "one")]
    pub factor: f64,
    /// Wavelength boundary factor below which frequencies are kept.
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// Wavelength boundary factor above which frequencies are divided by `factor`.
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// Context length of the original pre-training.
    #[serde(default = "default_original_max")]
    pub original_max_position_embeddings: usize,
}

fn default_max_positions() -> usize {
    2048
}
fn default_eps() -> f64 {
    1e-5
}
fn default_theta() -> f64 {
    10_000.0
}
fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn default_original_max() -> usize {
    8192
}

impl LlamaConfig {
    /// Number of key/value heads, resolving the default.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width, resolving the default.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }
}
