//! The parts every prompt of a dataset shares: instruction and few-shot examples.

use chorus_data::{DataDir, Dataset, EmptyPolicy, FewShotEntry, Item, load_fewshot, python_sample};

use crate::error::PromptError;

/// WebQuestions' instruction in the Python pipeline.
pub const WEBQA_INSTRUCTION: &str =
    "Answer the question based on general world knowledge. Provide a short and direct answer.";

/// MyriadLAMA's instruction as used for the published results.
pub const MYRIADLAMA_INSTRUCTION: &str =
    "Based on the context, predict the [MASK] in the sentence in one word.";

/// The pipeline's few-shot sampling: `random.seed(42); random.sample(range(n), 5)`.
pub const FEW_SHOT_SEED: i128 = 42;

/// The pipeline's number of few-shot examples.
pub const FEW_SHOT_COUNT: usize = 5;

/// One few-shot example: one or more phrasings of its question and one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FewShotExample {
    /// Phrasings of the question; the standard prompt shows the first.
    pub questions: Vec<String>,
    /// The answer shown after `A: `.
    pub answer: String,
}

impl FewShotExample {
    /// An example with a single phrasing.
    pub fn new(question: impl Into<String>, answer: impl Into<String>) -> Self {
        Self {
            questions: vec![question.into()],
            answer: answer.into(),
        }
    }

    /// An example made from a dataset item: its first `max_questions` paraphrases
    /// (for MyriadLAMA: manual ones first, as the pipeline's structured prompt did)
    /// and its first answer.
    pub fn from_item(item: &Item, max_questions: usize) -> Result<Self, PromptError> {
        let incomplete = |missing| PromptError::IncompleteExample {
            uuid: item.uuid.clone(),
            missing,
        };
        let answer = item.first_answer().ok_or_else(|| incomplete("answer"))?;
        if item.paraphrases.is_empty() {
            return Err(incomplete("question"));
        }
        let questions = item
            .paraphrases
            .iter()
            .take(max_questions.max(1))
            .cloned()
            .collect();
        Ok(Self {
            questions,
            answer: answer.to_owned(),
        })
    }

    /// `Q: {first question}\nA: {answer}`.
    pub fn render(&self) -> String {
        format!(
            "Q: {}\nA: {}",
            self.questions.first().map_or("", String::as_str),
            self.answer
        )
    }
}

/// Instruction plus few-shot examples: what all prompts of a run share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptContext {
    /// The task instruction.
    pub instruction: String,
    /// The few-shot examples, in prompt order.
    pub examples: Vec<FewShotExample>,
}

impl PromptContext {
    /// A context from its parts; every example needs at least one question.
    pub fn new(
        instruction: impl Into<String>,
        examples: Vec<FewShotExample>,
    ) -> Result<Self, PromptError> {
        if let Some(index) = examples.iter().position(|e| e.questions.is_empty()) {
            return Err(PromptError::EmptyExample { index });
        }
        Ok(Self {
            instruction: instruction.into(),
            examples,
        })
    }

    /// WebQuestions' context: [`WEBQA_INSTRUCTION`] and `k` train items chosen by
    /// CPython's `random.seed(seed); random.sample(range(len(train)), k)`, each
    /// shown with its question and first answer. `seed = 42, k = 5` is the pipeline's.
    pub fn webqa(train: &[Item], seed: i128, k: usize) -> Result<Self, PromptError> {
        let examples = python_sample(seed, train.len(), k)?
            .into_iter()
            .map(|i| FewShotExample::from_item(&train[i], 1))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(WEBQA_INSTRUCTION, examples)
    }

    /// The context recorded in a `fewshot.json` entry (MyriadLAMA's five fixed
    /// examples).
    pub fn from_fewshot_entry(entry: &FewShotEntry) -> Result<Self, PromptError> {
        let examples = entry
            .examples()?
            .into_iter()
            .map(|p| FewShotExample::new(p.question, p.answer))
            .collect();
        Self::new(entry.instruction.clone(), examples)
    }

    /// The context of an instruction and a rendered few-shot block (`Q: {q}\nA: {a}`
    /// joined by blank lines), as the goldens record them; a block that is not
    /// such pairs is an error.
    pub fn from_rendered(instruction: &str, few_shot: &str) -> Result<Self, PromptError> {
        Self::from_fewshot_entry(&FewShotEntry {
            instruction: instruction.to_owned(),
            few_shot: few_shot.to_owned(),
            train_indices: None,
        })
    }

