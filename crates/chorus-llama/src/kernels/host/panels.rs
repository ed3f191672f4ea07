//! Weight products over weights packed once, at load, into column panels.
//!
//! A `[k, n]` weight is stored as `n / 16` panels of 16 columns, each panel's
//! `k × 16` values contiguous. A product streams every panel once from memory
//! and keeps it in L2 while an `MR × 16` register tile (MR ≤ 6 rows of `x`, 12
//! AVX2 accumulators) runs over all of `k` for each group of rows. General
//! GEMM libraries repack the weights on every call; here they are packed once,
//! which is what makes decoding (a few dozen rows against 0.4 GB of weights
//! per step) bound by memory bandwidth instead of by packing (measured on the
//! 2-core VM, decode step of 40 SmolLM2 rows: `gemm` crate 0.21 s).

use rayon::prelude::*;

/// Columns per panel (two AVX2 vectors).
pub(crate) const NR: usize = 16;
/// Rows of `x` per register tile.
const MR: usize = 6;
/// Rows of `x` per task of a many-row product: the task's `x` block stays in
/// L2 while the panels stream past it.
const ROW_BLOCK: usize = 96;
/// Below this many multiply-adds a product stays on the calling thread.
const PARALLEL_WORK: usize = 1 << 18;

/// A `[k, n]` weight in panel layout (`n` padded to a multiple of [`NR`]).
#[derive(Debug, Clone)]
pub(crate) struct Panels {
    data: Vec<f32>,
    k: usize,
    n: usize,
}

impl Panels {
    /// Packs a row-major `[k, n]` weight.
    pub fn from_row_major(w: &[f32], k: usize, n: usize) -> Self {
        Self::pack(k, n, |i, j| w[i * n + j])
    }

    /// Packs the transpose of a row-major `[n, k]` matrix (the embedding table
    /// as LM head: `x · tableᵀ`).
    pub fn from_transposed(table: &[f32], n: usize, k: usize) -> Self {
        Self::pack(k, n, |i, j| table[j * k + i])
    }

    fn pack(k: usize, n: usize, value: impl Fn(usize, usize) -> f32 + Sync) -> Self {
        let panels = n.div_ceil(NR);
        let mut data: Vec<f32> = bytemuck::zeroed_vec(panels * k * NR);
        data.par_chunks_mut(k * NR)
            .enumerate()
            .for_each(|(p, panel)| {
                for i in 0..k {
                    for c in 0..NR {
                        let j = p * NR + c;
                        if j < n {
                            panel[i * NR + c] = value(i, j);
                        }
                    }
                }
            });
        Self { data, k, n }
    }

    /// Columns of the weight (outputs).
    pub fn n(&self) -> usize {
        self.n
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..(p + 1) * self.k * NR]
    }
}

