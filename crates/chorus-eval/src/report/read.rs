//! Reading result files for the report, by column name: Feather (Arrow IPC
//! file format, uncompressed or compressed with LZ4 or ZSTD as pandas /
//! pyarrow write it) and CSV (list cells as Python reprs or JSON arrays).
//!
//! Strings may be Arrow `Utf8`, `LargeUtf8` (pandas 3) or `Utf8View`, lists
//! `List` or `LargeList`, `paraphrase_index` any integer type. A column of
//! another type is an [`EvalError::ColumnType`] naming the file and the
//! column; a null or malformed cell is an [`EvalError::BadCell`] naming the
//! row too.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Schema};

use crate::error::EvalError;

/// A result file's columns, as far as the report needs them.
#[derive(Debug, Default)]
pub(super) struct ResultTable {
    /// The Arrow schema metadata (empty for CSV files).
    pub metadata: BTreeMap<String, String>,
    /// `uuid`, when the file has it.
    pub uuids: Option<Vec<String>>,
    /// `answers`.
    pub answers: Vec<Vec<String>>,
    /// `prediction`.
    pub predictions: Vec<String>,
    /// `generation`, when the file has it.
    pub generations: Option<Vec<String>>,
    /// Lengths of `paraphrases` (fused files: no `paraphrase_index` or
    /// `question` column).
    pub paraphrase_counts: Option<Vec<usize>>,
    /// `paraphrase_index` (per-paraphrase files).
    pub paraphrase_indices: Option<Vec<u64>>,
    /// `predict_lemma`, when the file has it.
    pub predict_lemmas: Option<Vec<Vec<String>>>,
    /// `answer_lemmas`, when the file has it.
    pub answer_lemmas: Option<Vec<Vec<Vec<String>>>>,
}

/// The columns the report reads; `answers` and `prediction` are required.
const ANSWERS: &str = "answers";
const PREDICTION: &str = "prediction";
const UUID: &str = "uuid";
const GENERATION: &str = "generation";
const PARAPHRASES: &str = "paraphrases";
const PARAPHRASE_INDEX: &str = "paraphrase_index";
const QUESTION: &str = "question";
const PREDICT_LEMMA: &str = "predict_lemma";
const ANSWER_LEMMAS: &str = "answer_lemmas";

/// Reads `path`: CSV for a `.csv` name, Feather otherwise.
pub(super) fn read_result_file(path: &Path) -> Result<ResultTable, EvalError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => read_csv(path),
        _ => read_feather(path),
    }
}

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text,
    TextList,
    TextListList,
    Integer,
}

impl Shape {
    fn describe(self) -> &'static str {
        match self {
            Shape::Text => "strings",
            Shape::TextList => "lists of strings",
            Shape::TextListList => "lists of lists of strings",
            Shape::Integer => "integers",
        }
    }

    fn accepts(self, data_type: &DataType) -> bool {
        match self {
            Shape::Text => is_text(data_type),
            Shape::TextList => list_item(data_type).is_some_and(is_text),
            Shape::TextListList => list_item(data_type)
                .and_then(list_item)
                .is_some_and(is_text),
            Shape::Integer => data_type.is_integer(),
        }
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn list_item(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::List(field) | DataType::LargeList(field) => Some(field.data_type()),
        _ => None,
    }
}

/// Whether the schema has `name`, after checking that its type fits `shape`.
fn typed_column(schema: &Schema, path: &Path, name: &str, shape: Shape) -> Result<bool, EvalError> {
    let Ok(field) = schema.field_with_name(name) else {
        return Ok(false);
    };
    if shape.accepts(field.data_type()) {
        Ok(true)
    } else {
        Err(EvalError::ColumnType {
            path: path.to_path_buf(),
            column: name.to_owned(),
            expected: shape.describe().to_owned(),
            found: field.data_type().to_string(),
        })
    }
}

