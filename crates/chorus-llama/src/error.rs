//! Errors of chorus-llama. Every variant names the file and/or tensor at fault.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The checkpoint file.
        path: PathBuf,
        /// Hugging Face name of the tensor.
        tensor: String,
    },
    /// A tensor's shape disagrees with the config.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, config expects {expected:?}")]
    ShapeMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// Hugging Face name of the tensor.
        tensor: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape implied by the config.
        expected: Vec<usize>,
    },
    /// A malformed checkpoint (bad header, truncated data, unknown type, ...).
    #[error("{path}: {message}")]
    Format {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong, naming the tensor or metadata key where known.
        message: String,
    },
    /// Bad arguments to a forward pass (shapes, positions, mask size, ...).
    #[error("invalid input: {0}")]
    Input(String),
    /// A weight source handed out a tensor whose shape disagrees with the config
    /// (the source has no file to name, e.g. generated weights).
    #[error("weight `{tensor}` has shape {found:?}, config expects {expected:?}")]
    WeightShape {
        /// Hugging Face name of the tensor.
        tensor: String,
        /// Shape handed out by the source.
        found: Vec<usize>,
        /// Shape implied by the config.
        expected: Vec<usize>,
    },
    /// Hyper-parameters the model cannot run with (e.g. heads not dividing width).
    #[error("invalid config: {0}")]
    Config(String),
    /// A tokenizer could not be built or failed on an input.
    #[error("tokenizer {origin}: {message}")]
    Tokenizer {
        /// Where the tokenizer came from (a file path, or `GGUF metadata of <file>`).
        origin: String,
        /// What went wrong.
        message: String,
    },
}
