//! Per-query visible key ranges: the natural form for segment masks, whose rows
//! are a handful of contiguous runs.

use std::ops::Range;

use crate::bits::runs;
use crate::dense::DenseMask;
use crate::predicate::MaskPredicate;

/// For each query row, the sorted, disjoint, non-adjacent ranges of visible keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntervalMask {
    q_start: usize,
    kv_len: usize,
    /// `row_offsets[r]..row_offsets[r + 1]` indexes row r's ranges.
    row_offsets: Vec<usize>,
    ranges: Vec<Range<usize>>,
}

impl IntervalMask {
    /// Evaluates `pred` (batch 0, head 0) for queries `q_range` against keys
    /// `0..kv_len` (a sub-range gives incremental rows).
    pub fn compile<P: MaskPredicate + ?Sized>(
        pred: &P,
        q_range: Range<usize>,
        kv_len: usize,
    ) -> Self {
        let q_start = q_range.start;
        let mut out = Self {
            q_start,
            kv_len,
            row_offsets: vec![0],
            ranges: Vec::new(),
        };
        let mut words = vec![0u64; kv_len.div_ceil(64)];
        for q in q_range {
            pred.fill_row(0, 0, q, kv_len, &mut words);
            out.push_words(&words);
        }
        out
    }

    /// The interval form of a dense mask.
    pub fn from_dense(mask: &DenseMask) -> Self {
        let mut out = Self {
            q_start: mask.q_start(),
            kv_len: mask.kv_len(),
            row_offsets: vec![0],
            ranges: Vec::new(),
        };
        for r in 0..mask.q_len() {
            out.push_words(mask.row_words(r));
        }
        out
    }

    fn push_words(&mut self, words: &[u64]) {
        let ranges = &mut self.ranges;
        runs(words, self.kv_len, |start, end| ranges.push(start..end));
        self.row_offsets.push(self.ranges.len());
    }

    /// First query index covered.
    pub fn q_start(&self) -> usize {
        self.q_start
    }

    /// Number of query rows.
    pub fn q_len(&self) -> usize {
        self.row_offsets.len() - 1
    }

    /// Number of key columns.
    pub fn kv_len(&self) -> usize {
        self.kv_len
    }

    /// The visible key ranges of `row` (counted from `q_start`); empty outside.
    pub fn row(&self, row: usize) -> &[Range<usize>] {
        match (self.row_offsets.get(row), self.row_offsets.get(row + 1)) {
            (Some(&a), Some(&b)) => &self.ranges[a..b],
            _ => &[],
        }
    }

    /// Total number of ranges over all rows.
    pub fn num_ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Whether cell `(row, col)` is visible.
    pub fn get(&self, row: usize, col: usize) -> bool {
        let ranges = self.row(row);
        let i = ranges.partition_point(|r| r.end <= col);
        ranges.get(i).is_some_and(|r| r.start <= col)
    }

    /// Rows `rows` (counted from `q_start`, clamped to the mask) as a mask of
    /// their own, starting at query `q_start + rows.start`.
    pub fn slice_rows(&self, rows: Range<usize>) -> Self {
        let start = rows.start.min(self.q_len());
        let end = rows.end.clamp(start, self.q_len());
        let (first, last) = (self.row_offsets[start], self.row_offsets[end]);
        Self {
            q_start: self.q_start + start,
            kv_len: self.kv_len,
            row_offsets: self.row_offsets[start..=end]
                .iter()
                .map(|o| o - first)
                .collect(),
            ranges: self.ranges[first..last].to_vec(),
        }
    }

    /// The same rows over keys `0..kv_len` only (ranges cut at `kv_len`; rows
    /// may become empty).
    pub fn with_kv_len(&self, kv_len: usize) -> Self {
        let mut out = Self {
            q_start: self.q_start,
            kv_len,
            row_offsets: vec![0],
            ranges: Vec::new(),
        };
        for r in 0..self.q_len() {
            out.ranges.extend(
                self.row(r)
                    .iter()
                    .filter(|range| range.start < kv_len)
                    .map(|range| range.start..range.end.min(kv_len)),
            );
            out.row_offsets.push(out.ranges.len());
        }
        out
    }

    /// Whether no row sees a key at or past `kv`.
    pub fn sees_only_before(&self, kv: usize) -> bool {
        self.ranges.iter().all(|range| range.end <= kv)
    }

    /// Expands to a dense mask over the same rows.
    pub fn to_dense(&self) -> DenseMask {
        let mut dense = DenseMask::empty(self.q_start, self.q_len(), self.kv_len);
        for r in 0..self.q_len() {
            for range in self.row(r) {
                for c in range.clone() {
                    dense.set(r, c, true);
                }
            }
        }
        dense
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::{causal, document};

    #[test]
    fn rows_are_sorted_disjoint_runs() {
        let pred = document(vec![0, 0, 1, 1, 0, 0]);
        let m = IntervalMask::compile(&pred, 0..6, 6);
        assert_eq!(m.row(0), &[0..2, 4..6]);
        assert_eq!(m.row(2).to_vec(), vec![(2..4)]);
        assert_eq!(m.row(6), &[] as &[Range<usize>]);
        assert!(m.get(5, 0) && !m.get(5, 2) && m.get(5, 5) && !m.get(5, 6));
        assert_eq!(m.num_ranges(), 10);
        assert_eq!(m.to_dense(), DenseMask::compile(&pred, 0..6, 6));
        assert_eq!(IntervalMask::from_dense(&m.to_dense()), m);
    }

    #[test]
    fn incremental_rows_keep_their_offset() {
        let m = IntervalMask::compile(&causal(), 3..5, 5);
        assert_eq!(m.q_start(), 3);
        assert_eq!(m.row(1).to_vec(), vec![(0..5)]);
        assert_eq!(m.to_dense(), DenseMask::compile(&causal(), 3..5, 5));
    }

    #[test]
    fn slices_and_key_cuts_equal_compiling_the_part() {
        let pred = document(vec![0, 0, 1, 1, 0, 0]);
        let m = IntervalMask::compile(&pred, 0..6, 6);
        assert_eq!(m.slice_rows(2..5), IntervalMask::compile(&pred, 2..5, 6));
        assert_eq!(m.slice_rows(4..99), IntervalMask::compile(&pred, 4..6, 6));
        assert_eq!(
            m.slice_rows(0..6).with_kv_len(3),
            IntervalMask::compile(&pred, 0..6, 3)
        );
        let c = IntervalMask::compile(&causal(), 0..4, 6);
        assert!(c.sees_only_before(4) && !c.sees_only_before(3));
    }
}
