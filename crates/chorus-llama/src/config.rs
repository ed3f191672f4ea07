//! Model hyper-parameters, mirroring Hugging Face `config.json` for the
//! architectures Chorus runs: `LlamaForCausalLM`, `Qwen2ForCausalLM` and
//! `MistralForCausalLM`.
//!
//! A `config.json` is read through [`ConfigJson`], its schema as transformers
//! writes it (4.x with top-level `rope_theta`, 5.x with `rope_parameters`), and
//! resolved into [`LlamaConfig`]: the architecture checked first, RoPE settings
//! taken from either form, and the sliding window each family really applies.

use serde::{Deserialize, Serialize};

/// The transformers architectures Chorus runs, as `config.json` names them.
pub const SUPPORTED_ARCHITECTURES: [&str; 3] =
    ["LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"];

/// The architecture of a checkpoint: one forward pass (pre-norm GQA + SwiGLU,
/// RoPE in `rotate_half` form) with per-family options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Architecture {
    /// `LlamaForCausalLM` (also SmolLM2, TinyLlama, ...): no biases, full attention.
    #[default]
    Llama,
    /// `Qwen2ForCausalLM`: q/k/v biases; a sliding window only with `use_sliding_window`.
    Qwen2,
    /// `MistralForCausalLM`: sliding-window attention when `sliding_window` is set.
    Mistral,
}

impl Architecture {
    /// The transformers class name (`config.json`'s `architectures`).
    pub fn hf_name(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Mistral => "MistralForCausalLM",
        }
    }

    /// transformers' `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Mistral => "mistral",
        }
    }

    /// The architecture of a transformers class name or `model_type`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Llama, Self::Qwen2, Self::Mistral]
            .into_iter()
            .find(|a| a.hf_name() == name || a.model_type() == name)
    }
}

/// Hyper-parameters of a Llama-family model; field names follow Hugging Face
/// `config.json` so a config file deserialises directly (through
/// [`ConfigJson`], which resolves the forms different transformers versions
/// write and refuses other architectures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConfigJson", into = "ConfigJson")]
pub struct LlamaConfig {
    /// Which transformers architecture the checkpoint is.
    pub architecture: Architecture,
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
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; defaults to `hidden_size / num_attention_heads`.
    pub head_dim: Option<usize>,
    /// Longest context the model was trained for.
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Llama-3 style RoPE frequency scaling, if any.
    pub rope_scaling: Option<RopeScaling>,
    /// Whether the LM head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token id.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id.
    pub eos_token_id: Option<u32>,
    /// Keys a query attends to, itself included, when every layer uses
    /// sliding-window attention (Mistral; Qwen2 with `use_sliding_window`);
    /// `None` for full causal attention.
    pub sliding_window: Option<usize>,
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

/// `config.json` as transformers writes it for the supported architectures:
/// what [`LlamaConfig`] is read from and written as. Every field is optional
/// here so that the architecture is checked before anything else, and a missing
/// size is reported by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigJson {
    /// transformers class names; the first is the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// transformers' `model_type`, used when `architectures` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// See [`LlamaConfig::vocab_size`].
    pub vocab_size: Option<usize>,
    /// See [`LlamaConfig::hidden_size`].
    pub hidden_size: Option<usize>,
    /// See [`LlamaConfig::intermediate_size`].
    pub intermediate_size: Option<usize>,
    /// See [`LlamaConfig::num_hidden_layers`].
    pub num_hidden_layers: Option<usize>,
    /// See [`LlamaConfig::num_attention_heads`].
    pub num_attention_heads: Option<usize>,
    /// See [`LlamaConfig::num_key_value_heads`].
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// See [`LlamaConfig::head_dim`].
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// See [`LlamaConfig::max_position_embeddings`].
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    /// See [`LlamaConfig::rms_norm_eps`].
    #[serde(default)]
    pub rms_norm_eps: Option<f64>,
    /// RoPE base (transformers 4.x).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// RoPE scaling (transformers 4.x).
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// RoPE base and scaling in one object (transformers 5.x): `rope_theta`,
    /// `rope_type` and the scaling's own fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    /// See [`LlamaConfig::tie_word_embeddings`].
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    /// See [`LlamaConfig::bos_token_id`].
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// One id or a list (Llama 3.x); the first is kept.
    #[serde(default)]
    pub eos_token_id: Option<OneOrMany>,
    /// The window of sliding-window attention (Mistral, Qwen2).
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Qwen2: whether the window is used at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    /// Qwen2 (transformers 4.x): layers from this index on use the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_window_layers: Option<usize>,
    /// Per layer `full_attention` or `sliding_attention` (transformers 5.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<String>>,
    /// The MLP activation; only `silu` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// Llama: biases on q/k/v *and* o projections (not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Llama: biases on the MLP projections (not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
}

/// A token id or a list of them (`eos_token_id` of Llama 3.x).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One id.
    One(u32),
    /// Several ids; the first is the one Chorus stops on.
    Many(Vec<u32>),
}

impl TryFrom<ConfigJson> for LlamaConfig {
    type Error = String;

