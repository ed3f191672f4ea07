//! Llama-family causal language model over a kernel layer: the model is written
//! once, the kernels (CPU, Burn reference, CUDA) are chosen when it is built.
//!
//! Loads Hugging Face directories (`config.json`, safetensors, `tokenizer.json`) and
//! GGUF files (dequantised at load, tokenizer rebuilt from metadata), and runs
//! forward passes over ragged rows with explicit position ids, mask descriptions
//! (causal or per-query key ranges from chorus-mask), additive key biases, a
//! preallocated KV cache and an optional shared context encoded once.
//!
//! Module map:
//! - [`config`]: [`LlamaConfig`], mirroring Hugging Face `config.json`.
//! - [`weights`]: [`WeightSource`], host-side tensors in Hugging Face naming; the
//!   GGUF and safetensors loaders implement it, the model consumes it.
//! - [`error`]: the error types, [`LlamaError`] and [`InputError`].
//! - [`gguf`]: [`GgufFile`] (GGUF v2/v3 reader, dequantisation, writer).
//! - [`hf`]: [`HfCheckpoint`] (config.json + safetensors or PyTorch `.bin`).
//! - [`hub`]: `org/name[@revision]` in the local Hugging Face hub cache.
//! - [`tokenizer`]: [`Tokenizer`]; [`checkpoint`]: [`Checkpoint::open`] for either format.
//! - [`model`]: [`Llama`] and its forward pass; [`input`]: [`ForwardInput`],
//!   [`RowInput`], [`KeyMask`], [`KeyBias`]; [`cache`]: [`KvCache`] and
//!   [`SharedContext`]; [`select`]: next-token choice and fusions ([`Fusion`]).
//! - [`kernels`]: the [`Kernels`] trait and its implementations (CPU, Burn
//!   reference, CUDA); [`backend`]: the named kernel sets and [`backend::run_on`].
//! - [`rope`]: rotary embedding tables with Llama-3 scaling.
//! - [`random`]: [`RandomWeights`] and config [`presets`](random::presets).
//! - [`profile`]: opt-in per-operation timing (`CHORUS_PROFILE_OPS=1`).
//! - [`testing`]: where tests and benchmarks find the real model.

#![warn(missing_docs)]

pub mod backend;
pub mod cache;
pub mod checkpoint;
pub mod config;
mod decoder;
pub mod error;
pub mod gguf;
pub mod hf;
pub mod hub;
pub mod input;
pub mod kernels;
pub mod model;
mod parallel;
pub mod profile;
pub mod pytorch;
pub mod random;
pub mod rope;
pub mod select;
pub mod testing;
pub mod tokenizer;
pub mod weights;

pub use checkpoint::Checkpoint;
pub use config::{Architecture, LlamaConfig, RopeScaling};
pub use error::{InputError, LlamaError};
pub use gguf::GgufFile;
pub use hf::HfCheckpoint;
pub use pytorch::PytorchCheckpoint;
pub use tokenizer::{PromptPrefix, Tokenizer};
pub use weights::{HostTensor, WeightSource};

pub use backend::{BurnCpu, Cpu};
#[cfg(feature = "cuda")]
pub use backend::{BurnCudaBf16, BurnCudaF32, CudaBf16, CudaF16, CudaF32};
pub use cache::{KvCache, SharedContext};
pub use input::{ForwardInput, KeyBias, KeyMask, RowInput};
pub use kernels::{Heads, Kernels};
pub use model::{BatchNeed, Llama, Logits};
pub use random::{RandomWeights, presets};
pub use select::{Choice, Fusion, Picked, Selection};
