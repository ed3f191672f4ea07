//! Hugging Face `datasets` `save_to_disk` folders: the Python pipeline's cache of
//! its paraphrase datasets.
//!
//! A `Dataset` folder holds `state.json` (listing the Arrow files in order),
//! `dataset_info.json` and Arrow IPC *stream* files `data-0000i-of-0000N.arrow`; a
//! `DatasetDict` folder holds `dataset_dict.json` and one such folder per split.
//! Rows are converted to JSON objects and parsed by the same code as JSONL
//! records, so both give identical items and identical error messages.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType, Schema};
use serde_json::{Map, Value};

use crate::error::{DataError, Location, Result};
use crate::fields::Record;
use crate::item::{EmptyPolicy, Loaded, ParaphraseSource};
use crate::jsonl::{JsonlFields, JsonlFormat};

/// The split read from a `DatasetDict` folder when none is named: the pipeline
/// evaluated its test split.
pub const DEFAULT_SPLIT: &str = "test";

/// Loads a `save_to_disk` folder. For a `DatasetDict` folder `split` names the
/// split (default [`DEFAULT_SPLIT`]); for a plain `Dataset` folder it must be `None`.
///
/// Paraphrase columns are recognised in this order: `manual_paraphrases` /
/// `auto_paraphrases` lists; `paraphrase0..N` strings (0 = original question);
/// a `paraphrases` list; a lone `question` string. Other columns go to
/// [`crate::ItemMeta::fields`].
pub fn load_hf_dataset(path: &Path, split: Option<&str>, policy: EmptyPolicy) -> Result<Loaded> {
    let folder = split_folder(path, split)?;
    let mut loaded = Loaded::default();
    for file in data_files(&folder)? {
        load_arrow_file(&file, policy, &mut loaded)?;
    }
    Ok(loaded)
}

/// The folder holding the Arrow files: `path` itself or `path/<split>`.
fn split_folder(path: &Path, split: Option<&str>) -> Result<PathBuf> {
    let dict_file = path.join("dataset_dict.json");
    if !dict_file.exists() {
        return match split {
            None => Ok(path.to_owned()),
            Some(name) => Err(layout_error(
                path,
                format!("split `{name}` requested, but this is a single Dataset"),
            )),
        };
    }
    let splits = read_json(&dict_file)?
        .get("splits")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .ok_or_else(|| layout_error(&dict_file, "no `splits` list".into()))?;
    let wanted = split.unwrap_or(DEFAULT_SPLIT);
    if splits.iter().any(|s| s == wanted) {
        Ok(path.join(wanted))
    } else {
        Err(layout_error(
            path,
            format!("no split `{wanted}` (splits: {})", splits.join(", ")),
        ))
    }
}

/// The Arrow files listed in `state.json`, in order.
fn data_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let state_file = folder.join("state.json");
    let state = read_json(&state_file)?;
    let entries = state
        .get("_data_files")
        .and_then(Value::as_array)
        .ok_or_else(|| layout_error(&state_file, "no `_data_files` list".into()))?;
    entries
        .iter()
        .map(|entry| {
            entry
                .get("filename")
                .and_then(Value::as_str)
                .map(|name| folder.join(name))
                .ok_or_else(|| {
                    layout_error(
                        &state_file,
                        "a `_data_files` entry has no `filename`".into(),
                    )
                })
        })
        .collect()
}

/// [`load_arrow_file_unguarded`], with a panic of the Arrow reader turned
/// into this file's Arrow error: arrow-ipc 57 panics on some malformed
/// streams instead of returning an error (found by fuzzing; see
/// tests/fuzz_regressions.rs). Rows already added before the panic are
/// dropped with the error, since the load fails as a whole.
fn load_arrow_file(file: &Path, policy: EmptyPolicy, loaded: &mut Loaded) -> Result<()> {
    let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        load_arrow_file_unguarded(file, policy, loaded)
    }));
    guarded.unwrap_or_else(|panic| {
        let message = crate::arrow_guard::panic_text(&*panic);
        Err(DataError::Arrow {
            path: file.to_owned(),
            source: arrow_schema::ArrowError::IpcError(format!(
                "malformed Arrow IPC data ({message})"
            )),
        })
    })
}

