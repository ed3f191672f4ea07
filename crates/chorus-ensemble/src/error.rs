//! Errors of chorus-ensemble.

use chorus_llama::LlamaError;
use chorus_prompt::PromptError;

/// Everything that can go wrong while building prompts or decoding.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    /// A method name that is not one of [`crate::Method`]'s.
    #[error("unknown method `{name}`; valid methods: {valid}")]
    UnknownMethod {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
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
    /// Logits could not be read back from the device.
    #[error("reading logits back from the device: {0}")]
    Readback(String),
    /// The model returned logits of an unexpected shape.
    #[error("model returned logits of shape {found:?}, expected {expected:?}")]
    LogitsShape {
        /// Shape returned.
        found: Vec<usize>,
        /// Shape expected.
        expected: Vec<usize>,
    },
}
