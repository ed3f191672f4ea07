//! Loading checkpoints: the real SmolLM2 GGUF (skipped when absent), tiny GGUF
//! files written here, and error cases that must name the file and tensor.

use std::path::PathBuf;

use chorus_llama::gguf::{GgmlType, GgufValue, GgufWriter, permute_qk};
use chorus_llama::weights::expected_tensor_shapes;
use chorus_llama::{GgufFile, LlamaConfig, LlamaError, WeightSource};

/// The SmolLM2 GGUF, or `None` (reason printed) when absent.
fn model_path() -> Option<PathBuf> {
    chorus_llama::testing::smollm2_or_skip()
}

#[test]
fn real_gguf_config_matches_smollm2() {
    let Some(path) = model_path() else { return };
    let file = GgufFile::open(&path).unwrap();
    let c = file.config();
    assert_eq!(c.hidden_size, 576);
    assert_eq!(c.num_hidden_layers, 30);
    assert_eq!(c.num_attention_heads, 9);
    assert_eq!(c.kv_heads(), 3);
    assert_eq!(c.head_dim(), 64);
    assert_eq!(c.intermediate_size, 1536);
    assert_eq!(c.vocab_size, 49152);
    assert!(c.tie_word_embeddings);
    assert_eq!(c.rope_theta, 100_000.0);
    assert_eq!(c.rms_norm_eps, 9.999999747378752e-06);
    assert_eq!(c.max_position_embeddings, 8192);
    assert_eq!(c.eos_token_id, Some(2));
    assert!(c.rope_scaling.is_none());
}

#[test]
fn real_gguf_has_all_272_tensors_with_hf_shapes() {
    let Some(path) = model_path() else { return };
    let file = GgufFile::open(&path).unwrap();
    let expected = expected_tensor_shapes(file.config());
    assert_eq!(expected.len(), 272);
    assert_eq!(file.hf_tensor_names().len(), 272);
    assert!(!file.contains("lm_head.weight"));
    for (name, _) in &expected {
        assert!(file.contains(name), "{name}");
    }
    // Dequantise a few of each kind fully (all 272 are covered by the bench).
    for name in [
        "model.embed_tokens.weight",
        "model.norm.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.29.mlp.down_proj.weight",
    ] {
        let t = file.tensor(name).unwrap();
        let shape = &expected.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(&t.shape, shape, "{name}");
        assert_eq!(t.data.len(), shape.iter().product::<usize>());
        assert!(t.data.iter().all(|v| v.is_finite()), "{name}");
    }
}

#[test]
fn real_gguf_q_proj_is_unpermuted() {
    let Some(path) = model_path() else { return };
    let file = GgufFile::open(&path).unwrap();
    let c = file.config().clone();
    for (name, gguf, heads) in [
        (
            "model.layers.3.self_attn.q_proj.weight",
            "blk.3.attn_q.weight",
            c.num_attention_heads,
        ),
        (
            "model.layers.3.self_attn.k_proj.weight",
            "blk.3.attn_k.weight",
            c.kv_heads(),
        ),
    ] {
        let hf = file.tensor(name).unwrap();
        let raw = file.raw_tensor(gguf).unwrap();
        let (rows, cols) = (hf.shape[0], hf.shape[1]);
        assert_eq!(permute_qk(&hf.data, rows, cols, heads).unwrap(), raw.data);
        assert_ne!(hf.data, raw.data);
    }
}

/// A tiny Llama config for files written in tests.
fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        architecture: chorus_llama::config::Architecture::Llama,
        vocab_size: 8,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: None,
        max_position_embeddings: 128,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        tie_word_embeddings: true,
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        sliding_window: None,
    }
}

/// Deterministic values for tensor `k`.
fn values(k: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 31 + k * 17) % 23) as f32 - 11.0) / 8.0)
        .collect()
}

