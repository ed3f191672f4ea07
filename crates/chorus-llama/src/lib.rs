//! Llama-family causal language model in Burn (ndarray on CPU, cuda on GPU).
//!
//! Loads Hugging Face directories (`config.json`, safetensors, `tokenizer.json`) and
//! GGUF files (dequantised at load, tokenizer rebuilt from metadata), and runs
//! forward passes with explicit position ids, chorus-mask masks, additive score
//! biases and a KV cache.
//!
//! Module map:
//! - [`config`]: [`LlamaConfig`], mirroring Hugging Face `config.json`.
//! - [`weights`]: [`WeightSource`], host-side tensors in Hugging Face naming; the
//!   GGUF and safetensors loaders implement it, the model consumes it.
//! - [`error`]: [`LlamaError`].

pub mod config;
pub mod error;
pub mod weights;

pub use config::{LlamaConfig, RopeScaling};
pub use error::LlamaError;
pub use weights::{HostTensor, WeightSource};
