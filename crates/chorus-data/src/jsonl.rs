//! JSONL loaders: WebQuestions, MyriadLAMA and a generic one with caller-named fields.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{DataError, Location, Result};
use crate::fields::Record;
use crate::item::{EmptyPolicy, Item, ItemMeta, Loaded, ParaphraseSource};

/// A field of a generic JSONL record that holds paraphrases (one string or a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParaphraseField {
    /// The JSON key.
    pub name: String,
    /// The source recorded for every paraphrase read from it.
    pub source: ParaphraseSource,
}

/// Field names of a generic JSONL file. Every named field is required; the
/// paraphrases of an item are the concatenation of `paraphrases` fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlFields {
    /// Key of the item's uuid (a string).
    pub uuid: String,
    /// Key of the gold answers (a string or a list of strings).
    pub answers: String,
    /// Keys holding paraphrases.
    pub paraphrases: Vec<ParaphraseField>,
}

impl JsonlFields {
    /// Fields `uuid` and `answers` under the given names, no paraphrase field yet.
    pub fn new(uuid: impl Into<String>, answers: impl Into<String>) -> Self {
        Self {
            uuid: uuid.into(),
            answers: answers.into(),
            paraphrases: Vec::new(),
        }
    }

    /// Adds a paraphrase field whose entries come from `source`.
    pub fn with_paraphrases(mut self, name: impl Into<String>, source: ParaphraseSource) -> Self {
        self.paraphrases.push(ParaphraseField {
            name: name.into(),
            source,
        });
        self
    }

    /// MyriadLAMA's layout: `manual_paraphrases` then `auto_paraphrases`.
    pub fn myriadlama() -> Self {
        Self::new("uuid", "answers")
            .with_paraphrases("manual_paraphrases", ParaphraseSource::Manual)
            .with_paraphrases("auto_paraphrases", ParaphraseSource::Auto)
    }
}

impl Default for JsonlFields {
    /// `uuid`, `answers` and one `paraphrases` field of unspecified source
    /// (the layout of the golden `*.items.jsonl` files).
    fn default() -> Self {
        Self::new("uuid", "answers").with_paraphrases("paraphrases", ParaphraseSource::Unspecified)
    }
}

/// The record layout of a JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonlFormat {
    /// `{"uuid","qid","question","answers"}` plus optional `"paraphrases"`
    /// (index 0 = the original question).
    WebQuestions,
    /// `{"uuid","answers","manual_paraphrases","auto_paraphrases"}`.
    MyriadLama,
    /// Caller-named fields.
    Generic(JsonlFields),
}

impl JsonlFormat {
    /// Guesses the format from one record: MyriadLAMA if it has
    /// `manual_paraphrases`, WebQuestions if it has `question`, else generic
    /// with the default field names.
    pub fn sniff(record: &Map<String, Value>) -> Self {
        if record.contains_key("manual_paraphrases") {
            Self::MyriadLama
        } else if record.contains_key("question") {
            Self::WebQuestions
        } else {
            Self::Generic(JsonlFields::default())
        }
    }

    pub(crate) fn parse(&self, record: &Record<'_>) -> Result<Item> {
        match self {
            Self::WebQuestions => parse_webquestions(record),
            Self::MyriadLama => parse_generic(record, &JsonlFields::myriadlama()),
            Self::Generic(fields) => parse_generic(record, fields),
        }
    }
}

/// Loads a WebQuestions JSONL file.
pub fn load_webquestions(path: &Path, policy: EmptyPolicy) -> Result<Loaded> {
    load_jsonl(path, &JsonlFormat::WebQuestions, policy)
}

/// Loads a MyriadLAMA JSONL file (manual paraphrases first, then automatic ones).
pub fn load_myriadlama(path: &Path, policy: EmptyPolicy) -> Result<Loaded> {
    load_jsonl(path, &JsonlFormat::MyriadLama, policy)
}

/// Loads a JSONL file whose field names are given by the caller.
pub fn load_generic(path: &Path, fields: &JsonlFields, policy: EmptyPolicy) -> Result<Loaded> {
    load_jsonl(path, &JsonlFormat::Generic(fields.clone()), policy)
}

