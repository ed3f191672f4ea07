//! The crate's error type and the location of a record inside a data file.

use std::fmt;
use std::path::PathBuf;

/// Where a record lives: a file plus a 1-based line number (JSONL) or a 0-based
/// row number (Arrow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file the record was read from.
    pub path: PathBuf,
    /// The record inside that file.
    pub record: Record,
}

/// A record's position inside its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// 1-based line of a text file (what editors show).
    Line(usize),
    /// 0-based row of a table (what `datasets` indexing uses).
    Row(usize),
}

impl Location {
    /// A line of a text file (1-based).
    pub fn line(path: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            path: path.into(),
            record: Record::Line(line),
        }
    }

    /// A row of a table (0-based).
    pub fn row(path: impl Into<PathBuf>, row: usize) -> Self {
        Self {
            path: path.into(),
            record: Record::Row(row),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Record::Line(line) => write!(f, "{}:{line}", self.path.display()),
            Record::Row(row) => write!(f, "{} row {row}", self.path.display()),
        }
    }
}

/// What an item lacks when it is rejected or skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The item has no paraphrase (not even the original question).
    Paraphrases,
    /// The item has no gold answer.
    Answers,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::Paraphrases => "no paraphrases",
            Missing::Answers => "no answers",
        })
    }
}

/// Everything that can go wrong while loading, selecting or sharding data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not valid JSON.
    #[error("{at}: invalid JSON: {source}")]
    Json {
        /// Where the bad line is.
        at: Location,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// A required field is absent.
    #[error("{at}: missing field `{field}`")]
    MissingField {
        /// Where the record is.
        at: Location,
        /// The field's name.
        field: String,
    },
    /// A field has the wrong type.
    #[error("{at}: field `{field}` must be {expected}")]
    FieldType {
        /// Where the record is.
        at: Location,
        /// The field's name.
        field: String,
        /// What the field should have been, in words.
        expected: &'static str,
    },
    /// An item without paraphrases or answers under [`crate::EmptyPolicy::Error`].
    #[error("{at}: item {uuid} has {missing}")]
    EmptyItem {
        /// Where the record is.
        at: Location,
        /// The item's uuid.
        uuid: String,
        /// What it lacks.
        missing: Missing,
    },
    /// An Arrow IPC file could not be decoded.
    #[error("{path}: invalid Arrow stream: {source}")]
    Arrow {
        /// The Arrow file.
        path: PathBuf,
        /// The decoder's complaint.
        source: arrow_schema::ArrowError,
    },
    /// An Arrow column of a type the loader cannot convert.
    #[error("{at}: column `{column}` has unsupported Arrow type {data_type}")]
    UnsupportedColumn {
        /// Where the row is.
        at: Location,
        /// The column's name.
        column: String,
        /// The column's Arrow type.
        data_type: String,
    },
    /// A `save_to_disk` folder is not laid out as `datasets` writes it.
    #[error("{path}: not a Hugging Face save_to_disk dataset: {reason}")]
    HfLayout {
        /// The folder or file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A paraphrase index does not exist for an item.
    #[error("item {uuid}: paraphrase index {index} out of range (it has {available})")]
    ParaphraseIndex {
        /// The item's uuid.
        uuid: String,
        /// The requested index.
        index: usize,
        /// How many paraphrases the item has.
        available: usize,
    },
    /// A command-line style specification (`--indexs`, `--shard`, a sampling tag)
    /// could not be parsed or is inconsistent.
    #[error("invalid {what} `{spec}`: {reason}")]
    Spec {
        /// Which option: "paraphrase indices", "shard", ...
        what: &'static str,
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `sample(population, k)` with `k` larger than the population.
    #[error("cannot sample {k} elements from a population of {n}")]
    SampleTooLarge {
        /// Population size.
        n: usize,
        /// Requested sample size.
        k: usize,
    },
}

/// The crate's result type.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
