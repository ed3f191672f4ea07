//! Seeded random weights for any config: tests without a checkpoint, and GPU
//! benchmarks at real model shapes (e.g. Llama-3.2-3B) without downloading one.

use std::path::PathBuf;

use crate::{HostTensor, LlamaConfig, LlamaError, WeightSource};

/// A [`WeightSource`] whose tensors are uniform noise of a given standard
/// deviation (norm weights: one plus noise), reproducible from a seed and the
/// tensor's name, so any tensor can be regenerated independently of the others.
#[derive(Debug, Clone)]
pub struct RandomWeights {
    config: LlamaConfig,
    seed: u64,
    std: f32,
    qkv_bias: bool,
}

impl RandomWeights {
    /// Random weights for `config` with standard deviation 0.02 (the usual
    /// Llama initialiser range).
    pub fn new(config: LlamaConfig, seed: u64) -> Self {
        Self::with_std(config, seed, 0.02)
    }

    /// Random weights with a chosen standard deviation.
    pub fn with_std(config: LlamaConfig, seed: u64, std: f32) -> Self {
        Self {
            config,
            seed,
            std,
            qkv_bias: false,
        }
    }

    /// The same weights plus Qwen-style q/k/v projection biases.
    pub fn with_qkv_bias(mut self) -> Self {
        self.qkv_bias = true;
        self
    }

    /// The Hugging Face shape of a tensor name, or `None` if the model has no
    /// such tensor.
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        let c = &self.config;
        let (hidden, inter, vocab) = (c.hidden_size, c.intermediate_size, c.vocab_size);
        let q_width = c.num_attention_heads * c.head_dim();
        let kv_width = c.kv_heads() * c.head_dim();
        match name {
            "model.embed_tokens.weight" => return Some(vec![vocab, hidden]),
            "model.norm.weight" => return Some(vec![hidden]),
            "lm_head.weight" if !c.tie_word_embeddings => return Some(vec![vocab, hidden]),
            _ => {}
        }
        let rest = name.strip_prefix("model.layers.")?;
        let (index, suffix) = rest.split_once('.')?;
        if index.parse::<usize>().ok()? >= c.num_hidden_layers {
            return None;
        }
        let shape = match suffix {
            "input_layernorm.weight" | "post_attention_layernorm.weight" => vec![hidden],
            "self_attn.q_proj.weight" => vec![q_width, hidden],
            "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => vec![kv_width, hidden],
            "self_attn.o_proj.weight" => vec![hidden, q_width],
            "mlp.gate_proj.weight" | "mlp.up_proj.weight" => vec![inter, hidden],
            "mlp.down_proj.weight" => vec![hidden, inter],
            "self_attn.q_proj.bias" if self.qkv_bias => vec![q_width],
            "self_attn.k_proj.bias" | "self_attn.v_proj.bias" if self.qkv_bias => vec![kv_width],
            _ => return None,
        };
        Some(shape)
    }
}

impl WeightSource for RandomWeights {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn tensor(&self, name: &str) -> Result<HostTensor, LlamaError> {
        // Zeroed by `calloc`: fresh pages, faulted in by the fill's threads.
        let count = self.shape_of(name).map_or(0, |s| s.iter().product());
        let mut data = vec![0.0; count];
        let shape = self.tensor_into(name, &mut data)?;
        Ok(HostTensor { shape, data })
    }

    fn tensor_into(&self, name: &str, buffer: &mut Vec<f32>) -> Result<Vec<usize>, LlamaError> {
        let shape = self
            .shape_of(name)
            .ok_or_else(|| LlamaError::MissingTensor {
                path: PathBuf::from("<random weights>"),
                tensor: name.to_string(),
            })?;
        // Uniform on [-a, a] has standard deviation a/√3.
        let amplitude = self.std * 3f32.sqrt();
        let offset = if name.ends_with("norm.weight") {
            1.0
        } else {
            0.0
        };
        // Every value is overwritten below; `resize` only zeroes growth.
        buffer.resize(shape.iter().product(), 0.0);
        fill_uniform(self.seed ^ fnv1a(name), offset, amplitude, buffer);
        Ok(shape)
    }

    fn contains(&self, name: &str) -> bool {
        self.shape_of(name).is_some()
    }
}

/// Fills `out` with `offset + amplitude · u`, `u` uniform on `[-1, 1)`, from
/// the SplitMix64 stream of `seed`, split across threads for large tensors (a
/// 3B model is ~3·10⁹ draws: a minute on one core). SplitMix64's state after
/// `k` draws is `seed + k·γ`, so each thread starts its stream at its offset
/// and the values are the same as one sequential stream.
fn fill_uniform(seed: u64, offset: f32, amplitude: f32, out: &mut [f32]) {
    crate::parallel::for_each_chunk(out, 1, |start, chunk| {
        let mut rng = SplitMix64::at(seed, start as u64);
        for value in chunk {
            *value = offset + amplitude * (2.0 * rng.next_unit() - 1.0);
        }
    });
}

/// The SplitMix64 generator: tiny, fast, and good enough for test weights.
struct SplitMix64(u64);