/// Loads a JSONL file of the given format. Blank lines are allowed; every other
/// line must be one JSON object.
pub fn load_jsonl(path: &Path, format: &JsonlFormat, policy: EmptyPolicy) -> Result<Loaded> {
    let text = read_text(path)?;
    let mut loaded = Loaded::default();
    for (at, object) in json_lines(path, &text) {
        let object = object?;
        let item = format.parse(&Record {
            object: &object,
            at: &at,
        })?;
        loaded.accept(item, at, policy)?;
    }
    Ok(loaded)
}

/// Reads the first JSON object of a JSONL file (for [`JsonlFormat::sniff`]).
pub fn first_record(path: &Path) -> Result<Option<Map<String, Value>>> {
    let text = read_text(path)?;
    json_lines(path, &text)
        .next()
        .map(|(_, object)| object)
        .transpose()
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The non-blank lines of `text` parsed as JSON objects, with their locations.
fn json_lines<'a>(
    path: &'a Path,
    text: &'a str,
) -> impl Iterator<Item = (Location, Result<Map<String, Value>>)> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(move |(i, line)| {
            let at = Location::line(path, i + 1);
            let parsed = parse_object(line, &at);
            (at, parsed)
        })
}

fn parse_object(line: &str, at: &Location) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(DataError::FieldType {
            at: at.clone(),
            field: "<line>".into(),
            expected: "a JSON object",
        }),
        Err(source) => Err(DataError::Json {
            at: at.clone(),
            source,
        }),
    }
}

fn parse_webquestions(record: &Record<'_>) -> Result<Item> {
    let uuid = record.string("uuid")?;
    let answers = record.string_list("answers")?;
    let paraphrases = if record.has("paraphrases") {
        record.string_list("paraphrases")?
    } else {
        vec![record.string("question")?]
    };
    let sources = webquestions_sources(paraphrases.len());
    let fields = record.rest(&["uuid", "answers", "paraphrases"]);
    Ok(Item {
        uuid,
        answers,
        paraphrases,
        meta: ItemMeta { sources, fields },
    })
}

/// Index 0 is the dataset's question; the rest were generated by a model.
fn webquestions_sources(count: usize) -> Vec<ParaphraseSource> {
    (0..count)
        .map(|i| {
            if i == 0 {
                ParaphraseSource::Original
            } else {
                ParaphraseSource::Generated
            }
        })
        .collect()
}

