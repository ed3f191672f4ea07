//! llama.cpp ↔ Hugging Face conventions: tensor names, the Q/K row permutation
//! of `convert_hf_to_gguf.py`, and `LlamaConfig` from `llama.*` metadata.

use crate::config::Architecture;
use crate::{LlamaConfig, RopeScaling};

use super::types::GgufValue;

/// Per-layer tensor suffixes: llama.cpp name → Hugging Face name.
const LAYER_NAMES: [(&str, &str); 12] = [
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    // Qwen2's q/k/v biases.
    ("attn_q.bias", "self_attn.q_proj.bias"),
    ("attn_k.bias", "self_attn.k_proj.bias"),
    ("attn_v.bias", "self_attn.v_proj.bias"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
    ("attn_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
];

/// Whole-model tensors: llama.cpp name → Hugging Face name.
const GLOBAL_NAMES: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// The Hugging Face name of a llama.cpp tensor, or `None` for tensors without
/// one (e.g. `rope_freqs.weight`).
pub fn hf_name(gguf_name: &str) -> Option<String> {
    if let Some((_, hf)) = GLOBAL_NAMES.iter().find(|(g, _)| *g == gguf_name) {
        return Some((*hf).to_string());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (_, hf) = LAYER_NAMES.iter().find(|(g, _)| *g == suffix)?;
    Some(format!("model.layers.{layer}.{hf}"))
}

/// The llama.cpp name of a Hugging Face tensor (inverse of [`hf_name`]).
pub fn gguf_name(hf: &str) -> Option<String> {
    if let Some((g, _)) = GLOBAL_NAMES.iter().find(|(_, h)| *h == hf) {
        return Some((*g).to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (g, _) = LAYER_NAMES.iter().find(|(_, h)| *h == suffix)?;
    Some(format!("blk.{layer}.{g}"))
}

/// Which Q/K projection (weight or bias) a Hugging Face name is, if any:
/// `convert_hf_to_gguf.py` stores these with rows permuted per head for the
/// `llama` architecture (Llama, Mistral), not for `qwen2`, whose llama.cpp
/// RoPE is the `rotate_half` (NeoX) form transformers uses.
pub(crate) fn permuted_heads(hf: &str, config: &LlamaConfig) -> Option<usize> {
    if config.architecture == Architecture::Qwen2 {
        None
    } else if hf.ends_with("self_attn.q_proj.weight") || hf.ends_with("self_attn.q_proj.bias") {
        Some(config.num_attention_heads)
    } else if hf.ends_with("self_attn.k_proj.weight") || hf.ends_with("self_attn.k_proj.bias") {
        Some(config.kv_heads())
    } else {
        None
    }
}

/// Moves row blocks: `out[dst(h, s, i)] = data[src(h, s, i)]` for head `h`, half
/// `s` and pair index `i`, each row `cols` wide.
fn move_rows(
    data: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
    hf_to_gguf: bool,
) -> Result<Vec<f32>, String> {
    if n_head == 0 || !rows.is_multiple_of(2 * n_head) || data.len() != rows * cols {
        return Err(format!(
            "cannot (un)permute {rows}x{cols} rows ({} values) over {n_head} heads",
            data.len()
        ));
    }
    let head_dim = rows / n_head;
    let half = head_dim / 2;
    let mut out = vec![0.0f32; data.len()];
    for h in 0..n_head {
        for s in 0..2 {
            for i in 0..half {
                let hf_row = h * head_dim + s * half + i;
                let gguf_row = h * head_dim + 2 * i + s;
                let (src, dst) = if hf_to_gguf {
                    (hf_row, gguf_row)
                } else {
                    (gguf_row, hf_row)
                };
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    Ok(out)
}

/// llama.cpp's `permute(w, n_head, n_head_kv)` from `convert_hf_to_gguf.py`:
/// within each head, rows `[x0..x(d/2), y0..y(d/2)]` become interleaved
/// `[x0, y0, x1, y1, ...]` (`reshape(n_head, 2, d/2, cols).swapaxes(1, 2)`).
pub fn permute_qk(
    data: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
) -> Result<Vec<f32>, String> {
    move_rows(data, rows, cols, n_head, true)
}

/// The inverse of [`permute_qk`]: recovers Hugging Face row order.
pub fn unpermute_qk(
    data: &[f32],
    rows: usize,
    cols: usize,
    n_head: usize,
) -> Result<Vec<f32>, String> {
    move_rows(data, rows, cols, n_head, false)
}

/// Read access to GGUF metadata by key.
pub(crate) trait MetadataLookup {
    /// The value of `key`, if present.
    fn lookup(&self, key: &str) -> Option<&GgufValue>;
}

impl MetadataLookup for [(String, GgufValue)] {
    fn lookup(&self, key: &str) -> Option<&GgufValue> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

fn required_usize(meta: &[(String, GgufValue)], key: &str) -> Result<usize, String> {
    optional_usize(meta, key)?.ok_or_else(|| format!("missing metadata `{key}`"))
}

fn optional_usize(meta: &[(String, GgufValue)], key: &str) -> Result<Option<usize>, String> {
    match meta.lookup(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("metadata `{key}`: {v:?} is not a non-negative integer")),
    }
}

fn optional_f64(meta: &[(String, GgufValue)], key: &str) -> Result<Option<f64>, String> {
    match meta.lookup(key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("metadata `{key}`: {v:?} is not a float")),
    }
}

fn optional_u32(meta: &[(String, GgufValue)], key: &str) -> Result<Option<u32>, String> {
    optional_usize(meta, key)?
        .map(|n| u32::try_from(n).map_err(|_| format!("metadata `{key}`: {n} does not fit u32")))
        .transpose()
}

/// Builds a [`LlamaConfig`] from `{arch}.*` and `tokenizer.ggml.*` metadata.
///
/// `general.architecture` `llama` is Llama, or Mistral when the file has
/// `llama.attention.sliding_window` (llama.cpp writes Mistral models as
/// `llama`); `qwen2` is Qwen2. Any other architecture is an error naming it.
///
/// `has_output` says whether `output.weight` is present (otherwise embeddings
/// are tied); `embd_rows` is the row count of `token_embd.weight`, the vocab size
/// when neither `{arch}.vocab_size` nor a token list says otherwise.
pub fn config_from_metadata(
    meta: &[(String, GgufValue)],
    has_output: bool,
    embd_rows: Option<usize>,
) -> Result<LlamaConfig, String> {
    let arch = meta
        .lookup("general.architecture")
        .and_then(GgufValue::as_str)
        .ok_or("missing metadata `general.architecture`")?;
    let key = |k: &str| format!("{arch}.{k}");
    let (architecture, sliding_window) = match arch {
        "llama" => match optional_usize(meta, &key("attention.sliding_window"))? {
            Some(window) => (Architecture::Mistral, Some(window)),
            None => (Architecture::Llama, None),
        },
        "qwen2" => (Architecture::Qwen2, None),
        other => {
            return Err(format!(
                "metadata `general.architecture` is `{other}`, which is not supported \
                 (supported: `llama` for Llama and Mistral, `qwen2`)"
            ));
        }
    };
    let heads = required_usize(meta, &key("attention.head_count"))?;
    let hidden = required_usize(meta, &key("embedding_length"))?;
    let vocab_size = match optional_usize(meta, &key("vocab_size"))? {
        Some(v) => v,
        None => match meta
            .lookup("tokenizer.ggml.tokens")
            .and_then(GgufValue::as_array)
        {
            Some(tokens) => tokens.len(),
            None => {
                embd_rows.ok_or("no vocab size: no `llama.vocab_size`, token list or embedding")?
            }
        },
    };
    Ok(LlamaConfig {
        architecture,
        vocab_size,
        hidden_size: hidden,
        intermediate_size: required_usize(meta, &key("feed_forward_length"))?,
        num_hidden_layers: required_usize(meta, &key("block_count"))?,
        num_attention_heads: heads,
        num_key_value_heads: Some(
            optional_usize(meta, &key("attention.head_count_kv"))?.unwrap_or(heads),
        ),
        head_dim: optional_usize(meta, &key("attention.key_length"))?,
        max_position_embeddings: required_usize(meta, &key("context_length"))?,
        rms_norm_eps: optional_f64(meta, &key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5),
        rope_theta: optional_f64(meta, &key("rope.freq_base"))?.unwrap_or(10_000.0),
        rope_scaling: rope_scaling(meta, arch)?,
        tie_word_embeddings: !has_output,
        bos_token_id: optional_u32(meta, "tokenizer.ggml.bos_token_id")?,
        eos_token_id: optional_u32(meta, "tokenizer.ggml.eos_token_id")?,
        sliding_window,
    })
}

/// `{arch}.rope.scaling.*` as Hugging Face `rope_scaling`, when the file has it.
/// (Llama-3 files store their frequency factors as `rope_freqs.weight` instead;
/// see [`llama3_scaling_from_factors`].)
fn rope_scaling(meta: &[(String, GgufValue)], arch: &str) -> Result<Option<RopeScaling>, String> {
    let kind = meta
        .lookup(&format!("{arch}.rope.scaling.type"))
        .and_then(GgufValue::as_str);
    let Some(kind) = kind.filter(|k| *k != "none") else {
        return Ok(None);
    };
    let factor = optional_f64(meta, &format!("{arch}.rope.scaling.factor"))?.unwrap_or(1.0);
    let original = optional_usize(
        meta,
        &format!("{arch}.rope.scaling.original_context_length"),
    )?;
    Ok(Some(RopeScaling {
        rope_type: kind.to_string(),
        factor,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: original.unwrap_or(8192),
    }))
}

/// The `original_max_position_embeddings` given to a scaling recovered from
/// `rope_freqs.weight`. Llama-3 frequencies depend only on the ratios
/// `low_freq_factor / original` and `high_freq_factor / original`, so any value
/// reproduces them exactly; 8192 is Llama 3.x's, for which the recovered factors
/// are the published ones.
const RECOVERED_ORIGINAL_CONTEXT: f64 = 8192.0;

/// RoPE wavelengths `2π / inv_freq` for `head_dim / 2` frequencies.
fn wavelengths(rope_theta: f64, head_dim: usize) -> Vec<f64> {
    (0..head_dim / 2)
        .map(|i| 2.0 * std::f64::consts::PI * rope_theta.powf((2 * i) as f64 / head_dim as f64))
        .collect()
}

/// llama.cpp's `rope_freqs` factors (inverse-frequency divisors) for a Llama-3
/// scaling, as `convert_hf_to_gguf.py` computes them.
pub fn llama3_rope_factors(scaling: &RopeScaling, rope_theta: f64, head_dim: usize) -> Vec<f64> {
    let original = scaling.original_max_position_embeddings as f64;
    let (low, high, factor) = (
        scaling.low_freq_factor,
        scaling.high_freq_factor,
        scaling.factor,
    );
    wavelengths(rope_theta, head_dim)
        .into_iter()
        .map(|wavelen| {
            if wavelen < original / high {
                1.0
            } else if wavelen > original / low {
                factor
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect()
}

/// Rounds to three decimals when that changes the value by under 1e-4
/// (recovers e.g. exactly 1.0 and 4.0 from f32-stored factors).
fn tidy(v: f64) -> f64 {
    let r = (v * 1000.0).round() / 1000.0;
    if (r - v).abs() < 1e-4 { r } else { v }
}

/// Recovers a Llama-3 `rope_scaling` from llama.cpp's `rope_freqs.weight`
/// (one factor per frequency): `factor` is the largest factor; `low_freq_factor`
/// and `high_freq_factor` follow from two factors of the smoothly interpolated
/// band; the result is checked against every stored factor.
pub fn llama3_scaling_from_factors(
    factors: &[f32],
    rope_theta: f64,
    head_dim: usize,
) -> Result<RopeScaling, String> {
    if factors.len() * 2 != head_dim {
        return Err(format!(
            "rope_freqs.weight has {} factors, head_dim {head_dim} needs {}",
            factors.len(),
            head_dim / 2
        ));
    }
    let factor = factors.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    if !factor.is_finite() || factor <= 1.0 {
        return Err(format!(
            "rope_freqs.weight: largest factor {factor} is not above 1"
        ));
    }
    // In the interpolated band 1/f = (1 - s)/factor + s, with s linear in 1/wavelength.
    let band: Vec<(f64, f64)> = wavelengths(rope_theta, head_dim)
        .into_iter()
        .zip(factors)
        .map(|(wavelen, &f)| (RECOVERED_ORIGINAL_CONTEXT / wavelen, f as f64))
        .filter(|&(_, f)| f > 1.0 + 1e-4 && f < factor * (1.0 - 1e-4))
        .map(|(x, f)| (x, (1.0 / f - 1.0 / factor) / (1.0 - 1.0 / factor)))
        .collect();
    let (Some(&(x1, s1)), Some(&(x2, s2))) = (band.first(), band.last()) else {
        return Err("rope_freqs.weight: no interpolated band to recover Llama-3 scaling".into());
    };
    if band.len() < 2 || (s1 - s2).abs() < 1e-9 {
        return Err(
            "rope_freqs.weight: interpolated band too narrow to recover Llama-3 scaling".into(),
        );
    }
    let width = (x1 - x2) / (s1 - s2);
    let low = tidy(x1 - s1 * width);
    let scaling = RopeScaling {
        rope_type: "llama3".into(),
        factor: tidy(factor),
        low_freq_factor: low,
        high_freq_factor: tidy(low + width),
        original_max_position_embeddings: RECOVERED_ORIGINAL_CONTEXT as usize,
    };
    let recomputed = llama3_rope_factors(&scaling, rope_theta, head_dim);
    for (i, (&stored, again)) in factors.iter().zip(&recomputed).enumerate() {
        if (stored as f64 - again).abs() > 1e-3 * again.abs() {
            return Err(format!(
                "rope_freqs.weight[{i}] = {stored} is not a Llama-3 scaling factor (expected {again} for {scaling:?})"
            ));
        }
    }
    Ok(scaling)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_map_both_ways() {
        for (g, h) in [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output.weight", "lm_head.weight"),
            ("output_norm.weight", "model.norm.weight"),
            (
                "blk.0.attn_q.weight",
                "model.layers.0.self_attn.q_proj.weight",
            ),
            (
                "blk.29.attn_output.weight",
                "model.layers.29.self_attn.o_proj.weight",
            ),
            (
                "blk.3.ffn_norm.weight",
                "model.layers.3.post_attention_layernorm.weight",
            ),
            (
                "blk.7.attn_norm.weight",
                "model.layers.7.input_layernorm.weight",
            ),
            (
                "blk.1.ffn_down.weight",
                "model.layers.1.mlp.down_proj.weight",
            ),
        ] {
            assert_eq!(hf_name(g).as_deref(), Some(h));
            assert_eq!(gguf_name(h).as_deref(), Some(g));
        }
        assert_eq!(hf_name("rope_freqs.weight"), None);
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
    }

    #[test]
    fn permutation_interleaves_halves_by_hand() {
        // One head of dim 4, one column: HF rows [x0, x1, y0, y1] -> [x0, y0, x1, y1].
        let hf = [10.0, 11.0, 20.0, 21.0];
        assert_eq!(
            permute_qk(&hf, 4, 1, 1).unwrap(),
            vec![10.0, 20.0, 11.0, 21.0]
        );
        assert_eq!(
            unpermute_qk(&[10.0, 20.0, 11.0, 21.0], 4, 1, 1).unwrap(),
            hf.to_vec()
        );
    }

    proptest! {
        #[test]
        fn unpermute_inverts_permute(n_head in 1usize..5, half in 1usize..5, cols in 1usize..4, seed in any::<u64>()) {
            let rows = n_head * half * 2;
            let data: Vec<f32> = (0..rows * cols).map(|i| (i as u64 ^ seed) as f32).collect();
            let p = permute_qk(&data, rows, cols, n_head).unwrap();
            prop_assert_eq!(unpermute_qk(&p, rows, cols, n_head).unwrap(), data.clone());
            // rows stay whole: each permuted row is some original row
            for r in p.chunks(cols) {
                prop_assert!(data.chunks(cols).any(|o| o == r));
            }
        }
    }

    #[test]
    fn llama_3_2_scaling_is_recovered_from_its_factors() {
        let published = RopeScaling {
            rope_type: "llama3".into(),
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        };
        let factors: Vec<f32> = llama3_rope_factors(&published, 500_000.0, 128)
            .iter()
            .map(|&f| f as f32)
            .collect();
        assert_eq!(
            llama3_scaling_from_factors(&factors, 500_000.0, 128).unwrap(),
            published
        );
    }

    #[test]
    fn other_original_contexts_give_the_same_factors() {
        let scaling = RopeScaling {
            rope_type: "llama3".into(),
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 32.0,
            original_max_position_embeddings: 2000,
        };
        let factors: Vec<f32> = llama3_rope_factors(&scaling, 10_000.0, 8)
            .iter()
            .map(|&f| f as f32)
            .collect();
        let recovered = llama3_scaling_from_factors(&factors, 10_000.0, 8).unwrap();
        for (a, b) in llama3_rope_factors(&recovered, 10_000.0, 8)
            .iter()
            .zip(&factors)
        {
            assert!((a - f64::from(*b)).abs() < 1e-5 * a, "{a} vs {b}");
        }
        assert!(llama3_scaling_from_factors(&factors[..3], 10_000.0, 8).is_err());
        assert!(llama3_scaling_from_factors(&[1.0, 2.0, 1.5, 7.0], 10_000.0, 8).is_err());
    }
}
