//! A validated forward pass, flattened into arrays every kernel implementation
//! can read (and a device can upload once per pass): tokens with their RoPE
//! rows, per-token visible key ranges in compressed-row form, per-token biases.

use std::ops::Range;

use super::Heads;
use crate::input::RowInput;
use crate::rope::RopeTable;

/// One row of a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowPass {
    /// The cache slot the row continues.
    pub slot: usize,
    /// Shared-context keys at the start of its key space (0 without one).
    pub shared: usize,
    /// Own keys already cached in the slot.
    pub cached: usize,
    /// New tokens.
    pub len: usize,
    /// Index of its first new token among the pass's tokens.
    pub offset: usize,
}

impl RowPass {
    /// Keys of the row once this pass's tokens are written.
    pub fn keys(&self) -> usize {
        self.shared + self.cached + self.len
    }
}

/// An additive bias of one new token: `value` on keys `start..end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBias {
    /// Added to the scores of the keys in the range.
    pub value: f32,
    /// First key (row key space).
    pub start: u32,
    /// One past the last key.
    pub end: u32,
}

impl TokenBias {
    /// The bias of key `key`.
    pub fn at(&self, key: usize) -> f32 {
        if (self.start as usize..self.end as usize).contains(&key) {
            self.value
        } else {
            0.0
        }
    }
}

/// Everything about one forward pass except weights and keys/values.
#[derive(Debug, Clone, PartialEq)]
pub struct PassPlan {
    /// Head geometry of the model.
    pub heads: Heads,
    /// New tokens of every row, row after row.
    pub tokens: Vec<u32>,
    /// Position id of each token.
    pub positions: Vec<u32>,
    /// Row (index into `rows`) of each token.
    pub token_rows: Vec<u32>,
    /// RoPE `cos` of each token, `[tokens, head_dim / 2]`.
    pub cos: Vec<f32>,
    /// RoPE `sin` of each token, `[tokens, head_dim / 2]`.
    pub sin: Vec<f32>,
    /// The rows.
    pub rows: Vec<RowPass>,
    /// Token `t`'s visible key ranges are `ranges[range_starts[t]..range_starts[t + 1]]`.
    pub range_starts: Vec<u32>,
    /// Visible key ranges `[start, end)` in the token's row key space, sorted
    /// and disjoint per token.
    pub ranges: Vec<[u32; 2]>,
    /// Per token, its bias (all zero-valued when no row has one); `None` when no
    /// row of the pass has a bias.
    pub bias: Option<Vec<TokenBias>>,
    /// Tokens whose hidden state goes to the LM head, in output order.
    pub logit_tokens: Vec<u32>,
}

impl PassPlan {
    /// An empty plan.
    pub(crate) fn new(heads: Heads) -> Self {
        Self {
            heads,
            tokens: Vec::new(),
            positions: Vec::new(),
            token_rows: Vec::new(),
            cos: Vec::new(),
            sin: Vec::new(),
            rows: Vec::new(),
            range_starts: vec![0],
            ranges: Vec::new(),
            bias: None,
            logit_tokens: Vec::new(),
        }
    }

    /// Appends a validated row.
    pub(crate) fn push_row(
        &mut self,
        pass: RowPass,
        row: &RowInput,
        ranges: Vec<Vec<Range<usize>>>,
        bias: Option<Vec<TokenBias>>,
    ) {
        let row_index = self.rows.len() as u32;
        let first = self.tokens.len();
        self.tokens.extend_from_slice(&row.tokens);
        self.positions
            .extend(row.positions.iter().map(|&p| p as u32));
        self.token_rows
            .extend(std::iter::repeat_n(row_index, row.tokens.len()));
        for token_ranges in ranges {
            self.ranges.extend(
                token_ranges
                    .into_iter()
                    .map(|r| [r.start as u32, r.end as u32]),
            );
            self.range_starts.push(self.ranges.len() as u32);
        }
        match (bias, &mut self.bias) {
            (Some(values), Some(all)) => all.extend(values),
            (Some(values), None) => {
                let mut all = vec![TokenBias::NONE; first];
                all.extend(values);
                self.bias = Some(all);
            }
            (None, Some(all)) => all.extend(std::iter::repeat_n(TokenBias::NONE, row.tokens.len())),
            (None, None) => {}
        }
        self.logit_tokens
            .extend(row.logits_at.iter().map(|&i| (first + i) as u32));
        self.rows.push(pass);
    }

    /// Copies the RoPE rows of every token's position from `rope`.
    pub(crate) fn fill_rope(&mut self, rope: &RopeTable) {
        let positions: Vec<usize> = self.positions.iter().map(|&p| p as usize).collect();
        rope.extend(&positions, &mut self.cos, &mut self.sin);
    }

    /// Number of new tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the pass has no token (never true for a validated plan).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The visible key ranges of token `t`.
    pub fn token_ranges(&self, t: usize) -> &[[u32; 2]] {
        &self.ranges[self.range_starts[t] as usize..self.range_starts[t + 1] as usize]
    }

    /// The bias of token `t`, if any.
    pub fn token_bias(&self, t: usize) -> Option<TokenBias> {
        self.bias.as_ref().map(|b| b[t])
    }

    /// The row of token `t`.
    pub fn token_row(&self, t: usize) -> &RowPass {
        &self.rows[self.token_rows[t] as usize]
    }

    /// Index of token `t` in its row's key space (where its key is written).
    pub fn token_key(&self, t: usize) -> usize {
        let row = self.token_row(t);
        row.shared + row.cached + (t - row.offset)
    }
}

impl TokenBias {
    /// No bias.
    pub const NONE: TokenBias = TokenBias {
        value: 0.0,
        start: 0,
        end: 0,
    };
}
