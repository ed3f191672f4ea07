//! The front ends' error type: every failure a user can cause is reported as
//! one of these, printed with its causes, and turned into a non-zero exit code.

use std::path::PathBuf;

/// Everything that can stop a `flex-generate` / `ensemble-generate` run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Flags clap could not parse, or `--help` / `--version` (clap prints
    /// them and picks the exit code).
    #[error("{0}")]
    Flags(#[from] clap::Error),
    /// A flag value that is invalid or does not fit the other flags.
    #[error("{0}")]
    Usage(String),
    /// `models.toml` could not be read or parsed.
    #[error("{path}: {message}")]
    ModelsToml {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--model` is neither an existing path nor a models.toml name.
    #[error("model `{name}` is not a file, a folder or a name in {known}")]
    UnknownModel {
        /// The value given.
        name: String,
        /// Where names were looked up, and which exist.
        known: String,
    },
    /// A models.toml entry points to a file that does not exist.
    #[error("model `{name}` resolves to {path}, which does not exist (run scripts/fetch-model?)")]
    MissingModelFile {
        /// The models.toml name.
        name: String,
        /// The resolved path.
        path: PathBuf,
    },
    /// A dataset file is missing.
    #[error("dataset file {path} does not exist")]
    MissingDataset {
        /// The path looked for.
        path: PathBuf,
    },
    /// Loading the dataset failed.
    #[error(transparent)]
    Data(#[from] chorus_data::DataError),
    /// Building a prompt context failed.
    #[error(transparent)]
    Prompt(#[from] chorus_prompt::PromptError),
    /// Loading the model failed.
    #[error(transparent)]
    Llama(#[from] chorus_llama::LlamaError),
    /// Decoding failed.
    #[error(transparent)]
    Ensemble(#[from] chorus_ensemble::EnsembleError),
    /// Writing or reading results failed.
    #[error(transparent)]
    Results(#[from] chorus_results::ResultsError),
    /// The lemmatiser could not be built, or `report` could not read or
    /// score a result file (the message names the file and the column).
    #[error(transparent)]
    Eval(#[from] chorus_eval::EvalError),
    /// The engine returned an answer the run cannot store.
    #[error("item {item_index}: {message}")]
    BadAnswer {
        /// The item's index in the dataset.
        item_index: usize,
        /// What is wrong.
        message: String,
    },
    /// A file operation of the front end failed.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `paraphrase` checkpoint that cannot be resumed (src/cli/rounds.rs).
    #[error("{path}: line {line}: {reason}; pass --force to start over")]
    RoundCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The 1-based line at fault.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A `paraphrase` checkpoint exists but neither --resume nor --force was
    /// asked for.
    #[error(
        "{path}: a checkpoint of an unfinished paraphrase run exists; pass --resume to continue it or --force to start over"
    )]
    RoundCheckpointExists {
        /// The checkpoint file.
        path: PathBuf,
    },
    /// The `--abort-after` / `CHORUS_TEST_ABORT_AFTER` test hook stopped the
    /// run on purpose.
    #[error("aborted after {items} checkpointed items (test hook); continue with --resume")]
    TestAbort {
        /// Items checkpointed before the abort.
        items: usize,
    },
    /// The same test hook of `paraphrase`, counted in rounds.
    #[error("aborted after {rounds} checkpointed rounds (test hook); continue with --resume")]
    TestAbortRounds {
        /// Rounds checkpointed before the abort.
        rounds: usize,
    },
}

impl CliError {
    /// The process exit code: 2 for usage errors (as clap uses), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Flags(error) => u8::try_from(error.exit_code()).unwrap_or(2),
            CliError::Usage(_) | CliError::UnknownModel { .. } => 2,
            _ => 1,
        }
    }
}

/// This module's result type.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