    fn try_from(json: ConfigJson) -> Result<Self, String> {
        let named = json
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .or_else(|| json.model_type.clone());
        // A config naming no architecture is read as Llama (older hand-made
        // configs); one naming another architecture is refused before its
        // sizes are looked at, so the message is about the architecture.
        let architecture = match &named {
            None => Architecture::Llama,
            Some(name) => Architecture::from_name(name).ok_or_else(|| {
                format!(
                    "architecture `{name}` is not supported (supported: {})",
                    SUPPORTED_ARCHITECTURES.join(", ")
                )
            })?,
        };
        if let Some(act) = json.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(format!("hidden_act `{act}` is not supported (only silu)"));
        }
        if architecture == Architecture::Llama && json.attention_bias == Some(true) {
            return Err("attention_bias = true (an o_proj bias) is not supported".into());
        }
        if json.mlp_bias == Some(true) {
            return Err("mlp_bias = true is not supported".into());
        }
        let need = |value: Option<usize>, field: &str| {
            value.ok_or_else(|| format!("missing field `{field}`"))
        };
        let num_hidden_layers = need(json.num_hidden_layers, "num_hidden_layers")?;
        let (rope_theta, rope_scaling) = rope_settings(&json)?;
        let sliding_window = attention_window(architecture, &json, num_hidden_layers)?;
        Ok(Self {
            architecture,
            vocab_size: need(json.vocab_size, "vocab_size")?,
            hidden_size: need(json.hidden_size, "hidden_size")?,
            intermediate_size: need(json.intermediate_size, "intermediate_size")?,
            num_hidden_layers,
            num_attention_heads: need(json.num_attention_heads, "num_attention_heads")?,
            num_key_value_heads: json.num_key_value_heads,
            head_dim: json.head_dim,
            max_position_embeddings: json
                .max_position_embeddings
                .unwrap_or_else(default_max_positions),
            rms_norm_eps: json.rms_norm_eps.unwrap_or_else(default_eps),
            rope_theta,
            rope_scaling,
            tie_word_embeddings: json.tie_word_embeddings.unwrap_or(false),
            bos_token_id: json.bos_token_id,
            eos_token_id: match json.eos_token_id {
                Some(OneOrMany::One(id)) => Some(id),
                Some(OneOrMany::Many(ids)) => ids.first().copied(),
                None => None,
            },
            sliding_window,
        })
    }
}

/// RoPE base and scaling from 4.x fields or 5.x `rope_parameters`.
fn rope_settings(json: &ConfigJson) -> Result<(f64, Option<RopeScaling>), String> {
    let Some(params) = &json.rope_parameters else {
        return Ok((
            json.rope_theta.unwrap_or_else(default_theta),
            json.rope_scaling.clone(),
        ));
    };
    let theta = params
        .get("rope_theta")
        .and_then(serde_json::Value::as_f64)
        .or(json.rope_theta)
        .unwrap_or_else(default_theta);
    let kind = params
        .get("rope_type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("default");
    let scaling = if kind == "default" {
        json.rope_scaling.clone()
    } else {
        Some(
            serde_json::from_value(params.clone())
                .map_err(|e| format!("`rope_parameters`: {e}"))?,
        )
    };
    Ok((theta, scaling))
}

/// The window every layer applies, as transformers decides it per family; an
/// error when some layers would use it and others not (one model here has one
/// attention rule for all layers).
fn attention_window(
    architecture: Architecture,
    json: &ConfigJson,
    layers: usize,
) -> Result<Option<usize>, String> {
    let sliding_layers: Vec<bool> = match architecture {
        Architecture::Llama => return Ok(None),
        Architecture::Mistral => match &json.layer_types {
            Some(types) => types.iter().map(|t| t == "sliding_attention").collect(),
            None => return Ok(json.sliding_window),
        },
        Architecture::Qwen2 => match &json.layer_types {
            Some(types) => types.iter().map(|t| t == "sliding_attention").collect(),
            None if json.use_sliding_window == Some(true) => {
                let first = json.max_window_layers.unwrap_or(layers);
                (0..layers).map(|i| i >= first).collect()
            }
            None => return Ok(None),
        },
    };
    let windowed = sliding_layers.iter().filter(|&&s| s).count();
    if windowed == 0 {
        return Ok(None);
    }
    if windowed != sliding_layers.len() {
        return Err(format!(
            "{windowed} of {} layers use sliding-window attention and the others full attention;              mixed layer types are not supported",
            sliding_layers.len()
        ));
    }
    json.sliding_window
        .map(Some)
        .ok_or_else(|| "layers use sliding-window attention but `sliding_window` is not set".into())
}

impl From<LlamaConfig> for ConfigJson {
    fn from(c: LlamaConfig) -> Self {
        Self {
            architectures: Some(vec![c.architecture.hf_name().into()]),
            model_type: Some(c.architecture.model_type().into()),
            vocab_size: Some(c.vocab_size),
            hidden_size: Some(c.hidden_size),
            intermediate_size: Some(c.intermediate_size),
            num_hidden_layers: Some(c.num_hidden_layers),
            num_attention_heads: Some(c.num_attention_heads),
            num_key_value_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            max_position_embeddings: Some(c.max_position_embeddings),
            rms_norm_eps: Some(c.rms_norm_eps),
            rope_theta: Some(c.rope_theta),
            rope_scaling: c.rope_scaling,
            tie_word_embeddings: Some(c.tie_word_embeddings),
            bos_token_id: c.bos_token_id,
            eos_token_id: c.eos_token_id.map(OneOrMany::One),
            sliding_window: c.sliding_window,
            // Qwen2 ignores `sliding_window` unless told to use it.
            use_sliding_window: (c.architecture == Architecture::Qwen2)
                .then_some(c.sliding_window.is_some()),
            max_window_layers: (c.architecture == Architecture::Qwen2
                && c.sliding_window.is_some())
            .then_some(0),
            hidden_act: Some("silu".into()),
            ..Self::default()
        }
    }
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
