//! Dequantisation of ggml block formats to f32 (bit-exact with ggml's reference
//! `dequantize_row_*`), plus reference quantisers for the simple formats, used to
//! write test files.

use half::{bf16, f16};

use super::types::GgmlType;

/// Decodes `n_elements` values of type `ty` from `bytes`.
///
/// `bytes` must hold exactly the blocks for `n_elements` values; the error says
/// why not (the caller adds the file and tensor name).
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elements: usize) -> Result<Vec<f32>, String> {
    let block = ty.block_size();
    if !n_elements.is_multiple_of(block) {
        return Err(format!(
            "{n_elements} elements is not a whole number of {ty} blocks of {block}"
        ));
    }
    // A lying element count (found by fuzzing) must not overflow here: wrapped,
    // it could match `bytes` and size the allocation below from the lie.
    let Some(expected) = (n_elements / block).checked_mul(ty.type_size()) else {
        return Err(format!(
            "{n_elements} elements of {ty} overflow the size of any buffer"
        ));
    };
    if bytes.len() != expected {
        return Err(format!(
            "{ty} data of {} bytes, {n_elements} elements need {expected}",
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity(n_elements);
    match ty {
        GgmlType::F32 => out.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(le4(c)))),
        GgmlType::F16 => out.extend(bytes.chunks_exact(2).map(|c| f16_at(c, 0))),
        GgmlType::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32()),
        ),
        GgmlType::Q4_0 => bytes.chunks_exact(18).for_each(|b| q4_0_block(b, &mut out)),
        GgmlType::Q4_1 => bytes.chunks_exact(20).for_each(|b| q4_1_block(b, &mut out)),
        GgmlType::Q5_0 => bytes.chunks_exact(22).for_each(|b| q5_0_block(b, &mut out)),
        GgmlType::Q5_1 => bytes.chunks_exact(24).for_each(|b| q5_1_block(b, &mut out)),
        GgmlType::Q8_0 => bytes.chunks_exact(34).for_each(|b| q8_0_block(b, &mut out)),
        GgmlType::Q2K => bytes.chunks_exact(84).for_each(|b| q2_k_block(b, &mut out)),
        GgmlType::Q3K => bytes
            .chunks_exact(110)
            .for_each(|b| q3_k_block(b, &mut out)),
        GgmlType::Q4K => bytes
            .chunks_exact(144)
            .for_each(|b| q4_k_block(b, &mut out)),
        GgmlType::Q5K => bytes
            .chunks_exact(176)
            .for_each(|b| q5_k_block(b, &mut out)),
        GgmlType::Q6K => bytes
            .chunks_exact(210)
            .for_each(|b| q6_k_block(b, &mut out)),
        other => return Err(format!("dequantising {other} is not supported")),
    }
    Ok(out)
}

fn le4(c: &[u8]) -> [u8; 4] {
    [c[0], c[1], c[2], c[3]]
}

/// The little-endian f16 at byte offset `at`, widened to f32.
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// `d`, then 16 bytes: low nibbles are weights 0..16, high nibbles 16..32.
fn q4_0_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    out.extend(qs.iter().map(|&q| (f32::from(q & 0x0F) - 8.0) * d));
    out.extend(qs.iter().map(|&q| (f32::from(q >> 4) - 8.0) * d));
}

/// `d`, `m`, then 16 bytes of nibbles as in Q4_0; value = q * d + m.
fn q4_1_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qs = &b[4..20];
    out.extend(qs.iter().map(|&q| f32::from(q & 0x0F) * d + m));
    out.extend(qs.iter().map(|&q| f32::from(q >> 4) * d + m));
}

/// The 32 fifth bits of a Q5_0 / Q5_1 block: bit `i` of the little-endian
/// `u32` belongs to weight `i`.
fn high_bits_q5(b: &[u8]) -> u32 {
    u32::from_le_bytes(le4(b))
}

/// `d`, 4 bytes of fifth bits, 16 bytes of nibbles as in Q4_0; value =
/// (q - 16) * d with q the 5-bit value.
fn q5_0_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let qh = high_bits_q5(&b[2..6]);
    let qs = &b[6..22];
    let q = |i: usize, nibble: u8| {
        let high = ((qh >> i) & 1) as u8;
        f32::from((nibble | (high << 4)) as i8 - 16)
    };
    out.extend(qs.iter().enumerate().map(|(j, &v)| q(j, v & 0x0F) * d));
    out.extend(qs.iter().enumerate().map(|(j, &v)| q(j + 16, v >> 4) * d));
}

