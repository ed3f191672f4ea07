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
    #[error("{}tensor `{tensor}` has shape {found:?}, config expects {expected:?}", in_file(.path))]
    ShapeMismatch {
        /// The checkpoint file, when the tensor came from one (generated weights
        /// have none).
        path: Option<PathBuf>,
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
    /// Bad arguments to a forward pass or a cache operation.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// The device failed an operation (a CUDA driver, cuBLAS or compiler error).
    #[error("{device}: {operation} failed: {message}")]
    Device {
        /// The device, e.g. `cuda:0`.
        device: String,
        /// What was being done.
        operation: String,
        /// The device's error.
        message: String,
    },
    /// Hyper-parameters the model cannot run with (e.g. heads not dividing width).
    #[error("invalid config: {0}")]
    Config(String),
    /// A Hugging Face model id that the local hub cache does not hold (boxed:
    /// its message carries several paths, and every `Result` of the crate
    /// would otherwise grow by them).
    #[error(transparent)]
    Hub(Box<crate::hub::HubError>),
    /// A checkpoint of an architecture Chorus does not run.
    #[error("{path}: architecture `{architecture}` is not supported (supported: {supported})")]
    Architecture {
        /// The file that names it (`config.json`, a GGUF file).
        path: PathBuf,
        /// The architecture as the file names it.
        architecture: String,
        /// The names Chorus runs.
        supported: String,
    },
    /// A tokenizer could not be built or failed on an input.
    #[error("tokenizer {origin}: {message}")]
    Tokenizer {
        /// Where the tokenizer came from (a file path, or `GGUF metadata of <file>`).
        origin: String,
        /// What went wrong.
        message: String,
    },
}

impl From<crate::hub::HubError> for LlamaError {
    fn from(error: crate::hub::HubError) -> Self {
        Self::Hub(Box::new(error))
    }
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or_else(String::new, |p| format!("{}: ", p.display()))
}

/// What is wrong with the input of a forward pass or a cache operation; each
/// variant names the row (the index in [`crate::ForwardInput::rows`]) and the
/// field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// The pass has no rows.
    #[error("the pass has no rows")]
    NoRows,
    /// A row has no token.
    #[error("row {row}: no tokens")]
    EmptyRow {
        /// The row.
        row: usize,
    },
    /// A row names a cache slot the cache does not have.
    #[error("row {row}: slot {slot} is not below the cache's {slots} slots")]
    SlotOutOfRange {
        /// The row.
        row: usize,
        /// The slot it names.
        slot: usize,
        /// Slots in the cache.
        slots: usize,
    },
    /// Two rows of one pass continue the same slot.
    #[error("row {row}: slot {slot} is already fed by row {first}")]
    SlotTwice {
        /// The row.
        row: usize,
        /// The slot.
        slot: usize,
        /// The earlier row feeding it.
        first: usize,
    },
    /// A token id outside the vocabulary.
    #[error("row {row}: tokens[{index}] = {id} is not below the vocabulary size {vocab}")]
    TokenOutOfRange {
        /// The row.
        row: usize,
        /// Index in the row's tokens.
        index: usize,
        /// The id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// Positions and tokens of a row differ in length.
    #[error("row {row}: {found} positions for {expected} tokens")]
    PositionCount {
        /// The row.
        row: usize,
        /// Positions given.
        found: usize,
        /// Tokens in the row.
        expected: usize,
    },
    /// A position beyond the model's context.
    #[error(
        "row {row}: positions[{index}] = {position} is not below max_position_embeddings {max}"
    )]
    PositionOutOfRange {
        /// The row.
        row: usize,
        /// Index in the row's positions.
        index: usize,
        /// The position.
        position: usize,
        /// The model's limit.
        max: usize,
    },
    /// A mask whose size does not fit the row.
    #[error(
        "row {row}: mask is {found_queries}×{found_keys}, expected {queries}×{keys} \
         ({queries} new tokens over {shared} shared + {cached} cached + {queries} new keys)"
    )]
    MaskShape {
        /// The row.
        row: usize,
        /// Query rows of the mask.
        found_queries: usize,
        /// Key columns of the mask.
        found_keys: usize,
        /// New tokens of the row.
        queries: usize,
        /// Keys the row has in this pass.
        keys: usize,
        /// Shared-context keys among them.
        shared: usize,
        /// Cached own keys among them.
        cached: usize,
    },
    /// A mask whose first query row is not the row's first new token.
    #[error("row {row}: mask starts at query {found}, the row's first new token is key {expected}")]
    MaskStart {
        /// The row.
        row: usize,
        /// The mask's first query index.
        found: usize,
        /// The index of the row's first new token in its key space.
        expected: usize,
    },
    /// A new token that sees no key at all.
    #[error("row {row}: new token {query} sees no key; every query must see at least one")]
    BlindQuery {
        /// The row.
        row: usize,
        /// Index of the token among the row's new tokens.
        query: usize,
    },
    /// A bias with the wrong number of values.
    #[error("row {row}: bias has {found} values for {expected} new tokens")]
    BiasLength {
        /// The row.
        row: usize,
        /// Values given.
        found: usize,
        /// New tokens.
        expected: usize,
    },
    /// A bias key range past the row's keys.
    #[error("row {row}: bias keys {start}..{end} are not within the row's {keys} keys")]
    BiasRange {
        /// The row.
        row: usize,
        /// Start of the range.
        start: usize,
        /// End of the range.
        end: usize,
        /// Keys of the row in this pass.
        keys: usize,
    },
    /// A bias value that is NaN or infinite.
    #[error("row {row}: bias[{index}] = {value} is not finite")]
    NonFiniteBias {
        /// The row.
        row: usize,
        /// Index among the row's new tokens.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A logits index past the row's new tokens.
    #[error("row {row}: logits_at index {index} is outside its {len} new tokens")]
    LogitsIndex {
        /// The row.
        row: usize,
        /// The index.
        index: usize,
        /// New tokens of the row.
        len: usize,
    },
    /// A cache made for another number of layers.
    #[error("the KV cache has {found} layers, the model has {expected}")]
    CacheLayers {
        /// Layers of the cache.
        found: usize,
        /// Layers of the model.
        expected: usize,
    },
    /// A cache of another head geometry than the model's.
    #[error("the KV cache was made for another model (head geometry differs)")]
    CacheHeads,
    /// Truncation past the cached tokens.
    #[error("slot {slot}: cannot truncate {cached} cached tokens to {len}")]
    Truncate {
        /// The slot.
        slot: usize,
        /// Tokens cached.
        cached: usize,
        /// Length asked for.
        len: usize,
    },
    /// A slot selection that is empty or names a missing slot.
    #[error("select_slots: {reason}")]
    SlotSelection {
        /// What is wrong.
        reason: String,
    },
    /// A selection reading a row of logits that does not exist.
    #[error("a selection reads logits row {row}, the pass produced {rows}")]
    SelectionRow {
        /// The row read.
        row: usize,
        /// Rows of logits.
        rows: usize,
    },
    /// A selection over no rows or an empty vocabulary.
    #[error("a selection has no scores to choose from")]
    EmptySelection,
    /// A selection whose fused scores are all NaN (or empty): no token can be
    /// chosen. `selection` is its index in the list passed to `select`.
    #[error("selection {selection}: every score is NaN, no token can be chosen")]
    NothingToChoose {
        /// Index of the selection.
        selection: usize,
    },
    /// A shared context that does not fit the cache or the model.
    #[error("shared context: {reason}")]
    SharedContext {
        /// What is wrong.
        reason: String,
    },
}
