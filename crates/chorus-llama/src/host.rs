//! CPU fast path for the weight matmuls.
//!
//! Burn's ndarray backend copies both operands of every `matmul` (a reshape to 3-D
//! that clones standard-layout arrays) before `matrixmultiply` packs them again, so
//! a decode step streams each weight matrix about five times. On the [`Cpu`]
//! backend the model therefore keeps its weight matrices as plain row-major host
//! buffers and multiplies them here: few-row products (decoding, LM head) read each
//! weight once with an axpy / dot loop, many-row products (prefill) call
//! `matrixmultiply::sgemm` directly on the buffers. Work is split over the
//! available cores with scoped threads. Activations cross the Burn boundary by
//! value (`into_data` / `from_data`): they are tiny next to the weights.
//!
//! [`Cpu`]: crate::Cpu

use std::any::TypeId;
use std::sync::{Arc, OnceLock};

use burn::tensor::{Tensor, TensorData, backend::Backend};

/// Rows up to which the streaming kernels beat packing for `sgemm`.
const SMALL_ROWS: usize = 8;
/// Below this many multiply-adds a product stays on the calling thread: a scoped
/// thread costs tens of microseconds to start, and far more when the cores are
/// busy with other work (measured: a decode step went from 28 ms of CPU to 190 ms
/// of wall time on a loaded 2-core machine when every product was split). Prefill
/// products and the LM head are well above it; one-row layer products are not.
const PARALLEL_WORK: usize = 1 << 23;

/// Whether `B` is the CPU backend the host kernels serve.
pub(crate) fn is_cpu<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<crate::Cpu>()
}

/// Worker threads per product: env `CHORUS_CPU_THREADS` if set, else the cores.
fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("CHORUS_CPU_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// A row-major `[rows, cols]` f32 matrix in host memory.
#[derive(Debug, Clone)]
pub(crate) struct HostMatrix {
    data: Arc<Vec<f32>>,
    rows: usize,
    cols: usize,
}

impl HostMatrix {
    /// Wraps row-major data; `data.len()` must be `rows * cols` (checked by the loader).
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self {
            // `Arc::new`, not `into()`: an `Arc<[f32]>` would copy the weights.
            data: Arc::new(data),
            rows,
            cols,
        }
    }

    /// `x · self` for `x: [m, rows]`, giving `[m, cols]`.
    pub fn left_multiply<B: Backend>(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (xs, m, device) = to_host(x);
        let out = matmul(&xs, m, self);
        Tensor::from_data(TensorData::new(out, [m, self.cols]), &device)
    }

    /// `x · selfᵀ` for `x: [m, cols]`, giving `[m, rows]` (the tied LM head).
    pub fn left_multiply_transposed<B: Backend>(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (xs, m, device) = to_host(x);
        let out = matmul_transposed(&xs, m, self);
        Tensor::from_data(TensorData::new(out, [m, self.rows]), &device)
    }

    /// Rows `ids` stacked, `[ids.len(), cols]` (the embedding lookup).
    pub fn gather_rows<B: Backend>(&self, ids: &[usize], device: &B::Device) -> Tensor<B, 2> {
        let mut out = Vec::with_capacity(ids.len() * self.cols);
        for &id in ids {
            out.extend_from_slice(&self.data[id * self.cols..(id + 1) * self.cols]);
        }
        Tensor::from_data(TensorData::new(out, [ids.len(), self.cols]), device)
    }
}

fn to_host<B: Backend>(x: Tensor<B, 2>) -> (Vec<f32>, usize, B::Device) {
    let device = x.device();
    let [m, _] = x.dims();
    // The CPU backend is f32 and its data conversion cannot fail; `convert` keeps
    // this correct (if slower) for any other float backend routed here.
    let values = x
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default();
    (values, m, device)
}

/// `x [m, k] · w [k, n]`, row-major.
fn matmul(x: &[f32], m: usize, w: &HostMatrix) -> Vec<f32> {
    let (k, n) = (w.rows, w.cols);
    let mut out = vec![0f32; m * n];
    if m <= SMALL_ROWS {
        // Split the output columns: each thread streams its column band of `w` once.
        let bands = bands(n, m * k * n);
        run_bands(&mut out, m, n, &bands, |lo, hi, band| {
            axpy_band(x, k, &w.data[..], n, lo, hi, band)
        });
        return out;
    }
    sgemm_in_row_shares(x, m, k, &w.data, (n as isize, 1), n, &mut out);
    out
}

/// `x [m, k] · wᵀ` with `w: [n, k]` row-major.
fn matmul_transposed(x: &[f32], m: usize, w: &HostMatrix) -> Vec<f32> {
    let (n, k) = (w.rows, w.cols);
    let mut out = vec![0f32; m * n];
    if m <= SMALL_ROWS {
        let bands = bands(n, m * k * n);
        run_bands(&mut out, m, n, &bands, |lo, hi, band| {
            dot_band(x, k, &w.data[..], lo, hi, band)
        });
        return out;
    }
    sgemm_in_row_shares(x, m, k, &w.data, (1, k as isize), n, &mut out);
    out
}

/// Many rows: `out [m, n] = x [m, k] · w` (`w` read with `w_strides`, row then
/// column), the rows split across threads, one plain sgemm per share.
fn sgemm_in_row_shares(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    w_strides: (isize, isize),
    n: usize,
    out: &mut [f32],
) {
    let shares = row_shares(m, m * k * n);
    std::thread::scope(|scope| {
        let mut rest = out;
        let mut start = 0;
        for &rows in &shares {
            let (mine, tail) = rest.split_at_mut(rows * n);
            rest = tail;
            let x_part = &x[start * k..(start + rows) * k];
            start += rows;
            scope.spawn(move || sgemm(x_part, rows, k, w, w_strides, n, mine));
        }
    });
}

