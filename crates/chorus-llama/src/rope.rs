//! Rotary position embeddings (RoPE) in Hugging Face's `rotate_half` convention,
//! with Llama-3 frequency scaling, evaluated at explicit position ids.
//!
//! The cos/sin tables are built once on the host (in f32, as `transformers` does)
//! and uploaded; they grow lazily to the largest position seen, so a forward pass
//! only gathers rows by position id on the device.

use std::sync::Mutex;

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::{LlamaConfig, RopeScaling};

/// Smallest table built, so short prompts do not cause many regrowths.
const MIN_TABLE_LEN: usize = 256;

/// Inverse frequencies `1 / theta^(2i/d)` for `i < d/2`, Llama-3 scaled when the
/// config asks for it. Computed in f32 like `transformers`, so that logits agree
/// to float rounding.
pub fn inverse_frequencies(config: &LlamaConfig) -> Vec<f32> {
    let dim = config.head_dim();
    let theta = config.rope_theta as f32;
    let plain = (0..dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / dim as f32));
    match &config.rope_scaling {
        Some(scaling) if scaling.rope_type == "llama3" => {
            plain.map(|f| llama3_scaled(f, scaling)).collect()
        }
        _ => plain.collect(),
    }
}

/// Llama-3 scaling of one frequency: long wavelengths are divided by `factor`,
/// short ones kept, and the band between is interpolated smoothly.
fn llama3_scaled(inv_freq: f32, scaling: &RopeScaling) -> f32 {
    let factor = scaling.factor as f32;
    let low = scaling.low_freq_factor as f32;
    let high = scaling.high_freq_factor as f32;
    let old_context = scaling.original_max_position_embeddings as f32;
    let wavelength = 2.0 * std::f32::consts::PI / inv_freq;
    if wavelength < old_context / high {
        inv_freq
    } else if wavelength > old_context / low {
        inv_freq / factor
    } else {
        let smooth = (old_context / wavelength - low) / (high - low);
        (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
    }
}

/// Host-side cos and sin tables `[len, head_dim]`; both halves of a row repeat the
/// same frequencies (the `cat(freqs, freqs)` of `rotate_half` RoPE).
fn host_tables(inv_freq: &[f32], len: usize) -> (Vec<f32>, Vec<f32>) {
    let dim = inv_freq.len() * 2;
    let mut cos = Vec::with_capacity(len * dim);
    let mut sin = Vec::with_capacity(len * dim);
    for position in 0..len {
        let angles: Vec<f32> = inv_freq.iter().map(|f| position as f32 * f).collect();
        for _half in 0..2 {
            cos.extend(angles.iter().map(|a| a.cos()));
            sin.extend(angles.iter().map(|a| a.sin()));
        }
    }
    (cos, sin)
}

/// Device copies of the tables, covering positions `0..len`.
#[derive(Debug, Clone)]
struct DeviceTables<B: Backend> {
    len: usize,
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
}

/// Lazily grown RoPE tables of one model.
#[derive(Debug)]
pub struct RopeTable<B: Backend> {
    inv_freq: Vec<f32>,
    device: B::Device,
    tables: Mutex<Option<DeviceTables<B>>>,
}

impl<B: Backend> RopeTable<B> {
    /// Tables for this config; nothing is computed until the first lookup.
    pub fn new(config: &LlamaConfig, device: &B::Device) -> Self {
        Self {
            inv_freq: inverse_frequencies(config),
            device: device.clone(),
            tables: Mutex::new(None),
        }
    }

    /// Cos and sin rows `[positions.len(), head_dim]` for these position ids.
    pub fn lookup(&self, positions: &[usize]) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let needed = positions.iter().max().map_or(0, |p| p + 1);
        let tables = self.tables_covering(needed);
        let ids: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
        let ids =
            Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [positions.len()]), &self.device);
        (tables.cos.select(0, ids.clone()), tables.sin.select(0, ids))
    }

    /// The current tables, regrown (doubling) when they do not reach `needed`.
    fn tables_covering(&self, needed: usize) -> DeviceTables<B> {
        // A poisoned lock only means another thread panicked mid-regrowth; the
        // Option is then either the old or the new complete value, both usable.
        let mut guard = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tables) = guard.as_ref().filter(|t| t.len >= needed) {
            return tables.clone();
        }
        let current = guard.as_ref().map_or(0, |t| t.len);
        let len = needed.max(2 * current).max(MIN_TABLE_LEN);
        let tables = self.build(len);
        *guard = Some(tables.clone());
        tables
    }

    fn build(&self, len: usize) -> DeviceTables<B> {
        let dim = self.inv_freq.len() * 2;
        let (cos, sin) = host_tables(&self.inv_freq, len);
        DeviceTables {
            len,
            cos: Tensor::from_data(TensorData::new(cos, [len, dim]), &self.device),
            sin: Tensor::from_data(TensorData::new(sin, [len, dim]), &self.device),
        }
    }
}

/// Applies RoPE to `x: [batch, heads, len, head_dim]` with `cos`/`sin` of shape
/// `[batch, 1, len, head_dim]`: `x·cos + rotate_half(x)·sin`.
pub fn apply_rotary<B: Backend>(
    x: Tensor<B, 4>,
    cos: Tensor<B, 4>,
    sin: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let [_, _, _, dim] = x.dims();
    let half = dim / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    x * cos + rotated * sin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(scaling: Option<RopeScaling>) -> LlamaConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 1,
            "rope_theta": 500000.0, "rope_scaling": scaling,
        }))
        .expect("valid test config")
    }

    fn llama3() -> RopeScaling {
        RopeScaling {
            rope_type: "llama3".into(),
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        }
    }

    #[test]
    fn plain_frequencies_follow_theta() {
        let inv = inverse_frequencies(&config_with(None));
        assert_eq!(inv.len(), 32);
        assert_eq!(inv[0], 1.0);
        let expected = 1.0 / 500000f32.powf(2.0 / 64.0);
        assert!((inv[1] - expected).abs() < 1e-7);
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let plain = inverse_frequencies(&config_with(None));
        let scaled = inverse_frequencies(&config_with(Some(llama3())));
        // The fastest rotation (wavelength 2π) is far below 8192/4: unchanged.
        assert_eq!(scaled[0], plain[0]);
        // The slowest has a wavelength far above 8192: divided by the factor.
        let last = plain.len() - 1;
        assert!((scaled[last] - plain[last] / 32.0).abs() < 1e-12);
        // Every scaled frequency lies between the two extremes.
        for (s, p) in scaled.iter().zip(&plain) {
            assert!(*s <= *p && *s >= p / 32.0);
        }
    }

    #[test]
    fn table_rows_repeat_frequencies_in_both_halves() {
        let (cos, sin) = host_tables(&[1.0, 0.5], 3);
        assert_eq!(cos.len(), 12);
        assert_eq!(
            &cos[8..12],
            &[2f32.cos(), 1f32.cos(), 2f32.cos(), 1f32.cos()]
        );
        assert_eq!(&sin[0..4], &[0.0; 4]);
    }

    #[test]
    fn lookup_grows_the_table_and_gathers_rows() {
        let device = Default::default();
        let table = RopeTable::<crate::Cpu>::new(&config_with(None), &device);
        let (cos, _) = table.lookup(&[3, 1000]);
        assert_eq!(cos.dims(), [2, 64]);
        let values = cos.into_data().to_vec::<f32>().expect("f32 data");
        assert!((values[0] - 3f32.cos()).abs() < 1e-6);
        assert!((values[64] - 1000f32.cos()).abs() < 1e-4);
    }
}