/// `d`, `m`, 4 bytes of fifth bits, 16 bytes of nibbles; value = q * d + m.
fn q5_1_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = high_bits_q5(&b[4..8]);
    let qs = &b[8..24];
    let q = |i: usize, nibble: u8| f32::from(nibble | ((((qh >> i) & 1) as u8) << 4));
    out.extend(qs.iter().enumerate().map(|(j, &v)| q(j, v & 0x0F) * d + m));
    out.extend(
        qs.iter()
            .enumerate()
            .map(|(j, &v)| q(j + 16, v >> 4) * d + m),
    );
}

/// `d`, then 32 signed bytes; value = q * d.
fn q8_0_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    out.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
}

/// ggml's `get_scale_min_k4`: 6-bit scale and min number `j` of a Q4_K block.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// 16 bytes of 4-bit scale / 4-bit min pairs, 64 bytes of 2-bit values, `d`,
/// `dmin`. Each half of 128 weights reads 32 bytes four times (shifts 0, 2, 4,
/// 6); each 16 weights have their own scale and min.
fn q2_k_block(b: &[u8], out: &mut Vec<f32>) {
    let scales = &b[0..16];
    let d = f16_at(b, 80);
    let min = f16_at(b, 82);
    let mut is = 0;
    for q in b[16..80].chunks_exact(32) {
        for shift in [0, 2, 4, 6] {
            for part in q.chunks_exact(16) {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * f32::from(sc & 0x0F), min * f32::from(sc >> 4));
                out.extend(part.iter().map(|&v| dl * f32::from((v >> shift) & 3) - ml));
            }
        }
    }
}

/// The 16 signed 6-bit scales of a Q3_K block, unpacked from 12 bytes: low 4
/// bits from bytes 0..8 (low nibbles for scales 0..8, high for 8..16), high 2
/// bits from bytes 8..12 (two bits per scale, scale `j` at byte `8 + j % 4`,
/// shift `2 * (j / 4)`), minus 32.
fn q3_k_scales(packed: &[u8]) -> [i8; 16] {
    std::array::from_fn(|j| {
        let low = if j < 8 {
            packed[j] & 0x0F
        } else {
            packed[j - 8] >> 4
        };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        (low | (high << 4)) as i8 - 32
    })
}

/// 32 bytes of high-bit masks, 64 bytes of 2-bit values, 12 bytes of packed
/// scales, `d`. A weight's value is its 2 bits minus 4 where its mask bit is
/// *clear* (ggml stores the complement); 16 weights share a scale.
fn q3_k_block(b: &[u8], out: &mut Vec<f32>) {
    let hmask = &b[0..32];
    let scales = q3_k_scales(&b[96..108]);
    let d = f16_at(b, 108);
    let mut is = 0;
    for (half, q) in b[32..96].chunks_exact(32).enumerate() {
        for (j, shift) in [0, 2, 4, 6].into_iter().enumerate() {
            let bit = 1u8 << (4 * half + j);
            for (l0, part) in [0, 16].into_iter().zip(q.chunks_exact(16)) {
                let dl = d * f32::from(scales[is]);
                is += 1;
                out.extend(part.iter().enumerate().map(|(l, &v)| {
                    let low = ((v >> shift) & 3) as i8;
                    let sub = if hmask[l0 + l] & bit != 0 { 0 } else { 4 };
                    dl * f32::from(low - sub)
                }));
            }
        }
    }
}

/// `d`, `dmin`, 12 bytes of packed 6-bit scales/mins, 128 bytes of nibbles.
fn q4_k_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let min = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * f32::from(sc1), min * f32::from(m1));
        let (d2, m2) = (d * f32::from(sc2), min * f32::from(m2));
        out.extend(q.iter().map(|&v| d1 * f32::from(v & 0x0F) - m1));
        out.extend(q.iter().map(|&v| d2 * f32::from(v >> 4) - m2));
    }
}

/// `d`, `dmin`, 12 bytes of scales/mins packed as in Q4_K, 32 bytes of fifth
/// bits (bit `s` of byte `l` belongs to weight `l` of sub-block `s`), 128 bytes
/// of nibbles laid out as in Q4_K.
fn q5_k_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    let min = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        for (sub, nibble_shift) in [(2 * chunk, 0), (2 * chunk + 1, 4)] {
            let (sc, m) = scale_min_k4(sub, scales);
            let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
            out.extend(q.iter().zip(qh).map(|(&v, &h)| {
                let value = ((v >> nibble_shift) & 0x0F) | (((h >> sub) & 1) << 4);
                d1 * f32::from(value) - m1
            }));
        }
    }
}

/// 128 bytes low 4 bits, 64 bytes high 2 bits, 16 signed scales, `d`.
fn q6_k_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 208);
    let start = out.len();
    out.resize(start + 256, 0.0);
    let y = &mut out[start..];
    for half in 0..2 {
        let ql = &b[64 * half..64 * half + 64];
        let qh = &b[128 + 32 * half..128 + 32 * half + 32];
        let sc = &b[192 + 8 * half..192 + 8 * half + 8];
        let y = &mut y[128 * half..128 * half + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            let s = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = s(0) * q1 as f32;
            y[l + 32] = s(2) * q2 as f32;
            y[l + 64] = s(4) * q3 as f32;
            y[l + 96] = s(6) * q4 as f32;
        }
    }
}

