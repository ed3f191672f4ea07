//! Additive score biases: FlexAttention's `score_mod` restricted to a bias term.

use std::ops::Range;
use std::sync::Arc;

use crate::role::Role;
use crate::segment::SegmentTable;

/// An additive term on the attention score of `(q, kv)` in batch row `b`, head `h`.
pub trait ScoreBias {
    /// The value added to the pre-softmax score.
    fn bias(&self, b: usize, h: usize, q: usize, kv: usize) -> f32;
}

impl<F> ScoreBias for F
where
    F: Fn(usize, usize, usize, usize) -> f32,
{
    fn bias(&self, b: usize, h: usize, q: usize, kv: usize) -> f32 {
        self(b, h, q, kv)
    }
}

/// The `--share-prefix` bias (see [`shared_prefix_bias`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPrefixBias {
    prompt_len: usize,
    /// Per prompt token: whether it lies in a Shared segment before the first question.
    shared_key: Arc<[bool]>,
    /// Per prompt token: whether it lies in a Shared segment after the last question
    /// (the fused suffix, which sees every question).
    fused_query: Arc<[bool]>,
    value: f32,
}

impl SharedPrefixBias {
    /// The bias added on shared keys (`ln(copies)`).
    pub fn value(&self) -> f32 {
        self.value
    }

    /// Whether prompt token `kv` is a shared-prefix key.
    pub fn is_shared_key(&self, kv: usize) -> bool {
        self.shared_key.get(kv).copied().unwrap_or(false)
    }

    /// Whether query `q` sees every copy of the prefix without sharing: a
    /// generated token, or a token of the fused suffix.
    pub fn is_fused_query(&self, q: usize) -> bool {
        q >= self.prompt_len || self.fused_query.get(q).copied().unwrap_or(false)
    }

    /// The shared-prefix keys as one range, from the first to one past the last
    /// (empty when there is none). The prefix leads the flex layouts, so the
    /// range holds shared keys only.
    pub fn key_range(&self) -> Range<usize> {
        let first = self.shared_key.iter().position(|&s| s);
        let last = self.shared_key.iter().rposition(|&s| s);
        match (first, last) {
            (Some(first), Some(last)) => first..last + 1,
            _ => 0..0,
        }
    }

    /// The bias of each query in `queries` on the [`SharedPrefixBias::key_range`]
    /// keys: the value for fused queries, 0 for the others.
    pub fn query_values(&self, queries: Range<usize>) -> Vec<f32> {
        queries
            .map(|q| {
                if self.is_fused_query(q) {
                    self.value
                } else {
                    0.0
                }
            })
            .collect()
    }
}

impl ScoreBias for SharedPrefixBias {
    fn bias(&self, _b: usize, _h: usize, q: usize, kv: usize) -> f32 {
        if self.is_fused_query(q) && self.is_shared_key(kv) {
            self.value
        } else {
            0.0
        }
    }
}

/// docs/DESIGN.md rule 4: one copy of the shared prefix stands for `copies` identical
/// copies. Every query that would see all `copies` copies without sharing adds
/// `ln(copies)` to its scores on keys of `Shared` segments located before the
/// first `Question`: the generated tokens (`q >= table.len()`) and, under the flex
/// rule, the fused suffix (`Shared` segments after the last `Question`, which see
/// every question). Its softmax then weighs the one copy as the `copies` copies it
/// replaces, so sharing changes no result. The bias is 0 everywhere else (question
/// tokens see one copy either way). `copies` of 0 or 1 give a zero bias.
pub fn shared_prefix_bias(table: &SegmentTable, copies: usize) -> SharedPrefixBias {
    let segments = table.segments();
    let first_question = table.first_question().unwrap_or(segments.len());
    let last_question = segments
        .iter()
        .rposition(|s| matches!(s.role, Role::Question { .. }));
    let mut shared_key = vec![false; table.len()];
    let mut fused_query = vec![false; table.len()];
    for (index, segment) in segments.iter().enumerate() {
        if segment.role != Role::Shared {
            continue;
        }
        if index < first_question {
            shared_key[segment.range.clone()].fill(true);
        }
        if last_question.is_some_and(|last| index > last) {
            fused_query[segment.range.clone()].fill(true);
        }
    }
    SharedPrefixBias {
        prompt_len: table.len(),
        shared_key: shared_key.into(),
        fused_query: fused_query.into(),
        value: (copies.max(1) as f32).ln(),
    }
}

