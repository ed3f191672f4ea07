//! Block-sparse masks in FlexAttention's `BlockMask` layout.
//!
//! The `q_len × kv_len` grid is cut into `block × block` tiles (the last row and
//! column of tiles may be ragged). Per query block, every kv tile is either
//! **full** (every cell visible: no mask needed), **partial** (mixed: the mask is
//! applied inside it) or **skipped** (nothing visible: never computed). FlexAttention
//! stores the partial tiles as `kv_num_blocks` / `kv_indices` and the full ones as
//! `full_kv_num_blocks` / `full_kv_indices`; this type keeps the same lists plus the
//! bits of each partial tile so that it can be expanded back to a dense mask.

use crate::bits::get_bits;
use crate::dense::DenseMask;
use crate::error::MaskError;
use crate::predicate::MaskPredicate;

/// FlexAttention's default block size.
pub const DEFAULT_BLOCK: usize = 128;

/// What a tile of the block grid holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// Every cell visible.
    Full,
    /// Some cells visible.
    Partial,
    /// No cell visible.
    Skipped,
}

/// One row of query blocks: its full and partial kv blocks, in increasing order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct QueryBlock {
    full: Vec<usize>,
    partial: Vec<usize>,
    /// Bits of each partial tile (aligned with `partial`), row-major, one bit per
    /// cell, `tile_cols` bits per row packed into whole words.
    tiles: Vec<Vec<u64>>,
}

/// A block-sparse mask (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockMask {
    q_len: usize,
    kv_len: usize,
    block: usize,
    rows: Vec<QueryBlock>,
}

impl BlockMask {
    /// Evaluates `pred` (batch 0, head 0) on queries `0..q_len` and keys
    /// `0..kv_len` and classifies every `block × block` tile. `block = 0` is an error.
    pub fn compile<P: MaskPredicate + ?Sized>(
        pred: &P,
        q_len: usize,
        kv_len: usize,
        block: usize,
    ) -> Result<Self, MaskError> {
        if block == 0 {
            return Err(MaskError::ZeroBlockSize);
        }
        let num_kv_blocks = kv_len.div_ceil(block);
        let rows = (0..q_len.div_ceil(block))
            .map(|qb| {
                // Evaluate the query block's rows once, then cut them into tiles.
                let q0 = qb * block;
                let dense = DenseMask::compile(pred, q0..(q0 + block).min(q_len), kv_len);
                let mut row = QueryBlock::default();
                for kb in 0..num_kv_blocks {
                    let (kind, tile) = classify_tile(&dense, kb, block, kv_len);
                    match kind {
                        BlockKind::Full => row.full.push(kb),
                        BlockKind::Partial => {
                            row.partial.push(kb);
                            row.tiles.push(tile);
                        }
                        BlockKind::Skipped => {}
                    }
                }
                row
            })
            .collect();
        Ok(Self {
            q_len,
            kv_len,
            block,
            rows,
        })
    }

    /// Builds the block form of a dense mask (its rows are taken as queries
    /// `0..q_len`, whatever its `q_start`).
    pub fn from_dense(mask: &DenseMask, block: usize) -> Result<Self, MaskError> {
        let view = |_b: usize, _h: usize, q: usize, kv: usize| mask.get(q, kv);
        Self::compile(&view, mask.q_len(), mask.kv_len(), block)
    }

    /// Number of query rows.
    pub fn q_len(&self) -> usize {
        self.q_len
    }

    /// Number of key columns.
    pub fn kv_len(&self) -> usize {
        self.kv_len
    }

    /// Block size (tiles are `block × block`).
    pub fn block_size(&self) -> usize {
        self.block
    }

    /// Number of query blocks.
    pub fn num_q_blocks(&self) -> usize {
        self.rows.len()
    }

    /// Number of kv blocks.
    pub fn num_kv_blocks(&self) -> usize {
        self.kv_len.div_ceil(self.block)
    }

    /// Per query block, the number of partial kv blocks (FlexAttention's `kv_num_blocks`).
    pub fn kv_num_blocks(&self) -> Vec<usize> {
        self.rows.iter().map(|r| r.partial.len()).collect()
    }

    /// The partial kv blocks of query block `q_block`, increasing (`kv_indices`).
    pub fn kv_indices(&self, q_block: usize) -> &[usize] {
        self.rows.get(q_block).map_or(&[], |r| &r.partial)
    }

    /// Per query block, the number of full kv blocks (`full_kv_num_blocks`).
    pub fn full_kv_num_blocks(&self) -> Vec<usize> {
        self.rows.iter().map(|r| r.full.len()).collect()
    }

    /// The full kv blocks of query block `q_block`, increasing (`full_kv_indices`).
    pub fn full_kv_indices(&self, q_block: usize) -> &[usize] {
        self.rows.get(q_block).map_or(&[], |r| &r.full)
    }

    /// The kind of tile `(q_block, kv_block)`; tiles outside the grid are skipped.
    pub fn block_kind(&self, q_block: usize, kv_block: usize) -> BlockKind {
        let Some(row) = self.rows.get(q_block) else {
            return BlockKind::Skipped;
        };
        if row.full.binary_search(&kv_block).is_ok() {
            BlockKind::Full
        } else if row.partial.binary_search(&kv_block).is_ok() {
            BlockKind::Partial
        } else {
            BlockKind::Skipped
        }
    }

