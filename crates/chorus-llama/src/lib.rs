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
//! - [`error`]: the error type, [`LlamaError`].
//! - [`gguf`]: [`GgufFile`] (GGUF v2/v3 reader, dequantisation, writer).
//! - [`hf`]: [`HfCheckpoint`] (config.json + safetensors).
//! - [`tokenizer`]: [`Tokenizer`]; [`checkpoint`]: [`Checkpoint::open`] for either format.
//! - [`model`]: [`Llama`], the Burn model and its forward pass; [`forward`]:
//!   [`ForwardInput`] and [`AttentionMask`]; [`cache`]: [`KvCache`].
//! - [`rope`]: rotary embeddings with Llama-3 scaling; [`attention`] (private):
//!   RMSNorm, grouped-query attention, SwiGLU; `host` (private): CPU matmul
//!   kernels on host buffers, used by the [`Cpu`] backend.
//! - [`backend`]: [`Cpu`] and, with feature `cuda`, `CudaBf16`/`CudaF16`/`CudaF32`.
//! - [`random`]: [`RandomWeights`] and config [`presets`](random::presets).
//! - [`testing`]: where tests and benchmarks find the real model.

mod attention;
pub mod backend;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod forward;
pub mod gguf;
pub mod hf;
mod host;
pub mod model;
mod parallel;
pub mod random;
pub mod rope;
pub mod testing;
pub mod tokenizer;
pub mod weights;

pub use checkpoint::Checkpoint;
pub use config::{LlamaConfig, RopeScaling};
pub use error::LlamaError;
pub use gguf::GgufFile;
pub use hf::HfCheckpoint;
pub use tokenizer::Tokenizer;
pub use weights::{HostTensor, WeightSource};

pub use backend::Cpu;
#[cfg(feature = "cuda")]
pub use backend::{CudaBf16, CudaF16, CudaF32};
pub use cache::KvCache;
pub use forward::{AttentionMask, ForwardInput};
pub use model::Llama;
pub use random::{RandomWeights, presets};
