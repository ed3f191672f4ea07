//! The input of a forward pass, its validation, and the additive attention mask
//! built from it.

use chorus_mask::{DenseBias, DenseMask};

use crate::LlamaError;

/// Which keys each new query may attend to.
#[derive(Debug, Clone)]
pub enum AttentionMask {
    /// Plain causal attention over the cached tokens followed by the new ones.
    Causal,
    /// One mask per batch row: rows are the new queries, columns are the cached
    /// keys followed by the new keys (`cache_len + len`).
    Dense(Vec<DenseMask>),
}

/// Everything a forward pass needs besides the weights and the cache.
#[derive(Debug, Clone)]
pub struct ForwardInput {
    /// Token ids, `[batch][len]`; every row has the same length.
    pub tokens: Vec<Vec<u32>>,
    /// Position id of every token, `[batch][len]` (RoPE angle), chosen freely by
    /// the caller: restarting per segment, continuing after a cache, ...
    pub positions: Vec<Vec<usize>>,
    /// Visibility of keys for the new queries.
    pub mask: AttentionMask,
    /// Optional additive score bias per batch row (`len × (cache_len + len)`),
    /// added to visible scores before the softmax.
    pub bias: Option<Vec<DenseBias>>,
    /// Query indices (into `0..len`) at which logits are wanted; the LM head is
    /// computed only there.
    pub logits_at: Vec<usize>,
}

impl ForwardInput {
    /// Causal input continuing a cache of `cache_len` tokens: positions
    /// `cache_len..cache_len + len` in every row, logits at the last token.
    pub fn causal(tokens: Vec<Vec<u32>>, cache_len: usize) -> Self {
        let len = tokens.first().map_or(0, Vec::len);
        let positions = tokens
            .iter()
            .map(|row| (cache_len..cache_len + row.len()).collect())
            .collect();
        Self {
            tokens,
            positions,
            mask: AttentionMask::Causal,
            bias: None,
            logits_at: len.checked_sub(1).into_iter().collect(),
        }
    }
}

/// Sizes of a validated forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PassShape {
    /// Batch rows.
    pub batch: usize,
    /// New tokens per row.
    pub len: usize,
    /// Tokens already cached per row.
    pub cache_len: usize,
}

impl PassShape {
    /// Keys visible to the pass: cached plus new.
    pub fn total(&self) -> usize {
        self.cache_len + self.len
    }
}

/// Limits the input is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputLimits {
    pub vocab_size: usize,
    pub max_positions: usize,
    pub cache_batch: usize,
    pub cache_len: usize,
}

impl ForwardInput {
    /// Checks every shape and range; the error names the first problem found.
    pub(crate) fn validate(&self, limits: InputLimits) -> Result<PassShape, LlamaError> {
        let shape = self.validate_tokens(limits)?;
        self.validate_positions(shape, limits.max_positions)?;
        self.validate_mask(shape)?;
        self.validate_bias(shape)?;
        if let Some(bad) = self.logits_at.iter().find(|&&i| i >= shape.len) {
            return Err(input(format!(
                "logits_at index {bad} is outside the {} new tokens",
                shape.len
            )));
        }
        Ok(shape)
    }

    fn validate_tokens(&self, limits: InputLimits) -> Result<PassShape, LlamaError> {
        let batch = self.tokens.len();
        if batch != limits.cache_batch {
            return Err(input(format!(
                "tokens has {batch} rows but the KV cache has {}",
                limits.cache_batch
            )));
        }
        let len = self.tokens.first().map_or(0, Vec::len);
        if len == 0 {
            return Err(input("tokens: row 0 is empty".into()));
        }
        for (row, ids) in self.tokens.iter().enumerate() {
            if ids.len() != len {
                return Err(input(format!(
                    "tokens: ragged batch, row {row} has {} tokens, row 0 has {len}",
                    ids.len()
                )));
            }
            if let Some((col, id)) = ids
                .iter()
                .enumerate()
                .find(|(_, id)| **id as usize >= limits.vocab_size)
            {
                return Err(input(format!(
                    "tokens[{row}][{col}] = {id} is not below the vocabulary size {}",
                    limits.vocab_size
                )));
            }
        }
        Ok(PassShape {
            batch,
            len,
            cache_len: limits.cache_len,
        })
    }

