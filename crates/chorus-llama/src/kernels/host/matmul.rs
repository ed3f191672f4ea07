//! Weight products on host buffers.
//!
//! Many-row products (prefill, batched decoding) call the `gemm` crate, which
//! packs, runs AVX2/AVX-512 micro-kernels and splits the work over rayon's pool.
//! Few-row products (one decoding step of a small batch) are bound by reading
//! the weights once: for those a streaming loop over the weight rows, split into
//! column bands across the pool, beats packing (see `SMALL_ROWS`).

use rayon::prelude::*;

/// Rows up to which the streaming kernels beat `gemm` (which packs the weights).
const SMALL_ROWS: usize = 4;
/// Below this many multiply-adds a product stays on the calling thread: handing
/// work to the pool costs more than it saves.
const PARALLEL_WORK: usize = 1 << 20;

/// How the right-hand matrix `w` of `x · w` is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `w` is `[k, n]` row-major (linear layers stored `[in, out]`).
    InOut,
    /// `w` is `[n, k]` row-major and used transposed (the embedding as LM head).
    OutIn,
}

/// `out = x · w` (or `out += x · w` when `accumulate`), `x: [m, k]` row-major,
/// `out: [m, n]` row-major.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
    layout: Layout,
    out: &mut [f32],
    accumulate: bool,
) {
    debug_assert_eq!(x.len(), m * k);
    debug_assert_eq!(w.len(), k * n);
    debug_assert_eq!(out.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if m <= SMALL_ROWS {
        streaming(x, m, k, w, n, layout, out, accumulate);
    } else {
        packed(x, m, k, w, n, layout, out, accumulate);
    }
}

/// Threads for a product of `work` multiply-adds.
fn threads_for(work: usize) -> usize {
    if work < PARALLEL_WORK {
        1
    } else {
        rayon::current_num_threads()
    }
}

#[allow(clippy::too_many_arguments)]
fn packed(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
    layout: Layout,
    out: &mut [f32],
    accumulate: bool,
) {
    let (rhs_cs, rhs_rs) = match layout {
        Layout::InOut => (1, n as isize),
        Layout::OutIn => (k as isize, 1),
    };
    let threads = threads_for(m * k * n);
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `x` holds m·k values (row-major: column stride 1, row stride k),
    // `w` holds k·n values read with the strides of its layout, `out` holds m·n
    // values (row-major) and does not overlap either input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Few rows: the output columns are split into bands, one per worker; each
/// band reads its part of `w` once for all rows.
#[allow(clippy::too_many_arguments)]
fn streaming(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
    layout: Layout,
    out: &mut [f32],
    accumulate: bool,
) {
    let bands = threads_for(m * k * n).min(n);
    let band = |lo: usize, hi: usize, block: &mut [f32]| match layout {
        Layout::InOut => axpy_band(x, k, w, n, lo, hi, block),
        Layout::OutIn => dot_band(x, k, w, lo, hi, block),
    };
    if bands <= 1 {
        if !accumulate {
            out.fill(0.0);
        }
        // One band spanning every column: accumulate straight into `out`.
        if layout == Layout::InOut {
            band(0, n, out);
        } else {
            let mut block = vec![0f32; m * n];
            band(0, n, &mut block);
            add_or_copy(out, &block, accumulate);
        }
        return;
    }
    let edges: Vec<(usize, usize)> = (0..bands)
        .map(|b| (b * n / bands, (b + 1) * n / bands))
        .collect();
    let blocks: Vec<Vec<f32>> = edges
        .par_iter()
        .map(|&(lo, hi)| {
            let mut block = vec![0f32; m * (hi - lo)];
            band(lo, hi, &mut block);
            block
        })
        .collect();
    for (&(lo, hi), block) in edges.iter().zip(&blocks) {
        let width = hi - lo;
        for row in 0..m {
            let dst = &mut out[row * n + lo..row * n + hi];
            add_or_copy(dst, &block[row * width..(row + 1) * width], accumulate);
        }
    }
}

fn add_or_copy(dst: &mut [f32], src: &[f32], accumulate: bool) {
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.copy_from_slice(src);
    }
}

/// `band[row][j - lo] += Σ_i x[row][i] · w[i][j]` for `j` in `lo..hi`, `w`
/// row-major `[k, n]`; compiled for AVX2/FMA when the CPU has it (the crate is
/// built for baseline x86-64, where the loop would use 4-wide SSE).
fn axpy_band(x: &[f32], k: usize, w: &[f32], n: usize, lo: usize, hi: usize, band: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { axpy_band_avx2(x, k, w, n, lo, hi, band) };
        }
    }
    axpy_band_portable(x, k, w, n, lo, hi, band)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn axpy_band_avx2(
    x: &[f32],
    k: usize,
    w: &[f32],
    n: usize,
    lo: usize,
    hi: usize,
    band: &mut [f32],
) {
    axpy_band_portable(x, k, w, n, lo, hi, band)
}

