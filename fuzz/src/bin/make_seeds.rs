//! Writes the seed corpora of every fuzz target into `fuzz/seeds/<target>/`
//! from the repository's real files (datasets, fixtures, the SmolLM2 GGUF's
//! tokenizer when `models/` has it) and from tiny files built here. Run from
//! `fuzz/`: `cargo +nightly run --bin make_seeds`. Targets whose first input
//! byte picks a mode get that byte prepended (file names start with it).

use std::path::{Path, PathBuf};

use chorus_fuzz::{TINY_CONFIG_JSON, fuzz_run, tiny_llama_gguf, tiny_tensors};
use chorus_llama::GgufFile;
use chorus_llama::gguf::{GgmlType, GgufValue, GgufWriter, quantize};
use chorus_results::{
    Method, Outcome, Output, ResultRow, ResultWriter, RowInput, StopReason, WriteOptions,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = repo().join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn moded(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(bytes);
    v
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The first `n` lines of a repository file.
fn head(rel: &str, n: usize) -> Vec<u8> {
    let text = String::from_utf8(read(rel)).unwrap();
    let mut out: String = text.lines().take(n).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out.into_bytes()
}

fn gguf_seeds() {
    for (ty, name) in [
        (GgmlType::F32, "tiny-f32.gguf"),
        (GgmlType::F16, "tiny-f16.gguf"),
        (GgmlType::Q4_0, "tiny-q4_0.gguf"),
        (GgmlType::Q4_1, "tiny-q4_1.gguf"),
        (GgmlType::Q8_0, "tiny-q8_0.gguf"),
    ] {
        seed("gguf", name, &tiny_llama_gguf(ty).to_bytes());
    }
    // The real checkpoint's first 4 KiB: a true header, cut in the metadata.
    if let Ok(bytes) = std::fs::read(repo().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")) {
        seed("gguf", "smollm2-head.gguf", &bytes[..4096]);
    }
    // Raw blocks for the dequantisers: a type id byte, then blocks.
    let values: Vec<f32> = (0..256).map(|i| (i as f32 - 128.0) / 17.0).collect();
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::F16,
    ] {
        let blocks = quantize(ty, &values).unwrap();
        seed(
            "gguf",
            &format!("blocks-{ty}.bin"),
            &moded(ty.id() as u8, &blocks),
        );
    }
    for ty in [GgmlType::Q4K, GgmlType::Q6K] {
        let blocks: Vec<u8> = (0..ty.type_size()).map(|i| (i * 37 % 251) as u8).collect();
        seed(
            "gguf",
            &format!("blocks-{ty}.bin"),
            &moded(ty.id() as u8, &blocks),
        );
    }
}

fn safetensors_seeds() {
    use safetensors::tensor::TensorView;
    let tensors = tiny_tensors();
    for (dtype, tag) in [
        (safetensors::Dtype::F32, "f32"),
        (safetensors::Dtype::BF16, "bf16"),
    ] {
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, v)| match dtype {
                safetensors::Dtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                _ => v
                    .iter()
                    .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
                    .collect(),
            })
            .collect();
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| {
                (
                    name.clone(),
                    TensorView::new(dtype, shape.clone(), b).unwrap(),
                )
            })
            .collect();
        let file = safetensors::serialize(views, None).unwrap();
        seed(
            "safetensors",
            &format!("0-tiny-{tag}.bin"),
            &moded(0, &file),
        );
        seed(
            "safetensors",
            &format!("2-tiny-{tag}.bin"),
            &moded(2, &file),
        );
    }
    seed(
        "safetensors",
        "1-config.bin",
        &moded(1, TINY_CONFIG_JSON.as_bytes()),
    );
    let llama3 = r#"{"vocab_size": 128256, "hidden_size": 3072, "intermediate_size": 8192,
 "num_hidden_layers": 28, "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128,
 "rope_theta": 500000.0, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
 "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
 "tie_word_embeddings": true, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]}"#;
    seed("safetensors", "1-llama3.bin", &moded(1, llama3.as_bytes()));
}