    fn validate_positions(&self, shape: PassShape, max_positions: usize) -> Result<(), LlamaError> {
        if self.positions.len() != shape.batch {
            return Err(input(format!(
                "positions has {} rows, tokens has {}",
                self.positions.len(),
                shape.batch
            )));
        }
        for (row, positions) in self.positions.iter().enumerate() {
            if positions.len() != shape.len {
                return Err(input(format!(
                    "positions[{row}] has {} entries, tokens[{row}] has {}",
                    positions.len(),
                    shape.len
                )));
            }
            if let Some((col, p)) = positions
                .iter()
                .enumerate()
                .find(|(_, p)| **p >= max_positions)
            {
                return Err(input(format!(
                    "positions[{row}][{col}] = {p} is not below max_position_embeddings {max_positions}"
                )));
            }
        }
        Ok(())
    }

    fn validate_mask(&self, shape: PassShape) -> Result<(), LlamaError> {
        let AttentionMask::Dense(masks) = &self.mask else {
            return Ok(());
        };
        check_rows("mask", masks.len(), shape.batch)?;
        for (row, mask) in masks.iter().enumerate() {
            check_matrix("mask", row, (mask.q_len(), mask.kv_len()), shape)?;
        }
        Ok(())
    }

    fn validate_bias(&self, shape: PassShape) -> Result<(), LlamaError> {
        let Some(biases) = &self.bias else {
            return Ok(());
        };
        check_rows("bias", biases.len(), shape.batch)?;
        for (row, bias) in biases.iter().enumerate() {
            check_matrix("bias", row, (bias.q_len(), bias.kv_len()), shape)?;
            if let Some(bad) = bias.as_slice().iter().find(|v| !v.is_finite()) {
                return Err(input(format!("bias[{row}] holds a non-finite value {bad}")));
            }
        }
        Ok(())
    }

    /// The additive f32 mask `[batch, len, cache_len + len]` (0 or the bias where
    /// visible, `f32::MIN` where hidden, as `transformers`' eager attention), or
    /// `None` when every key is visible and nothing is added.
    pub(crate) fn additive_mask(&self, shape: PassShape) -> Result<Option<Vec<f32>>, LlamaError> {
        let causal_single = matches!(self.mask, AttentionMask::Causal) && shape.len == 1;
        if causal_single && self.bias.is_none() {
            return Ok(None);
        }
        let total = shape.total();
        let mut values = Vec::with_capacity(shape.batch * shape.len * total);
        for row in 0..shape.batch {
            for query in 0..shape.len {
                let start = values.len();
                values.extend((0..total).map(|key| self.score_offset(shape, row, query, key)));
                if values[start..].iter().all(|&v| v == f32::MIN) {
                    return Err(input(format!(
                        "mask row {row}, query {query} hides every key; a query must see at least one"
                    )));
                }
            }
        }
        // Decode steps of flex/structured masks usually see every key: adding zeros
        // would only cost a pass over the scores.
        if values.iter().all(|&v| v == 0.0) {
            return Ok(None);
        }
        Ok(Some(values))
    }

    fn score_offset(&self, shape: PassShape, row: usize, query: usize, key: usize) -> f32 {
        let visible = match &self.mask {
            AttentionMask::Causal => key <= shape.cache_len + query,
            AttentionMask::Dense(masks) => masks[row].get(query, key),
        };
        if !visible {
            return f32::MIN;
        }
        self.bias.as_ref().map_or(0.0, |b| b[row].get(query, key))
    }
}

fn input(message: String) -> LlamaError {
    LlamaError::Input(message)
}

fn check_rows(what: &str, found: usize, batch: usize) -> Result<(), LlamaError> {
    if found == batch {
        Ok(())
    } else {
        Err(input(format!(
            "{what} has {found} rows, tokens has {batch}"
        )))
    }
}

fn check_matrix(
    what: &str,
    row: usize,
    (q_len, kv_len): (usize, usize),
    shape: PassShape,
) -> Result<(), LlamaError> {
    if q_len == shape.len && kv_len == shape.total() {
        Ok(())
    } else {
        Err(input(format!(
            "{what}[{row}] is {q_len}×{kv_len}, expected {}×{} ({} new tokens over {} cached + {} new keys)",
            shape.len,
            shape.total(),
            shape.len,
            shape.cache_len,
            shape.len
        )))
    }
}
