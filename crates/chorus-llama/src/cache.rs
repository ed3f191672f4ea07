//! Key/value caches: [`KvCache`], preallocated slots written in place, and
//! [`SharedContext`], a prefix encoded once whose keys and values any number
//! of slots attend to without copying them.
//!
//! A slot that shares the context sees its keys first: its key space is the
//! context's `len()` keys, then its own. Slots are addressed by index; a
//! finished sequence is simply not fed again (no compaction per step).

use std::sync::Arc;

use crate::input::{KeyMask, SlotState};
use crate::kernels::{Kernels, KvShape};
use crate::{InputError, LlamaError};

/// A prefix (e.g. instruction + few-shot block) encoded once, batch 1.
pub struct SharedContext<K: Kernels> {
    pub(crate) kv: K::Kv,
    pub(crate) shape: KvShape,
    tokens: Vec<u32>,
    positions: Vec<usize>,
    mask: KeyMask,
}

impl<K: Kernels> std::fmt::Debug for SharedContext<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedContext")
            .field("len", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl<K: Kernels> SharedContext<K> {
    pub(crate) fn new(
        kv: K::Kv,
        shape: KvShape,
        tokens: Vec<u32>,
        positions: Vec<usize>,
        mask: KeyMask,
    ) -> Self {
        Self {
            kv,
            shape,
            tokens,
            positions,
            mask,
        }
    }

    /// Tokens of the context (its keys).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the context has no token (never true for an encoded one).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The context's token ids.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Position ids the context was encoded at.
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// The mask the context was encoded with.
    pub fn mask(&self) -> &KeyMask {
        &self.mask
    }
}

/// The KV cache of a set of sequences (slots): per layer, the rotated keys and
/// the values of every token encoded so far, in a store preallocated for
/// `capacity` tokens per slot and grown (doubling) only when a pass needs more.
pub struct KvCache<K: Kernels> {
    pub(crate) kv: K::Kv,
    pub(crate) shape: KvShape,
    lens: Vec<usize>,
    context: Option<Arc<SharedContext<K>>>,
    sharing: Vec<bool>,
}

impl<K: Kernels> std::fmt::Debug for KvCache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvCache")
            .field("slots", &self.shape.slots)
            .field("capacity", &self.shape.capacity)
            .field("lens", &self.lens)
            .field("context", &self.context.as_ref().map(|c| c.len()))
            .finish_non_exhaustive()
    }
}

impl<K: Kernels> KvCache<K> {
    pub(crate) fn new(
        kv: K::Kv,
        shape: KvShape,
        context: Option<Arc<SharedContext<K>>>,
        sharing: Vec<bool>,
    ) -> Self {
        Self {
            kv,
            lens: vec![0; shape.slots],
            shape,
            context,
            sharing,
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.shape.slots
    }

    /// Own tokens cached per slot before the store must grow.
    pub fn capacity(&self) -> usize {
        self.shape.capacity
    }

    /// Own tokens cached in `slot` (shared-context keys not counted).
    pub fn len(&self, slot: usize) -> usize {
        self.lens.get(slot).copied().unwrap_or(0)
    }

    /// Whether no slot holds an own token.
    pub fn is_empty(&self) -> bool {
        self.lens.iter().all(|&l| l == 0)
    }

    /// Keys `slot` attends to: the shared context's (if it shares it) and its own.
    pub fn keys(&self, slot: usize) -> usize {
        self.shared_len(slot) + self.len(slot)
    }

    /// The shared context, if any slot sees one.
    pub fn context(&self) -> Option<&Arc<SharedContext<K>>> {
        self.context.as_ref()
    }

    /// Whether `slot` sees the shared context.
    pub fn shares_context(&self, slot: usize) -> bool {
        self.sharing.get(slot).copied().unwrap_or(false) && self.context.is_some()
    }

    fn shared_len(&self, slot: usize) -> usize {
        match &self.context {
            Some(context) if self.shares_context(slot) => context.len(),
            _ => 0,
        }
    }

    /// Keeps only the first `len` own tokens of `slot` (e.g. to drop a
    /// speculative suffix).
    pub fn truncate(&mut self, slot: usize, len: usize) -> Result<(), LlamaError> {
        let cached = self.len(slot);
        if slot >= self.slots() || len > cached {
            return Err(InputError::Truncate { slot, cached, len }.into());
        }
        self.lens[slot] = len;
        Ok(())
    }

    /// What every slot holds, for validating a pass.
    pub(crate) fn slot_states(&self) -> Vec<SlotState> {
        (0..self.slots())
            .map(|slot| SlotState {
                shared: self.shared_len(slot),
                cached: self.len(slot),
            })
            .collect()
    }

    /// Records `added` new tokens in `slot`.
    pub(crate) fn advance(&mut self, slot: usize, added: usize) {
        self.lens[slot] += added;
    }

    /// The store and, separately borrowed, the shared context's store.
    pub(crate) fn stores(&mut self) -> (&mut K::Kv, Option<&K::Kv>) {
        (&mut self.kv, self.context.as_deref().map(|c| &c.kv))
    }

    /// The same cache over another store (after growth or slot selection).
    pub(crate) fn rebuilt(&self, kv: K::Kv, shape: KvShape, slots: &[usize]) -> Self {
        Self {
            kv,
            shape,
            lens: slots.iter().map(|&s| self.lens[s]).collect(),
            context: self.context.clone(),
            sharing: slots.iter().map(|&s| self.sharing[s]).collect(),
        }
    }

    /// The longest own length over all slots.
    pub(crate) fn longest(&self) -> usize {
        self.lens.iter().copied().max().unwrap_or(0)
    }

    /// A copy made with a fresh store (see [`crate::Llama::fork_cache`]).
    pub(crate) fn with_store(&self, kv: K::Kv) -> Self {
        Self {
            kv,
            shape: self.shape,
            lens: self.lens.clone(),
            context: self.context.clone(),
            sharing: self.sharing.clone(),
        }
    }
}