/// arrow-ipc 57's stream reader allocates each message's claimed metadata
/// and body length before reading them, and a failed allocation aborts the
/// process. This walks the stream's message frames first (continuation
/// marker, metadata length, the message's `bodyLength`) and refuses a length
/// that runs past the end of the file; framing it cannot read is left to
/// arrow's own errors. It reads metadata only and seeks over bodies.
fn check_stream_lengths(reader: &mut File, path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let corrupt = |at: u64, message: String| DataError::Arrow {
        path: path.to_owned(),
        source: arrow_schema::ArrowError::IpcError(format!(
            "truncated or corrupt Arrow stream at byte {at}: {message}"
        )),
    };
    let len = reader.metadata().map_err(io)?.len();
    let mut at = 0u64;
    loop {
        let mut word = [0u8; 4];
        if at + 4 > len {
            break;
        }
        reader.read_exact(&mut word).map_err(io)?;
        let mut frame = 4;
        if word == [0xff; 4] {
            if at + 8 > len {
                break;
            }
            reader.read_exact(&mut word).map_err(io)?;
            frame = 8;
        }
        let meta_len = i32::from_le_bytes(word);
        if meta_len == 0 {
            break; // end-of-stream marker
        }
        let Some(meta_len) = u64::try_from(meta_len)
            .ok()
            .filter(|&m| at + frame + m <= len)
        else {
            return Err(corrupt(
                at,
                format!("a message claims {meta_len} metadata bytes, the file has {len}"),
            ));
        };
        let mut meta = vec![0u8; meta_len as usize];
        reader.read_exact(&mut meta).map_err(io)?;
        let Ok(message) = arrow_ipc::root_as_message(&meta) else {
            break;
        };
        let body_end = u64::try_from(message.bodyLength())
            .ok()
            .and_then(|b| (at + frame + meta_len).checked_add(b))
            .filter(|&end| end <= len);
        let Some(body_end) = body_end else {
            return Err(corrupt(
                at,
                format!(
                    "a message claims a body of {} bytes, the file has {len}",
                    message.bodyLength()
                ),
            ));
        };
        reader.seek(SeekFrom::Start(body_end)).map_err(io)?;
        at = body_end;
    }
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(())
}

fn load_arrow_file_unguarded(file: &Path, policy: EmptyPolicy, loaded: &mut Loaded) -> Result<()> {
    let arrow_error = |source| DataError::Arrow {
        path: file.to_owned(),
        source,
    };
    let mut reader = File::open(file).map_err(|source| DataError::Io {
        path: file.to_owned(),
        source,
    })?;
    check_stream_lengths(&mut reader, file)?;
    let stream = StreamReader::try_new(BufReader::new(reader), None).map_err(arrow_error)?;
    let format = format_for(&stream.schema());
    let mut row = 0;
    for batch in stream {
        let batch = batch.map_err(arrow_error)?;
        for batch_row in 0..batch.num_rows() {
            let at = Location::row(file, row);
            let object = row_object(&batch, batch_row, &at)?;
            let item = format.parse(&Record {
                object: &object,
                at: &at,
            })?;
            loaded.accept(item, at, policy)?;
            row += 1;
        }
    }
    Ok(())
}

/// How a table's columns map onto an item (see [`load_hf_dataset`]).
fn format_for(schema: &Schema) -> JsonlFormat {
    let has = |name: &str| schema.column_with_name(name).is_some();
    if has("manual_paraphrases") {
        return JsonlFormat::MyriadLama;
    }
    let numbered = numbered_paraphrase_columns(schema);
    if !numbered.is_empty() {
        let fields =
            numbered
                .iter()
                .fold(JsonlFields::new("uuid", "answers"), |fields, (n, name)| {
                    let source = if *n == 0 {
                        ParaphraseSource::Original
                    } else {
                        ParaphraseSource::Generated
                    };
                    fields.with_paraphrases(name.clone(), source)
                });
        return JsonlFormat::Generic(fields);
    }
    if has("paraphrases") || !has("question") {
        return JsonlFormat::Generic(JsonlFields::default());
    }
    JsonlFormat::WebQuestions
}

