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
            // exp(-g) for the whole row at once (vectorised), then the products.
            for (o, &g) in o.iter_mut().zip(gate) {
                *o = -g;
            }
            exp_in_place(o);
            for ((o, &g), &u) in o.iter_mut().zip(gate).zip(up) {
                *o = g / (1.0 + *o) * u;
            }
        });
    out
}

/// `x = exp(x)` elementwise: 8 lanes at a time with AVX2 when the CPU has it
/// (a Cephes-style polynomial, within 2 ulp of the correctly rounded value
/// over the whole f32 range), `f32::exp` otherwise and for the tail. libm's
/// scalar exp was 2.7-3.6 % of a CPU run and most of SwiGLU's time.
pub(crate) fn exp_in_place(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { exp_in_place_avx2(x) };
        }
    }
    x.iter_mut().for_each(|v| *v = v.exp());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_in_place_avx2(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(8);
    for chunk in &mut chunks {
        // SAFETY: `chunk` holds exactly 8 values; unaligned loads and stores.
        unsafe {
            use std::arch::x86_64::*;
            let v = _mm256_loadu_ps(chunk.as_ptr());
            _mm256_storeu_ps(chunk.as_mut_ptr(), exp8(v));
        }
    }
    chunks
        .into_remainder()
        .iter_mut()
        .for_each(|v| *v = v.exp());
}

/// `exp` of 8 lanes: `2^n · p(r)` with `x = n·ln2 + r`, `|r| ≤ ln2/2`, `p` the
/// degree-6 Cephes polynomial; inputs below the smallest normal result give
/// 0, above the largest give +inf, NaN stays NaN.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn exp8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // ln(f32::MAX) and ln(f32::MIN_POSITIVE).
    let hi = _mm256_set1_ps(88.722_83);
    let lo = _mm256_set1_ps(-87.336_55);
    let clamped = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        clamped,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    // r = x - n·ln2 in two steps (Cody-Waite) to keep r exact.
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), clamped);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let r2 = _mm256_mul_ps(r, r);
    let p = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0));
    // 2^n as two normal factors 2^(n/2)·2^(n - n/2): n reaches 128 and -126.
    let n = _mm256_cvtps_epi32(n);
    let half = _mm256_srai_epi32::<1>(n);
    let power = |e: __m256i| {
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            e,
            _mm256_set1_epi32(127),
        )))
    };
    let result = _mm256_mul_ps(
        _mm256_mul_ps(p, power(half)),
        power(_mm256_sub_epi32(n, half)),
    );
    // Below the clamp: 0; above: +inf; NaN: NaN (the clamp would hide it).
    let result = _mm256_blendv_ps(
        result,
        _mm256_setzero_ps(),
        _mm256_cmp_ps::<_CMP_LT_OQ>(x, lo),
    );
    let result = _mm256_blendv_ps(
        result,
        _mm256_set1_ps(f32::INFINITY),
        _mm256_cmp_ps::<_CMP_GT_OQ>(x, hi),
    );
    _mm256_blendv_ps(result, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
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
    fn vector_exp_is_within_two_ulp_everywhere() {
        let mut inputs: Vec<f32> = (-2000..2000).map(|i| i as f32 * 0.0441).collect();
        inputs.extend([
            0.0, -0.0, 1e-30, -1e-30, 88.0, 88.7, 89.0, -87.0, -87.4, -104.0, -1e4, 1e4,
        ]);
        inputs.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        let mut ours = inputs.clone();
        exp_in_place(&mut ours);
        for (&x, &got) in inputs.iter().zip(&ours) {
            let want = x.exp();
            if want.is_nan() {
                assert!(got.is_nan(), "exp({x}) = {got}");
                continue;
            }
            // Results below f32's smallest normal flush to 0 (scores that far
            // below the max weigh nothing either way).
            if want < f32::MIN_POSITIVE {
                assert!(got <= f32::MIN_POSITIVE, "exp({x}) = {got}");
                continue;
            }
            let ulps = (got.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(
                ulps <= 2 || (want.is_infinite() && got.is_infinite()),
                "exp({x}) = {got}, want {want}"
            );
        }
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