/// SplitMix64's state increment (the golden ratio in 64-bit fixed point).
const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// The stream of `seed` after `skipped` draws.
    fn at(seed: u64, skipped: u64) -> Self {
        Self(seed.wrapping_add(skipped.wrapping_mul(SPLITMIX_GAMMA)))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(SPLITMIX_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    fn next_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// FNV-1a hash of a tensor name, to give every tensor its own stream.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Config presets used by tests and benchmarks.
pub mod presets {
    use crate::{LlamaConfig, RopeScaling};

    /// The preset names [`by_name`] knows.
    pub const NAMES: [&str; 3] = ["llama-3.2-3b", "smollm2-135m", "tiny"];

    /// A preset by name (see [`NAMES`]).
    pub fn by_name(name: &str) -> Option<LlamaConfig> {
        match name {
            "llama-3.2-3b" => Some(llama_3_2_3b()),
            "smollm2-135m" => Some(smollm2_135m()),
            "tiny" => Some(tiny()),
            _ => None,
        }
    }

    /// Llama-3.2-3B shapes: hidden 3072, 28 layers, 24 query / 8 KV heads,
    /// intermediate 8192, vocab 128256, θ 500000, Llama-3 RoPE scaling, tied.
    pub fn llama_3_2_3b() -> LlamaConfig {
        LlamaConfig {
            architecture: crate::config::Architecture::Llama,
            vocab_size: 128_256,
            hidden_size: 3072,
            intermediate_size: 8192,
            num_hidden_layers: 28,
            num_attention_heads: 24,
            num_key_value_heads: Some(8),
            head_dim: Some(128),
            max_position_embeddings: 131_072,
            rms_norm_eps: 1e-5,
            rope_theta: 500_000.0,
            rope_scaling: Some(RopeScaling {
                rope_type: "llama3".into(),
                factor: 32.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            }),
            tie_word_embeddings: true,
            bos_token_id: Some(128_000),
            eos_token_id: Some(128_009),
            sliding_window: None,
        }
    }

    /// SmolLM2-135M shapes: hidden 576, 30 layers, 9 query / 3 KV heads, head 64,
    /// intermediate 1536, vocab 49152, θ 100000, tied; eps as the GGUF stores it.
    pub fn smollm2_135m() -> LlamaConfig {
        LlamaConfig {
            architecture: crate::config::Architecture::Llama,
            vocab_size: 49_152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: Some(3),
            head_dim: Some(64),
            max_position_embeddings: 8192,
            rms_norm_eps: f64::from(1e-5f32),
            rope_theta: 100_000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            sliding_window: None,
        }
    }

    /// A tiny Llama for fast tests: GQA (4 query / 2 KV heads), Llama-3 RoPE
    /// scaling, tied embeddings.
    pub fn tiny() -> LlamaConfig {
        LlamaConfig {
            architecture: crate::config::Architecture::Llama,
            vocab_size: 97,
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            head_dim: None,
            max_position_embeddings: 512,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: Some(RopeScaling {
                rope_type: "llama3".into(),
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 64,
            }),
            tie_word_embeddings: true,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            sliding_window: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_streams_equal_one_sequential_stream() {
        let count = (1 << 20) + 12_345;
        let mut parallel = vec![0f32; count];
        fill_uniform(99, 1.0, 0.5, &mut parallel);
        let mut rng = SplitMix64(99);
        for (index, value) in parallel.iter().enumerate() {
            let expected = 1.0 + 0.5 * (2.0 * rng.next_unit() - 1.0);
            assert_eq!(*value, expected, "element {index}");
        }
    }

    #[test]
    fn every_preset_name_resolves() {
        for name in presets::NAMES {
            assert!(presets::by_name(name).is_some(), "{name}");
        }
        assert_eq!(
            presets::by_name("llama-3.2-3b"),
            Some(presets::llama_3_2_3b())
        );
        assert!(presets::by_name("llama-9000").is_none());
    }

    #[test]
    fn tensors_are_reproducible_and_distinct() {
        let weights = RandomWeights::new(presets::tiny(), 7);
        let a = weights
            .tensor("model.layers.0.mlp.up_proj.weight")
            .expect("known tensor");
        let b = weights
            .tensor("model.layers.0.mlp.up_proj.weight")
            .expect("known tensor");
        let c = weights
            .tensor("model.layers.1.mlp.up_proj.weight")
            .expect("known tensor");
        assert_eq!(a, b);
        assert_ne!(a.data, c.data);
        assert_eq!(a.shape, vec![48, 32]);
    }

    #[test]
    fn recycled_buffers_give_the_same_tensors() {
        let weights = RandomWeights::new(presets::tiny(), 3);
        let mut buffer = vec![f32::NAN; 5000];
        // The buffer shrinks (stale values past the end), shrinks again, then grows.
        for name in [
            "model.layers.0.mlp.up_proj.weight",
            "model.layers.0.self_attn.k_proj.weight",
            "model.layers.1.mlp.down_proj.weight",
        ] {
            let shape = weights
                .tensor_into(name, &mut buffer)
                .expect("known tensor");
            let fresh = weights.tensor(name).expect("known tensor");
            assert_eq!((shape, &buffer), (fresh.shape, &fresh.data), "{name}");
        }
    }

    #[test]
    fn values_have_the_requested_spread() {
        let weights = RandomWeights::with_std(presets::tiny(), 1, 0.5);
        let t = weights
            .tensor("model.embed_tokens.weight")
            .expect("known tensor");
        let n = t.data.len() as f32;
        let mean = t.data.iter().sum::<f32>() / n;
        let std = (t.data.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((std - 0.5).abs() < 0.05, "std {std}");
    }

    #[test]
    fn unknown_and_tied_names_are_missing() {
        let weights = RandomWeights::new(presets::tiny(), 0);
        assert!(!weights.contains("lm_head.weight"));
        assert!(!weights.contains("model.layers.2.mlp.up_proj.weight"));
        assert!(matches!(
            weights.tensor("model.layers.x.mlp.up_proj.weight"),
            Err(LlamaError::MissingTensor { .. })
        ));
    }
}
