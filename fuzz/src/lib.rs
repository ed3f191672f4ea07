//! Shared by the fuzz targets and `make_seeds`: a scratch folder per fuzzing
//! process (the loaders read paths, so inputs are written to files first) and
//! the tiny valid files the seeds and the tokenizer target are built from.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chorus_llama::LlamaConfig;
use chorus_llama::gguf::{GgmlType, GgufValue, GgufWriter, gguf_name};
use chorus_llama::weights::expected_tensor_shapes;
use chorus_results::{Method, RunInfo};

/// A scratch folder private to this process: `$CHORUS_FUZZ_SCRATCH/<pid>`
/// (`scripts/fuzz` sets it and removes it afterwards), else under `/dev/shm`
/// (RAM) when there is one: every execution writes its input there, so disk
/// speed would bound executions per second. libFuzzer's fork mode starts many
/// processes, hence one folder per process id.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = match std::env::var_os("CHORUS_FUZZ_SCRATCH") {
            Some(dir) => PathBuf::from(dir),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm/chorus-fuzz"),
            None => std::env::temp_dir().join("chorus-fuzz"),
        };
        let dir = base.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// Writes `bytes` to `name` inside [`scratch`] (creating folders) and returns
/// its path.
pub fn put(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("scratch subfolder");
    }
    std::fs::write(&path, bytes).expect("scratch write");
    path
}

/// `config.json` of the tiny Llama every model seed describes.
pub const TINY_CONFIG_JSON: &str = r#"{
  "vocab_size": 8,
  "hidden_size": 32,
  "intermediate_size": 32,
  "num_hidden_layers": 1,
  "num_attention_heads": 2,
  "num_key_value_heads": 1,
  "max_position_embeddings": 64,
  "rms_norm_eps": 1e-05,
  "rope_theta": 10000.0,
  "tie_word_embeddings": true,
  "bos_token_id": 1,
  "eos_token_id": [2, 3]
}"#;

/// The tiny Llama's config.
pub fn tiny_config() -> LlamaConfig {
    let mut json: serde_json::Value = serde_json::from_str(TINY_CONFIG_JSON).unwrap();
    json["eos_token_id"] = 2.into();
    serde_json::from_value(json).unwrap()
}

/// Every tensor of the tiny Llama, Hugging Face names and shapes, with small
/// deterministic values.
pub fn tiny_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    expected_tensor_shapes(&tiny_config())
        .into_iter()
        .enumerate()
        .map(|(k, (name, shape))| {
            let n: usize = shape.iter().product();
            let values = (0..n)
                .map(|i| (((i * 31 + k * 17) % 23) as f32 - 11.0) / 8.0)
                .collect();
            (name, shape, values)
        })
        .collect()
}

/// A GGUF writer holding the tiny Llama's metadata and tensors, the matrices
/// stored as `matrix_type` (norms stay F32).
pub fn tiny_llama_gguf(matrix_type: GgmlType) -> GgufWriter {
    let c = tiny_config();
    let u32v = |v: usize| GgufValue::U32(v as u32);
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", GgufValue::String("llama".into()))
        .metadata("llama.context_length", u32v(c.max_position_embeddings))
        .metadata("llama.embedding_length", u32v(c.hidden_size))
        .metadata("llama.block_count", u32v(c.num_hidden_layers))
        .metadata("llama.feed_forward_length", u32v(c.intermediate_size))
        .metadata("llama.attention.head_count", u32v(c.num_attention_heads))
        .metadata("llama.attention.head_count_kv", u32v(1))
        .metadata(
            "llama.attention.layer_norm_rms_epsilon",
            GgufValue::F32(1e-5),
        )
        .metadata("llama.rope.freq_base", GgufValue::F32(10_000.0))
        .metadata("llama.vocab_size", u32v(c.vocab_size));
    for (name, shape, values) in tiny_tensors() {
        let ty = if shape.len() == 1 {
            GgmlType::F32
        } else {
            matrix_type
        };
        let gguf = gguf_name(&name).expect("every tiny tensor has a GGUF name");
        w.tensor(&gguf, &shape, ty, &values).expect("tiny tensor");
    }
    w
}

/// The fixed run every results seed and the results target use: a checkpoint
/// header written for another run is refused before any row is read, so
/// mutations must keep this one to reach the rows.
pub fn fuzz_run(method: Method) -> RunInfo {
    RunInfo::new(
        "fuzz-model",
        method,
        "fuzz-dataset",
        serde_json::json!({"max_new_tokens": 4}),
    )
}

/// libfuzzer-sys's panic hook aborts on every panic, even one the code under
/// test catches. Chorus's Arrow readers catch the panics arrow-ipc raises on
/// malformed files (and report them as errors), so for the targets that read
/// Arrow this keeps libFuzzer's hook for every other panic but lets a panic
/// raised inside an arrow crate unwind to that catch. Call at the start of
/// each input; it installs the hook once.
pub fn tolerate_caught_arrow_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let libfuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_arrow = info
                .location()
                .is_some_and(|at| at.file().contains("/arrow-"));
            if !in_arrow {
                libfuzzer_hook(info);
            }
        }));
    });
}