/// A dense row-major `f32` bias matrix over queries `q_range` and keys `0..kv_len`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseBias {
    q_start: usize,
    q_len: usize,
    kv_len: usize,
    values: Vec<f32>,
}

impl DenseBias {
    /// Evaluates `bias` (batch 0, head 0) for queries `q_range` against keys
    /// `0..kv_len`; like [`crate::DenseMask::compile`], a sub-range gives the
    /// incremental rows.
    pub fn compile<B: ScoreBias + ?Sized>(bias: &B, q_range: Range<usize>, kv_len: usize) -> Self {
        Self::compile_head(bias, 0, 0, q_range, kv_len)
    }

    /// As [`DenseBias::compile`] for batch row `b` and head `h`.
    pub fn compile_head<B: ScoreBias + ?Sized>(
        bias: &B,
        b: usize,
        h: usize,
        q_range: Range<usize>,
        kv_len: usize,
    ) -> Self {
        let q_start = q_range.start;
        let q_len = q_range.end.saturating_sub(q_start);
        let values = (0..q_len)
            .flat_map(|r| (0..kv_len).map(move |kv| (q_start + r, kv)))
            .map(|(q, kv)| bias.bias(b, h, q, kv))
            .collect();
        Self {
            q_start,
            q_len,
            kv_len,
            values,
        }
    }

    /// First query index covered.
    pub fn q_start(&self) -> usize {
        self.q_start
    }

    /// Number of query rows.
    pub fn q_len(&self) -> usize {
        self.q_len
    }

    /// Number of key columns.
    pub fn kv_len(&self) -> usize {
        self.kv_len
    }

    /// The bias at `(row, col)` (row counted from `q_start`); 0 outside.
    pub fn get(&self, row: usize, col: usize) -> f32 {
        if row >= self.q_len || col >= self.kv_len {
            return 0.0;
        }
        self.values[row * self.kv_len + col]
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// Whether every value is zero (the bias can then be skipped).
    pub fn is_zero(&self) -> bool {
        self.values.iter().all(|v| *v == 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_bias_hits_suffix_and_generated_rows_on_prefix_keys() {
        let t = SegmentTable::from_lengths(&[
            (Role::Shared, 2),
            (Role::Question { paraphrase: 0 }, 2),
            (Role::Question { paraphrase: 1 }, 1),
            (Role::Shared, 1),
        ])
        .unwrap();
        let bias = shared_prefix_bias(&t, 2);
        let d = DenseBias::compile(&bias, 0..8, 8);
        let ln2 = 2f32.ln();
        for q in 0..8 {
            for kv in 0..8 {
                // Token 5 is the fused suffix; 6 and 7 are generated.
                let expected = if q >= 5 && kv < 2 { ln2 } else { 0.0 };
                assert_eq!(d.get(q, kv), expected, "q {q} kv {kv}");
            }
        }
        let rows = DenseBias::compile(&bias, 6..8, 8);
        assert_eq!(rows.as_slice(), &d.as_slice()[48..64]);
        assert!(DenseBias::compile(&shared_prefix_bias(&t, 1), 0..8, 8).is_zero());
        assert!(DenseBias::compile(&shared_prefix_bias(&t, 0), 0..8, 8).is_zero());
    }

    #[test]
    fn closures_are_biases() {
        let alibi = |_b: usize, _h: usize, q: usize, kv: usize| -((q as f32) - (kv as f32)).abs();
        let d = DenseBias::compile(&alibi, 1..3, 3);
        assert_eq!(d.as_slice(), &[-1.0, 0.0, -1.0, -2.0, -1.0, 0.0]);
    }
}