/// Tokenizer metadata only (no tensors): the target copies it into the tiny
/// checkpoint.
fn tokenizer_seeds() {
    let mut w = GgufWriter::new();
    let strings = |v: &[&str]| GgufValue::Array {
        element_type: 8,
        values: v.iter().map(|s| GgufValue::String((*s).into())).collect(),
    };
    w.metadata("tokenizer.ggml.model", GgufValue::String("gpt2".into()))
        .metadata("tokenizer.ggml.pre", GgufValue::String("smollm".into()))
        .metadata(
            "tokenizer.ggml.tokens",
            strings(&["<|endoftext|>", "<s>", "a", "b", "ab", "Ġ", "Ġab", "c"]),
        )
        .metadata("tokenizer.ggml.merges", strings(&["a b", "Ġ ab"]))
        .metadata(
            "tokenizer.ggml.token_type",
            GgufValue::Array {
                element_type: 5,
                values: [3, 3, 1, 1, 1, 1, 1, 1].map(GgufValue::I32).to_vec(),
            },
        )
        .metadata("tokenizer.ggml.bos_token_id", GgufValue::U32(1))
        .metadata("tokenizer.ggml.eos_token_id", GgufValue::U32(0))
        .metadata("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
    seed("gguf_tokenizer", "tiny.gguf", &w.to_bytes());
    // The real tokenizer, cut to its first 600 tokens and the merges among them.
    let Ok(file) = GgufFile::open(repo().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")) else {
        eprintln!("models/ has no SmolLM2 GGUF: only the tiny tokenizer seed");
        return;
    };
    let tokens: Vec<String> = file
        .metadata("tokenizer.ggml.tokens")
        .unwrap()
        .as_array()
        .unwrap()[..600]
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let known: std::collections::HashSet<&str> = tokens.iter().map(String::as_str).collect();
    let merges: Vec<GgufValue> = file
        .metadata("tokenizer.ggml.merges")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|m| {
            let (a, b) = m.split_once(' ').unwrap();
            known.contains(a) && known.contains(b) && known.contains(format!("{a}{b}").as_str())
        })
        .take(400)
        .map(|m| GgufValue::String(m.into()))
        .collect();
    let types = file
        .metadata("tokenizer.ggml.token_type")
        .unwrap()
        .as_array()
        .unwrap()[..600]
        .to_vec();
    let mut w = GgufWriter::new();
    for (key, value) in &file.header().metadata {
        let value = match key.as_str() {
            "tokenizer.ggml.tokens" => {
                strings(&tokens.iter().map(String::as_str).collect::<Vec<_>>())
            }
            "tokenizer.ggml.merges" => GgufValue::Array {
                element_type: 8,
                values: merges.clone(),
            },
            "tokenizer.ggml.token_type" => GgufValue::Array {
                element_type: 5,
                values: types.clone(),
            },
            k if k.starts_with("tokenizer.") => value.clone(),
            _ => continue,
        };
        w.metadata(key, value);
    }
    seed("gguf_tokenizer", "smollm2-600.gguf", &w.to_bytes());
}

fn data_seeds() {
    seed(
        "dataset_jsonl",
        "webqa-test.jsonl",
        &head("data/webquestions/test.jsonl", 4),
    );
    seed(
        "dataset_jsonl",
        "webqa-train.jsonl",
        &head("data/webquestions/train.jsonl", 3),
    );
    seed(
        "dataset_jsonl",
        "webqa-paraphrased20.jsonl",
        &head("data/webquestions/test.paraphrased20.jsonl", 3),
    );
    seed(
        "dataset_jsonl",
        "webqa-smollm2.jsonl",
        &head("data/webquestions/test.smollm2-paraphrases.jsonl", 2),
    );
    seed(
        "dataset_jsonl",
        "myriadlama.jsonl",
        &head("data/myriadlama/test.jsonl", 3),
    );
    seed("fewshot", "fewshot.json", &read("data/fewshot.json"));
    let fx = "crates/chorus-data/tests/fixtures";
    seed(
        "hf_dataset",
        "0-webqa.bin",
        &moded(
            0,
            &read(&format!("{fx}/webqa_paraphrases/data-00000-of-00002.arrow")),
        ),
    );
    seed(
        "hf_dataset",
        "0-webqa-2.bin",
        &moded(
            0,
            &read(&format!("{fx}/webqa_paraphrases/data-00001-of-00002.arrow")),
        ),
    );
    seed(
        "hf_dataset",
        "0-myriadlama.bin",
        &moded(
            0,
            &read(&format!(
                "{fx}/myriadlama_paraphrases/test/data-00000-of-00001.arrow"
            )),
        ),
    );
    seed(
        "hf_dataset",
        "1-state.bin",
        &moded(1, &read(&format!("{fx}/webqa_paraphrases/state.json"))),
    );
    seed(
        "hf_dataset",
        "2-dict.bin",
        &moded(
            2,
            &read(&format!("{fx}/myriadlama_paraphrases/dataset_dict.json")),
        ),
    );
}

