//! The crate's error type.

/// What can go wrong while building a prompt layout.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A layout needs at least one question paraphrase.
    #[error("a prompt layout needs at least one paraphrase")]
    NoParaphrases,
    /// A few-shot example without any question.
    #[error("few-shot example {index} has no question")]
    EmptyExample {
        /// Index of the example.
        index: usize,
    },
    /// A few-shot source item lacks a question or an answer.
    #[error("few-shot item {uuid} has no {missing}")]
    IncompleteExample {
        /// The item's uuid.
        uuid: String,
        /// "question" or "answer".
        missing: &'static str,
    },
    /// The paraphrase-generation round is out of range.
    #[error("paraphrase-generation round {round} out of range (rounds 0..{rounds})")]
    Round {
        /// The requested round.
        round: usize,
        /// How many rounds exist.
        rounds: usize,
    },
    /// No built-in instruction and few-shot examples for this dataset.
    #[error("no built-in prompt context for dataset {dataset}; build one with PromptContext::new")]
    NoContext {
        /// The dataset as named.
        dataset: String,
    },
    /// Loading or sampling few-shot data failed.
    #[error(transparent)]
    Data(#[from] chorus_data::DataError),
}
