//! Self-attention on the CPU: rotary embeddings, keys and values written in
//! place into the preallocated store, then each new token attends to its
//! visible key ranges only (hidden keys are skipped, not masked), the shared
//! context's keys read from the shared store. Tokens are spread over rayon's
//! pool; the maths is Hugging Face's eager attention: `softmax(q·kᵀ/√d + bias)`
//! in f32, then the probability-weighted sum of values.
//!
//! Keys are stored transposed (`[dim][capacity]` per slot and head), so that
//! the scores of the query heads sharing a key/value head are computed for 8
//! keys at a time with vector multiply-adds and no horizontal sums; values stay
//! `[capacity][dim]` for the weighted sum.

use rayon::prelude::*;

use super::ops::{exp_in_place, rotate};
use super::{HostAct, HostKv};
use crate::kernels::{Heads, PassPlan};

/// Keys scored together.
const KEY_BLOCK: usize = 8;
/// Query heads scored together (their accumulators fill the vector registers).
const MAX_HEADS: usize = 8;
/// Query heads whose weighted value sums are accumulated together.
const MAX_WEIGHED_HEADS: usize = 4;
/// Output columns of a weighted value sum held in registers at once (two AVX2
/// vectors per head: with up to four heads, eight accumulators, enough
/// independent additions to keep both of a core's adders busy).
const VALUE_CHUNK: usize = 16;

/// One layer's keys and values of one store.
struct Store<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    capacity: usize,
    heads: Heads,
}

impl Store<'_> {
    /// Start of `head`'s transposed keys in `slot` (`[dim][capacity]`).
    #[inline(always)]
    fn keys_at(&self, slot: usize, head: usize) -> usize {
        (slot * self.heads.key_value + head) * self.heads.dim * self.capacity
    }

    /// Start of value `index` of `head` in `slot` (`[capacity][dim]`).
    #[inline(always)]
    fn value_at(&self, slot: usize, head: usize, index: usize) -> usize {
        ((slot * self.heads.key_value + head) * self.capacity + index) * self.heads.dim
    }
}

/// Attention of one layer; see [`crate::kernels::Kernels::attention`].
pub(crate) fn attention(
    qkv: &HostAct,
    plan: &PassPlan,
    layer: usize,
    kv: &mut HostKv,
    shared: Option<&HostKv>,
) -> HostAct {
    let heads = plan.heads;
    write_keys_and_values(qkv, plan, layer, kv);
    let own = kv.store(layer);
    let shared = shared.map(|s| s.store(layer));
    let width = heads.q_width();
    let mut out = vec![0f32; plan.len() * width];
    out.par_chunks_mut(width)
        .enumerate()
        .with_min_len(4)
        .for_each_init(
            || Scratch::new(heads),
            |scratch, (t, o)| {
                let q = &qkv.data[t * heads.qkv_width()..][..width];
                attend_token(plan, t, q, &own, shared.as_ref(), scratch, o);
            },
        );
    HostAct {
        data: out,
        rows: plan.len(),
        cols: width,
    }
}

/// Rotates the new keys and writes them (transposed) and the values into their
/// slots.
fn write_keys_and_values(qkv: &HostAct, plan: &PassPlan, layer: usize, kv: &mut HostKv) {
    let heads = plan.heads;
    let (half, dim) = (heads.dim / 2, heads.dim);
    let capacity = kv.shape.capacity;
    let mut key = vec![0f32; dim];
    let (keys, values) = kv.layer_mut(layer);
    for t in 0..plan.len() {
        let row = plan.token_row(t);
        let index = row.cached + (t - row.offset);
        let source = &qkv.data[t * heads.qkv_width()..][..heads.qkv_width()];
        let (cos, sin) = (&plan.cos[t * half..][..half], &plan.sin[t * half..][..half]);
        for head in 0..heads.key_value {
            let block = row.slot * heads.key_value + head;
            key.copy_from_slice(&source[heads.q_width() + head * dim..][..dim]);
            rotate(&mut key, cos, sin);
            let base = block * dim * capacity + index;
            for (d, &k) in key.iter().enumerate() {
                keys[base + d * capacity] = k;
            }
            let v = &source[heads.q_width() + heads.kv_width() + head * dim..][..dim];
            values[(block * capacity + index) * dim..][..dim].copy_from_slice(v);
        }
    }
}