/// A GGUF writer holding metadata and all tensors of `tiny_config`, in HF
/// order, Q/K permuted as llama.cpp stores them; `skip` omits one tensor.
fn tiny_writer(skip: Option<&str>, ty: GgmlType) -> GgufWriter {
    let c = tiny_config();
    let mut w = GgufWriter::new();
    let u32v = |v: usize| GgufValue::U32(v as u32);
    w.metadata("general.architecture", GgufValue::String("llama".into()))
        .metadata("llama.context_length", u32v(128))
        .metadata("llama.embedding_length", u32v(32))
        .metadata("llama.block_count", u32v(1))
        .metadata("llama.feed_forward_length", u32v(64))
        .metadata("llama.attention.head_count", u32v(4))
        .metadata("llama.attention.head_count_kv", u32v(2))
        .metadata(
            "llama.attention.layer_norm_rms_epsilon",
            GgufValue::F64(1e-5),
        )
        .metadata("llama.rope.freq_base", GgufValue::F32(10_000.0))
        .metadata("llama.vocab_size", u32v(8))
        .metadata("tokenizer.ggml.bos_token_id", u32v(1))
        .metadata("tokenizer.ggml.eos_token_id", u32v(2));
    for (k, (name, shape)) in expected_tensor_shapes(&c).into_iter().enumerate() {
        if Some(name.as_str()) == skip {
            continue;
        }
        let n = shape.iter().product();
        let mut data = values(k, n);
        let heads = if name.ends_with("q_proj.weight") {
            Some(4)
        } else if name.ends_with("k_proj.weight") {
            Some(2)
        } else {
            None
        };
        if let Some(h) = heads {
            data = permute_qk(&data, shape[0], shape[1], h).unwrap();
        }
        let gguf = chorus_llama::gguf::gguf_name(&name).unwrap();
        let ty = if shape.len() == 1 { GgmlType::F32 } else { ty };
        w.tensor(&gguf, &shape, ty, &data).unwrap();
    }
    w
}

#[test]
fn tiny_gguf_roundtrips_f32_exactly() {
    let bytes = tiny_writer(None, GgmlType::F32).to_bytes();
    let file = GgufFile::from_bytes("tiny.gguf", bytes).unwrap();
    assert_eq!(file.config(), &tiny_config());
    for (k, (name, shape)) in expected_tensor_shapes(&tiny_config())
        .into_iter()
        .enumerate()
    {
        let t = file.tensor(&name).unwrap();
        assert_eq!(t.shape, shape, "{name}");
        assert_eq!(t.data, values(k, shape.iter().product()), "{name}");
    }
}

#[test]
fn tiny_gguf_quantised_types_load_close() {
    for (ty, tol) in [
        (GgmlType::F16, 1e-3),
        (GgmlType::BF16, 1e-2),
        (GgmlType::Q8_0, 0.02),
        (GgmlType::Q4_1, 0.12),
        (GgmlType::Q4_0, 0.2),
    ] {
        let bytes = tiny_writer(None, ty).to_bytes();
        let file = GgufFile::from_bytes("tiny.gguf", bytes).unwrap();
        for (k, (name, shape)) in expected_tensor_shapes(&tiny_config())
            .into_iter()
            .enumerate()
        {
            let t = file.tensor(&name).unwrap();
            let want = values(k, shape.iter().product());
            let err = t
                .data
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err <= tol, "{ty} {name}: max error {err}");
        }
    }
}

