//! Mask predicates: FlexAttention's `mask_mod(b, h, q_idx, kv_idx) -> bool`.
//!
//! A predicate says whether query token `q` may attend to key token `kv` (in batch
//! row `b`, head `h`). Predicates compose with [`and`], [`or`] and [`not`] (also
//! available as methods), and any closure `Fn(usize, usize, usize, usize) -> bool`
//! is one.

use crate::bits::{clear_tail, set_range};

/// Whether query `q` may attend to key `kv` in batch row `b` and head `h`.
pub trait MaskPredicate {
    /// True when the score of `(q, kv)` is kept, false when it is masked out.
    fn visible(&self, b: usize, h: usize, q: usize, kv: usize) -> bool;

    /// Writes the visibility of query `q` against keys `0..kv_len` into `row`
    /// (`kv_len.div_ceil(64)` words; bit `kv % 64` of word `kv / 64`), overwriting
    /// it and leaving bits past `kv_len` clear. The default evaluates
    /// [`MaskPredicate::visible`] per key; structured predicates override it to
    /// fill whole runs at once, which is what makes compilation fast.
    fn fill_row(&self, b: usize, h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        for (w, word) in row.iter_mut().enumerate() {
            let first = w * 64;
            let mut acc = 0u64;
            for kv in first..(first + 64).min(kv_len) {
                acc |= u64::from(self.visible(b, h, q, kv)) << (kv - first);
            }
            *word = acc;
        }
    }

    /// Visible where both `self` and `other` are.
    fn and<P: MaskPredicate>(self, other: P) -> And<Self, P>
    where
        Self: Sized,
    {
        and(self, other)
    }

    /// Visible where `self` or `other` is.
    fn or<P: MaskPredicate>(self, other: P) -> Or<Self, P>
    where
        Self: Sized,
    {
        or(self, other)
    }

    /// Visible exactly where `self` is not.
    fn not(self) -> Not<Self>
    where
        Self: Sized,
    {
        not(self)
    }
}

impl<F> MaskPredicate for F
where
    F: Fn(usize, usize, usize, usize) -> bool,
{
    fn visible(&self, b: usize, h: usize, q: usize, kv: usize) -> bool {
        self(b, h, q, kv)
    }
}

/// Conjunction of two predicates (see [`and`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct And<A, B>(pub A, pub B);

/// Disjunction of two predicates (see [`or`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Or<A, B>(pub A, pub B);

/// Negation of a predicate (see [`not`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Not<A>(pub A);

impl<A: MaskPredicate, B: MaskPredicate> MaskPredicate for And<A, B> {
    fn visible(&self, b: usize, h: usize, q: usize, kv: usize) -> bool {
        self.0.visible(b, h, q, kv) && self.1.visible(b, h, q, kv)
    }

    fn fill_row(&self, b: usize, h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        self.0.fill_row(b, h, q, kv_len, row);
        let mut other = vec![0u64; row.len()];
        self.1.fill_row(b, h, q, kv_len, &mut other);
        row.iter_mut().zip(&other).for_each(|(x, y)| *x &= y);
    }
}

impl<A: MaskPredicate, B: MaskPredicate> MaskPredicate for Or<A, B> {
    fn visible(&self, b: usize, h: usize, q: usize, kv: usize) -> bool {
        self.0.visible(b, h, q, kv) || self.1.visible(b, h, q, kv)
    }

    fn fill_row(&self, b: usize, h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        self.0.fill_row(b, h, q, kv_len, row);
        let mut other = vec![0u64; row.len()];
        self.1.fill_row(b, h, q, kv_len, &mut other);
        row.iter_mut().zip(&other).for_each(|(x, y)| *x |= y);
    }
}

impl<A: MaskPredicate> MaskPredicate for Not<A> {
    fn visible(&self, b: usize, h: usize, q: usize, kv: usize) -> bool {
        !self.0.visible(b, h, q, kv)
    }

    fn fill_row(&self, b: usize, h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        self.0.fill_row(b, h, q, kv_len, row);
        row.iter_mut().for_each(|x| *x = !*x);
        clear_tail(row, kv_len);
    }
}

/// Visible where both `a` and `b` are.
pub fn and<A: MaskPredicate, B: MaskPredicate>(a: A, b: B) -> And<A, B> {
    And(a, b)
}

/// Visible where `a` or `b` is.
pub fn or<A: MaskPredicate, B: MaskPredicate>(a: A, b: B) -> Or<A, B> {
    Or(a, b)
}

/// Visible exactly where `a` is not.
pub fn not<A: MaskPredicate>(a: A) -> Not<A> {
    Not(a)
}

/// Causal attention: `kv <= q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Causal;

impl MaskPredicate for Causal {
    fn visible(&self, _b: usize, _h: usize, q: usize, kv: usize) -> bool {
        kv <= q
    }

    fn fill_row(&self, _b: usize, _h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        row.fill(0);
        set_range(row, 0, q.saturating_add(1).min(kv_len));
    }
}

