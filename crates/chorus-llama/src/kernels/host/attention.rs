//! Self-attention on the CPU: rotary embeddings, keys and values written in
//! place into the preallocated store, then each new token attends to its
//! visible key ranges only (hidden keys are skipped, not masked), the shared
//! context's keys read from the shared store. Tokens are spread over rayon's
//! pool; the maths is Hugging Face's eager attention: `softmax(q·kᵀ/√d + bias)`
//! in f32, then the probability-weighted sum of values.

use rayon::prelude::*;

use super::ops::{axpy, dot, rotate};
use super::{HostAct, HostKv};
use crate::kernels::{Heads, PassPlan};

/// Where one layer's keys and values of one store live.
struct Store<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    capacity: usize,
    heads: Heads,
}

impl Store<'_> {
    /// Offset of key `index` of `head` in `slot`.
    #[inline]
    fn at(&self, slot: usize, head: usize, index: usize) -> usize {
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
    let scale = (heads.dim as f32).powf(-0.5);
    out.par_chunks_mut(width)
        .enumerate()
        .with_min_len(4)
        .for_each_init(
            || Scratch::new(heads.dim),
            |scratch, (t, o)| {
                let q = &qkv.data[t * heads.qkv_width()..][..width];
                attend_token(plan, t, q, scale, &own, shared.as_ref(), scratch, o);
            },
        );
    HostAct {
        data: out,
        rows: plan.len(),
        cols: width,
    }
}

/// Rotates the new keys and writes them and the values into their slots.
fn write_keys_and_values(qkv: &HostAct, plan: &PassPlan, layer: usize, kv: &mut HostKv) {
    let heads = plan.heads;
    let half = heads.dim / 2;
    let (capacity, key_value) = (kv.shape.capacity, heads.key_value);
    let (keys, values) = kv.layer_mut(layer);
    for t in 0..plan.len() {
        let row = plan.token_row(t);
        let index = row.cached + (t - row.offset);
        let source = &qkv.data[t * heads.qkv_width()..][..heads.qkv_width()];
        let (cos, sin) = (&plan.cos[t * half..][..half], &plan.sin[t * half..][..half]);
        for head in 0..key_value {
            let at = ((row.slot * key_value + head) * capacity + index) * heads.dim;
            let k = &source[heads.q_width() + head * heads.dim..][..heads.dim];
            let v = &source[heads.q_width() + heads.kv_width() + head * heads.dim..][..heads.dim];
            let key = &mut keys[at..at + heads.dim];
            key.copy_from_slice(k);
            rotate(key, cos, sin);
            values[at..at + heads.dim].copy_from_slice(v);
        }
    }
}

/// Per-worker buffers.
struct Scratch {
    query: Vec<f32>,
    scores: Vec<f32>,
}

impl Scratch {
    fn new(dim: usize) -> Self {
        Self {
            query: vec![0f32; dim],
            scores: Vec::new(),
        }
    }
}

/// Every head of new token `t`, written into `out` (`[query heads · dim]`).
#[allow(clippy::too_many_arguments)]
fn attend_token(
    plan: &PassPlan,
    t: usize,
    q: &[f32],
    scale: f32,
    own: &Store<'_>,
    shared: Option<&Store<'_>>,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let heads = plan.heads;
    let half = heads.dim / 2;
    let row = plan.token_row(t);
    let ranges = plan.token_ranges(t);
    let bias = plan.token_bias(t);
    let (cos, sin) = (&plan.cos[t * half..][..half], &plan.sin[t * half..][..half]);
    let key_at = |head: usize, key: usize| locate(own, shared, row.shared, row.slot, head, key);
    for head in 0..heads.query {
        let kv_head = head / heads.group();
        let query = &mut scratch.query;
        query.copy_from_slice(&q[head * heads.dim..(head + 1) * heads.dim]);
        rotate(query, cos, sin);
        let scores = &mut scratch.scores;
        scores.clear();
        for &[start, end] in ranges {
            for key in start as usize..end as usize {
                let (keys, _, at) = key_at(kv_head, key);
                let mut s = dot(query, &keys[at..at + heads.dim]) * scale;
                if let Some(b) = bias {
                    s += b.at(key);
                }
                scores.push(s);
            }
        }
        softmax_in_place(scores);
        let o = &mut out[head * heads.dim..(head + 1) * heads.dim];
        let mut p = scores.iter();
        for &[start, end] in ranges {
            for key in start as usize..end as usize {
                let (_, values, at) = key_at(kv_head, key);
                let weight = *p.next().unwrap_or(&0.0);
                axpy(weight, &values[at..at + heads.dim], o);
            }
        }
    }
}

/// Key `key` of a row's key space: the shared store's first `shared` keys, then
/// the row's own slot. Returns the store's keys, values and the key's offset.
#[inline]
fn locate<'a>(
    own: &Store<'a>,
    shared_store: Option<&Store<'a>>,
    shared: usize,
    slot: usize,
    head: usize,
    key: usize,
) -> (&'a [f32], &'a [f32], usize) {
    match shared_store {
        Some(s) if key < shared => (s.keys, s.values, s.at(0, head, key)),
        _ => (own.keys, own.values, own.at(slot, head, key - shared)),
    }
}

/// `exp(s - max) / Σ` in place.
fn softmax_in_place(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
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