/// `out = x · w` (or `out += x · w` when `accumulate`) for row-major
/// `x: [m, k]` and `out: [m, n]`.
pub(crate) fn matmul(x: &[f32], m: usize, w: &Panels, out: &mut [f32], accumulate: bool) {
    let (k, n) = (w.k, w.n);
    debug_assert_eq!(x.len(), m * k);
    debug_assert_eq!(out.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    let out = SharedOut(out.as_mut_ptr());
    let run = |rows: std::ops::Range<usize>, panels: std::ops::Range<usize>| {
        // SAFETY: tasks write disjoint (row range × panel range) tiles of `out`.
        unsafe { block(x, k, w, n, rows, panels, &out, accumulate) }
    };
    let panels = w.panels();
    if m * k * n < PARALLEL_WORK || rayon::current_num_threads() == 1 {
        run(0..m, 0..panels);
    } else if m <= ROW_BLOCK {
        // Few rows: split the panels, each worker streams its own weights.
        let tasks = rayon::current_num_threads().min(panels);
        (0..tasks)
            .into_par_iter()
            .for_each(|t| run(0..m, t * panels / tasks..(t + 1) * panels / tasks));
    } else {
        // Many rows: row blocks × panel halves, so both cores share the work.
        let row_blocks = m.div_ceil(ROW_BLOCK);
        let splits = rayon::current_num_threads().min(panels);
        (0..row_blocks * splits).into_par_iter().for_each(|task| {
            let (rb, s) = (task / splits, task % splits);
            run(
                rb * ROW_BLOCK..((rb + 1) * ROW_BLOCK).min(m),
                s * panels / splits..(s + 1) * panels / splits,
            )
        });
    }
}

/// `out`'s pointer, shared by tasks that write disjoint tiles.
struct SharedOut(*mut f32);

// SAFETY: only used by `matmul`, whose tasks write disjoint elements.
unsafe impl Sync for SharedOut {}

/// One task: rows `rows` × panels `panels` of the product.
///
/// # Safety
/// `out` must point to `m × n` values of which no other task writes the tile.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    x: &[f32],
    k: usize,
    w: &Panels,
    n: usize,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: &SharedOut,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features; the caller upholds the rest.
            return unsafe { block_avx2(x, k, w, n, rows, panels, out, accumulate) };
        }
    }
    // SAFETY: as above.
    unsafe { block_portable(x, k, w, n, rows, panels, out, accumulate) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_avx2(
    x: &[f32],
    k: usize,
    w: &Panels,
    n: usize,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: &SharedOut,
    accumulate: bool,
) {
    for p in panels {
        let panel = w.panel(p);
        let mut r = rows.start;
        while r < rows.end {
            let height = (rows.end - r).min(MR);
            let xr = &x[r * k..(r + height) * k];
            // SAFETY: the tile lies inside `out` (rows < m, columns < n are
            // checked in `store`) and belongs to this task.
            unsafe {
                match height {
                    6 => tile_avx2::<6>(xr, k, panel, out.0, r, p, n, accumulate),
                    5 => tile_avx2::<5>(xr, k, panel, out.0, r, p, n, accumulate),
                    4 => tile_avx2::<4>(xr, k, panel, out.0, r, p, n, accumulate),
                    3 => tile_avx2::<3>(xr, k, panel, out.0, r, p, n, accumulate),
                    2 => tile_avx2::<2>(xr, k, panel, out.0, r, p, n, accumulate),
                    _ => tile_avx2::<1>(xr, k, panel, out.0, r, p, n, accumulate),
                }
            }
            r += height;
        }
    }
}

/// `R × 16` register tile over all of `k`: broadcasts of `x`, FMAs with the
/// panel's two vectors per input.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx2<const R: usize>(
    x: &[f32],
    k: usize,
    panel: &[f32],
    out: *mut f32,
    row: usize,
    p: usize,
    n: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    let wp = panel.as_ptr();
    let xp = x.as_ptr();
    for i in 0..k {
        // SAFETY: the panel holds k × 16 values, x holds R × k.
        unsafe {
            let w0 = _mm256_loadu_ps(wp.add(i * NR));
            let w1 = _mm256_loadu_ps(wp.add(i * NR + 8));
            for r in 0..R {
                let xb = _mm256_set1_ps(*xp.add(r * k + i));
                lo[r] = _mm256_fmadd_ps(xb, w0, lo[r]);
                hi[r] = _mm256_fmadd_ps(xb, w1, hi[r]);
            }
        }
    }
    let mut tile = [[0f32; NR]; R];
    for r in 0..R {
        // SAFETY: `tile[r]` holds 16 values.
        unsafe {
            _mm256_storeu_ps(tile[r].as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(tile[r].as_mut_ptr().add(8), hi[r]);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store(&tile, out, row, p, n, accumulate) }
}

/// The same tile loop without SIMD intrinsics, for CPUs without AVX2.
#[allow(clippy::too_many_arguments)]
unsafe fn block_portable(
    x: &[f32],
    k: usize,
    w: &Panels,
    n: usize,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: &SharedOut,
    accumulate: bool,
) {
    for p in panels {
        let panel = w.panel(p);
        for r in rows.clone() {
            let mut acc = [0f32; NR];
            for i in 0..k {
                let xi = x[r * k + i];
                for (a, &v) in acc.iter_mut().zip(&panel[i * NR..(i + 1) * NR]) {
                    *a += xi * v;
                }
            }
            // SAFETY: forwarded from the caller.
            unsafe { store(&[acc], out.0, r, p, n, accumulate) }
        }
    }
}

/// Writes (or adds) a tile of rows `row..` and panel `p` into `out`, dropping
/// the padding columns past `n`.
///
/// # Safety
/// `out` must point to at least `(row + R) × n` values this task may write.
#[inline(always)]
unsafe fn store<const R: usize>(
    tile: &[[f32; NR]; R],
    out: *mut f32,
    row: usize,
    p: usize,
    n: usize,
    accumulate: bool,
) {
    let first = p * NR;
    let width = NR.min(n - first);
    for (r, values) in tile.iter().enumerate() {
        // SAFETY: the caller guarantees the rows exist; `width` keeps the
        // columns below `n`.
        let dst = unsafe { std::slice::from_raw_parts_mut(out.add((row + r) * n + first), width) };
        if accumulate {
            dst.iter_mut().zip(values).for_each(|(d, v)| *d += v);
        } else {
            dst.copy_from_slice(&values[..width]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn naive(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for j in 0..n {
                out[r * n + j] = (0..k).map(|i| x[r * k + i] * w[i * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn panel_products_equal_the_naive_one_for_any_rows_and_ragged_columns() {
        // n not a multiple of 16, m across every tile height and both splits.
        for (m, k, n) in [
            (1, 7, 5),
            (5, 33, 40),
            (7, 64, 300),
            (13, 100, 16),
            (200, 70, 130),
        ] {
            let x = values(m * k, m as u32);
            let w = values(k * n, n as u32);
            let want = naive(&x, m, k, &w, n);
            let mut wt = vec![0f32; k * n];
            for i in 0..k {
                for j in 0..n {
                    wt[j * k + i] = w[i * n + j];
                }
            }
            for packed in [
                Panels::from_row_major(&w, k, n),
                Panels::from_transposed(&wt, n, k),
            ] {
                let mut got = vec![f32::NAN; m * n];
                matmul(&x, m, &packed, &mut got, false);
                let diff = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-4, "{m}x{k}x{n}: {diff}");
                let mut acc = vec![2.0f32; m * n];
                matmul(&x, m, &packed, &mut acc, true);
                let diff = acc
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - (b + 2.0)).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-4, "{m}x{k}x{n} (+=): {diff}");
            }
        }
    }
}
