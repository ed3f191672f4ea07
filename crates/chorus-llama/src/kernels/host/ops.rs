//! Row-wise operations of the CPU kernels: RMSNorm, SwiGLU, rotary embeddings
//! and the vector primitives attention is made of. Each whole-matrix operation
//! splits its rows over rayon's pool once the matrix is large enough to pay
//! for it.

use rayon::prelude::*;

/// Rows per rayon task: below this much work per task, splitting costs more
/// than it saves.
fn rows_per_task(cols: usize) -> usize {
    (16_384 / cols.max(1)).max(1)
}

/// `x · rsqrt(mean(x²) + eps) · weight` per row of `x: [rows, weight.len()]`,
/// in the order `transformers` computes it.
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let cols = weight.len();
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(cols)
        .zip(x.par_chunks(cols))
        .with_min_len(rows_per_task(cols))
        .for_each(|(o, row)| {
            let mean_square = sum_of_squares(row) / cols as f32;
            let scale = 1.0 / (mean_square + eps).sqrt();
            for ((o, &v), &w) in o.iter_mut().zip(row).zip(weight) {
                *o = (v * scale) * w;
            }
        });
    out
}

/// `silu(gate) · up` per row of `[rows, 2·inter]` (gate columns, then up).
pub(crate) fn swiglu(gate_up: &[f32], inter: usize) -> Vec<f32> {
    let rows = gate_up.len() / (2 * inter).max(1);
    let mut out = vec![0f32; rows * inter];
    out.par_chunks_mut(inter)
        .zip(gate_up.par_chunks(2 * inter))
        .with_min_len(rows_per_task(2 * inter))
        .for_each(|(o, row)| {
            let (gate, up) = row.split_at(inter);
            for ((o, &g), &u) in o.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + (-g).exp()) * u;
            }
        });
    out
}

/// Rotates one head `x` (width `2·cos.len()`) in place: `x·cos + rotate_half(x)·sin`.
#[inline]
pub(crate) fn rotate(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    let (first, second) = x.split_at_mut(half);
    for i in 0..half {
        let (a, b) = (first[i], second[i]);
        first[i] = a * cos[i] - b * sin[i];
        second[i] = b * cos[i] + a * sin[i];
    }
}

/// Sixteen independent partial sums so the loop vectorises without
/// reassociating a single sum.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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

#[inline(always)]
fn sum_of_squares(a: &[f32]) -> f32 {
    dot(a, a)
}

/// `y += alpha · x`.
#[inline(always)]
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_scales_rows_to_unit_root_mean_square() {
        let x = [3.0f32, 4.0, 0.0, 0.0];
        let out = rms_norm(&x, &[1.0, 2.0], 0.0);
        let rms = (12.5f32).sqrt();
        assert!((out[0] - 3.0 / rms).abs() < 1e-6);
        assert!((out[1] - 8.0 / rms).abs() < 1e-6);
        // An all-zero row with eps 0 is 0 · inf: NaN, as in transformers.
        assert!(out[2].is_nan());
    }

    #[test]
    fn swiglu_is_silu_of_gate_times_up() {
        let out = swiglu(&[0.0, 2.0, 5.0, 7.0], 2);
        assert_eq!(out[0], 0.0);
        let silu2 = 2.0 / (1.0 + (-2.0f32).exp());
        assert!((out[1] - silu2 * 7.0).abs() < 1e-6);
    }

    #[test]
    fn rotation_turns_each_pair_by_its_angle() {
        let mut x = [1.0f32, 0.0, 0.0, 1.0];
        let angle = [0.5f32, 1.0];
        let cos: Vec<f32> = angle.iter().map(|a| a.cos()).collect();
        let sin: Vec<f32> = angle.iter().map(|a| a.sin()).collect();
        rotate(&mut x, &cos, &sin);
        // Pair 0 is (1, 0), pair 1 is (0, 1).
        assert!((x[0] - 0.5f32.cos()).abs() < 1e-7 && (x[2] - 0.5f32.sin()).abs() < 1e-7);
        assert!((x[1] + 1f32.sin()).abs() < 1e-7 && (x[3] - 1f32.cos()).abs() < 1e-7);
    }
}
