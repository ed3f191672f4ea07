//! Attention-mask algebra in the spirit of FlexAttention's `mask_mod` and
//! `BlockMask`: composable predicates over `(batch, head, q, kv)`, segment tables
//! with roles, role-based rule sets (flex and MyriadLAMA structured), additive score
//! biases, and compilation to dense (bit-packed, also incremental), block-sparse
//! and per-row interval forms. Pure Rust, no Burn dependency.
//!
//! | piece | FlexAttention counterpart |
//! |---|---|
//! | [`MaskPredicate`] (+ [`and`], [`or`], [`not`], closures) | `mask_mod(b, h, q_idx, kv_idx)`, `and_masks`, `or_masks` |
//! | [`causal`], [`sliding_window`], [`prefix_lm`], [`document`] | the usual example masks |
//! | [`ScoreBias`], [`DenseBias`], [`shared_prefix_bias`] | an additive `score_mod` |
//! | [`DenseMask`] | the materialised boolean mask (one bit per cell) |
//! | [`BlockMask`] | `BlockMask` (`kv_num_blocks`, `kv_indices`, `full_kv_*`) |
//! | [`IntervalMask`] | per-query visible key ranges (no direct counterpart) |
//!
//! Prompts are described by a [`SegmentTable`] (contiguous [`Segment`]s with a
//! [`Role`]); [`flex_rule`] and [`structured_rule`] turn one into a predicate from
//! the declarative tables [`FLEX_RULES`] and [`STRUCTURED_RULES`]. Tokens past the
//! table are generated tokens. Compiling over a sub-range of query rows is the
//! incremental form a decoder uses at each step. [`render_ascii`] and
//! `render_png` (feature `png`, on by default) draw masks.
//!
//! ```
//! use chorus_mask::{flex_rule, BlockMask, DenseMask, IntervalMask, MaskPredicate, Role, SegmentTable};
//!
//! // Two paraphrases packed into one sequence, then a shared "\nA:" suffix.
//! let table = SegmentTable::from_lengths(&[
//!     (Role::Question { paraphrase: 0 }, 3),
//!     (Role::Question { paraphrase: 1 }, 2),
//!     (Role::Shared, 1),
//! ])?;
//! let rule = flex_rule(&table);
//! assert!(!rule.visible(0, 0, 3, 0)); // paraphrase 1 cannot see paraphrase 0
//! assert!(rule.visible(0, 0, 5, 0)); // the suffix sees both
//! // Prefill rows, then the row of the first generated token (incremental).
//! let prefill = DenseMask::compile(&rule, 0..table.len(), table.len());
//! let step = DenseMask::compile(&rule, 6..7, 7);
//! assert_eq!(prefill.count_visible(), 6 + 3 + 6);
//! assert!((0..7).all(|kv| step.get(0, kv)));
//! // The same mask, block-sparse (FlexAttention layout) and as key ranges per row.
//! let blocks = BlockMask::compile(&rule, 7, 7, 4)?;
//! assert_eq!(blocks.to_dense(), DenseMask::compile(&rule, 0..7, 7));
//! let ranges = IntervalMask::compile(&rule, 0..7, 7);
//! assert_eq!(ranges.row(4), &[3..5]); // paraphrase 1's second token
//! # Ok::<(), chorus_mask::MaskError>(())
//! ```

#![warn(missing_docs)]

pub mod bias;
mod bits;
pub mod block;
pub mod dense;
pub mod error;
#[cfg(feature = "png")]
pub mod gallery;
pub mod interval;
#[cfg(feature = "png")]
pub mod picture;
pub mod predicate;
pub mod render;
pub mod role;
pub mod rules;
pub mod segment;

pub use bias::{DenseBias, ScoreBias, SharedPrefixBias, shared_prefix_bias};
pub use block::{BlockKind, BlockMask, DEFAULT_BLOCK};
pub use dense::DenseMask;
pub use error::MaskError;
pub use interval::IntervalMask;
#[cfg(feature = "png")]
pub use picture::{MAX_RENDER_SIDE, MaskPicture, render_image, render_png};
pub use predicate::{
    And, Causal, Document, MaskPredicate, Not, Or, PrefixLm, SlidingWindow, and, causal, document,
    full, not, or, prefix_lm, sliding_window,
};
pub use render::render_ascii;
pub use role::Role;
pub use rules::{
    FLEX_RULES, Kinds, Relation, Relations, RoleKind, RuleMask, STRUCTURED_RULES, VisibilityRule,
    flex_rule, rule_mask, structured_rule,
};
pub use segment::{Segment, SegmentTable};
