//! Columns: their names, Arrow types, the order they appear in for each method
//! family, and how a row supplies each cell (shared by the Feather and CSV
//! writers, so both files always have the same columns in the same order).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};

use crate::row::{ColumnSet, ResultRow, RowInput};
use crate::run::{RowKind, RunInfo};

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

    /// The Arrow schema of a file with these columns, carrying `run` in its
    /// metadata.
    pub fn schema(self, run: &RunInfo) -> Arc<Schema> {
        let fields: Vec<Field> = self.columns().into_iter().map(Column::field).collect();
        Arc::new(Schema::new_with_metadata(fields, run.to_metadata()))
    }
}

/// A text-list cell borrowing `items`.
fn texts(items: &[String]) -> Cell<'_> {
    Cell::TextList(items.iter().map(String::as_str).collect())
}

/// One cell of a row, borrowed from it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    U64(u64),
    U32(u32),
    Text(&'a str),
    TextList(Vec<&'a str>),
    FloatList(&'a [f64]),
    IdList(&'a [u32]),
    TextListList(&'a [Vec<String>]),
}

/// The cell of `row` in `column`; `None` when the row has no such column (a
/// row of another family, or lemma columns on a row without lemmas), which
/// [`ResultRow::check`] rules out before writing.
pub(crate) fn cell(row: &ResultRow, column: Column) -> Option<Cell<'_>> {
    Some(match (column, &row.input) {
        (Column::ItemIndex, _) => Cell::U64(row.item_index),
        (Column::Uuid, _) => Cell::Text(&row.uuid),
        (Column::Answers, _) => texts(&row.answers),
        (Column::Prediction, _) => Cell::Text(&row.output.prediction),
        (Column::Generation, _) => Cell::Text(&row.output.generation),
        (Column::GeneratedIds, _) => Cell::IdList(&row.output.generated_ids),
        (Column::StopReason, _) => Cell::Text(row.output.stop_reason.name()),
        (Column::PredictLemma, _) => texts(&row.lemmas.as_ref()?.prediction),
        (Column::AnswerLemmas, _) => Cell::TextListList(&row.lemmas.as_ref()?.answers),
        (Column::Question, RowInput::Origin { question, .. }) => Cell::Text(question),
        (Column::Prompt, RowInput::Origin { prompt, .. } | RowInput::PerPrompt { prompt, .. }) => {
            Cell::Text(prompt)
        }
        (
            Column::ParaphraseIndex,
            RowInput::PerPrompt {
                paraphrase_index, ..
            },
        ) => Cell::U32(*paraphrase_index),
        (Column::Paraphrase, RowInput::PerPrompt { paraphrase, .. }) => Cell::Text(paraphrase),
        (
            Column::Paraphrases,
            RowInput::Fused { paraphrases, .. } | RowInput::Weighted { paraphrases, .. },
        ) => texts(paraphrases),
        (Column::Prompts, RowInput::Fused { prompts, .. } | RowInput::Weighted { prompts, .. }) => {
            texts(prompts)
        }
        (Column::Confidences, RowInput::Weighted { confidences, .. }) => {
            Cell::FloatList(confidences)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Lemmas, Output, StopReason};

    fn row_of(kind: RowKind) -> ResultRow {
        let input = match kind {
            RowKind::Origin => RowInput::Origin {
                question: "q".into(),
                prompt: "p".into(),
            },
            RowKind::PerPrompt => RowInput::PerPrompt {
                paraphrase_index: 1,
                paraphrase: "q".into(),
                prompt: "p".into(),
            },
            RowKind::Fused => RowInput::Fused {
                paraphrases: vec!["q".into()],
                prompts: vec!["p".into()],
            },
            RowKind::Weighted => RowInput::Weighted {
                paraphrases: vec!["q".into()],
                prompts: vec!["p".into()],
                confidences: vec![0.5],
            },
        };
        ResultRow {
            item_index: 0,
            uuid: "u".into(),
            answers: vec!["a".into()],
            input,
            output: Output {
                prediction: "a".into(),
                generation: "a".into(),
                generated_ids: vec![7],
                stop_reason: StopReason::Eos,
            },
            lemmas: Some(Lemmas {
                prediction: vec!["a".into()],
                answers: vec![vec!["a".into()]],
            }),
        }
    }

    fn cell_type(cell: &Cell<'_>) -> ColumnType {
        match cell {
            Cell::U64(_) => ColumnType::U64,
            Cell::U32(_) => ColumnType::U32,
            Cell::Text(_) => ColumnType::Text,
            Cell::TextList(_) => ColumnType::TextList,
            Cell::FloatList(_) => ColumnType::FloatList,
            Cell::IdList(_) => ColumnType::IdList,
            Cell::TextListList(_) => ColumnType::TextListList,
        }
    }

    const KINDS: [RowKind; 4] = [
        RowKind::Origin,
        RowKind::PerPrompt,
        RowKind::Fused,
        RowKind::Weighted,
    ];

    #[test]
    fn every_column_of_a_family_has_a_cell_of_its_type() {
        for kind in KINDS {
            let row = row_of(kind);
            for column in (ColumnSet { kind, lemmas: true }).columns() {
                let cell = cell(&row, column);
                let found = cell.as_ref().map(cell_type);
                assert_eq!(found, Some(column.value_type()), "{kind} {column:?}");
            }
        }
    }

    #[test]
    fn columns_of_other_families_have_no_cell() {
        for kind in KINDS {
            let mine = (ColumnSet { kind, lemmas: true }).columns();
            let row = row_of(kind);
            for other in KINDS {
                for column in (ColumnSet {
                    kind: other,
                    lemmas: true,
                })
                .columns()
                {
                    if !mine.contains(&column) {
                        assert_eq!(cell(&row, column), None, "{kind} {column:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn design_column_orders() {
        let names = |kind, lemmas| {
            ColumnSet { kind, lemmas }
                .columns()
                .into_iter()
                .map(Column::name)
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            names(RowKind::Weighted, true),
            "item_index,uuid,answers,paraphrases,prompts,confidences,prediction,generation,\
             generated_ids,stop_reason,predict_lemma,answer_lemmas"
        );
        assert_eq!(
            names(RowKind::PerPrompt, false),
            "item_index,uuid,answers,paraphrase_index,paraphrase,prompt,prediction,generation,\
             generated_ids,stop_reason"
        );
    }
}
