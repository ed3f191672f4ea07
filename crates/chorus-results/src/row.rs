//! The row model: one [`ResultRow`] per answered item (or per paraphrase for
//! `per_prompt`). The method-specific inputs are an enum, so a row cannot hold
//! both a question and a paraphrase list, and a weighted row cannot lack a
//! confidence for one of its paraphrases.

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use chorus_data::StopReason;

use crate::columns::{Column, ColumnSet, RowKey, RowKind};
use crate::error::{Result, ResultsError};

/// One result row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// The item's 0-based index in the dataset as the caller enumerates it;
    /// rows are stored in this order, and shards merge back by it.
    pub item_index: u64,
    /// The item's uuid.
    pub uuid: String,
    /// The gold answers.
    pub answers: Vec<String>,
    /// What the model was asked; its variant must match the file's method.
    pub input: RowInput,
    /// What the model answered.
    pub output: Output,
    /// Lemmas, present after `--lemmaize` (all rows of a file or none).
    pub lemmas: Option<Lemmas>,
}

/// The method-specific inputs of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RowInput {
    /// `origin`: the original question alone.
    Origin {
        /// The question (paraphrase 0).
        question: String,
        /// The full prompt given to the model.
        prompt: String,
    },
    /// `per_prompt`: one paraphrase answered on its own.
    PerPrompt {
        /// Which paraphrase of the item (0 = the original question).
        paraphrase_index: u32,
        /// The paraphrase text.
        paraphrase: String,
        /// The full prompt given to the model.
        prompt: String,
    },
    /// `avg`, `max`, `flex`: several paraphrases fused into one answer.
    Fused {
        /// The paraphrases, in the order they were fused.
        paraphrases: Vec<String>,
        /// The prompt texts fed: one standalone prompt per paraphrase for
        /// `avg` and `max`; for `flex`, the packed layout's segment texts
        /// (their concatenation is the packed prompt), so the two lists may
        /// differ in length.
        prompts: Vec<String>,
    },
    /// `weighted_avg`, `weighted_max`: fused with per-paraphrase confidence.
    Weighted {
        /// The paraphrases, in the order they were fused.
        paraphrases: Vec<String>,
        /// One standalone prompt per paraphrase.
        prompts: Vec<String>,
        /// One confidence per paraphrase, computed in the same run; finite.
        confidences: Vec<f64>,
    },
}

/// What the model generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The answer: first line of the generation, trimmed (first word for
    /// MyriadLAMA).
    pub prediction: String,
    /// The decoded generation.
    pub generation: String,
    /// The generated token ids.
    pub generated_ids: Vec<u32>,
    /// Why decoding stopped.
    pub stop_reason: StopReason,
}

/// Lemmas added by `--lemmaize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lemmas {
    /// Lemmas of the prediction (column `predict_lemma`).
    pub prediction: Vec<String>,
    /// Lemmas of each answer, one list per answer (column `answer_lemmas`).
    pub answers: Vec<Vec<String>>,
}

impl RowInput {
    /// The column family this input belongs to.
    pub fn kind(&self) -> RowKind {
        match self {
            RowInput::Origin { .. } => RowKind::Origin,
            RowInput::PerPrompt { .. } => RowKind::PerPrompt,
            RowInput::Fused { .. } => RowKind::Fused,
            RowInput::Weighted { .. } => RowKind::Weighted,
        }
    }
}

impl ResultRow {
    /// This row's identity.
    pub fn key(&self) -> RowKey {
        match self.input {
            RowInput::PerPrompt {
                paraphrase_index, ..
            } => RowKey::paraphrase(self.item_index, paraphrase_index),
            _ => RowKey::item(self.item_index),
        }
    }

    /// Fills [`ResultRow::lemmas`] with `lemmatize` applied to the prediction
    /// and to every answer.
    pub fn lemmatized(self, lemmatize: &mut impl FnMut(&str) -> Vec<String>) -> Self {
        let lemmas = Lemmas {
            prediction: lemmatize(&self.output.prediction),
            answers: self
                .answers
                .iter()
                .map(|answer| lemmatize(answer))
                .collect(),
        };
        ResultRow {
            lemmas: Some(lemmas),
            ..self
        }
    }

