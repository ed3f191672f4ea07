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

use super::ops::{axpy, exp_in_place, rotate};
use super::{HostAct, HostKv};
use crate::kernels::{Heads, PassPlan};

/// Keys scored together.
const KEY_BLOCK: usize = 8;
/// Query heads scored together (their accumulators fill the vector registers).
const MAX_HEADS: usize = 8;

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
}

impl Scratch {
    fn new(heads: Heads) -> Self {
        Self {
            queries: vec![0f32; heads.group() * heads.dim],
            scores: Vec::new(),
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
            for i in 0..run.len {
                let at = store.value_at(slot, g, run.start + i);
                let value = &store.values[at..at + dim];
                for (h, head_out) in o.chunks_exact_mut(dim).enumerate() {
                    axpy(scores[h * visible + column + i], value, head_out);
                }
            }
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

/// Raw scores `q_h · k_j` of every query head `h` for the keys of `run`,
/// written at `scores[h · stride + column ..]`; `keys` is the head's
/// transposed block (`[dim][capacity]`).
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
) {
    let group = queries.len() / dim;
    let mut h0 = 0;
    // Query heads in register-sized bundles: the bundle size is a constant so
    // that the accumulators stay in vector registers.
    while h0 < group {
        let heads = (group - h0).min(MAX_HEADS);
        let (q, s) = (&queries[h0 * dim..], &mut scores[h0 * stride..]);
        match heads {
            8 => score_heads::<8>(q, dim, keys, capacity, run, stride, column, s),
            7 => score_heads::<7>(q, dim, keys, capacity, run, stride, column, s),
            6 => score_heads::<6>(q, dim, keys, capacity, run, stride, column, s),
            5 => score_heads::<5>(q, dim, keys, capacity, run, stride, column, s),
            4 => score_heads::<4>(q, dim, keys, capacity, run, stride, column, s),
            3 => score_heads::<3>(q, dim, keys, capacity, run, stride, column, s),
            2 => score_heads::<2>(q, dim, keys, capacity, run, stride, column, s),
            _ => score_heads::<1>(q, dim, keys, capacity, run, stride, column, s),
        }
        h0 += heads;
    }
}

/// [`score_run`] for `H` query heads.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn score_heads<const H: usize>(
    queries: &[f32],
    dim: usize,
    keys: &[f32],
    capacity: usize,
    run: Run,
    stride: usize,
    column: usize,
    scores: &mut [f32],
) {
    let mut j = 0;
    while j + KEY_BLOCK <= run.len {
        let mut acc = [[0f32; KEY_BLOCK]; H];
        for d in 0..dim {
            let k: &[f32; KEY_BLOCK] = keys[d * capacity + run.start + j..][..KEY_BLOCK]
                .try_into()
                .unwrap_or(&[0.0; KEY_BLOCK]);
            for (h, a) in acc.iter_mut().enumerate() {
                let qd = queries[h * dim + d];
                for l in 0..KEY_BLOCK {
                    a[l] += qd * k[l];
                }
            }
        }
        for (h, a) in acc.iter().enumerate() {
            scores[h * stride + column + j..][..KEY_BLOCK].copy_from_slice(a);
        }
        j += KEY_BLOCK;
    }
    for j in j..run.len {
        for h in 0..H {
            let mut s = 0f32;
            for d in 0..dim {
                s += queries[h * dim + d] * keys[d * capacity + run.start + j];
            }
            scores[h * stride + column + j] = s;
        }
    }
}

/// `exp(s - max) / Σ` in place.
#[inline(always)]
fn softmax_in_place(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    scores.iter_mut().for_each(|s| *s -= max);
    exp_in_place(scores);
    let sum: f32 = scores.iter().sum();
    scores.iter_mut().for_each(|s| *s /= sum);
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
