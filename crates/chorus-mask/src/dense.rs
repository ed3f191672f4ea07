//! Bit-packed dense masks, compiled over any range of query rows.

use std::ops::Range;

use crate::predicate::MaskPredicate;

/// A boolean mask of `q_len` query rows (queries `q_start..q_start + q_len`) by
/// `kv_len` key columns, one bit per cell (rows padded to whole 64-bit words).
///
/// Compiling over a sub-range of queries is the incremental form: a decoder that
/// appends `k` tokens compiles just those `k` rows, O(k · kv_len), not O(n²).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DenseMask {
    q_start: usize,
    q_len: usize,
    kv_len: usize,
    words_per_row: usize,
    bits: Vec<u64>,
}

impl DenseMask {
    /// Evaluates `pred` (batch 0, head 0) for queries `q_range` against keys
    /// `0..kv_len`. A reversed range gives zero rows.
    pub fn compile<P: MaskPredicate + ?Sized>(
        pred: &P,
        q_range: Range<usize>,
        kv_len: usize,
    ) -> Self {
        Self::compile_head(pred, 0, 0, q_range, kv_len)
    }

    /// As [`DenseMask::compile`] for batch row `b` and head `h`.
    pub fn compile_head<P: MaskPredicate + ?Sized>(
        pred: &P,
        b: usize,
        h: usize,
        q_range: Range<usize>,
        kv_len: usize,
    ) -> Self {
        let q_len = q_range.end.saturating_sub(q_range.start);
        let mut mask = Self::empty(q_range.start, q_len, kv_len);
        if mask.words_per_row == 0 {
            return mask;
        }
        for (row, words) in mask.bits.chunks_mut(mask.words_per_row).enumerate() {
            pred.fill_row(b, h, mask.q_start + row, kv_len, words);
        }
        mask
    }

    /// A mask with every cell hidden.
    pub fn empty(q_start: usize, q_len: usize, kv_len: usize) -> Self {
        let words_per_row = kv_len.div_ceil(64);
        Self {
            q_start,
            q_len,
            kv_len,
            words_per_row,
            bits: vec![0; q_len * words_per_row],
        }
    }

    /// Builds a mask from row-major booleans (`q_len * kv_len` of them); `None`
    /// when the length does not match.
    pub fn from_bools(q_start: usize, q_len: usize, kv_len: usize, cells: &[bool]) -> Option<Self> {
        if q_len.checked_mul(kv_len)? != cells.len() {
            return None;
        }
        let mut mask = Self::empty(q_start, q_len, kv_len);
        for (i, _) in cells.iter().enumerate().filter(|(_, v)| **v) {
            mask.set(i / kv_len.max(1), i % kv_len.max(1), true);
        }
        Some(mask)
    }

    /// First query index covered (row 0's query).
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

    /// Whether cell `(row, col)` is visible; `row` counts from `q_start`. Cells
    /// outside the mask read as hidden.
    pub fn get(&self, row: usize, col: usize) -> bool {
        if row >= self.q_len || col >= self.kv_len {
            return false;
        }
        self.bits[row * self.words_per_row + col / 64] >> (col % 64) & 1 == 1
    }

    /// Sets cell `(row, col)`; cells outside the mask are ignored.
    pub fn set(&mut self, row: usize, col: usize, visible: bool) {
        if row >= self.q_len || col >= self.kv_len {
            return;
        }
        let word = &mut self.bits[row * self.words_per_row + col / 64];
        let bit = 1u64 << (col % 64);
        if visible {
            *word |= bit;
        } else {
            *word &= !bit;
        }
    }

    /// The packed words of one row (bit `c % 64` of word `c / 64` is column `c`).
    pub fn row_words(&self, row: usize) -> &[u64] {
        let start = (row * self.words_per_row).min(self.bits.len());
        let end = (start + self.words_per_row).min(self.bits.len());
        &self.bits[start..end]
    }

    /// Row-major booleans (`q_len * kv_len`).
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.q_len)
            .flat_map(|r| (0..self.kv_len).map(move |c| (r, c)))
            .map(|(r, c)| self.get(r, c))
            .collect()
    }

    /// Row-major additive mask for attention scores: `0.0` where visible,
    /// `masked` (typically `f32::NEG_INFINITY`) where hidden.
    pub fn to_additive(&self, masked: f32) -> Vec<f32> {
        self.to_bools()
            .into_iter()
            .map(|v| if v { 0.0 } else { masked })
            .collect()
    }

    /// Number of visible cells.
    pub fn count_visible(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Rows `rows` of this mask as a mask of their own (clamped to the mask).
    pub fn slice_rows(&self, rows: Range<usize>) -> Self {
        let start = rows.start.min(self.q_len);
        let end = rows.end.clamp(start, self.q_len);
        Self {
            q_start: self.q_start + start,
            q_len: end - start,
            kv_len: self.kv_len,
            words_per_row: self.words_per_row,
            bits: self.bits[start * self.words_per_row..end * self.words_per_row].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::{causal, sliding_window};

    #[test]
    fn compile_causal_over_full_and_partial_ranges() {
        let m = DenseMask::compile(&causal(), 0..70, 70);
        assert_eq!(m.q_len(), 70);
        assert_eq!(m.kv_len(), 70);
        assert_eq!(m.count_visible(), 70 * 71 / 2);
        assert!(m.get(69, 69) && m.get(69, 0) && !m.get(5, 6));
        let rows = DenseMask::compile(&causal(), 65..68, 70);
        assert_eq!(rows.q_start(), 65);
        assert_eq!(rows, m.slice_rows(65..68));
        assert!(rows.get(0, 65) && !rows.get(0, 66));
    }

    #[test]
    fn bools_round_trip_and_out_of_range_reads_are_hidden() {
        let m = DenseMask::compile(&sliding_window(3), 2..9, 11);
        let back = DenseMask::from_bools(2, 7, 11, &m.to_bools()).unwrap();
        assert_eq!(back, m);
        assert!(DenseMask::from_bools(0, 2, 2, &[true]).is_none());
        assert!(!m.get(7, 0) && !m.get(0, 11));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = DenseMask::compile(&causal(), 5..2, 4);
        assert_eq!(reversed.q_len(), 0);
        let add = DenseMask::compile(&causal(), 0..2, 2).to_additive(f32::NEG_INFINITY);
        assert_eq!(add, vec![0.0, f32::NEG_INFINITY, 0.0, 0.0]);
    }
}
