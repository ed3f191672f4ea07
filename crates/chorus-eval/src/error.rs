//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in chorus-eval.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A row of the embedded lemma table is malformed.
    #[error("{file}, line {line}: {message}")]
    Table {
        /// The table file.
        file: &'static str,
        /// 1-based line number (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The embedded tokenizer data is not valid JSON of the expected shape.
    #[error("{file}: {source}")]
    TokenizerData {
        /// The data file.
        file: &'static str,
        /// The JSON error (with line and column).
        source: serde_json::Error,
    },
    /// A tokenizer special case whose pieces do not spell the chunk.
    #[error("{file}: special case {chunk:?}: pieces must be non-empty and spell the chunk")]
    SpecialCase {
        /// The data file.
        file: &'static str,
        /// The special-case chunk.
        chunk: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A Feather (Arrow IPC) result file could not be read.
    #[error("{path}: Arrow IPC: {source}")]
    Arrow {
        /// The result file.
        path: PathBuf,
        /// The Arrow error.
        source: arrow_schema::ArrowError,
    },
    /// A CSV result file could not be read.
    #[error("{path}: CSV: {source}")]
    Csv {
        /// The result file.
        path: PathBuf,
        /// The CSV error (with its record position).
        source: csv::Error,
    },
    /// A result file lacks a column the report needs.
    #[error("{path}: missing column `{column}`")]
    MissingColumn {
        /// The result file.
        path: PathBuf,
        /// The column name.
        column: String,
    },
    /// A result file's column has a type the report cannot read.
    #[error("{path}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The result file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// What the report reads there (e.g. "lists of strings").
        expected: String,
        /// The Arrow type found.
        found: String,
    },
    /// A result file has no stored lemmas and the report was asked to use
    /// stored lemmas only ([`crate::LemmaSource::Stored`]).
    #[error(
        "{path}: no stored lemmas (column `{column}` is missing): generate with --lemmaize, \
         or let the report lemmatise prediction and answers (--lemmaize-missing)"
    )]
    MissingLemmas {
        /// The result file.
        path: PathBuf,
        /// The missing lemma column (`predict_lemma` or `answer_lemmas`).
        column: String,
    },
    /// No result file was found in the report's inputs.
    #[error("no result files (.feather, or .csv without a .feather twin) in {inputs}")]
    NoResultFiles {
        /// The inputs, comma-separated.
        inputs: String,
    },
    /// A report format name that does not exist.
    #[error("unknown report format `{name}` (expected md, csv or json)")]
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// A column or cell does not hold what the report expects.
    #[error("{path}, row {row}, column `{column}`: {message}")]
    BadCell {
        /// The result file.
        path: PathBuf,
        /// 0-based data row.
        row: usize,
        /// The column name.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A paraphrase set (dataset) could not be loaded.
    #[error("paraphrase set `{dataset}`: {source}")]
    Dataset {
        /// The dataset as given.
        dataset: String,
        /// chorus-data's error.
        source: Box<chorus_data::DataError>,
    },
    /// The plot could not be encoded or written.
    #[error("{path}: PNG: {source}")]
    Image {
        /// The PNG file.
        path: PathBuf,
        /// The image error.
        source: image::ImageError,
    },
}
