//! Building blocks of a decoder layer: linear maps, RMSNorm, grouped-query
//! attention (Hugging Face eager maths) and the SwiGLU feed-forward network.

use burn::tensor::{DType, FloatDType, Tensor, activation, backend::Backend};

use crate::cache::KvCache;
use crate::host::HostMatrix;
use crate::rope::apply_rotary;

/// A weight matrix: a device tensor, or a host buffer for the CPU kernels
/// (see [`crate::host`]).
#[derive(Debug, Clone)]
pub(crate) enum Matrix<B: Backend> {
    /// On the backend's device.
    Device(Tensor<B, 2>),
    /// Row-major in host memory (CPU backend only).
    Host(HostMatrix),
}

/// A linear map stored as `[in, out]` so that `x · W` needs no transpose.
#[derive(Debug, Clone)]
pub(crate) struct Linear<B: Backend> {
    pub weight: Matrix<B>,
    pub bias: Option<Tensor<B, 1>>,
}

impl<B: Backend> Linear<B> {
    /// `x: [rows, in] -> [rows, out]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = match &self.weight {
            Matrix::Device(weight) => x.matmul(weight.clone()),
            Matrix::Host(weight) => weight.left_multiply(x),
        };
        match &self.bias {
            Some(bias) => y + bias.clone().unsqueeze(),
            None => y,
        }
    }
}

/// Root-mean-square normalisation, computed in f32 whatever the model dtype.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm<B: Backend> {
    pub weight: Tensor<B, 1>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// Normalises the last axis of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let x = x.cast(FloatDType::F32);
        let mean_square = (x.clone() * x.clone()).mean_dim(D - 1);
        let normed = x * mean_square.add_scalar(self.eps).sqrt().recip();
        normed.cast(dtype) * self.weight.clone().unsqueeze()
    }
}

/// SwiGLU feed-forward: `down(silu(gate(x)) · up(x))`, gate and up fused.
#[derive(Debug, Clone)]
pub(crate) struct Mlp<B: Backend> {
    /// `[hidden, 2·intermediate]`: gate columns, then up columns.
    pub gate_up: Linear<B>,
    pub down: Linear<B>,
    pub intermediate: usize,
}

impl<B: Backend> Mlp<B> {
    /// `x: [rows, hidden] -> [rows, hidden]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let both = self.gate_up.forward(x);
        let gate = both.clone().narrow(1, 0, self.intermediate);
        let up = both.narrow(1, self.intermediate, self.intermediate);
        self.down.forward(activation::silu(gate) * up)
    }
}

/// Head counts of an attention layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub query: usize,
    pub key_value: usize,
    pub dim: usize,
}

/// Per-pass tensors shared by every layer.
#[derive(Debug, Clone)]
pub(crate) struct PassContext<B: Backend> {
    /// RoPE cos, `[batch, 1, len, head_dim]`.
    pub cos: Tensor<B, 4>,
    /// RoPE sin, `[batch, 1, len, head_dim]`.
    pub sin: Tensor<B, 4>,
    /// Additive f32 mask `[batch, 1, len, cache_len + len]`, if any.
    pub mask: Option<Tensor<B, 4>>,
}

/// Grouped-query self-attention with rotary embeddings.
#[derive(Debug, Clone)]
pub(crate) struct Attention<B: Backend> {
    /// `[hidden, (query + 2·key_value)·head_dim]`: q, k and v projections fused.
    pub qkv: Linear<B>,
    pub o: Linear<B>,
    pub heads: Heads,
}

impl<B: Backend> Attention<B> {
    /// `x: [batch, len, hidden]`; appends this pass's keys/values to `cache`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        context: &PassContext<B>,
        cache: &mut KvCache<B>,
        layer: usize,
    ) -> Tensor<B, 3> {
        let [batch, len, hidden] = x.dims();
        let Heads {
            query,
            key_value,
            dim,
        } = self.heads;
        let rows = x.reshape([batch * len, hidden]);
        let split =
            |t: Tensor<B, 2>, heads: usize| t.reshape([batch, len, heads, dim]).swap_dims(1, 2);
        let qkv = self.qkv.forward(rows);
        let (q_width, kv_width) = (query * dim, key_value * dim);
        let q = split(qkv.clone().narrow(1, 0, q_width), query);
        let k = split(qkv.clone().narrow(1, q_width, kv_width), key_value);
        let v = split(qkv.narrow(1, q_width + kv_width, kv_width), key_value);
        let q = apply_rotary(q, context.cos.clone(), context.sin.clone());
        let k = apply_rotary(k, context.cos.clone(), context.sin.clone());
        let (keys, values) = match cache.layer(layer) {
            Some((old_k, old_v)) => (
                Tensor::cat(vec![old_k, k], 2),
                Tensor::cat(vec![old_v, v], 2),
            ),
            None => (k, v),
        };
        cache.store(layer, keys.clone(), values.clone());
        let mixed = self.attend(q, keys, values, context.mask.clone());
        let merged = mixed.swap_dims(1, 2).reshape([batch * len, query * dim]);
        self.o.forward(merged).reshape([batch, len, hidden])
    }

    /// `softmax(QKᵀ/√d + mask) V` with the softmax in f32. Query heads sharing a
    /// key/value head are stacked along the query axis, so K and V are never
    /// repeated in memory: `[b, kv, group·len, d] · [b, kv, d, T]`.
    fn attend(
        &self,
        q: Tensor<B, 4>,
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
        mask: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 4> {
        let [batch, heads, len, dim] = q.dims();
        let key_value = self.heads.key_value;
        let total = keys.dims()[2];
        let group = heads / key_value;
        let dtype: DType = q.dtype();
        let grouped = q.reshape([batch, key_value, group * len, dim]);
        let scores = grouped
            .matmul(keys.swap_dims(2, 3))
            .reshape([batch, heads, len, total])
            .cast(FloatDType::F32)
            .mul_scalar((dim as f64).powf(-0.5));
        let scores = match mask {
            Some(mask) => scores + mask,
            None => scores,
        };
        let probs = activation::softmax(scores, 3).cast(dtype).reshape([
            batch,
            key_value,
            group * len,
            total,
        ]);
        probs.matmul(values).reshape([batch, heads, len, dim])
    }
}

/// One decoder layer: pre-norm attention and pre-norm MLP, each with a residual.
#[derive(Debug, Clone)]
pub(crate) struct DecoderLayer<B: Backend> {
    pub input_norm: RmsNorm<B>,
    pub attention: Attention<B>,
    pub post_attention_norm: RmsNorm<B>,
    pub mlp: Mlp<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// `x: [batch, len, hidden] -> [batch, len, hidden]`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        context: &PassContext<B>,
        cache: &mut KvCache<B>,
        layer: usize,
    ) -> Tensor<B, 3> {
        let attended =
            self.attention
                .forward(self.input_norm.forward(x.clone()), context, cache, layer);
        let x = x + attended;
        let [batch, len, hidden] = x.dims();
        let normed = self
            .post_attention_norm
            .forward(x.clone())
            .reshape([batch * len, hidden]);
        x + self.mlp.forward(normed).reshape([batch, len, hidden])
    }
}