/// [`chorus_data::arrow_guard::check_ipc_file`] with this crate's errors.
fn check_claimed_lengths(file: &mut File, path: &Path) -> Result<(), EvalError> {
    use chorus_data::arrow_guard::{IpcCheckError, check_ipc_file};
    check_ipc_file(file).map_err(|e| match e {
        IpcCheckError::Io(source) => EvalError::Io {
            path: path.to_path_buf(),
            source,
        },
        IpcCheckError::Corrupt(message) => EvalError::Arrow {
            path: path.to_path_buf(),
            source: arrow_schema::ArrowError::IpcError(format!(
                "truncated or corrupt Feather file: {message}"
            )),
        },
    })
}

/// [`read_feather_unguarded`], with a panic of the Arrow reader turned into
/// the file's Arrow error: arrow-ipc 57 panics on some malformed files
/// instead of returning an error (found by fuzzing, issue 16; see
/// chorus-results' tests/fuzz_regressions.rs), and one bad file must not take
/// the whole report down.
fn read_feather(path: &Path) -> Result<ResultTable, EvalError> {
    std::panic::catch_unwind(|| read_feather_unguarded(path)).unwrap_or_else(|panic| {
        let message = chorus_data::arrow_guard::panic_text(&*panic);
        Err(EvalError::Arrow {
            path: path.to_path_buf(),
            source: arrow_schema::ArrowError::IpcError(format!(
                "malformed Arrow IPC data ({message})"
            )),
        })
    })
}

fn read_feather_unguarded(path: &Path) -> Result<ResultTable, EvalError> {
    let mut file = File::open(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check_claimed_lengths(&mut file, path)?;
    let arrow = |source| EvalError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let reader =
        arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None).map_err(arrow)?;
    let schema = reader.schema();
    let column = |name: &str, shape: Shape| typed_column(&schema, path, name, shape);
    for (name, shape) in [(ANSWERS, Shape::TextList), (PREDICTION, Shape::Text)] {
        if !column(name, shape)? {
            return Err(EvalError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_owned(),
            });
        }
    }
    let has_index = column(PARAPHRASE_INDEX, Shape::Integer)?;
    let single = has_index || schema.column_with_name(QUESTION).is_some();
    let mut table = ResultTable {
        metadata: schema.metadata().clone().into_iter().collect(),
        uuids: column(UUID, Shape::Text)?.then(Vec::new),
        generations: column(GENERATION, Shape::Text)?.then(Vec::new),
        paraphrase_counts: (!single && column(PARAPHRASES, Shape::TextList)?).then(Vec::new),
        paraphrase_indices: has_index.then(Vec::new),
        predict_lemmas: column(PREDICT_LEMMA, Shape::TextList)?.then(Vec::new),
        answer_lemmas: column(ANSWER_LEMMAS, Shape::TextListList)?.then(Vec::new),
        ..ResultTable::default()
    };
    for batch in reader {
        let batch = batch.map_err(arrow)?;
        let cells = Cells {
            path,
            offset: table.predictions.len(),
        };
        let array = |name: &str| -> Result<&ArrayRef, EvalError> {
            batch
                .column_by_name(name)
                .ok_or_else(|| EvalError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_owned(),
                })
        };
        table
            .answers
            .extend(cells.string_lists(ANSWERS, array(ANSWERS)?)?);
        table
            .predictions
            .extend(cells.strings(PREDICTION, array(PREDICTION)?)?);
        if let Some(uuids) = table.uuids.as_mut() {
            uuids.extend(cells.strings(UUID, array(UUID)?)?);
        }
        if let Some(generations) = table.generations.as_mut() {
            generations.extend(cells.strings(GENERATION, array(GENERATION)?)?);
        }
        if let Some(counts) = table.paraphrase_counts.as_mut() {
            let lists = cells.string_lists(PARAPHRASES, array(PARAPHRASES)?)?;
            counts.extend(lists.iter().map(Vec::len));
        }
        if let Some(indices) = table.paraphrase_indices.as_mut() {
            indices.extend(cells.indices(PARAPHRASE_INDEX, array(PARAPHRASE_INDEX)?)?);
        }
        if let Some(lemmas) = table.predict_lemmas.as_mut() {
            lemmas.extend(cells.string_lists(PREDICT_LEMMA, array(PREDICT_LEMMA)?)?);
        }
        if let Some(lemmas) = table.answer_lemmas.as_mut() {
            lemmas.extend(cells.nested_string_lists(ANSWER_LEMMAS, array(ANSWER_LEMMAS)?)?);
        }
    }
    Ok(table)
}

