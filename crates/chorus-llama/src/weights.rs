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

    /// [`tensor`](Self::tensor)'s values written into `buffer` (its contents
    /// replaced), returning the shape. The model loader passes the same buffers
    /// layer after layer: for a 3B model, the kernel zeroing fresh pages costs
    /// more than computing the values. The default hands `tensor`'s own buffer
    /// over; sources that compute values in place override it to reuse `buffer`.
    fn tensor_into(&self, name: &str, buffer: &mut Vec<f32>) -> Result<Vec<usize>, LlamaError> {
        let HostTensor { shape, data } = self.tensor(name)?;
        *buffer = data;
        Ok(shape)
    }
}

/// Checks that every tensor `config` implies is in a checkpoint folder `dir`
/// with its shape; `lookup` gives a tensor's file and shape. Shared by the
/// safetensors and PyTorch folder readers.
pub(crate) fn check_tensor_shapes<'a>(
    config: &LlamaConfig,
    dir: &std::path::Path,
    lookup: impl Fn(&str) -> Option<(&'a std::path::Path, &'a [usize])>,
) -> Result<(), LlamaError> {
    for (name, expected) in expected_tensor_shapes(config) {
        let Some((path, shape)) = lookup(&name) else {
            return Err(LlamaError::MissingTensor {
                path: dir.to_path_buf(),
                tensor: name,
            });
        };
        if shape != expected.as_slice() {
            return Err(LlamaError::ShapeMismatch {
                path: Some(path.to_path_buf()),
                tensor: name,
                found: shape.to_vec(),
                expected,
            });
        }
    }
    Ok(())
}

/// Every tensor a `LlamaForCausalLM` checkpoint with this config holds, with
/// its Hugging Face shape; `lm_head.weight` only when embeddings are not tied.
pub fn expected_tensor_shapes(config: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden_size;
    let q = config.num_attention_heads * config.head_dim();
    let kv = config.kv_heads() * config.head_dim();
    let ff = config.intermediate_size;
    let mut shapes = vec![
        (
            "model.embed_tokens.weight".to_string(),
            vec![config.vocab_size, h],
        ),
        ("model.norm.weight".to_string(), vec![h]),
    ];
    if !config.tie_word_embeddings {
        shapes.push(("lm_head.weight".to_string(), vec![config.vocab_size, h]));
    }
    for i in 0..config.num_hidden_layers {
        let p = format!("model.layers.{i}");
        shapes.extend([
            (format!("{p}.input_layernorm.weight"), vec![h]),
            (format!("{p}.post_attention_layernorm.weight"), vec![h]),
            (format!("{p}.self_attn.q_proj.weight"), vec![q, h]),
            (format!("{p}.self_attn.k_proj.weight"), vec![kv, h]),
            (format!("{p}.self_attn.v_proj.weight"), vec![kv, h]),
            (format!("{p}.self_attn.o_proj.weight"), vec![h, q]),
            (format!("{p}.mlp.gate_proj.weight"), vec![ff, h]),
            (format!("{p}.mlp.up_proj.weight"), vec![ff, h]),
            (format!("{p}.mlp.down_proj.weight"), vec![h, ff]),
        ]);
    }
    shapes
}

/// Checks that a config describes a model whose tensor shapes can be computed
/// (no zero or absurd sizes, heads dividing evenly), so loaders can reject a
/// corrupt header before sizing anything from it.
pub fn check_config_sizes(config: &LlamaConfig) -> Result<(), String> {
    const MAX_DIM: usize = 1 << 24;
    let sizes = [
        ("vocab_size", config.vocab_size),
        ("hidden_size", config.hidden_size),
        ("intermediate_size", config.intermediate_size),
        ("num_attention_heads", config.num_attention_heads),
        (
            "num_key_value_heads",
            config.num_key_value_heads.unwrap_or(1),
        ),
        ("head_dim", config.head_dim.unwrap_or(1)),
    ];
    for (name, value) in sizes {
        if value == 0 || value > MAX_DIM {
            return Err(format!("{name} = {value} is outside 1..={MAX_DIM}"));
        }
    }
    if config.num_hidden_layers > 4096 {
        return Err(format!(
            "num_hidden_layers = {} is above 4096",
            config.num_hidden_layers
        ));
    }
    if !config.num_attention_heads.is_multiple_of(config.kv_heads()) {
        return Err(format!(
            "num_attention_heads = {} is not a multiple of num_key_value_heads = {}",
            config.num_attention_heads,
            config.kv_heads()
        ));
    }
    if config.head_dim.is_none()
        && !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(format!(
            "hidden_size = {} is not a multiple of num_attention_heads = {}",
            config.hidden_size, config.num_attention_heads
        ));
    }
    Ok(())
}
