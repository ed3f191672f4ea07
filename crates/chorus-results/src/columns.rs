//! The identities a result file is organised by, independent of any row's
//! contents: the method family ([`RowKind`]) that fixes which columns a file
//! has ([`ColumnSet`], [`Column`]) and the key a row is stored under
//! ([`RowKey`]). Everything else in the crate builds on these.

use std::fmt;

use arrow_schema::{DataType, Field};
use chorus_data::Method;
use serde::{Deserialize, Serialize};

/// A family of methods sharing one set of input columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// `origin`: question, prompt.
    Origin,
    /// `per_prompt`: paraphrase_index, paraphrase, prompt.
    PerPrompt,
    /// `avg`, `max`, `flex`: paraphrases, prompts.
    Fused,
    /// `weighted_avg`, `weighted_max`: paraphrases, prompts, confidences.
    Weighted,
}

impl RowKind {
    /// The column family of `method`'s result rows.
    pub fn of(method: Method) -> RowKind {
        match method {
            Method::Origin => RowKind::Origin,
            Method::PerPrompt => RowKind::PerPrompt,
            Method::Avg | Method::Max | Method::Flex => RowKind::Fused,
            Method::WeightedAvg | Method::WeightedMax => RowKind::Weighted,
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Origin => "origin",
            RowKind::PerPrompt => "per_prompt",
            RowKind::Fused => "fused",
            RowKind::Weighted => "weighted",
        }
    }
}

impl fmt::Display for RowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The identity of a row within a run: the item, and for `per_prompt` the
/// paraphrase. Rows are stored in `RowKey` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowKey {
    /// The item's index in the dataset.
    pub item_index: u64,
    /// The paraphrase index, for `per_prompt` rows only.
    pub paraphrase_index: Option<u32>,
}

impl RowKey {
    /// The key of a row that answers a whole item (every method but `per_prompt`).
    pub fn item(item_index: u64) -> Self {
        RowKey {
            item_index,
            paraphrase_index: None,
        }
    }

    /// The key of a `per_prompt` row.
    pub fn paraphrase(item_index: u64, paraphrase_index: u32) -> Self {
        RowKey {
            item_index,
            paraphrase_index: Some(paraphrase_index),
        }
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.paraphrase_index {
            Some(paraphrase) => write!(f, "item {} paraphrase {paraphrase}", self.item_index),
            None => write!(f, "item {}", self.item_index),
        }
    }
}

/// A column of a result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `item_index` (u64): the item's index in the dataset.
    ItemIndex,
    /// `uuid` (str).
    Uuid,
    /// `answers` (list<str>).
    Answers,
    /// `question` (str), origin only.
    Question,
    /// `paraphrase_index` (u32), per_prompt only.
    ParaphraseIndex,
    /// `paraphrase` (str), per_prompt only.
    Paraphrase,
    /// `prompt` (str), origin and per_prompt.
    Prompt,
    /// `paraphrases` (list<str>), fused and weighted.
    Paraphrases,
    /// `prompts` (list<str>), fused and weighted.
    Prompts,
    /// `confidences` (list<f64>), weighted only.
    Confidences,
    /// `prediction` (str).
    Prediction,
    /// `generation` (str).
    Generation,
    /// `generated_ids` (list<u32>).
    GeneratedIds,
    /// `stop_reason` (str: newline, eos, max_new_tokens).
    StopReason,
    /// `predict_lemma` (list<str>), after lemmaizing.
    PredictLemma,
    /// `answer_lemmas` (list<list<str>>), after lemmaizing.
    AnswerLemmas,
}

/// The value type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    U64,
    U32,
    Text,
    TextList,
    FloatList,
    IdList,
    TextListList,
}

impl Column {
    /// The column's name in both files.
    pub fn name(self) -> &'static str {
        match self {
            Column::ItemIndex => "item_index",
            Column::Uuid => "uuid",
            Column::Answers => "answers",
            Column::Question => "question",
            Column::ParaphraseIndex => "paraphrase_index",
            Column::Paraphrase => "paraphrase",
            Column::Prompt => "prompt",
            Column::Paraphrases => "paraphrases",
            Column::Prompts => "prompts",
            Column::Confidences => "confidences",
            Column::Prediction => "prediction",
            Column::Generation => "generation",
            Column::GeneratedIds => "generated_ids",
            Column::StopReason => "stop_reason",
            Column::PredictLemma => "predict_lemma",
            Column::AnswerLemmas => "answer_lemmas",
        }
    }

    pub(crate) fn value_type(self) -> ColumnType {
        match self {
            Column::ItemIndex => ColumnType::U64,
            Column::ParaphraseIndex => ColumnType::U32,
            Column::Uuid
            | Column::Question
            | Column::Paraphrase
            | Column::Prompt
            | Column::Prediction
            | Column::Generation
            | Column::StopReason => ColumnType::Text,
            Column::Answers | Column::Paraphrases | Column::Prompts | Column::PredictLemma => {
                ColumnType::TextList
            }
            Column::Confidences => ColumnType::FloatList,
            Column::GeneratedIds => ColumnType::IdList,
            Column::AnswerLemmas => ColumnType::TextListList,
        }
    }

    /// The column's Arrow type. Lists use Arrow's default child field
    /// (`item`, nullable), as pyarrow does; values are never null.
    pub fn data_type(self) -> DataType {
        let list = |inner: DataType| DataType::new_list(inner, true);
        match self.value_type() {
            ColumnType::U64 => DataType::UInt64,
            ColumnType::U32 => DataType::UInt32,
            ColumnType::Text => DataType::Utf8,
            ColumnType::TextList => list(DataType::Utf8),
            ColumnType::FloatList => list(DataType::Float64),
            ColumnType::IdList => list(DataType::UInt32),
            ColumnType::TextListList => list(list(DataType::Utf8)),
        }
    }

    /// The Arrow field of this column.
    pub fn field(self) -> Field {
        Field::new(self.name(), self.data_type(), false)
    }
}

/// Which columns a file has: the method family, and whether the lemma columns
/// are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnSet {
    /// The method family.
    pub kind: RowKind,
    /// Whether `predict_lemma` and `answer_lemmas` are present.
    pub lemmas: bool,
}

impl fmt::Display for ColumnSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.columns().iter().map(|c| c.name()).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

impl ColumnSet {
    /// The columns of a file, in file order.
    pub fn columns(self) -> Vec<Column> {
        let inputs: &[Column] = match self.kind {
            RowKind::Origin => &[Column::Question, Column::Prompt],
            RowKind::PerPrompt => &[Column::ParaphraseIndex, Column::Paraphrase, Column::Prompt],
            RowKind::Fused => &[Column::Paraphrases, Column::Prompts],
            RowKind::Weighted => &[Column::Paraphrases, Column::Prompts, Column::Confidences],
        };
        let lemmas: &[Column] = if self.lemmas {
            &[Column::PredictLemma, Column::AnswerLemmas]
        } else {
            &[]
        };
        [Column::ItemIndex, Column::Uuid, Column::Answers]
            .iter()
            .chain(inputs)
            .chain(&[
                Column::Prediction,
                Column::Generation,
                Column::GeneratedIds,
                Column::StopReason,
            ])
            .chain(lemmas)
            .copied()
            .collect()
    }
}
