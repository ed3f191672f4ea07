//! Questions in, answers out.

/// One question to answer, its paraphrases already selected (index 0 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The item's index in the caller's list (carried through to the answer).
    pub item_index: usize,
    /// The paraphrases to ask, in order; `origin` uses only the first.
    pub paraphrases: Vec<String>,
}

impl Question {
    /// A question from its index and paraphrases.
    pub fn new(item_index: usize, paraphrases: Vec<String>) -> Self {
        Self {
            item_index,
            paraphrases,
        }
    }
}

pub use chorus_data::StopReason;

/// One result row: a question's fused answer, or one paraphrase's (`per_prompt`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The question's `item_index`.
    pub item_index: usize,
    /// For `per_prompt` and `origin`: the paraphrase answered; `None` for fused methods.
    pub paraphrase_index: Option<usize>,
    /// The paraphrases used (for `per_prompt`: the one answered).
    pub paraphrases: Vec<String>,
    /// The prompt texts fed: one standalone prompt per paraphrase; for `flex`, the
    /// packed layout's segment texts in order (their concatenation is the packed prompt).
    pub prompts: Vec<String>,
    /// The generation cut by the [`crate::PredictionRule`].
    pub prediction: String,
    /// `decode(generated_ids without a final EOS)`.
    pub generation: String,
    /// The chosen tokens, the stopping one included.
    pub generated_ids: Vec<u32>,
    /// Why decoding stopped.
    pub stop_reason: StopReason,
    /// Per paraphrase: the mean probability of its own greedy answer's tokens
    /// (weighted methods only).
    pub confidences: Option<Vec<f64>>,
    /// Per step: top-1 minus top-2 of the score the token was chosen from
    /// (logits, or probabilities for `max`); near-ties are where implementations may differ.
    pub step_margins: Vec<f32>,
    /// Prompt tokens encoded for this answer (summed over rows; the packed length for flex).
    pub prompt_tokens: usize,
}
