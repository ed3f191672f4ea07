//! Attention-mask algebra in the spirit of FlexAttention's `mask_mod` and
//! `BlockMask`: composable predicates over `(batch, head, q, kv)`, segment tables
//! with roles, role-based rule sets (flex and MyriadLAMA structured), additive score
//! biases, and compilation to dense (bit-packed, also incremental), block-sparse
//! and per-row interval forms. Pure Rust, no Burn dependency.
//!
//! ```
//! use chorus_mask::{flex_rule, DenseMask, MaskPredicate, Role, SegmentTable};
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
//! # Ok::<(), chorus_mask::MaskError>(())
//! ```

pub mod bias;
mod bits;
pub mod block;
pub mod dense;
pub mod error;
pub mod gallery;
pub mod interval;
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
pub use predicate::{
    And, Causal, Document, MaskPredicate, Not, Or, PrefixLm, SlidingWindow, and, causal, document,
    full, not, or, prefix_lm, sliding_window,
};
pub use render::{render_ascii, render_image, render_png};
pub use role::Role;
pub use rules::{
    FLEX_RULES, Kinds, Relation, Relations, RoleKind, RuleMask, STRUCTURED_RULES, VisibilityRule,
    flex_rule, rule_mask, structured_rule,
};
pub use segment::{Segment, SegmentTable};
