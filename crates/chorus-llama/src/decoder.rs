//! One decoder layer's weights and its forward pass over the kernel layer:
//! pre-norm grouped-query attention and pre-norm SwiGLU, each with a residual.

use crate::LlamaError;
use crate::kernels::Kernels;
use crate::profile::timed;

/// The weights of one decoder layer, in the kernels' memory.
pub(crate) struct DecoderLayer<K: Kernels> {
    pub input_norm: K::Vector,
    /// `[hidden, (query + 2·key_value)·head_dim]`: q, k and v projections fused.
    pub qkv: K::Matrix,
    /// Qwen-style q/k/v biases, if the checkpoint has them.
    pub qkv_bias: Option<K::Vector>,
    /// `[query·head_dim, hidden]`.
    pub o: K::Matrix,
    pub post_attention_norm: K::Vector,
    /// `[hidden, 2·intermediate]`: gate columns, then up columns.
    pub gate_up: K::Matrix,
    /// `[intermediate, hidden]`.
    pub down: K::Matrix,
}

impl<K: Kernels> DecoderLayer<K> {
    /// `x += attention(norm(x)); x += mlp(norm(x))`, writing this pass's keys
    /// and values of layer `index` into `kv`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        k: &K,
        x: &mut K::Act,
        pass: &K::Pass,
        index: usize,
        kv: &mut K::Kv,
        shared: Option<&K::Kv>,
        eps: f32,
    ) -> Result<(), LlamaError> {
        // One trace span per operation (the `profile` example reads their
        // times); with CHORUS_PROFILE_OPS=1 each is also timed between syncs.
        let normed = timed(k, "rms_norm", || k.rms_norm(x, &self.input_norm, eps))?;
        let qkv = timed(k, "qkv", || {
            k.linear(&normed, &self.qkv, self.qkv_bias.as_ref())
        })?;
        let attended = timed(k, "attention", || {
            k.attention(&qkv, pass, index, kv, shared)
        })?;
        timed(k, "o_proj", || k.linear_add(&attended, &self.o, x))?;
        let normed = timed(k, "rms_norm", || {
            k.rms_norm(x, &self.post_attention_norm, eps)
        })?;
        let gate_up = timed(k, "gate_up", || k.linear(&normed, &self.gate_up, None))?;
        let activated = timed(k, "swiglu", || k.swiglu(&gate_up))?;
        timed(k, "down_proj", || k.linear_add(&activated, &self.down, x))
    }
}