fn parse_generic(record: &Record<'_>, fields: &JsonlFields) -> Result<Item> {
    let uuid = record.string(&fields.uuid)?;
    let answers = record.one_or_many_strings(&fields.answers)?;
    let mut paraphrases = Vec::new();
    let mut sources = Vec::new();
    for field in &fields.paraphrases {
        let texts = record.one_or_many_strings(&field.name)?;
        sources.extend(std::iter::repeat_n(field.source, texts.len()));
        paraphrases.extend(texts);
    }
    let mut used: Vec<&str> = vec![&fields.uuid, &fields.answers];
    used.extend(fields.paraphrases.iter().map(|f| f.name.as_str()));
    let rest = record.rest(&used);
    Ok(Item {
        uuid,
        answers,
        paraphrases,
        meta: ItemMeta {
            sources,
            fields: rest,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Missing;
    use std::io::Write;

    fn file_with(lines: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(lines.as_bytes()).unwrap();
        file
    }

    #[test]
    fn webquestions_without_paraphrases_uses_the_question() {
        let f = file_with(r#"{"uuid":"u1","qid":"q","question":"who?","answers":["a","b"]}"#);
        let loaded = load_webquestions(f.path(), EmptyPolicy::Error).unwrap();
        let item = &loaded.items[0];
        assert_eq!(item.paraphrases, vec!["who?"]);
        assert_eq!(item.meta.sources, vec![ParaphraseSource::Original]);
        assert_eq!(item.meta.fields["qid"], "q");
        assert_eq!(item.answers, vec!["a", "b"]);
    }

    #[test]
    fn webquestions_with_paraphrases_marks_generated_ones() {
        let f = file_with(
            "\n{\"uuid\":\"u\",\"question\":\"q0\",\"answers\":[\"a\"],\"paraphrases\":[\"q0\",\"q1\"]}\n\n",
        );
        let item = &load_webquestions(f.path(), EmptyPolicy::Error)
            .unwrap()
            .items[0];
        assert_eq!(item.paraphrases, vec!["q0", "q1"]);
        assert_eq!(item.indices_from(ParaphraseSource::Generated), vec![1]);
    }

    #[test]
    fn myriadlama_keeps_manual_and_auto_apart() {
        let f = file_with(
            r#"{"uuid":"m","answers":["x"],"manual_paraphrases":["m0","m1"],"auto_paraphrases":["a0"]}"#,
        );
        let item = &load_myriadlama(f.path(), EmptyPolicy::Error).unwrap().items[0];
        assert_eq!(item.paraphrases, vec!["m0", "m1", "a0"]);
        assert_eq!(item.indices_from(ParaphraseSource::Manual), vec![0, 1]);
        assert_eq!(item.indices_from(ParaphraseSource::Auto), vec![2]);
    }

    #[test]
    fn generic_reads_caller_named_fields_and_keeps_the_rest() {
        let f = file_with(r#"{"id":"g","gold":"yes","p":["a","b"],"extra":1}"#);
        let fields = JsonlFields::new("id", "gold").with_paraphrases("p", ParaphraseSource::Auto);
        let item = &load_generic(f.path(), &fields, EmptyPolicy::Error)
            .unwrap()
            .items[0];
        assert_eq!(item.uuid, "g");
        assert_eq!(item.answers, vec!["yes"]);
        assert_eq!(item.meta.fields.len(), 1);
        assert_eq!(item.meta.fields["extra"], 1);
    }

    #[test]
    fn bad_json_names_file_and_line() {
        let f = file_with("{\"uuid\":\"a\",\"question\":\"q\",\"answers\":[\"x\"]}\n{oops\n");
        let err = load_webquestions(f.path(), EmptyPolicy::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:2: invalid JSON", f.path().display())),
            "{err}"
        );
    }

    #[test]
    fn missing_field_names_file_line_and_field() {
        let f = file_with("{\"uuid\":\"a\",\"answers\":[\"x\"]}\n");
        let err = load_webquestions(f.path(), EmptyPolicy::Error)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("{}:1: missing field `question`", f.path().display())
        );
    }

    #[test]
    fn a_line_that_is_not_an_object_is_rejected() {
        let f = file_with("[1,2]\n");
        let err = load_myriadlama(f.path(), EmptyPolicy::Error)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("must be a JSON object"), "{err}");
    }

    #[test]
    fn empty_items_follow_the_policy() {
        let f = file_with(concat!(
            r#"{"uuid":"a","answers":[],"manual_paraphrases":["m"],"auto_paraphrases":[]}"#,
            "\n",
            r#"{"uuid":"b","answers":["x"],"manual_paraphrases":[],"auto_paraphrases":[]}"#,
            "\n",
            r#"{"uuid":"c","answers":["x"],"manual_paraphrases":["m"],"auto_paraphrases":[]}"#,
        ));
        let err = load_myriadlama(f.path(), EmptyPolicy::Error).unwrap_err();
        assert!(matches!(
            err,
            DataError::EmptyItem {
                missing: Missing::Answers,
                ..
            }
        ));
        let loaded = load_myriadlama(f.path(), EmptyPolicy::Skip).unwrap();
        assert_eq!(loaded.items.len(), 1);
        let skipped: Vec<_> = loaded
            .skipped
            .iter()
            .map(|s| (s.uuid.as_str(), s.missing))
            .collect();
        assert_eq!(
            skipped,
            vec![("a", Missing::Answers), ("b", Missing::Paraphrases)]
        );
    }

    #[test]
    fn sniff_recognises_the_three_layouts() {
        let sniff = |v: Value| JsonlFormat::sniff(v.as_object().unwrap());
        assert_eq!(
            sniff(serde_json::json!({"manual_paraphrases": []})),
            JsonlFormat::MyriadLama
        );
        assert_eq!(
            sniff(serde_json::json!({"question": "q"})),
            JsonlFormat::WebQuestions
        );
        assert_eq!(
            sniff(serde_json::json!({"paraphrases": []})),
            JsonlFormat::Generic(JsonlFields::default())
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let err =
            load_webquestions(Path::new("/no/such/file.jsonl"), EmptyPolicy::Error).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /no/such/file.jsonl"),
            "{err}"
        );
    }
}
