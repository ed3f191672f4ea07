//! The input of a forward pass: rows of new tokens, each continuing one slot of
//! a [`crate::KvCache`], with explicit positions, the keys each new token sees
//! (a mask *description*: causal or per-query key ranges) and an optional
//! additive bias on one range of keys. Validation turns it into the flat
//! [`PassPlan`] the kernels read.
//!
//! A row's keys are numbered in its *key space*: first the shared context's keys
//! (when its slot shares one), then its own cached keys, then its new tokens.

use std::ops::Range;

use chorus_mask::{DenseMask, IntervalMask};

use crate::InputError;
use crate::kernels::{Heads, PassPlan, RowPass, TokenBias};
use crate::rope::RopeTable;

/// Which keys of its key space a row's new tokens attend to.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMask {
    /// Each new token sees every key before it and itself.
    Causal,
    /// Visible key ranges per new token; query row `i` is new token `i`, and
    /// `q_start` must be the first new token's index in the key space.
    Intervals(IntervalMask),
    /// A boolean mask `new tokens × keys` (turned into ranges on validation).
    Dense(DenseMask),
}

/// An additive score bias: `values[i]` is added to new token `i`'s scores on the
/// keys `keys` (e.g. `ln k` on a shared prefix that stands for `k` copies).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBias {
    /// The keys (in the row's key space) the bias applies to.
    pub keys: Range<usize>,
    /// One value per new token.
    pub values: Vec<f32>,
}

/// One sequence's part of a forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct RowInput {
    /// The cache slot this row continues (each slot at most once per pass).
    pub slot: usize,
    /// New token ids.
    pub tokens: Vec<u32>,
    /// Position id (RoPE angle) of each new token, chosen freely by the caller.
    pub positions: Vec<usize>,
    /// Which keys each new token sees.
    pub mask: KeyMask,
    /// Optional score bias.
    pub bias: Option<KeyBias>,
    /// Indices (into `tokens`) whose logits are wanted, in output order.
    pub logits_at: Vec<usize>,
}

impl RowInput {
    /// Causal tokens continuing slot `slot` at position `first_position`, with
    /// logits at the last token.
    pub fn causal(slot: usize, tokens: Vec<u32>, first_position: usize) -> Self {
        let len = tokens.len();
        Self {
            slot,
            positions: (first_position..first_position + len).collect(),
            tokens,
            mask: KeyMask::Causal,
            bias: None,
            logits_at: len.checked_sub(1).into_iter().collect(),
        }
    }
}

/// Everything a forward pass needs besides the weights and the cache.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForwardInput {
    /// The rows; logits come out row after row, each in its `logits_at` order.
    pub rows: Vec<RowInput>,
}

impl ForwardInput {
    /// Causal rows continuing slots `0..rows.len()` whose own caches hold
    /// `cached` tokens each (positions continue from there); logits at each last
    /// token.
    pub fn causal(rows: Vec<Vec<u32>>, cached: usize) -> Self {
        Self {
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(slot, tokens)| RowInput::causal(slot, tokens, cached))
                .collect(),
        }
    }

    /// Number of logit rows the pass returns.
    pub fn logits_len(&self) -> usize {
        self.rows.iter().map(|r| r.logits_at.len()).sum()
    }
}

/// What a slot holds before a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotState {
    /// Shared-context keys the slot sees first.
    pub shared: usize,
    /// Own keys cached.
    pub cached: usize,
}

/// Limits of the model and the cache the input is checked against.
pub(crate) struct Limits<'a> {
    pub vocab: usize,
    /// Sliding-window attention (Mistral): a token sees at most this many
    /// keys, itself included, the nearest ones in its key space.
    pub window: Option<usize>,
    pub max_positions: usize,
    pub heads: Heads,
    pub slots: &'a [SlotState],
}

impl ForwardInput {
    /// Checks every row and flattens the pass for the kernels; the error names
    /// the first problem found. Nothing is changed when it fails.
    pub(crate) fn plan(
        &self,
        limits: &Limits<'_>,
        rope: &RopeTable,
    ) -> Result<PassPlan, InputError> {
        if self.rows.is_empty() {
            return Err(InputError::NoRows);
        }
        let mut plan = PassPlan::new(limits.heads);
        let mut fed: Vec<Option<usize>> = vec![None; limits.slots.len()];
        for (index, row) in self.rows.iter().enumerate() {
            let state = check_slot(index, row.slot, limits.slots, &mut fed)?;
            check_tokens(index, row, limits)?;
            let keys = Keys::of(state, row.tokens.len());
            let ranges = visible_ranges(index, row, keys, limits.window)?;
            let bias = token_biases(index, row, keys)?;
            for &at in &row.logits_at {
                if at >= row.tokens.len() {
                    return Err(InputError::LogitsIndex {
                        row: index,
                        index: at,
                        len: row.tokens.len(),
                    });
                }
            }
            plan.push_row(
                RowPass {
                    slot: row.slot,
                    shared: state.shared,
                    cached: state.cached,
                    len: row.tokens.len(),
                    offset: plan.tokens.len(),
                },
                row,
                ranges,
                bias,
            );
        }
        plan.fill_rope(rope);
        Ok(plan)
    }
}

/// The key space of a row in one pass.
#[derive(Debug, Clone, Copy)]
struct Keys {
    shared: usize,
    cached: usize,
    new: usize,
}

impl Keys {
    fn of(state: SlotState, new: usize) -> Self {
        Self {
            shared: state.shared,
            cached: state.cached,
            new,
        }
    }