/// Strings of a string array of any offset width; `None` for another type.
fn text_values(array: &dyn Array) -> Option<Vec<Option<String>>> {
    let owned = |value: Option<&str>| value.map(str::to_owned);
    if let Some(strings) = array.as_string_opt::<i32>() {
        return Some(strings.iter().map(owned).collect());
    }
    if let Some(strings) = array.as_string_opt::<i64>() {
        return Some(strings.iter().map(owned).collect());
    }
    array
        .as_string_view_opt()
        .map(|strings| strings.iter().map(owned).collect())
}

/// Values of an integer array of any width; `None` for another type.
fn integer_values(array: &dyn Array) -> Option<Vec<Option<i128>>> {
    macro_rules! widen {
        ($($t:ty),+) => {
            $(if let Some(values) = array.as_primitive_opt::<$t>() {
                return Some(values.iter().map(|v| v.map(i128::from)).collect());
            })+
        };
    }
    widen!(
        Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
    );
    None
}

/// The lists of a list array of either offset width; `None` for another type.
fn list_values(array: &dyn Array) -> Option<Vec<Option<ArrayRef>>> {
    if let Some(lists) = array.as_list_opt::<i32>() {
        return Some(
            (0..lists.len())
                .map(|row| lists.is_valid(row).then(|| lists.value(row)))
                .collect(),
        );
    }
    array.as_list_opt::<i64>().map(|lists| {
        (0..lists.len())
            .map(|row| lists.is_valid(row).then(|| lists.value(row)))
            .collect()
    })
}

/// Decodes the cells of one record batch; `offset` is the batch's first row.
struct Cells<'a> {
    path: &'a Path,
    offset: usize,
}