/// `paraphrase<N>` columns sorted by N.
fn numbered_paraphrase_columns(schema: &Schema) -> Vec<(usize, String)> {
    let mut columns: Vec<(usize, String)> = schema
        .fields()
        .iter()
        .filter_map(|f| {
            let n = f.name().strip_prefix("paraphrase")?.parse().ok()?;
            Some((n, f.name().clone()))
        })
        .collect();
    columns.sort();
    columns
}

fn row_object(batch: &RecordBatch, row: usize, at: &Location) -> Result<Map<String, Value>> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let value = cell_to_json(column.as_ref(), row).map_err(|data_type| {
                DataError::UnsupportedColumn {
                    at: at.clone(),
                    column: field.name().clone(),
                    data_type: data_type.to_string(),
                }
            })?;
            Ok((field.name().clone(), value))
        })
        .collect()
}

/// One cell as JSON; `Err(type)` for Arrow types other than the string, integer,
/// float, boolean and list types that `datasets` features map to.
fn cell_to_json(array: &dyn Array, row: usize) -> std::result::Result<Value, DataType> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Value::from(array.as_string_view().value(row)),
        DataType::Boolean => Value::from(array.as_boolean().value(row)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => Value::from(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(row)),
        DataType::List(_) => list_to_json(array.as_list::<i32>().value(row).as_ref())?,
        DataType::LargeList(_) => list_to_json(array.as_list::<i64>().value(row).as_ref())?,
        other => return Err(other.clone()),
    })
}

