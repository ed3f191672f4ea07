//! Prompt layouts: ordered segments with roles (instruction, few-shot questions and
//! answers, question paraphrases, shared spans) rendered byte-identically to the
//! Python pipeline, and tokenised per segment for chorus-mask.
//!
//! ```
//! use chorus_prompt::{FewShotExample, FlexOptions, PromptContext};
//!
//! let ctx = PromptContext::new("Answer.", vec![FewShotExample::new("2+2?", "4")])?;
//! assert_eq!(ctx.standard_prompt("3+3?"), "Answer.\n\nQ: 2+2?\nA: 4\n\nQ: 3+3?\nA:");
//! let layout = ctx.flex(&["3+3?", "three plus three?"], FlexOptions::default())?;
//! let bytes = |t: &str| Ok::<_, std::convert::Infallible>(t.bytes().map(u32::from).collect());
//! let tokens = layout.tokenize(&bytes).unwrap();
//! assert_eq!(tokens.len(), layout.render().len());
//! # Ok::<(), chorus_prompt::PromptError>(())
//! ```

#![warn(missing_docs)]

mod context;
mod error;
mod layout;
mod paraphrase;
mod tokenize;

pub use context::{
    FEW_SHOT_COUNT, FEW_SHOT_SEED, FewShotExample, MYRIADLAMA_INSTRUCTION, PromptContext,
    WEBQA_INSTRUCTION,
};
pub use error::PromptError;
pub use layout::{
    ANSWER_SUFFIX, BLOCK_SEPARATOR, DEFAULT_QUESTIONS_PER_EXAMPLE, FlexOptions, FuseFirst,
    PromptLayout, PromptSegment,
};
pub use paraphrase::{PARAPHRASE_ROUNDS, paraphrase_generation_prompt};
pub use tokenize::{Tokenize, TokenizedLayout, TokenizedSegment};