/// Per-worker buffers.
struct Scratch {
    /// The rotated query heads of one key/value head, `[group][dim]`.
    queries: Vec<f32>,
    /// Scores, then probabilities, `[group][visible keys]`.
    scores: Vec<f32>,
    /// A run's last keys padded to a whole block (`[dim][KEY_BLOCK]`).
    padded: Vec<f32>,
}

impl Scratch {
    fn new(heads: Heads) -> Self {
        Self {
            queries: vec![0f32; heads.group() * heads.dim],
            scores: Vec::new(),
            padded: Vec::new(),
        }
    }
}

/// A run of visible keys inside one store.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// In the shared store (else the row's own slot).
    shared: bool,
    /// First key's index in its store.
    start: usize,
    /// Keys in the run.
    len: usize,
    /// First key's index in the row's key space (for the bias).
    key: usize,
}

/// The token's visible key ranges split at the shared/own boundary.
fn runs(plan: &PassPlan, t: usize) -> impl Iterator<Item = Run> + '_ {
    let shared = plan.token_row(t).shared;
    plan.token_ranges(t).iter().flat_map(move |&[a, b]| {
        let (a, b) = (a as usize, b as usize);
        let in_shared = (a < shared).then(|| Run {
            shared: true,
            start: a,
            len: b.min(shared) - a,
            key: a,
        });
        let in_own = (b > shared).then(|| {
            let from = a.max(shared);
            Run {
                shared: false,
                start: from - shared,
                len: b - from,
                key: from,
            }
        });
        in_shared.into_iter().chain(in_own)
    })
}

/// Every head of new token `t`, written into `out` (`[query heads · dim]`);
/// compiled for AVX2/FMA when the CPU has it (the crate is built for baseline
/// x86-64, where the loops would use 4-wide SSE).
fn attend_token(
    plan: &PassPlan,
    t: usize,
    q: &[f32],
    own: &Store<'_>,
    shared: Option<&Store<'_>>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { attend_token_avx2(plan, t, q, own, shared, scratch, out) };
        }
    }
    attend_token_portable(plan, t, q, own, shared, scratch, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn attend_token_avx2(
    plan: &PassPlan,
    t: usize,
    q: &[f32],
    own: &Store<'_>,
    shared: Option<&Store<'_>>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    attend_token_portable(plan, t, q, own, shared, scratch, out)
}

#[inline(always)]
fn attend_token_portable(
    plan: &PassPlan,
    t: usize,
    q: &[f32],
    own: &Store<'_>,
    shared: Option<&Store<'_>>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let heads = plan.heads;
    let (dim, group, half) = (heads.dim, heads.group(), heads.dim / 2);
    let row = plan.token_row(t);
    let (cos, sin) = (&plan.cos[t * half..][..half], &plan.sin[t * half..][..half]);
    let visible: usize = runs(plan, t).map(|r| r.len).sum();
    let scale = (dim as f32).powf(-0.5);
    let bias = plan.token_bias(t);
    for g in 0..heads.key_value {
        let queries = &mut scratch.queries;
        queries.copy_from_slice(&q[g * group * dim..(g + 1) * group * dim]);
        for query in queries.chunks_exact_mut(dim) {
            rotate(query, cos, sin);
        }
        let scores = &mut scratch.scores;
        scores.clear();
        scores.resize(group * visible, 0.0);
        let mut column = 0;
        for run in runs(plan, t) {
            let store = store_of(run, own, shared);
            let keys = &store.keys[store.keys_at(if run.shared { 0 } else { row.slot }, g)..];
            score_run(
                queries,
                dim,
                keys,
                store.capacity,
                run,
                visible,
                column,
                scores,
                &mut scratch.padded,
            );
            for head_scores in scores.chunks_exact_mut(visible) {
                for (i, s) in head_scores[column..column + run.len].iter_mut().enumerate() {
                    *s = *s * scale + bias.map_or(0.0, |b| b.at(run.key + i));
                }
            }
            column += run.len;
        }
        for head_scores in scores.chunks_exact_mut(visible) {
            softmax_in_place(head_scores);
        }
        let o = &mut out[g * group * dim..(g + 1) * group * dim];
        o.fill(0.0);
        let mut column = 0;
        for run in runs(plan, t) {
            let store = store_of(run, own, shared);
            let slot = if run.shared { 0 } else { row.slot };
            let at = store.value_at(slot, g, run.start);
            let values = &store.values[at..at + run.len * dim];
            weigh_run(&scores[column..], visible, values, dim, o);
            column += run.len;
        }
    }
}

#[inline(always)]
fn store_of<'a>(run: Run, own: &'a Store<'a>, shared: Option<&'a Store<'a>>) -> &'a Store<'a> {
    match shared {
        Some(s) if run.shared => s,
        _ => own,
    }
}

