//! The reference kernels: plain Burn tensor maths on any Burn backend
//! ([`BurnKernels`]), one sequence at a time, with a dense additive mask built
//! from the pass's key ranges — Hugging Face's eager attention, written for
//! clarity rather than speed. The fast kernels are tested against these; they
//! also run the model on any device Burn supports (e.g. `burn-cuda`).

use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData, activation, backend::Backend, s};

use super::{Heads, Kernels, KvShape, MatrixUse, PassPlan, RowPass};
use crate::LlamaError;

/// Burn tensor kernels on backend `B`.
#[derive(Debug, Clone)]
pub struct BurnKernels<B: Backend> {
    device: B::Device,
}

/// Keys and values of every layer, each `[slots, kv_heads, capacity, head_dim]`.
#[derive(Debug, Clone)]
pub struct BurnKv<B: Backend> {
    layers: Vec<(Tensor<B, 4>, Tensor<B, 4>)>,
}

/// A pass on the device: the plan plus its tokens and RoPE rows as tensors.
#[derive(Debug, Clone)]
pub struct BurnPass<B: Backend> {
    plan: PassPlan,
    tokens: Tensor<B, 1, Int>,
    /// `[tokens, head_dim]`, both halves of each row repeating the frequencies.
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
    logit_tokens: Tensor<B, 1, Int>,
}

impl<B: Backend> BurnKernels<B> {
    fn ids(&self, ids: &[u32]) -> Tensor<B, 1, Int> {
        let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let len = ids.len();
        Tensor::from_data(TensorData::new(ids, [len]), &self.device)
    }

    /// A half-width RoPE table as a full-width `[tokens, 2·half]` tensor.
    fn full_width(&self, half_rows: &[f32], tokens: usize, half: usize) -> Tensor<B, 2> {
        let mut full = Vec::with_capacity(tokens * 2 * half);
        for row in half_rows.chunks_exact(half.max(1)) {
            full.extend_from_slice(row);
            full.extend_from_slice(row);
        }
        Tensor::from_data(TensorData::new(full, [tokens, 2 * half]), &self.device)
    }

    /// The additive f32 mask `[len, keys]` of one row: its bias where visible,
    /// `f32::MIN` where hidden (as `transformers`' eager attention).
    fn row_mask(&self, plan: &PassPlan, row: &RowPass) -> Tensor<B, 2> {
        let keys = row.keys();
        let mut values = vec![f32::MIN; row.len * keys];
        for i in 0..row.len {
            let t = row.offset + i;
            let bias = plan.token_bias(t);
            for &[start, end] in plan.token_ranges(t) {
                for key in start as usize..end as usize {
                    values[i * keys + key] = bias.map_or(0.0, |b| b.at(key));
                }
            }
        }
        Tensor::from_data(TensorData::new(values, [row.len, keys]), &self.device)
    }

    /// Attention of one row: `q: [len, query·dim]`, `keys`/`values: [kv, keys, dim]`.
    fn attend_row(
        &self,
        q: Tensor<B, 2>,
        keys: Tensor<B, 3>,
        values: Tensor<B, 3>,
        mask: Tensor<B, 2>,
        heads: Heads,
    ) -> Tensor<B, 2> {
        let [len, _] = q.dims();
        let total = keys.dims()[1];
        let (group, dim) = (heads.group(), heads.dim);
        let dtype: DType = q.dtype();
        // Query heads sharing a key/value head stacked along the query axis, so
        // K and V are never repeated: `[kv, group·len, d] · [kv, d, keys]`.
        let grouped = q.reshape([len, heads.query, dim]).swap_dims(0, 1).reshape([
            heads.key_value,
            group * len,
            dim,
        ]);
        let scores = grouped
            .matmul(keys.swap_dims(1, 2))
            .reshape([heads.query, len, total])
            .cast(FloatDType::F32)
            .mul_scalar((dim as f64).powf(-0.5))
            + mask.unsqueeze::<3>();
        let probs = activation::softmax(scores, 2).cast(dtype).reshape([
            heads.key_value,
            group * len,
            total,
        ]);
        probs
            .matmul(values)
            .reshape([heads.query, len, dim])
            .swap_dims(0, 1)
            .reshape([len, heads.query * dim])
    }
}

/// `x·cos + rotate_half(x)·sin` for `x: [len, heads, dim]`, `cos`/`sin: [len, dim]`.
fn rotary<B: Backend>(x: Tensor<B, 3>, cos: Tensor<B, 2>, sin: Tensor<B, 2>) -> Tensor<B, 3> {
    let [_, _, dim] = x.dims();
    let half = dim / 2;
    let first = x.clone().narrow(2, 0, half);
    let second = x.clone().narrow(2, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 2);
    let cos = cos.unsqueeze_dim::<3>(1).cast(x.dtype());
    let sin = sin.unsqueeze_dim::<3>(1).cast(x.dtype());
    x * cos + rotated * sin
}

