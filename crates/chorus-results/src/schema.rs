//! Columns: their names, Arrow types, the order they appear in for each method
//! family, and how a row supplies each cell (shared by the Feather and CSV
//! writers, so both files always have the same columns in the same order).

use std::sync::Arc;

use arrow_schema::{Field, Schema};

use crate::columns::{Column, ColumnSet};
use crate::row::{ResultRow, RowInput};
use crate::run::RunInfo;

impl ColumnSet {
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
    use crate::columns::{ColumnType, RowKind};
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