/// Causal attention: a query sees itself and every earlier key.
pub fn causal() -> Causal {
    Causal
}

/// Causal attention limited to the last `window` keys (see [`sliding_window`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow {
    /// Number of keys a query sees, itself included.
    pub window: usize,
}

impl MaskPredicate for SlidingWindow {
    fn visible(&self, _b: usize, _h: usize, q: usize, kv: usize) -> bool {
        kv <= q && q - kv < self.window
    }

    fn fill_row(&self, _b: usize, _h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        row.fill(0);
        let end = q.saturating_add(1).min(kv_len);
        set_range(row, q.saturating_add(1).saturating_sub(self.window), end);
    }
}

/// Causal sliding window: query `q` sees keys `q - window + 1 ..= q` (itself
/// included), so `window = 0` hides everything and `window = 1` only the diagonal.
pub fn sliding_window(window: usize) -> SlidingWindow {
    SlidingWindow { window }
}

/// Prefix-LM attention (see [`prefix_lm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLm {
    /// Length of the bidirectional prefix.
    pub prefix: usize,
}

impl MaskPredicate for PrefixLm {
    fn visible(&self, _b: usize, _h: usize, q: usize, kv: usize) -> bool {
        kv < self.prefix || kv <= q
    }

    fn fill_row(&self, _b: usize, _h: usize, q: usize, kv_len: usize, row: &mut [u64]) {
        row.fill(0);
        set_range(row, 0, self.prefix.max(q.saturating_add(1)).min(kv_len));
    }
}

/// Prefix-LM: every query sees the whole prefix `0..prefix` (bidirectional inside
/// it) and attends causally after it.
pub fn prefix_lm(prefix: usize) -> PrefixLm {
    PrefixLm { prefix }
}

/// Document isolation (see [`document`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    ids: std::sync::Arc<[u32]>,
}

impl MaskPredicate for Document {
    fn visible(&self, _b: usize, _h: usize, q: usize, kv: usize) -> bool {
        match (self.ids.get(q), self.ids.get(kv)) {
            (Some(a), Some(b)) => a == b,
            // A token without a document id belongs to no document: hidden.
            _ => false,
        }
    }
}

/// Document isolation for packed sequences: token `i` has document id
/// `segment_ids[i]`; a query sees only keys of its own document (both directions;
/// combine with [`causal`] for causal packing). Tokens past the id list see nothing.
pub fn document(segment_ids: Vec<u32>) -> Document {
    Document {
        ids: segment_ids.into(),
    }
}

/// Everything visible.
pub fn full() -> impl MaskPredicate + Copy {
    |_b: usize, _h: usize, _q: usize, _kv: usize| true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(p: &impl MaskPredicate, n: usize) -> Vec<bool> {
        (0..n)
            .flat_map(|q| (0..n).map(move |kv| (q, kv)))
            .map(|(q, kv)| p.visible(0, 0, q, kv))
            .collect()
    }

    #[test]
    fn causal_is_lower_triangular() {
        let c = causal();
        assert!(c.visible(0, 0, 3, 3));
        assert!(c.visible(0, 0, 3, 0));
        assert!(!c.visible(0, 0, 3, 4));
    }

    #[test]
    fn sliding_window_counts_the_query_itself() {
        let w = sliding_window(2);
        assert!(w.visible(0, 0, 5, 5));
        assert!(w.visible(0, 0, 5, 4));
        assert!(!w.visible(0, 0, 5, 3));
        assert!(!w.visible(0, 0, 5, 6));
        assert!(grid(&sliding_window(0), 4).iter().all(|v| !v));
    }

    #[test]
    fn prefix_lm_is_bidirectional_in_the_prefix() {
        let p = prefix_lm(3);
        assert!(p.visible(0, 0, 0, 2));
        assert!(!p.visible(0, 0, 3, 4));
        assert!(p.visible(0, 0, 4, 4));
    }

    #[test]
    fn document_isolates_and_hides_unknown_tokens() {
        let d = document(vec![0, 0, 1, 1]);
        assert!(d.visible(0, 0, 0, 1));
        assert!(d.visible(0, 0, 1, 0));
        assert!(!d.visible(0, 0, 2, 1));
        assert!(!d.visible(0, 0, 4, 4));
    }

    #[test]
    fn combinators_and_closures_compose() {
        let even_heads = |_b: usize, h: usize, _q: usize, _kv: usize| h.is_multiple_of(2);
        let m = causal()
            .and(even_heads)
            .or(document(vec![7, 7]).and(not(causal())));
        assert!(m.visible(0, 0, 1, 0));
        assert!(!m.visible(0, 1, 1, 0));
        // Above the diagonal only the document clause can open a cell.
        assert!(m.visible(0, 1, 0, 1));
        assert!(!m.visible(0, 1, 0, 2));
        assert_eq!(grid(&causal().not().not(), 5), grid(&causal(), 5));
        assert!(full().visible(1, 2, 0, 9));
    }
}