impl<B: Backend> Kernels for BurnKernels<B> {
    type Device = B::Device;
    type Act = Tensor<B, 2>;
    type Matrix = Tensor<B, 2>;
    type Vector = Tensor<B, 1>;
    type Kv = BurnKv<B>;
    type Pass = BurnPass<B>;

    fn new(device: &B::Device) -> Result<Self, LlamaError> {
        Ok(Self {
            device: device.clone(),
        })
    }

    fn name(&self) -> String {
        format!("burn {} {:?}", B::name(&self.device), self.device)
    }

    fn dtype(&self) -> &'static str {
        match size_of::<B::FloatElem>() {
            4 => "f32",
            2 => "16-bit",
            _ => "float",
        }
    }

    fn matrix(
        &self,
        values: Vec<f32>,
        rows: usize,
        cols: usize,
        usage: MatrixUse,
    ) -> Result<Self::Matrix, LlamaError> {
        let values = crate::parallel::convert(&values, |v| {
            burn::tensor::ElementConversion::elem::<B::FloatElem>(v)
        });
        let matrix = Tensor::from_data(TensorData::new(values, [rows, cols]), &self.device);
        Ok(match usage {
            MatrixUse::LinearOutputsMajor => matrix.transpose(),
            MatrixUse::Linear | MatrixUse::Table => matrix,
        })
    }

    fn vector(&self, values: Vec<f32>) -> Result<Self::Vector, LlamaError> {
        let len = values.len();
        Ok(Tensor::from_data(
            TensorData::new(values, [len]),
            &self.device,
        ))
    }

    fn sync(&self) -> Result<(), LlamaError> {
        B::sync(&self.device).map_err(|e| LlamaError::Device {
            device: format!("{:?}", self.device),
            operation: "sync".into(),
            message: format!("{e:?}"),
        })
    }

    fn new_kv(&self, shape: KvShape) -> Result<Self::Kv, LlamaError> {
        let dims = [
            shape.slots,
            shape.heads.key_value,
            shape.capacity,
            shape.heads.dim,
        ];
        let layers = (0..shape.layers)
            .map(|_| {
                (
                    Tensor::zeros(dims, &self.device),
                    Tensor::zeros(dims, &self.device),
                )
            })
            .collect();
        Ok(BurnKv { layers })
    }

    fn copy_kv(&self, kv: &Self::Kv, _: KvShape) -> Result<Self::Kv, LlamaError> {
        Ok(kv.clone())
    }

    fn remap_kv(
        &self,
        kv: &Self::Kv,
        _from: KvShape,
        to: KvShape,
        slots: &[usize],
        keep: usize,
    ) -> Result<Self::Kv, LlamaError> {
        let ids = self.ids(&slots.iter().map(|&s| s as u32).collect::<Vec<_>>());
        let mut out = self.new_kv(to)?;
        if keep == 0 {
            return Ok(out);
        }
        for ((keys, values), (new_keys, new_values)) in kv.layers.iter().zip(&mut out.layers) {
            let pick = |t: &Tensor<B, 4>| t.clone().select(0, ids.clone()).narrow(2, 0, keep);
            *new_keys = new_keys
                .clone()
                .slice_assign(s![.., .., 0..keep, ..], pick(keys));
            *new_values = new_values
                .clone()
                .slice_assign(s![.., .., 0..keep, ..], pick(values));
        }
        Ok(out)
    }

    fn prepare(&self, plan: PassPlan) -> Result<Self::Pass, LlamaError> {
        let half = plan.heads.dim / 2;
        Ok(BurnPass {
            tokens: self.ids(&plan.tokens),
            cos: self.full_width(&plan.cos, plan.len(), half),
            sin: self.full_width(&plan.sin, plan.len(), half),
            logit_tokens: self.ids(&plan.logit_tokens),
            plan,
        })
    }

    fn embed(&self, table: &Self::Matrix, pass: &Self::Pass) -> Result<Self::Act, LlamaError> {
        Ok(table.clone().select(0, pass.tokens.clone()))
    }

    fn rms_norm(
        &self,
        x: &Self::Act,
        weight: &Self::Vector,
        eps: f32,
    ) -> Result<Self::Act, LlamaError> {
        let dtype = x.dtype();
        let x = x.clone().cast(FloatDType::F32);
        let mean_square = (x.clone() * x.clone()).mean_dim(1);
        let normed = x * mean_square.add_scalar(eps).sqrt().recip();
        Ok(normed.cast(dtype) * weight.clone().unsqueeze())
    }

    fn linear(
        &self,
        x: &Self::Act,
        weight: &Self::Matrix,
        bias: Option<&Self::Vector>,
    ) -> Result<Self::Act, LlamaError> {
        let y = x.clone().matmul(weight.clone());
        Ok(match bias {
            Some(bias) => y + bias.clone().unsqueeze(),
            None => y,
        })
    }

    fn linear_add(
        &self,
        x: &Self::Act,
        weight: &Self::Matrix,
        residual: &mut Self::Act,
    ) -> Result<(), LlamaError> {
        *residual = residual.clone() + x.clone().matmul(weight.clone());
        Ok(())
    }

    fn swiglu(&self, gate_up: &Self::Act) -> Result<Self::Act, LlamaError> {
        let inter = gate_up.dims()[1] / 2;
        let gate = gate_up.clone().narrow(1, 0, inter);
        let up = gate_up.clone().narrow(1, inter, inter);
        Ok(activation::silu(gate) * up)
    }

    fn attention(
        &self,
        qkv: &Self::Act,
        pass: &Self::Pass,
        layer: usize,
        kv: &mut Self::Kv,
        shared: Option<&Self::Kv>,
    ) -> Result<Self::Act, LlamaError> {
        let plan = &pass.plan;
        let heads = plan.heads;
        let (q_width, kv_width) = (heads.q_width(), heads.kv_width());
        let mut outputs = Vec::with_capacity(plan.rows.len());
        for row in &plan.rows {
            let rows = row.offset..row.offset + row.len;
            let part = qkv.clone().slice(s![rows.clone(), ..]);
            let (cos, sin) = (
                pass.cos.clone().slice(s![rows.clone(), ..]),
                pass.sin.clone().slice(s![rows, ..]),
            );
            let split = |t: Tensor<B, 2>, n: usize| t.reshape([row.len, n, heads.dim]);
            let q = rotary(
                split(part.clone().narrow(1, 0, q_width), heads.query),
                cos.clone(),
                sin.clone(),
            );
            let k = rotary(
                split(part.clone().narrow(1, q_width, kv_width), heads.key_value),
                cos,
                sin,
            );
            let v = split(
                part.narrow(1, q_width + kv_width, kv_width),
                heads.key_value,
            );
            let (keys, values) = &mut kv.layers[layer];
            let at = s![
                row.slot..row.slot + 1,
                ..,
                row.cached..row.cached + row.len,
                ..
            ];
            let as_store = |t: Tensor<B, 3>| t.swap_dims(0, 1).unsqueeze::<4>();
            *keys = keys.clone().slice_assign(at, as_store(k));
            *values = values.clone().slice_assign(at, as_store(v));
            let own = |t: &Tensor<B, 4>| {
                t.clone()
                    .slice(s![row.slot..row.slot + 1, .., 0..row.cached + row.len, ..])
                    .squeeze_dim::<3>(0)
            };
            let (mut all_keys, mut all_values) = (own(keys), own(values));
            if let Some(shared) = shared.filter(|_| row.shared > 0) {
                let (shared_keys, shared_values) = &shared.layers[layer];
                let context = |t: &Tensor<B, 4>| {
                    t.clone()
                        .slice(s![0..1, .., 0..row.shared, ..])
                        .squeeze_dim::<3>(0)
                };
                all_keys = Tensor::cat(vec![context(shared_keys), all_keys], 1);
                all_values = Tensor::cat(vec![context(shared_values), all_values], 1);
            }
            let q = q.reshape([row.len, q_width]);
            outputs.push(self.attend_row(q, all_keys, all_values, self.row_mask(plan, row), heads));
        }
        Ok(Tensor::cat(outputs, 0))
    }

    fn logit_rows(&self, x: &Self::Act, pass: &Self::Pass) -> Result<Self::Act, LlamaError> {
        Ok(x.clone().select(0, pass.logit_tokens.clone()))
    }

    fn lm_head(&self, x: &Self::Act, table: &Self::Matrix) -> Result<Self::Act, LlamaError> {
        // `E · xᵀ` then a transpose of the small result, rather than `x · Eᵀ`,
        // which would copy the whole `[vocab, hidden]` table into a transposed
        // layout on every call on some backends.
        Ok(table
            .clone()
            .matmul(x.clone().transpose())
            .transpose()
            .cast(FloatDType::F32))
    }

    fn to_host(&self, x: &Self::Act) -> Result<Vec<f32>, LlamaError> {
        x.clone()
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| LlamaError::Device {
                device: format!("{:?}", self.device),
                operation: "read back".into(),
                message: format!("{e:?}"),
            })
    }

    fn dims(&self, x: &Self::Act) -> [usize; 2] {
        x.dims()
    }
}