    /// The pipeline's context for a built-in dataset: WebQuestions samples its
    /// train split ([`PromptContext::webqa`] with seed 42, k = 5); MyriadLAMA reads
    /// its entry of `fewshot.json`. A dataset given as a path has no built-in
    /// context: build one with [`PromptContext::new`].
    pub fn for_dataset(dataset: &Dataset, dir: &DataDir) -> Result<Self, PromptError> {
        match dataset {
            Dataset::WebQa => {
                let train = dataset
                    .load_train(dir, EmptyPolicy::Error)?
                    .unwrap_or_default();
                Self::webqa(&train.items, FEW_SHOT_SEED, FEW_SHOT_COUNT)
            }
            Dataset::MyriadLama => {
                let entries = load_fewshot(&dir.fewshot_path())?;
                let entry = entries
                    .get("myriadlama")
                    .ok_or_else(|| PromptError::NoContext {
                        dataset: dataset.to_string(),
                    })?;
                Self::from_fewshot_entry(entry)
            }
            Dataset::Path(_) => Err(PromptError::NoContext {
                dataset: dataset.to_string(),
            }),
        }
    }

    /// The few-shot block: examples rendered with their first question, joined by
    /// `\n\n`.
    pub fn few_shot_block(&self) -> String {
        self.examples
            .iter()
            .map(FewShotExample::render)
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_data::{ItemMeta, ParaphraseSource};

    #[test]
    fn rendered_blocks_round_trip_and_bad_ones_are_errors() {
        let block = "Q: who?\nA: me\n\nQ: where?\nA: here";
        let context = PromptContext::from_rendered("Answer.", block).unwrap();
        assert_eq!(context.few_shot_block(), block);
        assert!(PromptContext::from_rendered("Answer.", "who? me").is_err());
    }

    fn item(uuid: &str, paraphrases: &[&str], answers: &[&str]) -> Item {
        Item {
            uuid: uuid.into(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            paraphrases: paraphrases.iter().map(|s| s.to_string()).collect(),
            meta: ItemMeta {
                sources: vec![ParaphraseSource::Manual; paraphrases.len()],
                fields: Default::default(),
            },
        }
    }

    #[test]
    fn examples_from_items_take_the_first_paraphrases_and_answer() {
        let example =
            FewShotExample::from_item(&item("u", &["a", "b", "c"], &["x", "y"]), 2).unwrap();
        assert_eq!(example.questions, vec!["a", "b"]);
        assert_eq!(example.answer, "x");
        assert_eq!(example.render(), "Q: a\nA: x");
        assert!(FewShotExample::from_item(&item("u", &["a"], &[]), 1).is_err());
        assert!(FewShotExample::from_item(&item("u", &[], &["x"]), 1).is_err());
    }

    #[test]
    fn block_joins_examples_with_blank_lines() {
        let context = PromptContext::new(
            "I",
            vec![
                FewShotExample::new("q1", "a1"),
                FewShotExample {
                    questions: vec!["q2".into(), "r2".into()],
                    answer: "a2".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(context.few_shot_block(), "Q: q1\nA: a1\n\nQ: q2\nA: a2");
    }

    #[test]
    fn examples_without_questions_are_rejected() {
        let empty = FewShotExample {
            questions: vec![],
            answer: "a".into(),
        };
        assert!(matches!(
            PromptContext::new("I", vec![empty]),
            Err(PromptError::EmptyExample { index: 0 })
        ));
    }

    #[test]
    fn webqa_context_samples_like_cpython() {
        let train: Vec<Item> = (0..30)
            .map(|i| item(&format!("u{i}"), &[&format!("q{i}")], &["a"]))
            .collect();
        let context = PromptContext::webqa(&train, 42, 3).unwrap();
        let expected = python_sample(42, 30, 3).unwrap();
        let shown: Vec<String> = context
            .examples
            .iter()
            .map(|e| e.questions[0].clone())
            .collect();
        assert_eq!(
            shown,
            expected.iter().map(|i| format!("q{i}")).collect::<Vec<_>>()
        );
        assert!(PromptContext::webqa(&train[..2], 42, 3).is_err());
    }
}