    /// Whether cell `(q, kv)` is visible (hidden outside the grid).
    pub fn visible(&self, q: usize, kv: usize) -> bool {
        if q >= self.q_len || kv >= self.kv_len {
            return false;
        }
        let (qb, kb) = (q / self.block, kv / self.block);
        let row = &self.rows[qb];
        if row.full.binary_search(&kb).is_ok() {
            return true;
        }
        match row.partial.binary_search(&kb) {
            Ok(i) => {
                let cols = tile_cols(kb, self.block, self.kv_len);
                tile_get(&row.tiles[i], cols, q % self.block, kv % self.block)
            }
            Err(_) => false,
        }
    }

    /// Fraction of tiles that are skipped (0 = dense, 1 = nothing visible).
    pub fn sparsity(&self) -> f64 {
        let total = self.num_q_blocks() * self.num_kv_blocks();
        if total == 0 {
            return 0.0;
        }
        let computed: usize = self
            .rows
            .iter()
            .map(|r| r.full.len() + r.partial.len())
            .sum();
        1.0 - computed as f64 / total as f64
    }

    /// Expands to a dense mask over queries `0..q_len`.
    pub fn to_dense(&self) -> DenseMask {
        let mut dense = DenseMask::empty(0, self.q_len, self.kv_len);
        for (qb, row) in self.rows.iter().enumerate() {
            let q0 = qb * self.block;
            let rows = tile_rows(qb, self.block, self.q_len);
            for &kb in &row.full {
                let k0 = kb * self.block;
                for r in 0..rows {
                    for c in 0..tile_cols(kb, self.block, self.kv_len) {
                        dense.set(q0 + r, k0 + c, true);
                    }
                }
            }
            for (&kb, tile) in row.partial.iter().zip(&row.tiles) {
                let (k0, cols) = (kb * self.block, tile_cols(kb, self.block, self.kv_len));
                for r in 0..rows {
                    for c in 0..cols {
                        if tile_get(tile, cols, r, c) {
                            dense.set(q0 + r, k0 + c, true);
                        }
                    }
                }
            }
        }
        dense
    }
}

fn tile_rows(qb: usize, block: usize, q_len: usize) -> usize {
    block.min(q_len - qb * block)
}

fn tile_cols(kb: usize, block: usize, kv_len: usize) -> usize {
    block.min(kv_len - kb * block)
}

fn tile_get(tile: &[u64], cols: usize, r: usize, c: usize) -> bool {
    let words = cols.div_ceil(64);
    tile[r * words + c / 64] >> (c % 64) & 1 == 1
}

/// Cuts kv tile `kb` out of a query block's rows; returns its kind and, for
/// partial tiles, its bits.
fn classify_tile(
    rows: &DenseMask,
    kb: usize,
    block: usize,
    kv_len: usize,
) -> (BlockKind, Vec<u64>) {
    let cols = tile_cols(kb, block, kv_len);
    let words = cols.div_ceil(64);
    let word_bits = |r: usize, j: usize| {
        get_bits(
            rows.row_words(r),
            kb * block + j * 64,
            (cols - j * 64).min(64),
        )
    };
    // Count first: most tiles are full or skipped and need no copy.
    let visible: usize = (0..rows.q_len())
        .flat_map(|r| (0..words).map(move |j| (r, j)))
        .map(|(r, j)| word_bits(r, j).count_ones() as usize)
        .sum();
    match visible {
        0 => (BlockKind::Skipped, Vec::new()),
        v if v == rows.q_len() * cols => (BlockKind::Full, Vec::new()),
        _ => {
            let tile = (0..rows.q_len())
                .flat_map(|r| (0..words).map(move |j| (r, j)))
                .map(|(r, j)| word_bits(r, j))
                .collect();
            (BlockKind::Partial, tile)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::causal;

    #[test]
    fn zero_block_is_an_error() {
        assert!(matches!(
            BlockMask::compile(&causal(), 4, 4, 0),
            Err(MaskError::ZeroBlockSize)
        ));
    }

    #[test]
    fn causal_blocks_are_full_below_partial_on_and_skipped_above_the_diagonal() {
        let m = BlockMask::compile(&causal(), 10, 10, 4).unwrap();
        assert_eq!(m.num_q_blocks(), 3);
        assert_eq!(m.kv_num_blocks(), vec![1, 1, 1]);
        assert_eq!(m.full_kv_num_blocks(), vec![0, 1, 2]);
        assert_eq!(m.kv_indices(2), &[2]);
        assert_eq!(m.full_kv_indices(2), &[0, 1]);
        assert_eq!(m.block_kind(0, 1), BlockKind::Skipped);
        assert_eq!(m.block_kind(1, 0), BlockKind::Full);
        // The ragged last tile (2 x 2) on the diagonal is partial.
        assert_eq!(m.block_kind(2, 2), BlockKind::Partial);
        assert_eq!(m.to_dense(), DenseMask::compile(&causal(), 0..10, 10));
        assert!(m.visible(9, 8) && !m.visible(8, 9) && !m.visible(10, 0));
        assert!((m.sparsity() - 3.0 / 9.0).abs() < 1e-12);
        let from_dense = BlockMask::from_dense(&m.to_dense(), 4).unwrap();
        assert_eq!(from_dense, m);
    }

    #[test]
    fn default_block_covers_small_masks_in_one_tile() {
        let m = BlockMask::compile(&causal(), 5, 7, DEFAULT_BLOCK).unwrap();
        assert_eq!(m.num_q_blocks(), 1);
        assert_eq!(m.num_kv_blocks(), 1);
        assert_eq!(m.to_dense(), DenseMask::compile(&causal(), 0..5, 7));
    }
}
