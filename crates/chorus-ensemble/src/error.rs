//! Errors of chorus-ensemble.

use chorus_llama::LlamaError;
use chorus_prompt::PromptError;

/// Everything that can go wrong while building prompts or decoding.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    /// An option value that is not one of the valid ones (positions, mask, ...).
    #[error("unknown {option} `{name}`; valid values: {valid}")]
    UnknownOption {
        /// Which option (`positions`, `mask`, `prediction`, `fuse-first`).
        option: &'static str,
        /// The value given.
        name: String,
        /// The valid values, comma-separated.
        valid: String,
    },
    /// Options that cannot be combined or are out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A question without any paraphrase.
    #[error("question {item_index} has no paraphrase")]
    NoParaphrases {
        /// The question's `item_index`.
        item_index: usize,
    },
    /// A paraphrase round with another number of paraphrases than items.
    #[error("paraphrase round {round} holds {paraphrases} paraphrases for {items} items")]
    RoundLength {
        /// The round (0-based).
        round: usize,
        /// Paraphrases in the round.
        paraphrases: usize,
        /// Items.
        items: usize,
    },
    /// A prompt (or prompt segment) that tokenises to nothing.
    #[error("question {item_index}: segment {segment} ({role}) tokenises to no token")]
    EmptySegment {
        /// The question's `item_index`.
        item_index: usize,
        /// Index of the segment in its layout.
        segment: usize,
        /// The segment's role, as text.
        role: String,
    },
    /// A sampling prompt that tokenises to nothing.
    #[error("sampling prompt {prompt_index} tokenises to no token")]
    EmptyPrompt {
        /// Index of the prompt among those given to [`crate::Engine::sample`].
        prompt_index: usize,
    },
    /// A group's scores had nothing to choose from (empty or all-NaN logits).
    #[error("answer group {group} has no score to choose a token from")]
    EmptyScores {
        /// The group (answer) within its batch.
        group: usize,
    },
    /// The model, its cache or the tokenizer failed.
    #[error(transparent)]
    Llama(#[from] LlamaError),
    /// A prompt could not be built.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// A mask could not be built from a layout.
    #[error("mask for question {item_index}: {source}")]
    Mask {
        /// The question's `item_index`.
        item_index: usize,
        /// What chorus-mask reported.
        source: chorus_mask::MaskError,
    },
}