/// `out_h += Σ_i probs[h · stride + i] · values_i` for every query head `h`
/// (`out`: `[heads][dim]`) over a run's values (`[keys][dim]`), each output
/// element summed key after key as a plain multiply-add loop would: the sums
/// are bit for bit those of one `axpy` per key, only the accumulators stay in
/// registers across the keys instead of going through memory for each.
#[inline(always)]
fn weigh_run(probs: &[f32], stride: usize, values: &[f32], dim: usize, out: &mut [f32]) {
    let group = out.len() / dim;
    let mut h0 = 0;
    while h0 < group {
        let heads = (group - h0).min(MAX_WEIGHED_HEADS);
        let (p, o) = (
            &probs[h0 * stride..],
            &mut out[h0 * dim..(h0 + heads) * dim],
        );
        match heads {
            4 => weigh_heads::<4>(p, stride, values, dim, o),
            3 => weigh_heads::<3>(p, stride, values, dim, o),
            2 => weigh_heads::<2>(p, stride, values, dim, o),
            _ => weigh_heads::<1>(p, stride, values, dim, o),
        }
        h0 += heads;
    }
}

/// [`weigh_run`] for `H` query heads, [`VALUE_CHUNK`] output columns at a time.
#[inline(always)]
fn weigh_heads<const H: usize>(
    probs: &[f32],
    stride: usize,
    values: &[f32],
    dim: usize,
    out: &mut [f32],
) {
    let keys = values.len() / dim;
    let p: [&[f32]; H] = std::array::from_fn(|h| &probs[h * stride..][..keys]);
    let mut c = 0;
    while c + VALUE_CHUNK <= dim {
        let mut acc = [[0f32; VALUE_CHUNK]; H];
        for (h, a) in acc.iter_mut().enumerate() {
            a.copy_from_slice(&out[h * dim + c..][..VALUE_CHUNK]);
        }
        for (i, value) in values.chunks_exact(dim).enumerate() {
            let v: &[f32; VALUE_CHUNK] = value[c..c + VALUE_CHUNK]
                .try_into()
                .unwrap_or(&[0.0; VALUE_CHUNK]);
            for (a, p) in acc.iter_mut().zip(&p) {
                let weight = p[i];
                for l in 0..VALUE_CHUNK {
                    a[l] += weight * v[l];
                }
            }
        }
        for (h, a) in acc.iter().enumerate() {
            out[h * dim + c..][..VALUE_CHUNK].copy_from_slice(a);
        }
        c += VALUE_CHUNK;
    }
    for c in c..dim {
        for (h, p) in p.iter().enumerate() {
            let mut a = out[h * dim + c];
            for (i, value) in values.chunks_exact(dim).enumerate() {
                a += p[i] * value[c];
            }
            out[h * dim + c] = a;
        }
    }
}

