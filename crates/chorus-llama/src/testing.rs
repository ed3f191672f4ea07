//! Where tests, benchmarks and examples find the real model: the SmolLM2 GGUF
//! that `scripts/fetch-model` puts in the repository's `models/`, or the file
//! `$CHORUS_MODEL` names. Tests that need it skip, saying why, when it is absent.

use std::path::PathBuf;

/// Environment variable naming the model file to use instead of the default.
pub const MODEL_ENV: &str = "CHORUS_MODEL";

/// The fetched checkpoint's file name under `models/`.
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The SmolLM2 GGUF: `$CHORUS_MODEL`, else `models/` of this repository.
pub fn smollm2_path() -> PathBuf {
    std::env::var_os(MODEL_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models")
                .join(SMOLLM2_FILE)
        })
}

/// [`smollm2_path`] if the file is there; otherwise `None`, after printing the
/// reason for the caller to skip.
pub fn smollm2_or_skip() -> Option<PathBuf> {
    let path = smollm2_path();
    if path.is_file() {
        return Some(path);
    }
    eprintln!(
        "skipping: model {} absent (run scripts/fetch-model, or set {MODEL_ENV})",
        path.display()
    );
    None
}

/// The PyTorch goldens' folder: `tests/fixtures/golden` of this repository.
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden")
}

/// The records of a golden JSONL file (`webqa.items.jsonl`, `logits.jsonl`, ...).
/// Panics naming the file and line when it is missing or malformed: the
/// fixtures are part of the repository, so that is a broken checkout.
pub fn golden_records(file: &str) -> Vec<serde_json::Value> {
    let path = golden_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(line, record)| {
            serde_json::from_str(record)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), line + 1))
        })
        .collect()
}

/// The first index of the largest value, as `torch.argmax` picks among ties.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (index, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = index;
        }
    }
    best as u32
}
