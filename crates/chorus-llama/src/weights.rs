//! Host-side weights in Hugging Face naming: the contract between the checkpoint
//! loaders (GGUF, safetensors) and the Burn model.

use crate::{LlamaConfig, LlamaError};

/// A dense float32 tensor in host memory, row-major, with Hugging Face's shape
/// convention (a linear layer's weight is `[out_features, in_features]`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` equals the product of `shape`.
    pub data: Vec<f32>,
}

/// Anything that can hand out a model's config and its tensors by Hugging Face
/// name, e.g. `model.layers.0.self_attn.q_proj.weight`, `model.norm.weight`,
/// `model.embed_tokens.weight`, `lm_head.weight` (absent when tied).
///
/// Loaders do all renaming, dequantisation and llama.cpp Q/K un-permutation, so
/// the model sees exactly what `transformers` would load.
pub trait WeightSource {
    /// The model's hyper-parameters.
    fn config(&self) -> &LlamaConfig;
    /// The tensor with this Hugging Face name, dequantised to f32.
    fn tensor(&self, name: &str) -> Result<HostTensor, LlamaError>;
    /// Whether a tensor of this name exists (used for optional `lm_head.weight`).
    fn contains(&self, name: &str) -> bool;
}