    /// Checks that this row fits a file with `columns`; `path` names the file
    /// in the error.
    pub(crate) fn check(&self, columns: ColumnSet, path: &Path) -> Result<()> {
        let invalid = |column: Column, message: String| ResultsError::InvalidRow {
            path: path.to_path_buf(),
            key: self.key(),
            column: column.name(),
            message,
        };
        if self.input.kind() != columns.kind {
            return Err(invalid(
                Column::Prompt,
                format!(
                    "a {} row cannot go into a file of {} rows",
                    self.input.kind(),
                    columns.kind
                ),
            ));
        }
        if let RowInput::Weighted {
            paraphrases,
            confidences,
            ..
        } = &self.input
        {
            if confidences.len() != paraphrases.len() {
                return Err(invalid(
                    Column::Confidences,
                    format!(
                        "{} confidences for {} paraphrases",
                        confidences.len(),
                        paraphrases.len()
                    ),
                ));
            }
            if let Some(confidence) = confidences.iter().find(|c| !c.is_finite()) {
                return Err(invalid(
                    Column::Confidences,
                    format!("confidence {confidence} is not finite"),
                ));
            }
        }
        match (&self.lemmas, columns.lemmas) {
            (None, false) => Ok(()),
            (Some(lemmas), true) if lemmas.answers.len() == self.answers.len() => Ok(()),
            (Some(lemmas), true) => Err(invalid(
                Column::AnswerLemmas,
                format!(
                    "{} lemma lists for {} answers",
                    lemmas.answers.len(),
                    self.answers.len()
                ),
            )),
            (Some(_), false) => Err(invalid(
                Column::PredictLemma,
                "this row has lemmas but the file's other rows do not".into(),
            )),
            (None, true) => Err(invalid(
                Column::PredictLemma,
                "this row lacks lemmas but the file's other rows have them".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fused_row(lemmas: Option<Lemmas>) -> ResultRow {
        ResultRow {
            item_index: 3,
            uuid: "u".into(),
            answers: vec!["Paris".into()],
            input: RowInput::Fused {
                paraphrases: vec!["q".into()],
                prompts: vec!["Q: q\nA:".into()],
            },
            output: Output {
                prediction: "Paris".into(),
                generation: " Paris\n".into(),
                generated_ids: vec![1, 2],
                stop_reason: StopReason::Newline,
            },
            lemmas,
        }
    }

    const FUSED: ColumnSet = ColumnSet {
        kind: RowKind::Fused,
        lemmas: false,
    };

    #[test]
    fn a_row_of_another_family_is_refused_with_its_key() {
        let columns = ColumnSet {
            kind: RowKind::Origin,
            lemmas: false,
        };
        let error = fused_row(None)
            .check(columns, Path::new("out.feather"))
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("out.feather: item 3"), "{message}");
        assert!(message.contains("fused row"), "{message}");
    }

    #[test]
    fn lemma_lists_must_match_the_answers() {
        let row = fused_row(Some(Lemmas {
            prediction: vec!["paris".into()],
            answers: vec![],
        }));
        let columns = ColumnSet {
            lemmas: true,
            ..FUSED
        };
        let error = row.check(columns, Path::new("o")).unwrap_err();
        assert!(error.to_string().contains("answer_lemmas"), "{error}");
        assert!(row.check(FUSED, Path::new("o")).is_err());
    }

    #[test]
    fn lemmatized_lemmatizes_prediction_and_each_answer() {
        let row = fused_row(None).lemmatized(&mut |text: &str| vec![text.to_lowercase()]);
        let lemmas = row.lemmas.clone().unwrap_or_else(|| panic!("no lemmas"));
        assert_eq!(lemmas.prediction, vec!["paris".to_string()]);
        assert_eq!(lemmas.answers, vec![vec!["paris".to_string()]]);
        let columns = ColumnSet {
            lemmas: true,
            ..FUSED
        };
        assert!(row.check(columns, Path::new("o")).is_ok());
    }

    #[test]
    fn per_prompt_keys_sort_by_item_then_paraphrase() {
        let mut keys = vec![
            RowKey::paraphrase(2, 0),
            RowKey::paraphrase(1, 3),
            RowKey::paraphrase(1, 0),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                RowKey::paraphrase(1, 0),
                RowKey::paraphrase(1, 3),
                RowKey::paraphrase(2, 0)
            ]
        );
        assert_eq!(RowKey::paraphrase(1, 3).to_string(), "item 1 paraphrase 3");
    }
}
