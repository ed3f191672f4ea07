//! The error type of this crate: every variant names the file, and where it
//! applies the column, row or line, so that a user can find the bad spot.

use std::path::PathBuf;

use crate::columns::RowKey;

/// Everything that can go wrong while writing, resuming, reading or merging
/// result files.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// An operating-system call on a file or directory failed.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("create", "read", "rename over", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Arrow could not encode or decode the Feather (Arrow IPC) file.
    #[error("{path}: Arrow IPC error: {source}")]
    Arrow {
        /// The Feather file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The CSV writer failed.
    #[error("{path}: CSV error: {source}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: csv::Error,
    },
    /// A column the file's method needs is absent.
    #[error("{path}: column `{column}` is missing")]
    MissingColumn {
        /// The Feather file.
        path: PathBuf,
        /// The column name.
        column: &'static str,
    },
    /// A file has a column its method does not have.
    #[error("{path}: unexpected column `{column}` (a file of this method has {columns})")]
    UnexpectedColumn {
        /// The Feather file.
        path: PathBuf,
        /// The unexpected column's name.
        column: String,
        /// The columns the file should have.
        columns: String,
    },
    /// A column has another Arrow type than this crate writes.
    #[error("{path}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The Feather file.
        path: PathBuf,
        /// The column name.
        column: &'static str,
        /// The type this crate writes.
        expected: String,
        /// The type found in the file.
        found: String,
    },
    /// A cell holds a value this crate cannot accept (a null, an unknown stop
    /// reason, ...).
    #[error("{path}: column `{column}`, row {row}: {message}")]
    BadValue {
        /// The Feather file.
        path: PathBuf,
        /// The column name.
        column: &'static str,
        /// The 0-based row in the file.
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// A schema metadata key is absent.
    #[error("{path}: schema metadata key `{key}` is missing")]
    MissingMetadata {
        /// The Feather file.
        path: PathBuf,
        /// The metadata key.
        key: &'static str,
    },
    /// A schema metadata value cannot be parsed.
    #[error("{path}: schema metadata key `{key}`: {message}")]
    BadMetadata {
        /// The Feather file.
        path: PathBuf,
        /// The metadata key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A row handed to the writer does not fit the file (wrong method family,
    /// lemma columns on some rows only, non-finite confidence, ...).
    #[error("{path}: {key}: column `{column}`: {message}")]
    InvalidRow {
        /// The output file the row was meant for.
        path: PathBuf,
        /// The row's identity.
        key: RowKey,
        /// The offending column.
        column: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The same row (item, and paraphrase for `per_prompt`) was given twice.
    #[error("{path}: {key} is already finished; a row is written once")]
    DuplicateRow {
        /// The output file.
        path: PathBuf,
        /// The repeated row's identity.
        key: RowKey,
    },
    /// A line of a checkpoint file is not a valid row (and is not a torn last
    /// line, which is tolerated).
    #[error("{path}:{line}: bad checkpoint line: {message}")]
    CheckpointLine {
        /// The checkpoint file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint was written by a run with other parameters.
    #[error(
        "{path}: the checkpoint belongs to another run ({field} differs: checkpoint has {found}, this run has {expected}); delete it or pass --force"
    )]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The run parameter that differs.
        field: &'static str,
        /// This run's value.
        expected: String,
        /// The checkpoint's value.
        found: String,
    },
    /// A checkpoint exists but neither `resume` nor `force` was asked for.
    #[error(
        "{path}: a checkpoint of an unfinished run exists; pass --resume to continue it or --force to start over"
    )]
    CheckpointExists {
        /// The checkpoint file.
        path: PathBuf,
    },
    /// Another process holds the output's lock: two writers would corrupt the
    /// checkpoint.
    #[error(
        "{output}: another process is writing this output (lock {lock} is held); wait for it to finish or choose another --output"
    )]
    Locked {
        /// The Feather output.
        output: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A path the writer must create as a file (the output, its CSV twin,
    /// checkpoint or lock) is a directory: refused before any work, since
    /// the final rename over it would fail only once the run is done.
    #[error("{path}: is a directory; --output must name a file (the .feather result)")]
    NotAFile {
        /// The path that is a directory.
        path: PathBuf,
    },
    /// `merge` was called without inputs.
    #[error("merge needs at least one input file")]
    NoMergeInputs,
    /// Two merge inputs come from different runs or hold different columns.
    #[error("cannot merge {other} into {first}: {what} differs ({first_value} vs {other_value})")]
    MergeMismatch {
        /// The first input.
        first: PathBuf,
        /// The input that differs from it.
        other: PathBuf,
        /// What differs (a metadata key or "columns").
        what: &'static str,
        /// The first input's value.
        first_value: String,
        /// The other input's value.
        other_value: String,
    },
    /// Two merge inputs hold the same row.
    #[error("cannot merge: {key} is in both {first} and {other}")]
    MergeOverlap {
        /// The input that holds the row first.
        first: PathBuf,
        /// The other input holding it.
        other: PathBuf,
        /// The row's identity.
        key: RowKey,
    },
    /// The merge inputs' shard metadata does not describe a complete set of
    /// shards (a shard twice, one missing, or different shard counts).
    #[error("cannot merge: {message}")]
    MergeShards {
        /// What is wrong with the shard set.
        message: String,
    },
}

/// This crate's result type.
pub type Result<T, E = ResultsError> = std::result::Result<T, E>;

/// Wraps an I/O error with the path and the action that failed.
pub(crate) fn io_error(
    path: &std::path::Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> ResultsError {
    let path = path.to_path_buf();
    move |source| ResultsError::Io {
        path,
        action,
        source,
    }
}
