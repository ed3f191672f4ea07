//! The vocabulary of a run that every later stage shares: which ensemble method
//! answers the questions and why decoding of an answer stopped.
//!
//! Both live here, upstream of the engine (chorus-ensemble) and the result files
//! (chorus-results), so that the two name the same methods without a mapping
//! between two lists, and result files stay readable without Burn.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ensemble method: how the answers to one question's paraphrases are fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Only paraphrase 0 (the original question) is asked.
    Origin,
    /// Every paraphrase on its own; one answer (and result row) per paraphrase.
    PerPrompt,
    /// Mean of the paraphrases' next-token logits.
    Avg,
    /// Element-wise maximum of the paraphrases' next-token probabilities.
    Max,
    /// Logits weighted by normalised per-paraphrase confidences.
    WeightedAvg,
    /// Logits of the most confident paraphrase.
    WeightedMax,
    /// All paraphrase prompts packed into one sequence; fusion inside attention.
    Flex,
}

impl Method {
    /// Every method, in documentation order.
    pub const ALL: [Method; 7] = [
        Method::Origin,
        Method::PerPrompt,
        Method::Avg,
        Method::Max,
        Method::WeightedAvg,
        Method::WeightedMax,
        Method::Flex,
    ];

    /// The names of [`Method::ALL`], in the same order (for `--help` and messages).
    pub const NAMES: [&'static str; 7] = [
        "origin",
        "per_prompt",
        "avg",
        "max",
        "weighted_avg",
        "weighted_max",
        "flex",
    ];

    /// The name used on the command line, in file names and in result metadata.
    pub fn name(self) -> &'static str {
        // `ALL` and `NAMES` are in the same order; a test keeps them so.
        Self::NAMES[self as usize]
    }

    /// Whether the method returns one answer per paraphrase rather than per question.
    pub fn per_paraphrase(self) -> bool {
        self == Method::PerPrompt
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Method`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown method `{0}` (expected origin, per_prompt, avg, max, weighted_avg, weighted_max or flex)"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| UnknownMethod(name.to_string()))
    }
}

/// Why decoding of an answer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The chosen token decodes to text containing `"\n"` (kept in the ids).
    Newline,
    /// The chosen token is the tokenizer's end-of-sequence token.
    Eos,
    /// `max_new_tokens` tokens were generated.
    MaxNewTokens,
}

impl StopReason {
    /// Every stop reason.
    pub const ALL: [StopReason; 3] = [
        StopReason::Newline,
        StopReason::Eos,
        StopReason::MaxNewTokens,
    ];

    /// The name stored in result files' `stop_reason` column.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Newline => "newline",
            StopReason::Eos => "eos",
            StopReason::MaxNewTokens => "max_new_tokens",
        }
    }

    /// The stop reason with this column name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        StopReason::ALL
            .into_iter()
            .find(|reason| reason.name() == name)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips_through_its_name() {
        for (index, method) in Method::ALL.into_iter().enumerate() {
            assert_eq!(method as usize, index, "ALL is in declaration order");
            assert_eq!(method.name().parse::<Method>(), Ok(method));
            let json = serde_json::to_string(&method).unwrap();
            assert_eq!(
                json,
                format!("\"{}\"", method.name()),
                "serde uses the same name"
            );
        }
        assert_eq!(
            "mean".parse::<Method>(),
            Err(UnknownMethod("mean".to_string()))
        );
    }

    #[test]
    fn every_stop_reason_round_trips_through_its_name() {
        for reason in StopReason::ALL {
            assert_eq!(StopReason::from_name(reason.name()), Some(reason));
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.name()));
        }
        assert_eq!(StopReason::from_name("timeout"), None);
    }
}