impl Cells<'_> {
    fn bad(&self, column: &str, row: usize, message: impl Into<String>) -> EvalError {
        EvalError::BadCell {
            path: self.path.to_path_buf(),
            row: self.offset + row,
            column: column.to_owned(),
            message: message.into(),
        }
    }

    fn type_error(&self, column: &str, shape: Shape, found: &DataType) -> EvalError {
        EvalError::ColumnType {
            path: self.path.to_path_buf(),
            column: column.to_owned(),
            expected: shape.describe().to_owned(),
            found: found.to_string(),
        }
    }

    fn strings(&self, column: &str, array: &dyn Array) -> Result<Vec<String>, EvalError> {
        text_values(array)
            .ok_or_else(|| self.type_error(column, Shape::Text, array.data_type()))?
            .into_iter()
            .enumerate()
            .map(|(row, value)| value.ok_or_else(|| self.bad(column, row, "null value")))
            .collect()
    }

    fn indices(&self, column: &str, array: &dyn Array) -> Result<Vec<u64>, EvalError> {
        integer_values(array)
            .ok_or_else(|| self.type_error(column, Shape::Integer, array.data_type()))?
            .into_iter()
            .enumerate()
            .map(|(row, value)| {
                let value = value.ok_or_else(|| self.bad(column, row, "null value"))?;
                u64::try_from(value)
                    .map_err(|_| self.bad(column, row, format!("negative index {value}")))
            })
            .collect()
    }

    fn lists(
        &self,
        column: &str,
        shape: Shape,
        array: &dyn Array,
    ) -> Result<Vec<ArrayRef>, EvalError> {
        list_values(array)
            .ok_or_else(|| self.type_error(column, shape, array.data_type()))?
            .into_iter()
            .enumerate()
            .map(|(row, list)| list.ok_or_else(|| self.bad(column, row, "null list")))
            .collect()
    }

    /// The strings of one list cell (`row`); a null string is an error.
    fn list_strings(
        &self,
        column: &str,
        shape: Shape,
        row: usize,
        values: &dyn Array,
    ) -> Result<Vec<String>, EvalError> {
        text_values(values)
            .ok_or_else(|| self.type_error(column, shape, values.data_type()))?
            .into_iter()
            .map(|value| value.ok_or_else(|| self.bad(column, row, "null string in the list")))
            .collect()
    }

    fn string_lists(&self, column: &str, array: &dyn Array) -> Result<Vec<Vec<String>>, EvalError> {
        let shape = Shape::TextList;
        self.lists(column, shape, array)?
            .iter()
            .enumerate()
            .map(|(row, values)| self.list_strings(column, shape, row, values))
            .collect()
    }

    fn nested_string_lists(
        &self,
        column: &str,
        array: &dyn Array,
    ) -> Result<Vec<Vec<Vec<String>>>, EvalError> {
        let shape = Shape::TextListList;
        self.lists(column, shape, array)?
            .iter()
            .enumerate()
            .map(|(row, values)| {
                list_values(values)
                    .ok_or_else(|| self.type_error(column, shape, values.data_type()))?
                    .into_iter()
                    .map(|inner| {
                        let inner =
                            inner.ok_or_else(|| self.bad(column, row, "null list in the list"))?;
                        self.list_strings(column, shape, row, &inner)
                    })
                    .collect()
            })
            .collect()
    }
}

fn read_csv(path: &Path) -> Result<ResultTable, EvalError> {
    let csv_error = |source| EvalError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let index = |name: &str| headers.iter().position(|h| h == name);
    let required = |name: &str| {
        index(name).ok_or_else(|| EvalError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_owned(),
        })
    };
    let (answers_at, prediction_at) = (required(ANSWERS)?, required(PREDICTION)?);
    let uuid_at = index(UUID);
    let generation_at = index(GENERATION);
    let index_at = index(PARAPHRASE_INDEX);
    let single = index_at.is_some() || index(QUESTION).is_some();
    let paraphrases_at = index(PARAPHRASES).filter(|_| !single);
    let predict_lemma_at = index(PREDICT_LEMMA);
    let answer_lemmas_at = index(ANSWER_LEMMAS);
    let mut table = ResultTable {
        uuids: uuid_at.map(|_| Vec::new()),
        generations: generation_at.map(|_| Vec::new()),
        paraphrase_counts: paraphrases_at.map(|_| Vec::new()),
        paraphrase_indices: index_at.map(|_| Vec::new()),
        predict_lemmas: predict_lemma_at.map(|_| Vec::new()),
        answer_lemmas: answer_lemmas_at.map(|_| Vec::new()),
        ..ResultTable::default()
    };
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let cell = |at: usize| record.get(at).unwrap_or("");
        let bad = |column: &str, message: String| EvalError::BadCell {
            path: path.to_path_buf(),
            row,
            column: column.to_owned(),
            message,
        };
        let strings = |column: &str, at: usize| {
            parse_literal(cell(at))
                .and_then(PyValue::into_strings)
                .map_err(|m| bad(column, m))
        };
        table.answers.push(strings(ANSWERS, answers_at)?);
        table.predictions.push(cell(prediction_at).to_owned());
        if let (Some(at), Some(out)) = (uuid_at, table.uuids.as_mut()) {
            out.push(cell(at).to_owned());
        }
        if let (Some(at), Some(out)) = (generation_at, table.generations.as_mut()) {
            out.push(cell(at).to_owned());
        }
        if let (Some(at), Some(out)) = (paraphrases_at, table.paraphrase_counts.as_mut()) {
            out.push(strings(PARAPHRASES, at)?.len());
        }
        if let (Some(at), Some(out)) = (index_at, table.paraphrase_indices.as_mut()) {
            let text = cell(at).trim();
            let value = text.parse::<u64>().map_err(|_| {
                bad(
                    PARAPHRASE_INDEX,
                    format!("expected a non-negative integer, found `{text}`"),
                )
            })?;
            out.push(value);
        }
        if let (Some(at), Some(out)) = (predict_lemma_at, table.predict_lemmas.as_mut()) {
            out.push(strings(PREDICT_LEMMA, at)?);
        }
        if let (Some(at), Some(out)) = (answer_lemmas_at, table.answer_lemmas.as_mut()) {
            let nested = parse_literal(cell(at))
                .and_then(PyValue::into_string_lists)
                .map_err(|m| bad(ANSWER_LEMMAS, m))?;
            out.push(nested);
        }
    }
    Ok(table)
}

