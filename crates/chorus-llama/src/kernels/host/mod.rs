//! The CPU kernels ([`HostKernels`], alias [`crate::Cpu`]): f32 on plain host
//! buffers, every operation spread over rayon's pool.
//!
//! Weights are packed into column panels once, at load, and multiplied by AVX2
//! register tiles ([`panels`]): decoding a few dozen rows streams each weight
//! once at memory bandwidth, prefill runs near the cores' FMA rate. Attention
//! skips hidden keys instead of masking them and reads a shared context's keys
//! in place ([`attention`]).
//!
//! The pool is rayon's global one: `CHORUS_CPU_THREADS` (or rayon's own
//! `RAYON_NUM_THREADS`) sets its size when it is first used.

mod attention;
mod ops;
mod panels;

use std::sync::Once;

use panels::Panels;

use super::{Kernels, KvShape, MatrixUse, PassPlan};
use crate::LlamaError;

/// CPU kernels in f32.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostKernels;

/// A row-major `[rows, cols]` f32 activation matrix on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostAct {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

/// A weight matrix on the host, laid out for its use.
#[derive(Debug, Clone)]
pub struct HostMatrix(Layout);

#[derive(Debug, Clone)]
enum Layout {
    /// A linear layer, in column panels.
    Linear(Panels),
    /// A `[vocab, hidden]` table: row-major for gathers, and transposed into
    /// panels for the LM head.
    Table {
        /// Row-major `[vocab, hidden]`.
        rows: Vec<f32>,
        /// Columns of `rows`.
        hidden: usize,
        /// `tableᵀ` in panels.
        head: Panels,
    },
}

/// Keys and values of every layer: keys `[slots, kv_heads, head_dim, capacity]`
/// (transposed, see [`attention`]), values `[slots, kv_heads, capacity, head_dim]`.
#[derive(Debug, Clone)]
pub struct HostKv {
    shape: KvShape,
    layers: Vec<(Vec<f32>, Vec<f32>)>,
}

/// Sizes the global pool from `CHORUS_CPU_THREADS` once, before its first use.
fn configure_pool() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let threads = std::env::var("CHORUS_CPU_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0);
        if let Some(threads) = threads {
            // Fails only when the pool already exists (then it keeps its size).
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global();
        }
    });
}

impl Kernels for HostKernels {
    type Device = ();
    type Act = HostAct;
    type Matrix = HostMatrix;
    type Vector = Vec<f32>;
    type Kv = HostKv;
    type Pass = PassPlan;

    fn new(_: &()) -> Result<Self, LlamaError> {
        configure_pool();
        Ok(Self)
    }

    fn name(&self) -> String {
        format!("cpu f32 ({} threads)", rayon::current_num_threads())
    }

