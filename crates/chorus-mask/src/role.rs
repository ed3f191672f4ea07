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

impl Role {
    /// A short label for pictures and debug output: `I`, `F{example}.{variant}`,
    /// `A{example}`, `Q{paraphrase}`, `S`, `G`.
    pub fn short_label(&self) -> String {
        match self {
            Role::Instruction => "I".to_string(),
            Role::FewShotQuestion { example, variant } => format!("F{example}.{variant}"),
            Role::FewShotAnswer { example } => format!("A{example}"),
            Role::Question { paraphrase } => format!("Q{paraphrase}"),
            Role::Shared => "S".to_string(),
            Role::Generated => "G".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_labels_name_indices() {
        assert_eq!(
            Role::FewShotQuestion {
                example: 1,
                variant: 2
            }
            .short_label(),
            "F1.2"
        );
        assert_eq!(Role::FewShotAnswer { example: 3 }.short_label(), "A3");
        assert_eq!(Role::Question { paraphrase: 4 }.short_label(), "Q4");
        assert_eq!(Role::Generated.short_label(), "G");
    }
}