/// `band[row][j - lo] += Σ_i x[row][i] · w[i][j]` for `j` in `lo..hi`, with `w`
/// row-major `[k, n]`, dispatched to AVX-512 / AVX2 code when the CPU has it (the
/// crate is built for baseline x86-64, where these loops would use 4-wide SSE).
fn axpy_band(x: &[f32], k: usize, w: &[f32], n: usize, lo: usize, hi: usize, band: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { axpy_band_avx512(x, k, w, n, lo, hi, band) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { axpy_band_avx2(x, k, w, n, lo, hi, band) };
        }
    }
    axpy_band_portable(x, k, w, n, lo, hi, band)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn axpy_band_avx512(
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
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
    // while it is in cache (m ≤ SMALL_ROWS output rows stay in L1/L2).
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

/// `band[row][j - lo] = x[row] · w[j]` for `j` in `lo..hi`, with `w` row-major
/// `[n, k]`; dispatched like [`axpy_band`].
fn dot_band(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_band_avx512(x, k, w, lo, hi, band) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { dot_band_avx2(x, k, w, lo, hi, band) };
        }
    }
    dot_band_portable(x, k, w, lo, hi, band)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dot_band_avx512(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    dot_band_portable(x, k, w, lo, hi, band)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_band_avx2(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    dot_band_portable(x, k, w, lo, hi, band)
}

#[inline(always)]
fn dot_band_portable(x: &[f32], k: usize, w: &[f32], lo: usize, hi: usize, band: &mut [f32]) {
    let width = hi - lo;
    for j in lo..hi {
        let w_row = &w[j * k..(j + 1) * k];
        for (row, x_row) in x.chunks_exact(k).enumerate() {
            band[row * width + (j - lo)] = dot(x_row, w_row);
        }
    }
}

/// Sixteen independent partial sums so the loop vectorises without reassociation.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            acc[lane] += ca[lane] * cb[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out [m, n] = x [m, k] · B` where `B[i][j]` is at `b[i * rs + j * cs]`.
fn sgemm(
    x: &[f32],
    m: usize,
    k: usize,
    b: &[f32],
    (rs, cs): (isize, isize),
    n: usize,
    out: &mut [f32],
) {
    // SAFETY: `x` holds m·k values (row-major), `b` holds k·n values addressed by
    // the given strides (both layouts checked by the callers' shapes), and `out`
    // holds m·n values; the slices do not overlap.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            x.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            rs,
            cs,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Column bands `[lo, hi)` covering `0..n`, one per thread when the work is large.
fn bands(n: usize, work: usize) -> Vec<(usize, usize)> {
    let count = if work >= PARALLEL_WORK {
        threads().min(n).max(1)
    } else {
        1
    };
    (0..count)
        .map(|t| (t * n / count, (t + 1) * n / count))
        .collect()
}

/// Row counts per thread for `m` rows.
fn row_shares(m: usize, work: usize) -> Vec<usize> {
    let count = if work >= PARALLEL_WORK {
        threads().min(m).max(1)
    } else {
        1
    };
    (0..count)
        .map(|t| (t + 1) * m / count - t * m / count)
        .collect()
}

/// Runs `kernel(lo, hi, band)` per column band, each writing a `[m, hi - lo]`
/// scratch block, then scatters the blocks into `out [m, n]`.
fn run_bands(
    out: &mut [f32],
    m: usize,
    n: usize,
    bands: &[(usize, usize)],
    kernel: impl Fn(usize, usize, &mut [f32]) + Sync,
) {
    if let [(lo, hi)] = bands {
        // One band spanning every column: write straight into `out`.
        kernel(*lo, *hi, out);
        return;
    }
    let blocks: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bands
            .iter()
            .map(|&(lo, hi)| {
                let kernel = &kernel;
                scope.spawn(move || {
                    let mut block = vec![0f32; m * (hi - lo)];
                    kernel(lo, hi, &mut block);
                    block
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (&(lo, hi), block) in bands.iter().zip(&blocks) {
        let width = hi - lo;
        if block.len() != m * width {
            continue; // only if a worker panicked; its panic is re-raised by scope
        }
        for row in 0..m {
            out[row * n + lo..row * n + hi].copy_from_slice(&block[row * width..(row + 1) * width]);
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

    #[test]
    fn kernels_agree_with_the_naive_product_for_few_and_many_rows() {
        let (k, n) = (70, 300);
        let w = values(k * n, 1);
        let plain = HostMatrix::new(w.clone(), k, n);
        let transposed = HostMatrix::new(transpose(&w, k, n), n, k);
        for m in [1, 3, 8, 9, 40] {
            let x = values(m * k, m as u32);
            let want = naive(&x, m, k, &w, n);
            for got in [matmul(&x, m, &plain), matmul_transposed(&x, m, &transposed)] {
                let diff = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff < 1e-4, "m = {m}: max abs diff {diff}");
            }
        }
    }

    #[test]
    fn bands_and_shares_cover_everything_once() {
        for (n, work) in [(1, 1 << 20), (7, 1 << 20), (1000, 10), (1000, 1 << 20)] {
            let b = bands(n, work);
            assert_eq!(b.first().map(|x| x.0), Some(0));
            assert_eq!(b.last().map(|x| x.1), Some(n));
            assert!(b.windows(2).all(|w| w[0].1 == w[1].0));
            assert_eq!(row_shares(n, work).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn only_the_ndarray_f32_backend_takes_the_host_path() {
        assert!(is_cpu::<crate::Cpu>());
        assert!(!is_cpu::<burn::backend::NdArray<f64>>());
    }
}