/// Encodes `values` as `ty` with ggml's reference quantisers (`quantize_row_*_ref`).
/// Supports F32, F16, BF16, Q4_0, Q4_1 and Q8_0; `values.len()` must be a whole
/// number of blocks.
pub fn quantize(ty: GgmlType, values: &[f32]) -> Result<Vec<u8>, String> {
    if !values.len().is_multiple_of(ty.block_size()) {
        return Err(format!(
            "{} values is not a whole number of {ty} blocks",
            values.len()
        ));
    }
    let mut out = Vec::with_capacity(values.len() / ty.block_size() * ty.type_size());
    match ty {
        GgmlType::F32 => values.iter().for_each(|v| out.extend(v.to_le_bytes())),
        GgmlType::F16 => values
            .iter()
            .for_each(|&v| out.extend(f16::from_f32(v).to_bits().to_le_bytes())),
        GgmlType::BF16 => values
            .iter()
            .for_each(|&v| out.extend(bf16::from_f32(v).to_bits().to_le_bytes())),
        GgmlType::Q4_0 => values
            .chunks_exact(32)
            .for_each(|x| quantize_q4_0(x, &mut out)),
        GgmlType::Q4_1 => values
            .chunks_exact(32)
            .for_each(|x| quantize_q4_1(x, &mut out)),
        GgmlType::Q8_0 => values
            .chunks_exact(32)
            .for_each(|x| quantize_q8_0(x, &mut out)),
        other => return Err(format!("quantising to {other} is not supported")),
    }
    Ok(out)
}