#[inline(always)]
fn axpy_band_portable(
    x: &[f32],
    k: usize,
    w: &[f32],
    n: usize,
    lo: usize,
    hi: usize,
    band: &mut [f32],
) {
    let width = hi - lo;
    // Weight rows outermost: each is read once and applied to every input row
    // while it is in cache (the few output rows stay in L1/L2).
    for i in 0..k {
        let w_row = &w[i * n + lo..i * n + hi];
        for (row, y) in band.chunks_exact_mut(width).enumerate() {
            let xi = x[row * k + i];
            for (yj, wj) in y.iter_mut().zip(w_row) {
                *yj += xi * wj;
            }
        }
    }
}

/// `band[row][j - lo] = x[row] · w[j]` for `j` in `lo..hi`, `w` row-major `[n, k]`.
fn dot_band(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_band_avx2(x, k, w, lo, hi, band) };
        }
    }
    dot_band_portable(x, k, w, lo, hi, band)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_band_avx2(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    dot_band_portable(x, k, w, lo, hi, band)
}

#[inline(always)]
fn dot_band_portable(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    let width = hi - lo;
    for j in lo..hi {
        let w_row = &w[j * k..(j + 1) * k];
        for (row, x_row) in x.chunks_exact(k).enumerate() {
            band[row * width + (j - lo)] = super::ops::dot(x_row, w_row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for j in 0..n {
                out[r * n + j] = (0..k).map(|i| x[r * k + i] * w[i * n + j]).sum();
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn transpose(w: &[f32], k: usize, n: usize) -> Vec<f32> {
        let mut t = vec![0f32; k * n];
        for i in 0..k {
            for j in 0..n {
                t[j * k + i] = w[i * n + j];
            }
        }
        t
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    #[test]
    fn products_agree_with_the_naive_one_for_few_and_many_rows_and_both_layouts() {
        // Large enough (k·n·m ≥ PARALLEL_WORK for the bigger m) to split across
        // threads too.
        let (k, n) = (70, 3000);
        let w = values(k * n, 1);
        let wt = transpose(&w, k, n);
        for m in [1, 3, 4, 5, 9, 40] {
            let x = values(m * k, m as u32);
            let want = naive(&x, m, k, &w, n);
            for (weights, layout) in [(&w, Layout::InOut), (&wt, Layout::OutIn)] {
                let mut got = vec![f32::NAN; m * n];
                matmul(&x, m, k, weights, n, layout, &mut got, false);
                assert!(max_diff(&got, &want) < 1e-4, "m = {m}, {layout:?}");
                let mut acc = vec![1.0f32; m * n];
                matmul(&x, m, k, weights, n, layout, &mut acc, true);
                let plus_one: Vec<f32> = want.iter().map(|v| v + 1.0).collect();
                assert!(max_diff(&acc, &plus_one) < 1e-4, "m = {m}, {layout:?} (+=)");
            }
        }
    }
}