/// A Python literal as written in a CSV list cell: a string or a list.
#[derive(Debug, Clone, PartialEq)]
enum PyValue {
    Str(String),
    List(Vec<PyValue>),
}

impl PyValue {
    fn into_strings(self) -> Result<Vec<String>, String> {
        match self {
            Self::List(items) => items
                .into_iter()
                .map(|item| match item {
                    Self::Str(s) => Ok(s),
                    Self::List(_) => {
                        Err("expected a list of strings, found a nested list".to_owned())
                    }
                })
                .collect(),
            Self::Str(_) => Err("expected a list, found a string".to_owned()),
        }
    }

    fn into_string_lists(self) -> Result<Vec<Vec<String>>, String> {
        match self {
            Self::List(items) => items.into_iter().map(Self::into_strings).collect(),
            Self::Str(_) => Err("expected a list of lists, found a string".to_owned()),
        }
    }
}

/// Parses a Python repr (`['a', "b's"]`, nested lists) or a JSON array of strings.
fn parse_literal(text: &str) -> Result<PyValue, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut position = 0;
    let value = parse_value(&chars, &mut position)?;
    skip_spaces(&chars, &mut position);
    if position != chars.len() {
        return Err(format!(
            "unexpected text after the value at character {position}"
        ));
    }
    Ok(value)
}

fn skip_spaces(chars: &[char], position: &mut usize) {
    while chars.get(*position).is_some_and(|c| c.is_whitespace()) {
        *position += 1;
    }
}

fn parse_value(chars: &[char], position: &mut usize) -> Result<PyValue, String> {
    skip_spaces(chars, position);
    match chars.get(*position) {
        Some('[') => {
            *position += 1;
            let mut items = Vec::new();
            loop {
                skip_spaces(chars, position);
                if chars.get(*position) == Some(&']') {
                    *position += 1;
                    return Ok(PyValue::List(items));
                }
                items.push(parse_value(chars, position)?);
                skip_spaces(chars, position);
                match chars.get(*position) {
                    Some(',') => *position += 1,
                    Some(']') => {}
                    _ => return Err(format!("expected ',' or ']' at character {position}")),
                }
            }
        }
        Some(&quote @ ('\'' | '"')) => {
            *position += 1;
            parse_string(chars, position, quote).map(PyValue::Str)
        }
        _ => Err(format!(
            "expected a list or a string at character {position}"
        )),
    }
}

