//! Feather v2 (Arrow IPC file format) encoding and decoding of result tables.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, ListBuilder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, GenericListArray, RecordBatch};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::Schema;

use crate::columns::{Column, ColumnSet, ColumnType, RowKind};
use crate::error::{Result, ResultsError, io_error};
use crate::row::{Lemmas, Output, ResultRow, RowInput, StopReason};
use crate::run::RunInfo;
use crate::schema::{Cell, cell};
use crate::table::ResultTable;

/// Writes `table` as one Arrow IPC file (a single record batch) to `out`;
/// `path` names the file in errors.
pub(crate) fn write_feather(table: &ResultTable, out: impl Write, path: &Path) -> Result<()> {
    let arrow = |source| ResultsError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let schema = table.columns().schema(table.run());
    let mut writer = FileWriter::try_new(out, &schema).map_err(arrow)?;
    if !table.rows().is_empty() {
        writer
            .write(&record_batch(table, schema, path)?)
            .map_err(arrow)?;
    }
    writer.finish().map_err(arrow)
}

fn record_batch(table: &ResultTable, schema: Arc<Schema>, path: &Path) -> Result<RecordBatch> {
    let arrays = table
        .columns()
        .columns()
        .into_iter()
        .map(|column| column_array(table.rows(), column, path))
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, arrays).map_err(|source| ResultsError::Arrow {
        path: path.to_path_buf(),
        source,
    })
}

/// A builder for one column, chosen by the column's value type.
enum ColumnBuilder {
    U64(UInt64Builder),
    U32(UInt32Builder),
    Text(StringBuilder),
    TextList(ListBuilder<StringBuilder>),
    FloatList(ListBuilder<Float64Builder>),
    IdList(ListBuilder<UInt32Builder>),
    TextListList(ListBuilder<ListBuilder<StringBuilder>>),
}

impl ColumnBuilder {
    fn new(value_type: ColumnType) -> Self {
        match value_type {
            ColumnType::U64 => ColumnBuilder::U64(UInt64Builder::new()),
            ColumnType::U32 => ColumnBuilder::U32(UInt32Builder::new()),
            ColumnType::Text => ColumnBuilder::Text(StringBuilder::new()),
            ColumnType::TextList => ColumnBuilder::TextList(ListBuilder::new(StringBuilder::new())),
            ColumnType::FloatList => {
                ColumnBuilder::FloatList(ListBuilder::new(Float64Builder::new()))
            }
            ColumnType::IdList => ColumnBuilder::IdList(ListBuilder::new(UInt32Builder::new())),
            ColumnType::TextListList => ColumnBuilder::TextListList(ListBuilder::new(
                ListBuilder::new(StringBuilder::new()),
            )),
        }
    }

