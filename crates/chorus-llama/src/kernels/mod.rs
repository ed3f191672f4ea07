//! The kernel layer: the few operations a Llama forward pass is made of,
//! implemented once per kind of hardware and chosen when the model is built.
//!
//! [`crate::Llama`] is written once, over [`Kernels`]; an implementation decides
//! how activations, weights and keys/values are stored and how each operation
//! runs:
//!
//! | implementation | where | what it is for |
//! |---|---|---|
//! | [`host::HostKernels`] ([`crate::Cpu`]) | CPU, f32 | the fast CPU path: weights packed into column panels at load and multiplied by our AVX2 register tiles; attention, norms and RoPE spread over every core (rayon) |
//! | [`reference::BurnKernels`] | any Burn backend | the reference the others are tested against: plain Burn tensor maths, one sequence at a time |
//! | `cuda::CudaKernels` (feature `cuda`) | one NVIDIA GPU | cuBLAS GEMMs and our own CUDA kernels on one stream |
//!
//! Masks reach the kernels as descriptions ([`PassPlan`]: per query, visible key
//! ranges and an optional bias on one key range), never as dense matrices: each
//! implementation materialises what it needs.
//!
//! Every sequence of a pass may first see a *shared context*: keys and values
//! encoded once ([`crate::SharedContext`]) and attended by any number of rows
//! without being copied. A row's key space is `[0, shared)` for the shared keys,
//! then its own keys.

use crate::LlamaError;
use crate::select::{Picked, Selection};

pub mod host;
// Only the CUDA kernels read packed plans; the packing is tested in every build.
/// The log-sum-exp merge the CUDA attention uses, as host maths under test.
pub mod merge;
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) mod packed;
pub mod plan;
pub mod reference;

#[cfg(feature = "cuda")]
pub mod cuda;

pub use plan::{PassPlan, RowPass, TokenBias};

/// Head geometry of an attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Heads {
    /// Query heads.
    pub query: usize,
    /// Key/value heads (grouped-query attention: `query` is a multiple).
    pub key_value: usize,
    /// Width of one head.
    pub dim: usize,
}

impl Heads {
    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.query / self.key_value.max(1)
    }

    /// Width of all query heads together.
    pub fn q_width(&self) -> usize {
        self.query * self.dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_width(&self) -> usize {
        self.key_value * self.dim
    }

    /// Width of the fused q/k/v projection's output.
    pub fn qkv_width(&self) -> usize {
        self.q_width() + 2 * self.kv_width()
    }
}

/// Geometry of a key/value store: per layer, `slots` sequences of up to
/// `capacity` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvShape {
    /// Decoder layers.
    pub layers: usize,
    /// Sequences (cache rows).
    pub slots: usize,
    /// Tokens each sequence can hold before the store must grow.
    pub capacity: usize,
    /// Head geometry.
    pub heads: Heads,
}

/// What a weight matrix is used for, so that kernels can lay it out for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixUse {
    /// A linear layer `[in, out]`, used as `x · W`.
    Linear,
    /// A linear layer `[out, in]`, as Hugging Face stores it, used as `x · Wᵀ`
    /// (only for kernels whose [`Kernels::takes_outputs_major`] is true).
    LinearOutputsMajor,
    /// A `[vocab, hidden]` table: rows gathered by token (embedding) and used
    /// as `x · tableᵀ` (LM head).
    Table,
}