fn parse_string(chars: &[char], position: &mut usize, quote: char) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let Some(&c) = chars.get(*position) else {
            return Err("unterminated string".to_owned());
        };
        *position += 1;
        if c == quote {
            return Ok(out);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&escaped) = chars.get(*position) else {
            return Err("dangling backslash".to_owned());
        };
        *position += 1;
        let hex = |count: usize, position: &mut usize| -> Result<char, String> {
            let digits: String = chars
                .get(*position..*position + count)
                .unwrap_or_default()
                .iter()
                .collect();
            *position += count;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad escape \\{escaped}{digits}"))
        };
        match escaped {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => out.push(hex(2, position)?),
            'u' => out.push(hex(4, position)?),
            'U' => out.push(hex(8, position)?),
            '/' => out.push('/'),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{LargeStringBuilder, ListBuilder};
    use arrow_array::{Int64Array, LargeStringArray, RecordBatch, UInt8Array};
    use arrow_schema::Field;

    use super::*;

    #[test]
    fn python_and_json_lists_parse() {
        assert_eq!(
            parse_literal(r#"['Paris', "St. John's", 'a\\b', '\n', '\u00e9']"#)
                .unwrap()
                .into_strings()
                .unwrap(),
            ["Paris", "St. John's", "a\\b", "\n", "é"]
        );
        assert_eq!(
            parse_literal(r#"["a", "b"]"#)
                .unwrap()
                .into_strings()
                .unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            parse_literal("[['a', 'b'], []]")
                .unwrap()
                .into_string_lists()
                .unwrap(),
            vec![vec!["a".to_owned(), "b".to_owned()], vec![]]
        );
        assert!(parse_literal("['a'").is_err());
        assert!(parse_literal("'a'").unwrap().into_strings().is_err());
    }

    #[test]
    fn shapes_accept_every_string_and_list_width() {
        let large_list =
            DataType::LargeList(Arc::new(Field::new("item", DataType::Utf8View, true)));
        assert!(Shape::TextList.accepts(&large_list));
        assert!(Shape::Text.accepts(&DataType::LargeUtf8));
        assert!(Shape::Integer.accepts(&DataType::UInt16));
        assert!(!Shape::Integer.accepts(&DataType::Float64));
        assert!(!Shape::TextList.accepts(&DataType::Int64));
        let nested = DataType::List(Arc::new(Field::new("item", large_list, true)));
        assert!(Shape::TextListList.accepts(&nested));
        assert!(!Shape::TextList.accepts(&nested));
    }

    /// Writes one batch of `columns` as an (uncompressed) Feather file.
    fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let file = File::create(path).unwrap();
        let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
    }

    fn large_lists(rows: &[&[&str]]) -> ArrayRef {
        let mut builder = ListBuilder::new(LargeStringBuilder::new());
        for row in rows {
            builder.append_value(row.iter().map(Some));
        }
        Arc::new(builder.finish())
    }

    #[test]
    fn large_strings_and_narrow_indices_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pp.feather");
        write(
            &path,
            vec![
                ("uuid", Arc::new(LargeStringArray::from(vec!["a", "a"]))),
                ("answers", large_lists(&[&["x"], &["x"]])),
                ("paraphrase_index", Arc::new(UInt8Array::from(vec![0u8, 1]))),
                (
                    "prediction",
                    Arc::new(LargeStringArray::from(vec!["x", "y"])),
                ),
            ],
        );
        let table = read_result_file(&path).unwrap();
        assert_eq!(table.paraphrase_indices, Some(vec![0, 1]));
        assert_eq!(table.uuids.unwrap(), ["a", "a"]);
        assert_eq!(table.answers, [["x"], ["x"]]);
        assert!(table.paraphrase_counts.is_none());
    }

    #[test]
    fn wrong_types_and_negative_indices_name_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.feather");
        write(
            &path,
            vec![
                ("answers", large_lists(&[&["x"]])),
                ("prediction", Arc::new(Int64Array::from(vec![1]))),
            ],
        );
        let error = read_result_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("bad.feather")
                && error.contains("column `prediction`")
                && error.contains("Int64"),
            "{error}"
        );
        write(
            &path,
            vec![
                ("answers", large_lists(&[&["x"]])),
                ("paraphrase_index", Arc::new(Int64Array::from(vec![-1]))),
                ("prediction", Arc::new(LargeStringArray::from(vec!["x"]))),
            ],
        );
        let error = read_result_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("row 0, column `paraphrase_index`: negative index -1"),
            "{error}"
        );
    }
}
