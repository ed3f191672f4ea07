//! Key/value cache: per layer, the rotated keys and the values of every token
//! encoded so far, `[batch, kv_heads, len, head_dim]`.
//!
//! Appending concatenates along the sequence axis. Decode attention reads the whole
//! cache every step anyway, so the copy made by `cat` is of the same order as the
//! attention itself and tiny next to the weights streamed per step; it keeps the
//! cache a plain immutable value, which makes `fork` and row selection cheap clones.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::LlamaError;

/// Keys and values of one layer.
#[derive(Debug, Clone)]
struct LayerKv<B: Backend> {
    keys: Tensor<B, 4>,
    values: Tensor<B, 4>,
}

/// The KV cache of a batch of sequences, all of the same length.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    batch: usize,
    len: usize,
    layers: Vec<Option<LayerKv<B>>>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for `layers` decoder layers and `batch` rows.
    pub fn new(layers: usize, batch: usize) -> Self {
        Self {
            batch,
            len: 0,
            layers: vec![None; layers],
        }
    }

    /// Number of cached tokens per row.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Keeps only the first `len` tokens (e.g. to drop a speculative suffix).
    pub fn truncate(&mut self, len: usize) -> Result<(), LlamaError> {
        if len > self.len {
            return Err(LlamaError::Input(format!(
                "cannot truncate a KV cache of {} tokens to {len}",
                self.len
            )));
        }
        if len == 0 {
            self.layers.iter_mut().for_each(|layer| *layer = None);
        } else {
            for layer in self.layers.iter_mut().flatten() {
                layer.keys = layer.keys.clone().narrow(2, 0, len);
                layer.values = layer.values.clone().narrow(2, 0, len);
            }
        }
        self.len = len;
        Ok(())
    }

    /// An independent copy sharing storage until either side appends.
    pub fn fork(&self) -> Self {
        self.clone()
    }

    /// A cache holding the given rows, in that order (rows may repeat).
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self, LlamaError> {
        if rows.is_empty() {
            return Err(LlamaError::Input(
                "select_rows needs at least one row".into(),
            ));
        }
        if let Some(bad) = rows.iter().find(|&&r| r >= self.batch) {
            return Err(LlamaError::Input(format!(
                "select_rows: row {bad} out of range for a batch of {}",
                self.batch
            )));
        }
        let map = |tensor: &Tensor<B, 4>| {
            let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            let ids = Tensor::<B, 1, Int>::from_data(
                TensorData::new(ids, [rows.len()]),
                &tensor.device(),
            );
            tensor.clone().select(0, ids)
        };
        Ok(self.map_layers(rows.len(), map))
    }

    /// Broadcasts a batch-1 cache (e.g. a shared prompt prefix) to `n` rows.
    pub fn repeat_rows(&self, n: usize) -> Result<Self, LlamaError> {
        if self.batch != 1 || n == 0 {
            return Err(LlamaError::Input(format!(
                "repeat_rows needs a batch-1 cache and n >= 1, got batch {} and n {n}",
                self.batch
            )));
        }
        Ok(self.map_layers(n, |tensor| tensor.clone().repeat_dim(0, n)))
    }

    /// The cached keys and values of `layer`, if any token is cached.
    pub(crate) fn layer(&self, layer: usize) -> Option<(Tensor<B, 4>, Tensor<B, 4>)> {
        self.layers[layer]
            .as_ref()
            .map(|kv| (kv.keys.clone(), kv.values.clone()))
    }

    /// Stores the full keys/values of `layer` (old cache plus new tokens).
    pub(crate) fn store(&mut self, layer: usize, keys: Tensor<B, 4>, values: Tensor<B, 4>) {
        self.layers[layer] = Some(LayerKv { keys, values });
    }

    /// Records that `added` tokens were appended to every layer.
    pub(crate) fn advance(&mut self, added: usize) {
        self.len += added;
    }

    /// Number of layers this cache was made for.
    pub(crate) fn num_layers(&self) -> usize {
        self.layers.len()
    }

    fn map_layers(&self, batch: usize, f: impl Fn(&Tensor<B, 4>) -> Tensor<B, 4>) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                layer.as_ref().map(|kv| LayerKv {
                    keys: f(&kv.keys),
                    values: f(&kv.values),
                })
            })
            .collect();
        Self {
            batch,
            len: self.len,
            layers,
        }
    }
}