fn push_f16(out: &mut Vec<u8>, v: f32) {
    out.extend(f16::from_f32(v).to_bits().to_le_bytes());
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

fn quantize_q4_0(x: &[f32], out: &mut Vec<u8>) {
    // The signed value of largest magnitude maps to -8.
    let max = x
        .iter()
        .copied()
        .fold(0.0f32, |m, v| if v.abs() > m.abs() { v } else { m });
    let d = max / -8.0;
    let id = inverse(d);
    push_f16(out, d);
    let q = |v: f32| ((v * id + 8.5) as i8).min(15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
}

fn quantize_q4_1(x: &[f32], out: &mut Vec<u8>) {
    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    push_f16(out, d);
    push_f16(out, min);
    let q = |v: f32| (((v - min) * id + 0.5) as i8).min(15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
}

fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    push_f16(out, d);
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_bits().to_le_bytes()
    }

    #[test]
    fn q4_0_block_by_hand() {
        // d = 0.5; byte j holds low nibble j % 16 and high nibble 15 - j % 16.
        let mut b = f16_bytes(0.5).to_vec();
        b.extend((0u8..16).map(|j| j | ((15 - j) << 4)));
        let y = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
        assert_eq!(y[0], (0.0 - 8.0) * 0.5);
        assert_eq!(y[3], (3.0 - 8.0) * 0.5);
        assert_eq!(y[15], (15.0 - 8.0) * 0.5);
        assert_eq!(y[16], (15.0 - 8.0) * 0.5);
        assert_eq!(y[31], (0.0 - 8.0) * 0.5);
    }

    #[test]
    fn q4_1_block_by_hand() {
        let mut b = f16_bytes(0.25).to_vec();
        b.extend(f16_bytes(-1.0));
        b.extend((0u8..16).map(|j| j | (2 << 4)));
        let y = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        assert_eq!(y[0], -1.0);
        assert_eq!(y[5], 5.0 * 0.25 - 1.0);
        assert_eq!(y[15], 15.0 * 0.25 - 1.0);
        assert!(y[16..].iter().all(|&v| v == 2.0 * 0.25 - 1.0));
    }

    #[test]
    fn q8_0_block_by_hand() {
        let mut b = f16_bytes(0.125).to_vec();
        b.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let y = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert_eq!(y[0], -16.0 * 0.125);
        assert_eq!(y[16], 0.0);
        assert_eq!(y[31], 15.0 * 0.125);
    }

    #[test]
    fn f16_bf16_f32_by_hand() {
        let f16b: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&v| f16_bytes(v)).collect();
        assert_eq!(
            dequantize(GgmlType::F16, &f16b, 2).unwrap(),
            vec![1.5, -2.0]
        );
        // bf16 0x3FC0 = 1.5, 0xC000 = -2.0
        let bf = [0xC0, 0x3F, 0x00, 0xC0];
        assert_eq!(dequantize(GgmlType::BF16, &bf, 2).unwrap(), vec![1.5, -2.0]);
        let f32b: Vec<u8> = [0.1f32, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(dequantize(GgmlType::F32, &f32b, 2).unwrap(), vec![0.1, 3.0]);
    }

    #[test]
    fn q4_k_block_by_hand() {
        // d = 1, dmin = 0.5; scales: sub-blocks 0..4 have scale j+1 and min j;
        // sub-blocks 4..8 use the packed high form: scale 2, min 1.
        let mut b = f16_bytes(1.0).to_vec();
        b.extend(f16_bytes(0.5));
        let mut scales = [0u8; 12];
        for j in 0..4 {
            scales[j] = j as u8 + 1; // scale j (high 2 bits 0)
            scales[j + 4] = j as u8; // min j
            scales[j + 8] = 2 | (1 << 4); // low 4 bits of scale/min for sub-block j+4
        }
        b.extend(scales);
        // nibble pattern: low = 3, high = 7 everywhere
        b.extend([3u8 | (7 << 4); 128]);
        let y = dequantize(GgmlType::Q4K, &b, 256).unwrap();
        // chunk 0: sub-blocks 0 (low nibbles) and 1 (high nibbles)
        assert_eq!(y[0], 1.0 * 1.0 * 3.0 - 0.5 * 0.0);
        assert_eq!(y[32], 1.0 * 2.0 * 7.0 - 0.5 * 1.0);
        // chunk 1: sub-blocks 2 and 3
        assert_eq!(y[64], 3.0 * 3.0 - 0.5 * 2.0);
        assert_eq!(y[96], 4.0 * 7.0 - 0.5 * 3.0);
        // chunks 2, 3: sub-blocks 4..8, scale 2, min 1
        assert_eq!(y[128], 2.0 * 3.0 - 0.5);
        assert_eq!(y[255], 2.0 * 7.0 - 0.5);
    }

    #[test]
    fn q6_k_block_by_hand() {
        // ql low nibble 5, high nibble 9; qh all bits 01 -> +16 to each value.
        let mut b = vec![5u8 | (9 << 4); 128];
        b.extend([0b0101_0101u8; 64]);
        let scales: Vec<u8> = (1..=16)
            .map(|s: i8| (if s % 2 == 0 { -s } else { s }) as u8)
            .collect();
        b.extend(&scales);
        b.extend(f16_bytes(0.5));
        let y = dequantize(GgmlType::Q6K, &b, 256).unwrap();
        let q_lo = (5 + 16 - 32) as f32; // -11
        let q_hi = (9 + 16 - 32) as f32; // -7
        // first half: y[l] uses sc[0] (l < 16) or sc[1]; y[l+64] uses sc[4]/sc[5] with high nibble
        assert_eq!(y[0], 0.5 * 1.0 * q_lo);
        assert_eq!(y[16], 0.5 * -2.0 * q_lo);
        assert_eq!(y[32], 0.5 * 3.0 * q_lo);
        assert_eq!(y[64], 0.5 * 5.0 * q_hi);
        assert_eq!(y[96 + 16], 0.5 * -8.0 * q_hi);
        // second half uses scales 8..16
        assert_eq!(y[128], 0.5 * 9.0 * q_lo);
        assert_eq!(y[255], 0.5 * -16.0 * q_hi);
    }

    #[test]
    fn wrong_length_is_an_error() {
        assert!(dequantize(GgmlType::Q4_0, &[0u8; 17], 32).is_err());
        assert!(dequantize(GgmlType::Q4_0, &[0u8; 18], 31).is_err());
        assert!(dequantize(GgmlType::Q5_0, &[0u8; 21], 32).is_err());
        assert!(dequantize(GgmlType::Q3K, &[0u8; 110], 255).is_err());
        let err = dequantize(GgmlType::Q8_1, &[0u8; 36], 32).unwrap_err();
        assert!(err.contains("Q8_1"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn quantize_roundtrip_error_is_bounded(values in proptest::collection::vec(-4.0f32..4.0, 64)) {
            for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
                let bytes = quantize(ty, &values).unwrap();
                let back = dequantize(ty, &bytes, values.len()).unwrap();
                for (block, back_block) in values.chunks(32).zip(back.chunks(32)) {
                    let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    // Q8_0 and Q4_1: half a step; Q4_0 clamps +8 to 7, a whole step of amax / 8.
                    let step = match ty {
                        GgmlType::Q8_0 => amax / 127.0 * 0.5,
                        GgmlType::Q4_0 => amax / 8.0,
                        _ => 2.0 * amax / 15.0 * 0.5,
                    };
                    // plus f16 rounding of the scale (and of the minimum)
                    let tol = step + amax * 2e-3 + 1e-6;
                    for (a, b) in block.iter().zip(back_block) {
                        proptest::prop_assert!((a - b).abs() <= tol, "{ty}: {a} vs {b} (tol {tol})");
                    }
                }
            }
        }
    }
}
