//! Ensemble strategies (origin, per_prompt, avg, max, weighted, flex) and the
//! KV-cached greedy decoding engine over chorus-llama.
//!
//! Module map:
//! - [`config`] — [`Method`], [`FlexConfig`], [`DecodeConfig`], [`SamplingConfig`];
//! - [`answer`] — [`Question`] in, [`Answer`] out;
//! - [`strategy`] — the [`Strategy`] trait and one small type per method;
//! - [`rows`] — prompt rows (standard and packed flex) with positions, masks, biases;
//! - [`engine`] — [`Engine`], the batched, KV-cached decoding loop;
//! - [`score`] — argmax with margins, softmax, logit fusions;
//! - [`sampling`] — seeded temperature / top-p sampling;
//! - [`paraphrase`] — [`generate_paraphrases`] for WebQuestions (and
//!   [`generate_paraphrases_with_progress`]);
//! - [`error`] — [`EnsembleError`].

#![warn(missing_docs)]

pub mod answer;
pub mod config;
pub mod engine;
pub mod error;
pub mod paraphrase;
pub mod rows;
pub mod sampling;
pub mod score;
pub mod strategy;

pub use answer::{Answer, Question, StopReason};
pub use config::{
    BatchSize, DecodeConfig, FUSE_FIRST_NAMES, FlexConfig, FlexMask, Method, Positions,
    PredictionRule, SamplingConfig, parse_fuse_first,
};
pub use engine::{ContextStats, Engine, PhaseTimes, TracedAnswer};
pub use error::EnsembleError;
pub use paraphrase::{
    generate_paraphrases, generate_paraphrases_with_progress, paraphrase_round, paraphrase_rows,
};
pub use strategy::{GroupPlan, Strategy, strategy_for};
