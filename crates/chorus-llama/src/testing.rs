//! Where tests, benchmarks and examples find the real model: the SmolLM2 GGUF
//! that `scripts/fetch-model` puts in the repository's `models/`, or the file
//! `$CHORUS_MODEL` names. Tests that need it skip, saying why, when it is absent.
//! Also [`workout`], one sequence of passes that uses everything a pass can
//! hold, run on every kernel set to compare them.

use std::path::PathBuf;
use std::sync::Arc;

use chorus_mask::{IntervalMask, Role, SegmentTable, flex_rule};

use crate::{ForwardInput, Kernels, KeyBias, KeyMask, KvCache, Llama, LlamaError, RowInput};

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

fn workout_tokens(seed: u32, len: usize, vocab: usize) -> Vec<u32> {
    (0..len as u32)
        .map(|i| (seed * 29 + i * 11 + 5) % vocab as u32)
        .collect()
}

/// A cache of four tokens a slot whose slots marked in `sharing` see a causal
/// shared context of `len` workout tokens drawn from `seed`.
fn cache_after_context<K: Kernels>(
    model: &Llama<K>,
    (seed, len): (u32, usize),
    sharing: Vec<bool>,
) -> Result<KvCache<K>, LlamaError> {
    let vocab = model.config().vocab_size;
    let context = Arc::new(model.encode_context(
        workout_tokens(seed, len, vocab),
        (0..len).collect(),
        KeyMask::Causal,
    )?);
    model.new_cache_sharing(&context, sharing, 4)
}

/// The logits (flattened) of passes whose windows outgrow one stage of the
/// GPU's tile kernels (32 keys a stage in `attend_fused`, 48 in
/// `attend_own_tiles`, 16 tokens a tile): an 80-token shared context seen
/// by one of two slots, a 70-token row after it and a 100-token row encoded
/// whole, with logits every few tokens, then two decoding steps. The windows
/// of [`workout`] all fit one stage, so this is the check of the stage loop.
pub fn long_workout<K: Kernels>(model: &Llama<K>) -> Result<Vec<f32>, LlamaError> {
    let vocab = model.config().vocab_size;
    let mut cache = cache_after_context(model, (5, 80), vec![true, false])?;
    let every = |len: usize| (0..len).filter(|i| i % 9 == 8 || *i == len - 1).collect();
    let rows = vec![
        RowInput {
            logits_at: every(70),
            ..RowInput::causal(0, workout_tokens(6, 70, vocab), 80)
        },
        RowInput {
            logits_at: every(100),
            ..RowInput::causal(1, workout_tokens(7, 100, vocab), 0)
        },
    ];
    let mut out = model.logits_to_vec(&model.forward(&ForwardInput { rows }, &mut cache)?)?;
    for step in 0..2u32 {
        let token = |base: u32| (base + step) % vocab as u32;
        let rows = vec![
            RowInput::causal(0, vec![token(40)], 150 + step as usize),
            RowInput::causal(1, vec![token(50)], 100 + step as usize),
        ];
        let logits = model.forward(&ForwardInput { rows }, &mut cache)?;
        out.extend(model.logits_to_vec(&logits)?);
    }
    Ok(out)
}

/// The logits (flattened) of a prefill and three decoding steps that use
/// everything a pass can hold: a shared context seen by two of three slots,
/// ragged rows, interval masks (a packed flex row and flex segments after the
/// context), a key bias, logits at several positions, a finished row left out
/// of a step and the store growing. Every kernel set must give the same values
/// as the reference (within its float type's rounding).
pub fn workout<K: Kernels>(model: &Llama<K>) -> Result<Vec<f32>, LlamaError> {
    let vocab = model.config().vocab_size;
    let mut cache = cache_after_context(model, (1, 7), vec![true, false, true])?;
    let table = SegmentTable::from_lengths(&[
        (Role::Question { paraphrase: 0 }, 4),
        (Role::Question { paraphrase: 1 }, 3),
        (Role::Shared, 1),
    ])
    .map_err(|e| LlamaError::Config(e.to_string()))?;
    let packed = IntervalMask::compile(&flex_rule(&table), 0..8, 8);
    let shared_table = SegmentTable::from_lengths(&[
        (Role::Shared, 7),
        (Role::Question { paraphrase: 0 }, 2),
        (Role::Question { paraphrase: 1 }, 3),
        (Role::Shared, 1),
    ])
    .map_err(|e| LlamaError::Config(e.to_string()))?;
    let after_context = IntervalMask::compile(&flex_rule(&shared_table), 7..13, 13);
    let prefill = ForwardInput {
        rows: vec![
            RowInput::causal(0, workout_tokens(2, 5, vocab), 7),
            RowInput {
                slot: 1,
                tokens: workout_tokens(3, 8, vocab),
                positions: vec![0, 1, 2, 3, 0, 1, 2, 4],
                mask: KeyMask::Intervals(packed),
                bias: None,
                logits_at: vec![3, 6, 7],
            },
            RowInput {
                slot: 2,
                tokens: workout_tokens(4, 6, vocab),
                positions: vec![7, 8, 7, 8, 9, 10],
                mask: KeyMask::Intervals(after_context),
                bias: Some(KeyBias {
                    keys: 0..7,
                    values: vec![0.0, 0.0, 0.0, 0.0, 0.0, 2f32.ln()],
                }),
                logits_at: vec![5],
            },
        ],
    };
    let mut out = model.logits_to_vec(&model.forward(&prefill, &mut cache)?)?;
    for step in 0..3u32 {
        let token = |base: u32| (base + step) % vocab as u32;
        let mut rows = vec![
            RowInput::causal(0, vec![token(10)], 12 + step as usize),
            RowInput::causal(1, vec![token(20)], 5 + step as usize),
            RowInput::causal(2, vec![token(30)], 11 + step as usize),
        ];
        rows[2].bias = Some(KeyBias {
            keys: 0..7,
            values: vec![2f32.ln()],
        });
        if step == 1 {
            rows.remove(1); // a finished row is simply not fed
        }
        let logits = model.forward(&ForwardInput { rows }, &mut cache)?;
        out.extend(model.logits_to_vec(&logits)?);
    }
    Ok(out)
}