/// Raw scores `q_h · k_j` of every query head `h` for the keys of `run`,
/// written at `scores[h · stride + column ..]`; `keys` is the head's
/// transposed block (`[dim][capacity]`); `padded` is scratch space.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn score_run(
    queries: &[f32],
    dim: usize,
    keys: &[f32],
    capacity: usize,
    run: Run,
    stride: usize,
    column: usize,
    scores: &mut [f32],
    padded: &mut Vec<f32>,
) {
    let group = queries.len() / dim;
    let mut h0 = 0;
    // Query heads in register-sized bundles: the bundle size is a constant so
    // that the accumulators stay in vector registers.
    while h0 < group {
        let heads = (group - h0).min(MAX_HEADS);
        let (q, s) = (&queries[h0 * dim..], &mut scores[h0 * stride..]);
        match heads {
            8 => score_heads::<8, 1>(q, dim, keys, capacity, run, stride, column, s, padded),
            7 => score_heads::<7, 1>(q, dim, keys, capacity, run, stride, column, s, padded),
            6 => score_heads::<6, 2>(q, dim, keys, capacity, run, stride, column, s, padded),
            5 => score_heads::<5, 2>(q, dim, keys, capacity, run, stride, column, s, padded),
            4 => score_heads::<4, 3>(q, dim, keys, capacity, run, stride, column, s, padded),
            3 => score_heads::<3, 4>(q, dim, keys, capacity, run, stride, column, s, padded),
            2 => score_heads::<2, 4>(q, dim, keys, capacity, run, stride, column, s, padded),
            _ => score_heads::<1, 4>(q, dim, keys, capacity, run, stride, column, s, padded),
        }
        h0 += heads;
    }
}

/// [`score_run`] for `H` query heads, `B` blocks of [`KEY_BLOCK`] keys at a
/// time while a whole `B` fits (`H · B` ≤ 12 accumulators: enough independent
/// additions for both of a core's adders, few enough for the registers), then
/// one block at a time. Each score is summed over `d` in order either way.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn score_heads<const H: usize, const B: usize>(
    queries: &[f32],
    dim: usize,
    keys: &[f32],
    capacity: usize,
    run: Run,
    stride: usize,
    column: usize,
    scores: &mut [f32],
    padded: &mut Vec<f32>,
) {
    let keys = KeyRows {
        queries,
        dim,
        keys,
        capacity,
    };
    let mut j = 0;
    while j + B * KEY_BLOCK <= run.len {
        keys.score::<H, B>(run.start + j, &mut scores[column + j..], stride);
        j += B * KEY_BLOCK;
    }
    while j + KEY_BLOCK <= run.len {
        keys.score::<H, 1>(run.start + j, &mut scores[column + j..], stride);
        j += KEY_BLOCK;
    }
    let tail = run.len - j;
    if tail > 0 {
        // The last keys padded with zeros to a whole block: one vector pass
        // instead of a scalar one per key (the same sums, lane by lane).
        padded.clear();
        padded.resize(dim * KEY_BLOCK, 0.0);
        for (d, block) in padded.chunks_exact_mut(KEY_BLOCK).enumerate() {
            block[..tail].copy_from_slice(&keys.keys[d * capacity + run.start + j..][..tail]);
        }
        let padded = KeyRows {
            keys: padded,
            capacity: KEY_BLOCK,
            ..keys
        };
        let mut block = [0f32; MAX_HEADS * KEY_BLOCK];
        padded.score::<H, 1>(0, &mut block, KEY_BLOCK);
        for h in 0..H {
            scores[h * stride + column + j..][..tail]
                .copy_from_slice(&block[h * KEY_BLOCK..][..tail]);
        }
    }
}

/// Query heads and one key/value head's transposed keys (`[dim][capacity]`).
#[derive(Clone, Copy)]
struct KeyRows<'a> {
    queries: &'a [f32],
    dim: usize,
    keys: &'a [f32],
    capacity: usize,
}

impl KeyRows<'_> {
    /// Scores of the first `H` query heads for the `B · KEY_BLOCK` keys from
    /// `first`, written at `scores[h · stride ..]`.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // `d` walks the key rows and every head's query together
    fn score<const H: usize, const B: usize>(
        &self,
        first: usize,
        scores: &mut [f32],
        stride: usize,
    ) {
        let dim = self.dim;
        let q: [&[f32]; H] = std::array::from_fn(|h| &self.queries[h * dim..][..dim]);
        let mut acc = [[[0f32; KEY_BLOCK]; B]; H];
        for d in 0..dim {
            // Fixed-size copies with constant trip counts below, so that the
            // accumulators are unrolled into vector registers.
            let row = &self.keys[d * self.capacity + first..][..B * KEY_BLOCK];
            let k: [[f32; KEY_BLOCK]; B] =
                std::array::from_fn(|b| std::array::from_fn(|l| row[b * KEY_BLOCK + l]));
            for h in 0..H {
                let qd = q[h][d];
                for b in 0..B {
                    for l in 0..KEY_BLOCK {
                        acc[h][b][l] += qd * k[b][l];
                    }
                }
            }
        }
        for (h, a) in acc.iter().enumerate() {
            for (b, block) in a.iter().enumerate() {
                scores[h * stride + b * KEY_BLOCK..][..KEY_BLOCK].copy_from_slice(block);
            }
        }
    }
}