    /// Index of the first new token in the key space.
    fn first_new(&self) -> usize {
        self.shared + self.cached
    }

    fn total(&self) -> usize {
        self.first_new() + self.new
    }
}

fn check_slot(
    row: usize,
    slot: usize,
    slots: &[SlotState],
    fed: &mut [Option<usize>],
) -> Result<SlotState, InputError> {
    let state = *slots.get(slot).ok_or(InputError::SlotOutOfRange {
        row,
        slot,
        slots: slots.len(),
    })?;
    if let Some(first) = fed[slot] {
        return Err(InputError::SlotTwice { row, slot, first });
    }
    fed[slot] = Some(row);
    Ok(state)
}

fn check_tokens(index: usize, row: &RowInput, limits: &Limits<'_>) -> Result<(), InputError> {
    if row.tokens.is_empty() {
        return Err(InputError::EmptyRow { row: index });
    }
    if let Some((at, &id)) = row
        .tokens
        .iter()
        .enumerate()
        .find(|(_, id)| **id as usize >= limits.vocab)
    {
        return Err(InputError::TokenOutOfRange {
            row: index,
            index: at,
            id,
            vocab: limits.vocab,
        });
    }
    if row.positions.len() != row.tokens.len() {
        return Err(InputError::PositionCount {
            row: index,
            found: row.positions.len(),
            expected: row.tokens.len(),
        });
    }
    if let Some((at, &position)) = row
        .positions
        .iter()
        .enumerate()
        .find(|(_, p)| **p >= limits.max_positions)
    {
        return Err(InputError::PositionOutOfRange {
            row: index,
            index: at,
            position,
            max: limits.max_positions,
        });
    }
    Ok(())
}

/// Per new token, its visible key ranges (sorted, disjoint, within the keys),
/// cut to the last `window` keys up to the token's own when the model uses
/// sliding-window attention.
///
/// The window counts keys of the row's key space (shared context, cached
/// keys, new tokens), as transformers counts cache indices
/// (`kv_idx > q_idx - sliding_window`), not position ids: for a row that is
/// one prompt this is exactly transformers' mask, and it is chorus-mask's
/// [`sliding_window`](chorus_mask::sliding_window) predicate intersected with
/// the row's mask. Every kernel set reads these ranges, so none needs to know
/// about windows.
fn visible_ranges(
    index: usize,
    row: &RowInput,
    keys: Keys,
    window: Option<usize>,
) -> Result<Vec<Vec<Range<usize>>>, InputError> {
    let ranges = mask_ranges(index, row, keys)?;
    let Some(window) = window else {
        return Ok(ranges);
    };
    ranges
        .into_iter()
        .enumerate()
        .map(|(query, token_ranges)| {
            let own = keys.first_new() + query;
            let first = (own + 1).saturating_sub(window);
            let cut: Vec<Range<usize>> = token_ranges
                .into_iter()
                .map(|r| r.start.max(first)..r.end.min(own + 1))
                .filter(|r| !r.is_empty())
                .collect();
            if cut.is_empty() {
                Err(InputError::BlindQuery { row: index, query })
            } else {
                Ok(cut)
            }
        })
        .collect()
}

/// Per new token, the key ranges its row's mask makes visible.
fn mask_ranges(
    index: usize,
    row: &RowInput,
    keys: Keys,
) -> Result<Vec<Vec<Range<usize>>>, InputError> {
    let intervals = match &row.mask {
        KeyMask::Causal => {
            return Ok((0..keys.new)
                .map(|i| std::iter::once(0..keys.first_new() + i + 1).collect())
                .collect());
        }
        KeyMask::Intervals(mask) => std::borrow::Cow::Borrowed(mask),
        KeyMask::Dense(mask) => std::borrow::Cow::Owned(IntervalMask::from_dense(mask)),
    };
    if intervals.q_len() != keys.new || intervals.kv_len() != keys.total() {
        return Err(InputError::MaskShape {
            row: index,
            found_queries: intervals.q_len(),
            found_keys: intervals.kv_len(),
            queries: keys.new,
            keys: keys.total(),
            shared: keys.shared,
            cached: keys.cached,
        });
    }
    if intervals.q_start() != keys.first_new() {
        return Err(InputError::MaskStart {
            row: index,
            found: intervals.q_start(),
            expected: keys.first_new(),
        });
    }
    (0..keys.new)
        .map(|query| {
            let ranges = intervals.row(query);
            if ranges.is_empty() {
                Err(InputError::BlindQuery { row: index, query })
            } else {
                Ok(ranges.to_vec())
            }
        })
        .collect()
}

fn token_biases(
    index: usize,
    row: &RowInput,
    keys: Keys,
) -> Result<Option<Vec<TokenBias>>, InputError> {
    let Some(bias) = &row.bias else {
        return Ok(None);
    };
    if bias.values.len() != keys.new {
        return Err(InputError::BiasLength {
            row: index,
            found: bias.values.len(),
            expected: keys.new,
        });
    }
    if bias.keys.start > bias.keys.end || bias.keys.end > keys.total() {
        return Err(InputError::BiasRange {
            row: index,
            start: bias.keys.start,
            end: bias.keys.end,
            keys: keys.total(),
        });
    }
    if let Some((at, &value)) = bias.values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(InputError::NonFiniteBias {
            row: index,
            index: at,
            value,
        });
    }
    Ok(Some(
        bias.values
            .iter()
            .map(|&value| TokenBias {
                value,
                start: bias.keys.start as u32,
                end: bias.keys.end as u32,
            })
            .collect(),
    ))
}
