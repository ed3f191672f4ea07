//! Rotary position embeddings (RoPE) in Hugging Face's `rotate_half` convention,
//! with Llama-3 frequency scaling, evaluated at explicit position ids.
//!
//! The cos/sin tables are built once on the host (in f32, as `transformers` does)
//! and grow lazily to the largest position seen; a forward pass copies the rows
//! of its positions into its plan.

use std::sync::RwLock;

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

/// Cos and sin tables `[len, head_dim / 2]`: row `p` holds `cos(p·f)` and
/// `sin(p·f)` for each frequency `f` (the second half of a `rotate_half` row
/// repeats the first, so it is not stored). The angle is `p as f32 · f`, as
/// `transformers` computes it in f32.
fn host_tables(inv_freq: &[f32], len: usize) -> (Vec<f32>, Vec<f32>) {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(len * half);
    let mut sin = Vec::with_capacity(len * half);
    for position in 0..len {
        for f in inv_freq {
            let angle = position as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    (cos, sin)
}

/// The tables of one model covering positions `0..len`.
#[derive(Debug, Clone, Default)]
struct Tables {
    len: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

/// Lazily grown RoPE tables of one model, on the host; a pass copies the rows
/// of its positions into its plan, where every kernel implementation reads them.
#[derive(Debug)]
pub struct RopeTable {
    inv_freq: Vec<f32>,
    tables: RwLock<Tables>,
}

impl RopeTable {
    /// Tables for this config; nothing is computed until the first lookup.
    pub fn new(config: &LlamaConfig) -> Self {
        Self {
            inv_freq: inverse_frequencies(config),
            tables: RwLock::new(Tables::default()),
        }
    }

    /// Frequencies per head: `head_dim / 2`.
    pub fn half_dim(&self) -> usize {
        self.inv_freq.len()
    }

    /// Appends the cos and sin rows (`half_dim` values each) of `positions`.
    pub fn extend(&self, positions: &[usize], cos: &mut Vec<f32>, sin: &mut Vec<f32>) {
        let needed = positions.iter().max().map_or(0, |p| p + 1);
        self.grow_to(needed);
        // A poisoned lock only means another thread panicked mid-regrowth, and
        // regrowth replaces the tables whole: either value is complete.
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let half = self.half_dim();
        cos.reserve(positions.len() * half);
        sin.reserve(positions.len() * half);
        for &p in positions {
            cos.extend_from_slice(&tables.cos[p * half..(p + 1) * half]);
            sin.extend_from_slice(&tables.sin[p * half..(p + 1) * half]);
        }
    }

    /// Regrows (doubling) when the tables do not reach `needed` positions.
    fn grow_to(&self, needed: usize) {
        if self.tables.read().map_or(0, |t| t.len) >= needed {
            return;
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        if tables.len >= needed {
            return;
        }
        let len = needed.max(2 * tables.len).max(MIN_TABLE_LEN);
        let (cos, sin) = host_tables(&self.inv_freq, len);
        *tables = Tables { len, cos, sin };
    }
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
    fn table_rows_hold_one_half_of_each_frequency() {
        let (cos, sin) = host_tables(&[1.0, 0.5], 3);
        assert_eq!(cos.len(), 6);
        assert_eq!(&cos[4..6], &[2f32.cos(), 1f32.cos()]);
        assert_eq!(&sin[0..2], &[0.0; 2]);
    }

    #[test]
    fn lookup_grows_the_table_and_copies_rows() {
        let table = RopeTable::new(&config_with(None));
        let (mut cos, mut sin) = (Vec::new(), Vec::new());
        table.extend(&[3, 1000], &mut cos, &mut sin);
        assert_eq!(cos.len(), 64);
        assert!((cos[0] - 3f32.cos()).abs() < 1e-6);
        assert!((cos[32] - 1000f32.cos()).abs() < 1e-4);
        assert!((sin[32] - 1000f32.sin()).abs() < 1e-4);
    }
}