/// The operations of a Llama forward pass on one kind of hardware.
///
/// Activations are row-major `[tokens, width]` matrices in the implementation's
/// memory and float type; weights are `[in, out]` matrices (`x · W`) except the
/// embedding table, `[vocab, hidden]`, which is also the (tied) LM head. Every
/// operation may fail (a device error); shapes are the model's business and are
/// checked before a pass starts.
pub trait Kernels: Sized + Send + Sync + 'static {
    /// What the kernels run on (`()` for the CPU, a Burn device, a CUDA ordinal).
    type Device: Clone + Default + std::fmt::Debug + Send + Sync;
    /// A `[rows, cols]` activation matrix.
    type Act: Send + Sync;
    /// A weight matrix.
    type Matrix: Send + Sync + std::fmt::Debug;
    /// A weight vector (norm scale, bias).
    type Vector: Send + Sync + std::fmt::Debug;
    /// Keys and values of every layer for a set of sequences.
    type Kv: Send + Sync;
    /// A pass's plan in the form the kernels read it (e.g. uploaded once per pass).
    type Pass: Send + Sync;

    /// Kernels on `device`.
    fn new(device: &Self::Device) -> Result<Self, LlamaError>;

    /// A short name for logs and benchmark tables, e.g. `cpu f32`.
    fn name(&self) -> String;

    /// Name of the float type weights and activations are stored in.
    fn dtype(&self) -> &'static str;

    /// A weight matrix from row-major f32 values, laid out for its use.
    fn matrix(
        &self,
        values: Vec<f32>,
        rows: usize,
        cols: usize,
        usage: MatrixUse,
    ) -> Result<Self::Matrix, LlamaError>;

    /// [`Kernels::matrix`] of `parts` stacked one after another (fused q/k/v
    /// or gate/up parts, `[out_i, in]` each, with `usage`
    /// [`MatrixUse::LinearOutputsMajor`]); `rows` is the parts' total. The
    /// default copies them into one buffer first; kernels that upload can
    /// stream the parts instead.
    fn stacked_matrix(
        &self,
        parts: &[&[f32]],
        rows: usize,
        cols: usize,
        usage: MatrixUse,
    ) -> Result<Self::Matrix, LlamaError> {
        self.matrix(crate::parallel::concat(parts), rows, cols, usage)
    }

    /// Whether linear weights are handed over as Hugging Face stores them
    /// ([`MatrixUse::LinearOutputsMajor`]), sparing the load a transpose: for
    /// kernels whose products read either layout (cuBLAS). Default: no.
    fn takes_outputs_major(&self) -> bool {
        false
    }

    /// A weight vector from f32 values.
    fn vector(&self, values: Vec<f32>) -> Result<Self::Vector, LlamaError>;

    /// Readies what the forward passes of a model with `heads` need beside
    /// its weights (e.g. compiles its attention kernels), so that the first
    /// pass does not wait for it. Called once while the weights load, on
    /// another thread. Nothing by default.
    fn prepare_model(&self, heads: Heads) -> Result<(), LlamaError> {
        let _ = heads;
        Ok(())
    }

    /// Waits until every queued operation has finished (no-op on the CPU).
    fn sync(&self) -> Result<(), LlamaError> {
        Ok(())
    }

    /// Free device memory in bytes, where the kernels' memory is what limits
    /// a batch (a GPU); `None` otherwise (the default).
    fn free_memory(&self) -> Result<Option<u64>, LlamaError> {
        Ok(None)
    }

    /// An empty store of this shape (contents unspecified until written).
    fn new_kv(&self, shape: KvShape) -> Result<Self::Kv, LlamaError>;

    /// An independent copy of a store.
    fn copy_kv(&self, kv: &Self::Kv, shape: KvShape) -> Result<Self::Kv, LlamaError>;

    /// The store with each slot's first `keep` tokens moved into a store of
    /// `to.capacity` tokens per slot, slots taken in the order of `slots`
    /// (repeats allowed): growth and row selection in one operation.
    fn remap_kv(
        &self,
        kv: &Self::Kv,
        from: KvShape,
        to: KvShape,
        slots: &[usize],
        keep: usize,
    ) -> Result<Self::Kv, LlamaError>;

    /// The plan of one pass, in the form the other operations read.
    fn prepare(&self, plan: PassPlan) -> Result<Self::Pass, LlamaError>;

    /// Rows of `table` (`[vocab, hidden]`) for the pass's tokens.
    fn embed(&self, table: &Self::Matrix, pass: &Self::Pass) -> Result<Self::Act, LlamaError>;

    /// Root-mean-square normalisation of each row, scaled by `weight`, in f32.
    fn rms_norm(
        &self,
        x: &Self::Act,
        weight: &Self::Vector,
        eps: f32,
    ) -> Result<Self::Act, LlamaError>;

    /// `x · weight (+ bias)`.
    fn linear(
        &self,
        x: &Self::Act,
        weight: &Self::Matrix,
        bias: Option<&Self::Vector>,
    ) -> Result<Self::Act, LlamaError>;

    /// `residual += x · weight`.
    fn linear_add(
        &self,
        x: &Self::Act,
        weight: &Self::Matrix,
        residual: &mut Self::Act,
    ) -> Result<(), LlamaError>;

    /// SwiGLU: `[rows, 2·I]` (gate columns, then up columns) to `silu(gate) · up`.
    fn swiglu(&self, gate_up: &Self::Act) -> Result<Self::Act, LlamaError>;

    /// Self-attention of layer `layer` from the fused q/k/v projection
    /// (`[tokens, heads.qkv_width()]`): rotary embeddings on q and k, the new keys
    /// and values written into `kv`, then every query attends to the keys its
    /// plan makes visible (the shared context's first, from `shared`). Returns
    /// `[tokens, heads.q_width()]`.
    fn attention(
        &self,
        qkv: &Self::Act,
        pass: &Self::Pass,
        layer: usize,
        kv: &mut Self::Kv,
        shared: Option<&Self::Kv>,
    ) -> Result<Self::Act, LlamaError>;

    /// The rows of `x` the pass wants logits for, in output order.
    fn logit_rows(&self, x: &Self::Act, pass: &Self::Pass) -> Result<Self::Act, LlamaError>;

    /// `x · tableᵀ` for `table: [vocab, hidden]`, in f32.
    fn lm_head(&self, x: &Self::Act, table: &Self::Matrix) -> Result<Self::Act, LlamaError>;

    /// The values of `x`, row-major, as f32 on the host.
    fn to_host(&self, x: &Self::Act) -> Result<Vec<f32>, LlamaError>;

    /// Rows and columns of `x`.
    fn dims(&self, x: &Self::Act) -> [usize; 2];

    /// One next token per selection from f32 logits `[rows, vocab]`. The default
    /// reads the logits back and selects on the host; a device implementation
    /// selects where the logits are and copies back only the choices.
    fn select(
        &self,
        logits: &Self::Act,
        selections: &[Selection],
    ) -> Result<Vec<Picked>, LlamaError> {
        let [rows, vocab] = self.dims(logits);
        let values = self.to_host(logits)?;
        crate::select::select_on_host(&values, rows, vocab, selections)
    }
}