    fn dtype(&self) -> &'static str {
        "f32"
    }

    fn matrix(
        &self,
        values: Vec<f32>,
        rows: usize,
        cols: usize,
        usage: MatrixUse,
    ) -> Result<HostMatrix, LlamaError> {
        debug_assert_eq!(values.len(), rows * cols);
        Ok(HostMatrix(match usage {
            MatrixUse::Linear => Layout::Linear(Panels::from_row_major(&values, rows, cols)),
            MatrixUse::LinearOutputsMajor => {
                Layout::Linear(Panels::from_transposed(&values, rows, cols))
            }
            MatrixUse::Table => Layout::Table {
                head: Panels::from_transposed(&values, rows, cols),
                rows: values,
                hidden: cols,
            },
        }))
    }

    /// Panels pack from either layout at the same cost, so the load's
    /// transpose is skipped.
    fn takes_outputs_major(&self) -> bool {
        true
    }

    fn vector(&self, values: Vec<f32>) -> Result<Vec<f32>, LlamaError> {
        Ok(values)
    }

    fn new_kv(&self, shape: KvShape) -> Result<HostKv, LlamaError> {
        let len = shape.slots * shape.heads.key_value * shape.capacity * shape.heads.dim;
        // Zeroed allocations come from fresh pages: only what is written is touched.
        let layers = (0..shape.layers)
            .map(|_| (bytemuck::zeroed_vec(len), bytemuck::zeroed_vec(len)))
            .collect();
        Ok(HostKv { shape, layers })
    }

    fn copy_kv(&self, kv: &HostKv, _: KvShape) -> Result<HostKv, LlamaError> {
        Ok(kv.clone())
    }

    fn remap_kv(
        &self,
        kv: &HostKv,
        from: KvShape,
        to: KvShape,
        slots: &[usize],
        keep: usize,
    ) -> Result<HostKv, LlamaError> {
        let mut out = self.new_kv(to)?;
        let (heads, dim) = (from.heads.key_value, from.heads.dim);
        for ((keys, values), (new_keys, new_values)) in kv.layers.iter().zip(&mut out.layers) {
            for (new_slot, &old_slot) in slots.iter().enumerate() {
                for head in 0..heads {
                    let (src, dst) = (old_slot * heads + head, new_slot * heads + head);
                    // Keys are `[dim][capacity]` per (slot, head): one run per dimension.
                    for d in 0..dim {
                        let s = (src * dim + d) * from.capacity;
                        let t = (dst * dim + d) * to.capacity;
                        new_keys[t..t + keep].copy_from_slice(&keys[s..s + keep]);
                    }
                    let (s, t) = (src * from.capacity * dim, dst * to.capacity * dim);
                    new_values[t..t + keep * dim].copy_from_slice(&values[s..s + keep * dim]);
                }
            }
        }
        Ok(out)
    }

    fn prepare(&self, plan: PassPlan) -> Result<PassPlan, LlamaError> {
        Ok(plan)
    }

    fn embed(&self, table: &HostMatrix, pass: &PassPlan) -> Result<HostAct, LlamaError> {
        let (values, cols) = table.rows();
        let mut data = Vec::with_capacity(pass.len() * cols);
        for &id in &pass.tokens {
            let id = id as usize;
            data.extend_from_slice(&values[id * cols..(id + 1) * cols]);
        }
        Ok(HostAct {
            data,
            rows: pass.len(),
            cols,
        })
    }

    fn rms_norm(&self, x: &HostAct, weight: &Vec<f32>, eps: f32) -> Result<HostAct, LlamaError> {
        Ok(HostAct {
            data: ops::rms_norm(&x.data, weight, eps),
            rows: x.rows,
            cols: x.cols,
        })
    }

    fn linear(
        &self,
        x: &HostAct,
        weight: &HostMatrix,
        bias: Option<&Vec<f32>>,
    ) -> Result<HostAct, LlamaError> {
        let weight = weight.panels();
        let mut out = vec![0f32; x.rows * weight.n()];
        panels::matmul(&x.data, x.rows, weight, &mut out, false);
        if let Some(bias) = bias {
            for row in out.chunks_exact_mut(weight.n()) {
                row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
            }
        }
        Ok(HostAct {
            data: out,
            rows: x.rows,
            cols: weight.n(),
        })
    }

    fn linear_add(
        &self,
        x: &HostAct,
        weight: &HostMatrix,
        residual: &mut HostAct,
    ) -> Result<(), LlamaError> {
        panels::matmul(&x.data, x.rows, weight.panels(), &mut residual.data, true);
        Ok(())
    }

    fn swiglu(&self, gate_up: &HostAct) -> Result<HostAct, LlamaError> {
        let inter = gate_up.cols / 2;
        Ok(HostAct {
            data: ops::swiglu(&gate_up.data, inter),
            rows: gate_up.rows,
            cols: inter,
        })
    }

    fn attention(
        &self,
        qkv: &HostAct,
        pass: &PassPlan,
        layer: usize,
        kv: &mut HostKv,
        shared: Option<&HostKv>,
    ) -> Result<HostAct, LlamaError> {
        Ok(attention::attention(qkv, pass, layer, kv, shared))
    }

    fn logit_rows(&self, x: &HostAct, pass: &PassPlan) -> Result<HostAct, LlamaError> {
        let mut data = Vec::with_capacity(pass.logit_tokens.len() * x.cols);
        for &t in &pass.logit_tokens {
            let t = t as usize;
            data.extend_from_slice(&x.data[t * x.cols..(t + 1) * x.cols]);
        }
        Ok(HostAct {
            data,
            rows: pass.logit_tokens.len(),
            cols: x.cols,
        })
    }

    fn lm_head(&self, x: &HostAct, table: &HostMatrix) -> Result<HostAct, LlamaError> {
        let head = table.panels();
        let mut out = vec![0f32; x.rows * head.n()];
        panels::matmul(&x.data, x.rows, head, &mut out, false);
        Ok(HostAct {
            data: out,
            rows: x.rows,
            cols: head.n(),
        })
    }

    fn to_host(&self, x: &HostAct) -> Result<Vec<f32>, LlamaError> {
        Ok(x.data.clone())
    }

    fn dims(&self, x: &HostAct) -> [usize; 2] {
        [x.rows, x.cols]
    }

    fn select(
        &self,
        logits: &HostAct,
        selections: &[crate::select::Selection],
    ) -> Result<Vec<crate::select::Picked>, LlamaError> {
        crate::select::select_on_host(&logits.data, logits.rows, logits.cols, selections)
    }
}

impl HostMatrix {
    /// The panels a product reads: the layer's, or the table's transposed ones.
    fn panels(&self) -> &Panels {
        match &self.0 {
            Layout::Linear(panels) => panels,
            Layout::Table { head, .. } => head,
        }
    }

    /// Row-major values and columns of a table (a linear layer is never gathered).
    fn rows(&self) -> (&[f32], usize) {
        match &self.0 {
            Layout::Table { rows, hidden, .. } => (rows, *hidden),
            Layout::Linear(_) => (&[], 1),
        }
    }
}

impl HostAct {
    /// An activation from row-major values (tests and benchmarks).
    pub fn from_vec(data: Vec<f32>, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self { data, rows, cols }
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
}
