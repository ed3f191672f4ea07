//! Ensemble strategies (origin, per_prompt, avg, max, weighted, flex) and the
//! KV-cached greedy decoding engine over chorus-llama.
//!
//! Module map:
//! - [`config`]: [`Method`], [`FlexConfig`], [`DecodeConfig`], [`SamplingConfig`];
//! - [`answer`]: [`Question`] in, [`Answer`] out;
//! - [`error`]: [`EnsembleError`].

pub mod answer;
pub mod config;
pub mod error;

pub use answer::{Answer, Question, StopReason};
pub use config::{
    DecodeConfig, FlexConfig, FlexMask, Method, Positions, PredictionRule, SamplingConfig,
    parse_fuse_first,
};
pub use error::EnsembleError;
