//! The item every loader yields, and the policy for incomplete items.

use serde_json::{Map, Value};

use crate::error::{DataError, Location, Missing, Result};

/// Where a paraphrase comes from. Selection draws from manual and automatic
/// paraphrases separately, so loaders keep this next to every paraphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParaphraseSource {
    /// The dataset's own question (WebQuestions `question`, `paraphrase0`).
    Original,
    /// Produced by a model (WebQuestions `paraphrase1..5`).
    Generated,
    /// A hand-written template (MyriadLAMA `manual_paraphrases`).
    Manual,
    /// An automatically mined template (MyriadLAMA `auto_paraphrases`).
    Auto,
    /// The file does not say (generic JSONL without a source).
    Unspecified,
}

/// Fields of an item beyond the four every consumer needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemMeta {
    /// The source of each paraphrase: `sources[i]` belongs to `paraphrases[i]`.
    pub sources: Vec<ParaphraseSource>,
    /// Every other field of the record (`qid`, `question`, `rel`, `instruction`, ...),
    /// kept as JSON so that nothing the file says is lost.
    pub fields: Map<String, Value>,
}

/// One question with its paraphrases and gold answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Stable identifier (WebQuestions: md5 of the question text).
    pub uuid: String,
    /// Gold answers; the first one is used in few-shot examples.
    pub answers: Vec<String>,
    /// Ways of asking the question; for WebQuestions index 0 is the original.
    pub paraphrases: Vec<String>,
    /// Paraphrase sources and the record's other fields.
    pub meta: ItemMeta,
}

impl Item {
    /// The first paraphrase: the original question where the dataset has one.
    pub fn question(&self) -> Option<&str> {
        self.paraphrases.first().map(String::as_str)
    }

    /// The first gold answer (what few-shot examples show).
    pub fn first_answer(&self) -> Option<&str> {
        self.answers.first().map(String::as_str)
    }

    /// Indices of the paraphrases that come from `source`, in file order.
    pub fn indices_from(&self, source: ParaphraseSource) -> Vec<usize> {
        self.meta
            .sources
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == source)
            .map(|(i, _)| i)
            .collect()
    }

    /// What the item lacks, if anything (paraphrases are checked first).
    pub fn missing(&self) -> Option<Missing> {
        if self.paraphrases.is_empty() {
            Some(Missing::Paraphrases)
        } else if self.answers.is_empty() {
            Some(Missing::Answers)
        } else {
            None
        }
    }
}

/// What to do with an item that has no paraphrases or no answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyPolicy {
    /// Stop loading with [`DataError::EmptyItem`].
    #[default]
    Error,
    /// Leave the item out, log a warning and list it in [`Loaded::skipped`].
    Skip,
}

/// An item left out under [`EmptyPolicy::Skip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where the record is.
    pub at: Location,
    /// The item's uuid.
    pub uuid: String,
    /// Why it was left out.
    pub missing: Missing,
}

/// The result of loading a file: the items and the ones left out, so that no item
/// disappears without a trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Complete items, in file order.
    pub items: Vec<Item>,
    /// Items left out under [`EmptyPolicy::Skip`], in file order.
    pub skipped: Vec<Skipped>,
}

impl Loaded {
    /// Adds `item` read at `at`, applying `policy` when it is incomplete.
    pub(crate) fn accept(&mut self, item: Item, at: Location, policy: EmptyPolicy) -> Result<()> {
        let Some(missing) = item.missing() else {
            self.items.push(item);
            return Ok(());
        };
        match policy {
            EmptyPolicy::Error => Err(DataError::EmptyItem {
                at,
                uuid: item.uuid,
                missing,
            }),
            EmptyPolicy::Skip => {
                tracing::warn!(%at, uuid = %item.uuid, "skipping item: {missing}");
                self.skipped.push(Skipped {
                    at,
                    uuid: item.uuid,
                    missing,
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(paraphrases: &[&str], answers: &[&str]) -> Item {
        Item {
            uuid: "u".into(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            paraphrases: paraphrases.iter().map(|s| s.to_string()).collect(),
            meta: ItemMeta {
                sources: vec![ParaphraseSource::Manual; paraphrases.len()],
                fields: Map::new(),
            },
        }
    }

    #[test]
    fn complete_items_are_kept() {
        let mut loaded = Loaded::default();
        loaded
            .accept(
                item(&["q"], &["a"]),
                Location::line("f", 1),
                EmptyPolicy::Error,
            )
            .unwrap();
        assert_eq!(loaded.items.len(), 1);
        assert!(loaded.skipped.is_empty());
    }

    #[test]
    fn error_policy_names_file_line_and_what_is_missing() {
        let mut loaded = Loaded::default();
        let err = loaded
            .accept(
                item(&["q"], &[]),
                Location::line("data.jsonl", 7),
                EmptyPolicy::Error,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "data.jsonl:7: item u has no answers");
    }

    #[test]
    fn skip_policy_records_the_skipped_item() {
        let mut loaded = Loaded::default();
        loaded
            .accept(
                item(&[], &["a"]),
                Location::row("d.arrow", 3),
                EmptyPolicy::Skip,
            )
            .unwrap();
        assert!(loaded.items.is_empty());
        assert_eq!(loaded.skipped[0].missing, Missing::Paraphrases);
        assert_eq!(loaded.skipped[0].at.to_string(), "d.arrow row 3");
    }
}
