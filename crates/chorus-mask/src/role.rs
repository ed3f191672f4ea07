//! Segment roles: what a span of tokens is in a prompt layout.

/// The role of a segment in a packed prompt. Visibility rules are written in terms
/// of roles, so a rule set reads like the prose that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The task instruction at the top of a prompt.
    Instruction,
    /// One paraphrase (`variant`) of the question of few-shot example `example`.
    FewShotQuestion {
        /// Index of the few-shot example.
        example: usize,
        /// Index of the paraphrase of that example's question.
        variant: usize,
    },
    /// The answer line of few-shot example `example`.
    FewShotAnswer {
        /// Index of the few-shot example.
        example: usize,
    },
    /// One paraphrase of the question being asked (a whole standalone prompt in the
    /// plain flex layout).
    Question {
        /// Index of the paraphrase.
        paraphrase: usize,
    },
    /// Tokens shared by all paraphrases: a deduplicated common prefix
    /// (`--share-prefix`) or the common suffix read for the first answer token
    /// (`--fuse-first shared-suffix`).
    Shared,
    /// Tokens produced by decoding.
    Generated,
}