fn list_to_json(values: &dyn Array) -> std::result::Result<Value, DataType> {
    (0..values.len())
        .map(|i| cell_to_json(values, i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| DataError::Json {
        at: Location::line(path, 1),
        source,
    })
}

fn layout_error(path: &Path, reason: String) -> DataError {
    DataError::HfLayout {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Missing;
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_ipc::writer::StreamWriter;
    use arrow_schema::Field;
    use std::sync::Arc;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    #[test]
    fn webqa_fixture_reads_both_shards_and_numbered_columns() {
        let loaded = load_hf_dataset(
            &fixtures().join("webqa_paraphrases"),
            None,
            EmptyPolicy::Error,
        )
        .unwrap();
        assert_eq!(loaded.items.len(), 3);
        let item = &loaded.items[2];
        assert_eq!(item.uuid, "uuid-webqa-2");
        assert_eq!(item.paraphrases.len(), 6);
        assert_eq!(
            item.paraphrases[0],
            "who plays ken barlow in coronation street?"
        );
        assert_eq!(
            item.paraphrases[5],
            "who plays ken barlow in coronation street? (rephrased 5)"
        );
        assert_eq!(item.meta.sources[0], ParaphraseSource::Original);
        assert_eq!(
            item.indices_from(ParaphraseSource::Generated),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(item.answers, vec!["Tony Warren", "William Roache"]);
        assert!(item.meta.fields.contains_key("url"));
    }

    #[test]
    fn myriadlama_fixture_reads_the_named_split() {
        let root = fixtures().join("myriadlama_paraphrases");
        let test = load_hf_dataset(&root, None, EmptyPolicy::Error).unwrap();
        assert_eq!(test.items.len(), 3);
        let train = load_hf_dataset(&root, Some("train"), EmptyPolicy::Error).unwrap();
        assert_eq!(train.items[1].uuid, "train-1");
        let item = &test.items[0];
        assert_eq!(item.indices_from(ParaphraseSource::Manual), vec![0, 1, 2]);
        assert_eq!(item.indices_from(ParaphraseSource::Auto), vec![3, 4, 5, 6]);
        assert_eq!(item.meta.fields["rel"], "P1303");
        let err = load_hf_dataset(&root, Some("validation"), EmptyPolicy::Error).unwrap_err();
        assert!(
            err.to_string()
                .contains("no split `validation` (splits: train, test)"),
            "{err}"
        );
    }

    #[test]
    fn a_folder_without_state_json_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    /// Writes a one-file dataset with `uuid`, `answers` (list), `question` and an
    /// integer column, the way `datasets` would.
    fn write_dataset(dir: &Path, answers: &[&[&str]]) {
        let mut answer_lists = ListBuilder::new(StringBuilder::new());
        for row in answers {
            for a in *row {
                answer_lists.values().append_value(a);
            }
            answer_lists.append(true);
        }
        let answer_array = answer_lists.finish();
        let n = answers.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("u{i}")),
            )),
            Arc::new(answer_array.clone()),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("question {i}?")),
            )),
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("uuid", DataType::Utf8, false),
            Field::new("answers", answer_array.data_type().clone(), true),
            Field::new("question", DataType::Utf8, false),
            Field::new("id", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let file = File::create(dir.join("data-00000-of-00001.arrow")).unwrap();
        let mut writer = StreamWriter::try_new(file, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        let state = r#"{"_data_files":[{"filename":"data-00000-of-00001.arrow"}]}"#;
        std::fs::write(dir.join("state.json"), state).unwrap();
    }

    #[test]
    fn a_plain_question_column_is_read_as_webquestions() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), &[&["a"], &["b", "c"]]);
        let loaded = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap();
        assert_eq!(loaded.items[1].paraphrases, vec!["question 1?"]);
        assert_eq!(loaded.items[1].answers, vec!["b", "c"]);
        assert_eq!(loaded.items[1].meta.fields["id"], 1);
    }

    #[test]
    fn empty_answers_name_the_arrow_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), &[&["a"], &[]]);
        let err = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("data-00000-of-00001.arrow row 1: item u1 has no answers"),
            "{err}"
        );
        let loaded = load_hf_dataset(dir.path(), None, EmptyPolicy::Skip).unwrap();
        assert_eq!(loaded.skipped[0].missing, Missing::Answers);
    }

    /// A column of a one-file test dataset.
    enum Column<'a> {
        Strings(&'a [&'a str]),
        Lists(&'a [&'a [&'a str]]),
    }

    /// Writes a `save_to_disk` folder with the given columns (one Arrow stream file).
    fn write_columns(dir: &Path, columns: &[(&str, Column<'_>)]) {
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, column)| -> ArrayRef {
                match column {
                    Column::Strings(values) => {
                        Arc::new(StringArray::from_iter_values(values.iter()))
                    }
                    Column::Lists(rows) => {
                        let mut lists = ListBuilder::new(StringBuilder::new());
                        for row in *rows {
                            for value in *row {
                                lists.values().append_value(value);
                            }
                            lists.append(true);
                        }
                        Arc::new(lists.finish())
                    }
                }
            })
            .collect();
        let fields: Vec<Field> = columns
            .iter()
            .zip(&arrays)
            .map(|((name, _), array)| Field::new(*name, array.data_type().clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
        let file = File::create(dir.join("data-00000-of-00001.arrow")).unwrap();
        let mut writer = StreamWriter::try_new(file, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        let state = r#"{"_data_files":[{"filename":"data-00000-of-00001.arrow"}]}"#;
        std::fs::write(dir.join("state.json"), state).unwrap();
    }

    #[test]
    fn a_paraphrases_list_column_is_read_like_the_jsonl_field() {
        let dir = tempfile::tempdir().unwrap();
        write_columns(
            dir.path(),
            &[
                ("uuid", Column::Strings(&["g0", "g1"])),
                ("answers", Column::Lists(&[&["x"], &["y", "z"]])),
                ("paraphrases", Column::Lists(&[&["p", "q"], &["r"]])),
                ("few_shot", Column::Strings(&["Q: a\nA: b", "Q: a\nA: b"])),
            ],
        );
        let from_arrow = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap();
        let jsonl = dir.path().join("same.jsonl");
        std::fs::write(
            &jsonl,
            concat!(
                r#"{"uuid":"g0","answers":["x"],"paraphrases":["p","q"],"few_shot":"Q: a\nA: b"}"#,
                "\n",
                r#"{"uuid":"g1","answers":["y","z"],"paraphrases":["r"],"few_shot":"Q: a\nA: b"}"#,
            ),
        )
        .unwrap();
        let from_jsonl =
            crate::load_generic(&jsonl, &JsonlFields::default(), EmptyPolicy::Error).unwrap();
        assert_eq!(from_arrow.items, from_jsonl.items);
        assert_eq!(
            from_arrow.items[0].meta.sources,
            vec![ParaphraseSource::Unspecified; 2]
        );
    }

    #[test]
    fn manual_and_auto_list_columns_equal_the_myriadlama_jsonl_loader() {
        let dir = tempfile::tempdir().unwrap();
        write_columns(
            dir.path(),
            &[
                ("uuid", Column::Strings(&["m0"])),
                ("rel", Column::Strings(&["P17"])),
                ("answers", Column::Lists(&[&["France"]])),
                (
                    "manual_paraphrases",
                    Column::Lists(&[&["[MASK] a.", "[MASK] b."]]),
                ),
                ("auto_paraphrases", Column::Lists(&[&["[MASK] c."]])),
            ],
        );
        let from_arrow = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap();
        let jsonl = dir.path().join("same.jsonl");
        std::fs::write(
            &jsonl,
            r#"{"uuid":"m0","rel":"P17","answers":["France"],"manual_paraphrases":["[MASK] a.","[MASK] b."],"auto_paraphrases":["[MASK] c."]}"#,
        )
        .unwrap();
        let from_jsonl = crate::load_myriadlama(&jsonl, EmptyPolicy::Error).unwrap();
        assert_eq!(from_arrow.items, from_jsonl.items);
    }

    #[test]
    fn a_wrongly_typed_column_names_file_row_and_field() {
        let dir = tempfile::tempdir().unwrap();
        write_columns(
            dir.path(),
            &[
                ("uuid", Column::Lists(&[&["u"]])),
                ("answers", Column::Lists(&[&["x"]])),
                ("paraphrases", Column::Lists(&[&["p"]])),
            ],
        );
        let err = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("data-00000-of-00001.arrow row 0: field `uuid` must be a string"),
            "{err}"
        );
    }

    #[test]
    fn a_single_string_paraphrases_column_is_one_paraphrase() {
        let dir = tempfile::tempdir().unwrap();
        write_columns(
            dir.path(),
            &[
                ("uuid", Column::Strings(&["s"])),
                ("answers", Column::Strings(&["x"])),
                ("paraphrases", Column::Strings(&["only one"])),
            ],
        );
        let item = &load_hf_dataset(dir.path(), None, EmptyPolicy::Error)
            .unwrap()
            .items[0];
        assert_eq!(item.paraphrases, vec!["only one"]);
        assert_eq!(item.answers, vec!["x"]);
    }

    #[test]
    fn unsupported_column_types_name_the_column() {
        let values = arrow_array::Date32Array::from(vec![1]);
        let err = cell_to_json(&values, 0).unwrap_err();
        assert_eq!(err, DataType::Date32);
    }

    #[test]
    fn a_corrupt_arrow_file_is_an_arrow_error() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), &[&["a"]]);
        std::fs::write(dir.path().join("data-00000-of-00001.arrow"), b"not arrow").unwrap();
        let err = load_hf_dataset(dir.path(), None, EmptyPolicy::Error).unwrap_err();
        assert!(matches!(err, DataError::Arrow { .. }), "{err}");
    }
}