fn open_err(bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes("/models/broken.gguf", bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_gguf_names_file_and_tensor() {
    let mut bytes = tiny_writer(None, GgmlType::F32).to_bytes();
    bytes.truncate(bytes.len() - 10);
    let msg = open_err(bytes);
    assert!(msg.contains("/models/broken.gguf"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    assert!(msg.contains("blk.0.ffn_down.weight"), "{msg}");
}

#[test]
fn missing_tensor_names_file_and_tensor() {
    let bytes = tiny_writer(Some("model.layers.0.mlp.up_proj.weight"), GgmlType::F32).to_bytes();
    let err = GgufFile::from_bytes("/models/broken.gguf", bytes).unwrap_err();
    assert!(matches!(err, LlamaError::MissingTensor { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("/models/broken.gguf"), "{msg}");
    assert!(msg.contains("model.layers.0.mlp.up_proj.weight"), "{msg}");
}

#[test]
fn shape_mismatch_names_file_and_tensor() {
    let mut w = tiny_writer(Some("model.norm.weight"), GgmlType::F32);
    w.tensor("output_norm.weight", &[31], GgmlType::F32, &[0.5; 31])
        .unwrap();
    let err = GgufFile::from_bytes("/models/broken.gguf", w.to_bytes()).unwrap_err();
    assert!(matches!(err, LlamaError::ShapeMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("/models/broken.gguf") && msg.contains("model.norm.weight"),
        "{msg}"
    );
    assert!(msg.contains("[31]") && msg.contains("[32]"), "{msg}");
}

#[test]
fn unknown_type_id_names_file_and_tensor() {
    let mut w = tiny_writer(Some("model.norm.weight"), GgmlType::F32);
    w.raw_tensor("output_norm.weight", &[32], GgmlType::F32, vec![0; 128]);
    let mut bytes = w.to_bytes();
    // Patch the type id (0 = F32) that follows the last tensor info's dims.
    let name = b"output_norm.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
    let type_at = at + name.len() + 4 + 8;
    bytes[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    let msg = open_err(bytes);
    assert!(msg.contains("/models/broken.gguf"), "{msg}");
    assert!(
        msg.contains("output_norm.weight") && msg.contains("99"),
        "{msg}"
    );
}

#[test]
fn bad_magic_and_version_are_errors() {
    let mut bytes = tiny_writer(None, GgmlType::F32).to_bytes();
    bytes[0] = b'X';
    let msg = open_err(bytes.clone());
    assert!(
        msg.contains("/models/broken.gguf") && msg.contains("magic"),
        "{msg}"
    );
    bytes[0] = b'G';
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    let msg = open_err(bytes);
    assert!(msg.contains("version 1"), "{msg}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = GgufFile::open("/nonexistent/dir/model.gguf").unwrap_err();
    assert!(matches!(err, LlamaError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/dir/model.gguf"));
}

/// Writes `tensors` (HF names, f32 values) as one safetensors file.
fn safetensors_bytes(tensors: &[(String, Vec<usize>, Vec<f32>)], as_bf16: bool) -> Vec<u8> {
    use safetensors::tensor::TensorView;
    let encoded: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| {
            if as_bf16 {
                v.iter()
                    .flat_map(|x| half::bf16::from_f32(*x).to_bits().to_le_bytes())
                    .collect()
            } else {
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
        })
        .collect();
    let dtype = if as_bf16 {
        safetensors::Dtype::BF16
    } else {
        safetensors::Dtype::F32
    };
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&encoded)
        .map(|((name, shape, _), bytes)| {
            (
                name.clone(),
                TensorView::new(dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// All tensors of `tiny_config` with the same values `tiny_writer` uses.
fn tiny_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    expected_tensor_shapes(&tiny_config())
        .into_iter()
        .enumerate()
        .map(|(k, (name, shape))| {
            let n = shape.iter().product();
            (name, shape, values(k, n))
        })
        .collect()
}

const TINY_TOKENIZER_JSON: &str = r#"{"version":"1.0","truncation":null,"padding":null,
 "added_tokens":[{"id":7,"content":"<|end|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
 "normalizer":null,
 "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
 "post_processor":null,
 "decoder":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,
  "fuse_unk":false,"byte_fallback":false,
  "vocab":{"a":0,"b":1,"ab":2,"Ġ":3,"Ġa":4,"c":5,"abc":6,"<|end|>":7},"merges":["a b","Ġ a","ab c"]}}"#;

/// A tiny HF directory: config.json, tokenizer.json, safetensors (sharded when asked).
fn tiny_hf_dir(sharded: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut config = serde_json::to_value(tiny_config()).unwrap();
    // Llama 3 style list-valued eos_token_id must be accepted.
    config["eos_token_id"] = serde_json::json!([2, 7]);
    config["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), TINY_TOKENIZER_JSON).unwrap();
    let tensors = tiny_tensors();
    if sharded {
        let (first, second) = tensors.split_at(tensors.len() / 2);
        let mut map = serde_json::Map::new();
        for (file, part) in [
            ("model-00001-of-00002.safetensors", first),
            ("model-00002-of-00002.safetensors", second),
        ] {
            std::fs::write(dir.path().join(file), safetensors_bytes(part, true)).unwrap();
            for (name, _, _) in part {
                map.insert(name.clone(), serde_json::Value::String(file.into()));
            }
        }
        let index = serde_json::json!({"metadata": {}, "weight_map": map});
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            index.to_string(),
        )
        .unwrap();
    } else {
        std::fs::write(
            dir.path().join("model.safetensors"),
            safetensors_bytes(&tensors, false),
        )
        .unwrap();
    }
    dir
}

#[test]
fn tiny_hf_dir_gives_the_same_tensors_as_gguf() {
    let dir = tiny_hf_dir(false);
    let ckpt = chorus_llama::Checkpoint::open(dir.path()).unwrap();
    let gguf =
        GgufFile::from_bytes("tiny.gguf", tiny_writer(None, GgmlType::F32).to_bytes()).unwrap();
    let mut want_config = tiny_config();
    want_config.eos_token_id = Some(2);
    assert_eq!(ckpt.weights.config(), &want_config);
    for (name, _) in expected_tensor_shapes(&tiny_config()) {
        assert_eq!(
            ckpt.weights.tensor(&name).unwrap(),
            gguf.tensor(&name).unwrap(),
            "{name}"
        );
    }
    let tok = &ckpt.tokenizer;
    // "Ġabc": merge ranks a+b (0) < Ġ+a (1), then ab+c (2): [Ġ, abc]
    assert_eq!(tok.encode("ab abc<|end|>").unwrap(), vec![2, 3, 6, 7]);
    assert_eq!(tok.decode(&[2, 3, 6, 7]).unwrap(), "ab abc<|end|>");
    assert_eq!(tok.eos_id(), Some(2));
    assert!(!tok.add_bos());
}

#[test]
fn sharded_bf16_hf_dir_loads() {
    let dir = tiny_hf_dir(true);
    let ckpt = chorus_llama::HfCheckpoint::open(dir.path()).unwrap();
    for (name, shape, want) in tiny_tensors() {
        let t = ckpt.tensor(&name).unwrap();
        assert_eq!(t.shape, shape);
        for (a, b) in t.data.iter().zip(&want) {
            assert_eq!(*a, half::bf16::from_f32(*b).to_f32(), "{name}");
        }
    }
}

#[test]
fn bad_safetensors_header_names_the_file() {
    let dir = tiny_hf_dir(false);
    let file = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8] = b'#'; // the JSON header no longer starts with `{`
    std::fs::write(&file, bytes).unwrap();
    let err = chorus_llama::HfCheckpoint::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("header"),
        "{msg}"
    );
}

#[test]
fn hf_shape_mismatch_and_missing_tensor_name_file_and_tensor() {
    let dir = tiny_hf_dir(false);
    let mut tensors = tiny_tensors();
    tensors.retain(|(n, _, _)| n != "model.layers.0.mlp.gate_proj.weight");
    let file = dir.path().join("model.safetensors");
    std::fs::write(&file, safetensors_bytes(&tensors, false)).unwrap();
    let msg = chorus_llama::HfCheckpoint::open(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("model.layers.0.mlp.gate_proj.weight") && msg.contains("missing"),
        "{msg}"
    );

    let mut tensors = tiny_tensors();
    tensors[1].1 = vec![4, 8]; // model.norm.weight, 32 values in the wrong shape
    std::fs::write(&file, safetensors_bytes(&tensors, false)).unwrap();
    let msg = chorus_llama::HfCheckpoint::open(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("model.norm.weight"),
        "{msg}"
    );
}

#[test]
fn real_gguf_checkpoint_opens_with_tokenizer() {
    let Some(path) = model_path() else { return };
    let ckpt = chorus_llama::Checkpoint::open(&path).unwrap();
    assert_eq!(ckpt.weights.config().vocab_size, 49152);
    assert_eq!(ckpt.tokenizer.eos_id(), Some(2));
    let ids = ckpt.tokenizer.encode("Q: who\nA:").unwrap();
    assert_eq!(ckpt.tokenizer.decode(&ids).unwrap(), "Q: who\nA:");
}

/// Dequantised, un-permuted tensors agree with the PyTorch oracle's own numpy
/// dequantiser (`tests/fixtures/gguf_weight_probe.json`, made by
/// `gguf_weight_probe.py` from `oracle.py`'s code): spot values exactly, sums
/// and position-weighted sums (which catch row permutations) to rounding.
#[test]
fn real_gguf_matches_the_oracle_numpy_dequantiser() {
    let Some(path) = model_path() else { return };
    let file = GgufFile::open(&path).unwrap();
    let probe_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_weight_probe.json");
    let probe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(probe_path).unwrap()).unwrap();
    let tensors = probe["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 7);
    for t in tensors {
        let name = t["hf_name"].as_str().unwrap();
        let got = file.tensor(name).unwrap();
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got.shape, shape, "{name}");
        let indices = t["spot_indices"].as_array().unwrap();
        let values = t["spot_values"].as_array().unwrap();
        for (i, v) in indices.iter().zip(values) {
            let i = i.as_u64().unwrap() as usize;
            assert_eq!(got.data[i], v.as_f64().unwrap() as f32, "{name}[{i}]");
        }
        let abs_sum: f64 = got.data.iter().map(|&x| f64::from(x).abs() * 97.0).sum();
        let sum: f64 = got.data.iter().map(|&x| f64::from(x)).sum();
        let weighted: f64 = got
            .data
            .iter()
            .enumerate()
            .map(|(i, &x)| f64::from(x) * ((i % 97) + 1) as f64)
            .sum();
        let tol = abs_sum * 1e-12 + 1e-9;
        assert!(
            (sum - t["sum"].as_f64().unwrap()).abs() <= tol,
            "{name} sum {sum}"
        );
        let want = t["weighted_sum"].as_f64().unwrap();
        assert!(
            (weighted - want).abs() <= tol,
            "{name} weighted sum {weighted} vs {want}"
        );
    }
}

/// A Llama-3 GGUF stores RoPE scaling as `rope_freqs.weight`; the config gets an
/// equivalent `rope_scaling` back (same factors for every frequency).
#[test]
fn rope_freqs_tensor_becomes_llama3_rope_scaling() {
    use chorus_llama::RopeScaling;
    use chorus_llama::gguf::llama3_rope_factors;
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
    let mut w = tiny_writer(None, GgmlType::F32);
    w.tensor("rope_freqs.weight", &[4], GgmlType::F32, &factors)
        .unwrap();
    let file = GgufFile::from_bytes("llama3.gguf", w.to_bytes()).unwrap();
    let recovered = file
        .config()
        .rope_scaling
        .clone()
        .expect("rope scaling recovered");
    assert_eq!(recovered.rope_type, "llama3");
    assert_eq!(recovered.factor, 8.0);
    for (a, b) in llama3_rope_factors(&recovered, 10_000.0, 8)
        .iter()
        .zip(&factors)
    {
        assert!((a - f64::from(*b)).abs() < 1e-5 * a, "{a} vs {b}");
    }
    // Factors that no Llama-3 scaling produces are rejected, naming the file.
    let mut w = tiny_writer(None, GgmlType::F32);
    w.tensor(
        "rope_freqs.weight",
        &[4],
        GgmlType::F32,
        &[1.0, 2.0, 1.5, 7.0],
    )
    .unwrap();
    let msg = open_err_named("llama3.gguf", w.to_bytes());
    assert!(
        msg.contains("llama3.gguf") && msg.contains("rope_freqs.weight"),
        "{msg}"
    );
}

fn open_err_named(name: &str, bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes(name, bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}
