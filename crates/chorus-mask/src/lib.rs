//! Attention-mask algebra in the spirit of FlexAttention's mask_mod and BlockMask: composable predicates over (batch, head, q, kv), segment tables with roles, and compilation to dense, block-sparse, interval and incremental forms. No Burn dependency.

pub mod role;

pub use role::Role;