/// A row of `method` for item `i`.
fn row(method: Method, i: u64) -> ResultRow {
    let question = format!("who is {i}?");
    let input = match method {
        Method::Origin => RowInput::Origin {
            question: question.clone(),
            prompt: format!("Q: {question}\nA:"),
        },
        Method::PerPrompt => RowInput::PerPrompt {
            paraphrase_index: 0,
            paraphrase: question.clone(),
            prompt: "Q".into(),
        },
        Method::WeightedAvg | Method::WeightedMax => RowInput::Weighted {
            paraphrases: vec![question.clone(), "b".into()],
            prompts: vec!["p".into(), "q".into()],
            confidences: vec![0.25, 0.75],
        },
        _ => RowInput::Fused {
            paraphrases: vec![question.clone(), "b".into()],
            prompts: vec!["p".into(), "q".into()],
        },
    };
    ResultRow {
        item_index: i,
        uuid: format!("uuid-{i}"),
        answers: vec!["Paris".into(), "New York".into()],
        input,
        output: Output {
            prediction: "Paris".into(),
            generation: "Paris\nQ:".into(),
            generated_ids: vec![1, 2, 3],
            stop_reason: StopReason::ALL[i as usize % 3],
        },
        lemmas: None,
    }
}

fn results_seeds() {
    let dir = chorus_fuzz::scratch().join("results-seeds");
    let _ = std::fs::remove_dir_all(&dir);
    for (k, method) in Method::ALL.into_iter().enumerate() {
        let out = dir.join(format!("{method}.feather"));
        let Ok(Outcome::Ready(mut w)) =
            ResultWriter::open(&out, fuzz_run(method), WriteOptions::default())
        else {
            panic!("writer");
        };
        w.append([row(method, 0), row(method, 2)]).unwrap();
        w.append([row(method, 1)]).unwrap();
        let checkpoint = std::fs::read(&w.paths().checkpoint).unwrap();
        // The results target's even byte 2k picks Method::ALL[k].
        seed(
            "results",
            &format!("0-{method}.jsonl.bin"),
            &moded(2 * k as u8, &checkpoint),
        );
        let written = w.finish().unwrap();
        let feather = std::fs::read(&written.paths.feather).unwrap();
        seed(
            "results",
            &format!("1-{method}.feather.bin"),
            &moded(1, &feather),
        );
        seed(
            "report_feather",
            &format!("0-{method}.feather.bin"),
            &moded(0, &feather),
        );
        let csv = std::fs::read(&written.paths.csv).unwrap();
        seed(
            "report_feather",
            &format!("1-{method}.csv.bin"),
            &moded(1, &csv),
        );
    }
    for f in [
        "report/pandas_lz4.feather",
        "report/pandas_zstd.feather",
        "report-errors/bad_answers.feather",
    ] {
        let bytes = read(&format!("tests/fixtures/{f}"));
        let name = f.replace('/', "-");
        seed(
            "report_feather",
            &format!("0-{name}.bin"),
            &moded(0, &bytes),
        );
        seed("results", &format!("1-{name}.bin"), &moded(1, &bytes));
    }
}

fn main() {
    gguf_seeds();
    safetensors_seeds();
    tokenizer_seeds();
    data_seeds();
    results_seeds();
    println!("seeds written to fuzz/seeds/");
}