    /// Appends `cell`; `false` when the cell is of another type than the column.
    fn push(&mut self, cell: Cell<'_>) -> bool {
        match (self, cell) {
            (ColumnBuilder::U64(builder), Cell::U64(value)) => builder.append_value(value),
            (ColumnBuilder::U32(builder), Cell::U32(value)) => builder.append_value(value),
            (ColumnBuilder::Text(builder), Cell::Text(value)) => builder.append_value(value),
            (ColumnBuilder::TextList(builder), Cell::TextList(values)) => {
                builder.append_value(values.into_iter().map(Some));
            }
            (ColumnBuilder::FloatList(builder), Cell::FloatList(values)) => {
                builder.append_value(values.iter().copied().map(Some));
            }
            (ColumnBuilder::IdList(builder), Cell::IdList(values)) => {
                builder.append_value(values.iter().copied().map(Some));
            }
            (ColumnBuilder::TextListList(builder), Cell::TextListList(lists)) => {
                for list in lists {
                    builder.values().append_value(list.iter().map(Some));
                }
                builder.append(true);
            }
            _ => return false,
        }
        true
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::U64(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::U32(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::Text(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::TextList(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::FloatList(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::IdList(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::TextListList(mut builder) => Arc::new(builder.finish()),
        }
    }
}

fn column_array(rows: &[ResultRow], column: Column, path: &Path) -> Result<ArrayRef> {
    let mut builder = ColumnBuilder::new(column.value_type());
    for row in rows {
        let pushed = cell(row, column).is_some_and(|value| builder.push(value));
        if !pushed {
            // Unreachable for validated tables; reported rather than panicking.
            return Err(ResultsError::InvalidRow {
                path: path.to_path_buf(),
                key: row.key(),
                column: column.name(),
                message: "the row has no value of this column's type".into(),
            });
        }
    }
    Ok(builder.finish())
}

/// Reads a result file written by this crate (or any Feather file with the
/// same columns and metadata).
pub fn read_results(path: impl AsRef<Path>) -> Result<ResultTable> {
    let path = path.as_ref();
    // arrow-ipc 57 panics on some malformed files (flatbuffer fields and
    // buffer lengths it trusts; found by fuzzing, fuzz/seeds/results and
    // tests/fuzz_regressions.rs) instead of returning an error. Such a panic
    // is caught here and reported as the file's Arrow error: a bad input file
    // must not take the process down. The reader holds nothing shared, so
    // nothing is left half-updated by the unwinding.
    match std::panic::catch_unwind(|| read_results_unguarded(path)) {
        Ok(result) => result,
        Err(panic) => Err(ResultsError::Arrow {
            path: path.to_path_buf(),
            source: arrow_schema::ArrowError::IpcError(format!(
                "malformed Arrow IPC data ({})",
                chorus_data::arrow_guard::panic_text(&*panic)
            )),
        }),
    }
}

/// [`chorus_data::arrow_guard::check_ipc_file`] with this crate's errors.
fn check_claimed_lengths(file: &mut File, path: &Path) -> Result<()> {
    use chorus_data::arrow_guard::{IpcCheckError, check_ipc_file};
    check_ipc_file(file).map_err(|e| match e {
        IpcCheckError::Io(source) => io_error(path, "read")(source),
        IpcCheckError::Corrupt(message) => ResultsError::Arrow {
            path: path.to_path_buf(),
            source: arrow_schema::ArrowError::IpcError(format!(
                "truncated or corrupt Feather file: {message}"
            )),
        },
    })
}

fn read_results_unguarded(path: &Path) -> Result<ResultTable> {
    let arrow = |source| ResultsError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_error(path, "open"))?;
    check_claimed_lengths(&mut file, path)?;
    let reader = FileReader::try_new(BufReader::new(file), None).map_err(arrow)?;
    let schema = reader.schema();
    let run = RunInfo::from_metadata(schema.metadata(), path)?;
    let columns = column_set_of(&schema, RowKind::of(run.method), path)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(arrow)?;
        let decoder = BatchDecoder {
            batch: &batch,
            path,
            first_row: rows.len(),
        };
        rows.extend(decoder.rows(columns)?);
    }
    ResultTable::new(run, rows, path)
}

/// The file's column set, after checking that it has exactly the columns of
/// its method (with or without the lemma pair) with the expected types.
fn column_set_of(schema: &Schema, kind: RowKind, path: &Path) -> Result<ColumnSet> {
    let lemmas = schema.field_with_name(Column::PredictLemma.name()).is_ok();
    let columns = ColumnSet { kind, lemmas };
    let expected = columns.columns();
    for column in &expected {
        let field =
            schema
                .field_with_name(column.name())
                .map_err(|_| ResultsError::MissingColumn {
                    path: path.to_path_buf(),
                    column: column.name(),
                })?;
        if field.data_type() != &column.data_type() {
            return Err(ResultsError::ColumnType {
                path: path.to_path_buf(),
                column: column.name(),
                expected: column.data_type().to_string(),
                found: field.data_type().to_string(),
            });
        }
    }
    if let Some(extra) = schema
        .fields()
        .iter()
        .find(|field| !expected.iter().any(|column| column.name() == field.name()))
    {
        return Err(ResultsError::UnexpectedColumn {
            path: path.to_path_buf(),
            column: extra.name().clone(),
            columns: columns.to_string(),
        });
    }
    Ok(columns)
}

/// Decodes the rows of one record batch.
struct BatchDecoder<'a> {
    batch: &'a RecordBatch,
    path: &'a Path,
    /// The file row of this batch's first row, for messages.
    first_row: usize,
}

impl BatchDecoder<'_> {
    fn rows(&self, columns: ColumnSet) -> Result<Vec<ResultRow>> {
        let item_indices = self.u64s(Column::ItemIndex)?;
        let uuids = self.texts(Column::Uuid)?;
        let answers = self.text_lists(Column::Answers)?;
        let inputs = self.inputs(columns.kind)?;
        let outputs = self.outputs()?;
        let mut lemmas: Box<dyn Iterator<Item = Option<Lemmas>>> = if columns.lemmas {
            let predictions = self.text_lists(Column::PredictLemma)?;
            let answer_lemmas = self.text_list_lists(Column::AnswerLemmas)?;
            Box::new(
                predictions
                    .into_iter()
                    .zip(answer_lemmas)
                    .map(|(prediction, answers)| {
                        Some(Lemmas {
                            prediction,
                            answers,
                        })
                    }),
            )
        } else {
            Box::new(std::iter::repeat(None))
        };
        let rows = item_indices
            .into_iter()
            .zip(uuids)
            .zip(answers)
            .zip(inputs)
            .zip(outputs)
            .map(
                |((((item_index, uuid), answers), input), output)| ResultRow {
                    item_index,
                    uuid,
                    answers,
                    input,
                    output,
                    lemmas: lemmas.next().flatten(),
                },
            )
            .collect();
        Ok(rows)
    }

    fn inputs(&self, kind: RowKind) -> Result<Vec<RowInput>> {
        Ok(match kind {
            RowKind::Origin => {
                let questions = self.texts(Column::Question)?;
                let prompts = self.texts(Column::Prompt)?;
                questions
                    .into_iter()
                    .zip(prompts)
                    .map(|(question, prompt)| RowInput::Origin { question, prompt })
                    .collect()
            }
            RowKind::PerPrompt => {
                let indices = self.u32s(Column::ParaphraseIndex)?;
                let paraphrases = self.texts(Column::Paraphrase)?;
                let prompts = self.texts(Column::Prompt)?;
                indices
                    .into_iter()
                    .zip(paraphrases)
                    .zip(prompts)
                    .map(
                        |((paraphrase_index, paraphrase), prompt)| RowInput::PerPrompt {
                            paraphrase_index,
                            paraphrase,
                            prompt,
                        },
                    )
                    .collect()
            }
            RowKind::Fused => self.fused_inputs()?,
            RowKind::Weighted => self.weighted_inputs()?,
        })
    }

    fn fused_inputs(&self) -> Result<Vec<RowInput>> {
        let paraphrases = self.text_lists(Column::Paraphrases)?;
        let prompts = self.text_lists(Column::Prompts)?;
        Ok(paraphrases
            .into_iter()
            .zip(prompts)
            .map(|(paraphrases, prompts)| RowInput::Fused {
                paraphrases,
                prompts,
            })
            .collect())
    }

    fn weighted_inputs(&self) -> Result<Vec<RowInput>> {
        let paraphrases = self.text_lists(Column::Paraphrases)?;
        let prompts = self.text_lists(Column::Prompts)?;
        let confidences = self.float_lists(Column::Confidences)?;
        let mut inputs = Vec::with_capacity(paraphrases.len());
        let columns = paraphrases.into_iter().zip(prompts).zip(confidences);
        for (row, ((paraphrases, prompts), confidences)) in columns.enumerate() {
            self.same_length(
                row,
                Column::Confidences,
                paraphrases.len(),
                confidences.len(),
            )?;
            inputs.push(RowInput::Weighted {
                paraphrases,
                prompts,
                confidences,
            });
        }
        Ok(inputs)
    }

    fn outputs(&self) -> Result<Vec<Output>> {
        let predictions = self.texts(Column::Prediction)?;
        let generations = self.texts(Column::Generation)?;
        let ids = self.id_lists(Column::GeneratedIds)?;
        let reasons = self.texts(Column::StopReason)?;
        let mut outputs = Vec::with_capacity(predictions.len());
        let columns = predictions
            .into_iter()
            .zip(generations)
            .zip(ids)
            .zip(reasons);
        for (row, (((prediction, generation), generated_ids), reason)) in columns.enumerate() {
            let stop_reason = StopReason::from_name(&reason).ok_or_else(|| {
                self.bad_value(
                    Column::StopReason,
                    row,
                    format!(
                        "unknown stop reason `{reason}` (expected newline, eos or max_new_tokens)"
                    ),
                )
            })?;
            outputs.push(Output {
                prediction,
                generation,
                generated_ids,
                stop_reason,
            });
        }
        Ok(outputs)
    }

    fn same_length(
        &self,
        row: usize,
        column: Column,
        paraphrases: usize,
        found: usize,
    ) -> Result<()> {
        if paraphrases == found {
            return Ok(());
        }
        Err(self.bad_value(
            column,
            row,
            format!("{found} entries for {paraphrases} paraphrases"),
        ))
    }

    fn bad_value(&self, column: Column, row: usize, message: String) -> ResultsError {
        ResultsError::BadValue {
            path: self.path.to_path_buf(),
            column: column.name(),
            row: self.first_row + row,
            message,
        }
    }

    fn null(&self, column: Column, row: usize) -> ResultsError {
        self.bad_value(column, row, "null value (this column has no nulls)".into())
    }

    fn type_error(&self, column: Column) -> ResultsError {
        ResultsError::ColumnType {
            path: self.path.to_path_buf(),
            column: column.name(),
            expected: column.data_type().to_string(),
            found: self
                .array(column)
                .map(|array| array.data_type().to_string())
                .unwrap_or_else(|_| "nothing".into()),
        }
    }

    fn array(&self, column: Column) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(column.name())
            .ok_or_else(|| ResultsError::MissingColumn {
                path: self.path.to_path_buf(),
                column: column.name(),
            })
    }