/// `exp(s - max) / Σ` in place.
#[inline(always)]
fn softmax_in_place(scores: &mut [f32]) {
    let max = max_of(scores);
    scores.iter_mut().for_each(|s| *s -= max);
    exp_in_place(scores);
    let sum: f32 = scores.iter().sum();
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// The largest of `values` (NaNs ignored, as `f32::max` does), taken lane by
/// lane over 8 lanes: a max is the same in any order, and a single running
/// `f32::max` would leave the loop scalar.
#[inline(always)]
fn max_of(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v);
        }
    }
    let tail = chunks.remainder().iter().copied();
    lanes
        .into_iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, f32::max)
}

impl HostKv {
    fn store(&self, layer: usize) -> Store<'_> {
        let (keys, values) = &self.layers[layer];
        Store {
            keys,
            values,
            capacity: self.shape.capacity,
            heads: self.shape.heads,
        }
    }

    fn layer_mut(&mut self, layer: usize) -> (&mut [f32], &mut [f32]) {
        let (keys, values) = &mut self.layers[layer];
        (keys, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values in [-2, 2) from a seed (no NaNs: the laws are about order).
    fn values(seed: u64, len: usize) -> Vec<f32> {
        (0..len as u64)
            .map(|i| {
                let x = (seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .wrapping_mul(0xBF58_476D_1CE4_E5B9);
                (x >> 40) as f32 / (1u64 << 22) as f32 - 2.0
            })
            .collect()
    }

    proptest! {
        /// The blocked scores are bit for bit the plain dot products, summed
        /// over `d` in order, for every head count and run length.
        #[test]
        fn scores_are_the_plain_dot_products(
            group in 1usize..=9,
            dim in 1usize..=40,
            start in 0usize..5,
            len in 0usize..=70,
            seed in any::<u64>(),
        ) {
            let capacity = start + len + 3;
            let queries = values(seed, group * dim);
            let keys = values(seed ^ 1, dim * capacity);
            let run = Run { shared: false, start, len, key: 0 };
            let (stride, column) = (len + 2, 1);
            let mut scores = vec![f32::NAN; group * stride];
            let mut padded = Vec::new();
            score_run(&queries, dim, &keys, capacity, run, stride, column, &mut scores, &mut padded);
            for h in 0..group {
                for j in 0..len {
                    let mut s = 0f32;
                    for d in 0..dim {
                        s += queries[h * dim + d] * keys[d * capacity + start + j];
                    }
                    prop_assert_eq!(scores[h * stride + column + j].to_bits(), s.to_bits());
                }
            }
        }

        /// The weighted value sums are bit for bit those of one multiply-add
        /// per key in order, onto what `out` held.
        #[test]
        fn weighted_sums_are_the_plain_key_by_key_sums(
            group in 1usize..=9,
            dim in 1usize..=40,
            keys in 0usize..=40,
            seed in any::<u64>(),
        ) {
            let stride = keys + 3;
            let probs = values(seed, group * stride);
            let vals = values(seed ^ 2, keys * dim);
            let start = values(seed ^ 3, group * dim);
            let mut out = start.clone();
            weigh_run(&probs, stride, &vals, dim, &mut out);
            for h in 0..group {
                for c in 0..dim {
                    let mut a = start[h * dim + c];
                    for i in 0..keys {
                        a += probs[h * stride + i] * vals[i * dim + c];
                    }
                    prop_assert_eq!(out[h * dim + c].to_bits(), a.to_bits());
                }
            }
        }

        /// The lane-wise max is `f32::max` over the values in order.
        #[test]
        fn max_of_is_the_running_max(len in 0usize..=40, seed in any::<u64>()) {
            let v = values(seed, len);
            let expected = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            prop_assert_eq!(max_of(&v).to_bits(), expected.to_bits());
        }
    }
}