    fn no_nulls(&self, column: Column, array: &dyn Array) -> Result<()> {
        match (0..array.len()).find(|&row| array.is_null(row)) {
            Some(row) => Err(self.null(column, row)),
            None => Ok(()),
        }
    }

    fn u64s(&self, column: Column) -> Result<Vec<u64>> {
        let array = self.array(column)?;
        let values = array
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| self.type_error(column))?;
        self.no_nulls(column, values)?;
        Ok(values.values().to_vec())
    }

    fn u32s(&self, column: Column) -> Result<Vec<u32>> {
        let array = self.array(column)?;
        let values = array
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| self.type_error(column))?;
        self.no_nulls(column, values)?;
        Ok(values.values().to_vec())
    }

    fn texts(&self, column: Column) -> Result<Vec<String>> {
        let array = self.array(column)?;
        let strings = array
            .as_string_opt::<i32>()
            .ok_or_else(|| self.type_error(column))?;
        strings
            .iter()
            .enumerate()
            .map(|(row, value)| {
                value
                    .map(str::to_string)
                    .ok_or_else(|| self.null(column, row))
            })
            .collect()
    }

    /// Decodes every list of a list column with `decode`.
    fn lists<T>(
        &self,
        column: Column,
        decode: impl Fn(&ArrayRef, usize) -> Result<T>,
    ) -> Result<Vec<T>> {
        let array = self.array(column)?;
        let lists: &GenericListArray<i32> = array
            .as_list_opt::<i32>()
            .ok_or_else(|| self.type_error(column))?;
        self.no_nulls(column, lists)?;
        (0..lists.len())
            .map(|row| decode(&lists.value(row), row))
            .collect()
    }

    fn text_lists(&self, column: Column) -> Result<Vec<Vec<String>>> {
        self.lists(column, |values, row| self.list_strings(column, row, values))
    }

    fn list_strings(&self, column: Column, row: usize, values: &ArrayRef) -> Result<Vec<String>> {
        let strings = values
            .as_string_opt::<i32>()
            .ok_or_else(|| self.type_error(column))?;
        if strings.null_count() > 0 {
            return Err(self.null(column, row));
        }
        Ok(strings.iter().flatten().map(str::to_string).collect())
    }

    fn float_lists(&self, column: Column) -> Result<Vec<Vec<f64>>> {
        self.lists(column, |values, row| {
            let floats = values
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| self.type_error(column))?;
            if floats.null_count() > 0 {
                return Err(self.null(column, row));
            }
            Ok(floats.values().to_vec())
        })
    }

    fn id_lists(&self, column: Column) -> Result<Vec<Vec<u32>>> {
        self.lists(column, |values, row| {
            let ids = values
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| self.type_error(column))?;
            if ids.null_count() > 0 {
                return Err(self.null(column, row));
            }
            Ok(ids.values().to_vec())
        })
    }

    fn text_list_lists(&self, column: Column) -> Result<Vec<Vec<Vec<String>>>> {
        self.lists(column, |values, row| {
            let inner = values
                .as_list_opt::<i32>()
                .ok_or_else(|| self.type_error(column))?;
            if inner.null_count() > 0 {
                return Err(self.null(column, row));
            }
            (0..inner.len())
                .map(|index| self.list_strings(column, row, &inner.value(index)))
                .collect()
        })
    }
}
