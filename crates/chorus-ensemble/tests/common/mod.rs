//! Shared test helpers: a tiny random Llama with a character-level tokenizer.

#![allow(dead_code)]

use std::path::Path;

use chorus_ensemble::{DecodeConfig, Engine, Question};
use chorus_llama::{Cpu, Llama, RandomWeights, Tokenizer, presets};
use chorus_prompt::{FewShotExample, PromptContext};
use serde_json::json;

/// Vocabulary size of the tiny model: 3 specials, `\n`, printable ASCII.
pub const VOCAB: usize = 3 + 1 + 95;

/// Writes a character-level BPE `tokenizer.json` (no merges, `Fuse` decoder) and
/// its `tokenizer_config.json` into `dir`, and loads it.
pub fn char_tokenizer(dir: &Path, add_bos: bool) -> Tokenizer {
    let specials = ["<unk>", "<s>", "</s>"];
    let mut vocab = serde_json::Map::new();
    let chars = std::iter::once('\n').chain((32u8..127).map(char::from));
    for (id, token) in specials
        .iter()
        .map(|s| s.to_string())
        .chain(chars.map(String::from))
        .enumerate()
    {
        vocab.insert(token, json!(id));
    }
    let added: Vec<_> = specials
        .iter()
        .enumerate()
        .map(|(id, s)| json!({"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": null, "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": []}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let config = json!({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": add_bos});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    Tokenizer::from_file(dir.join("tokenizer.json")).unwrap()
}

/// A few-shot context with two short examples.
pub fn context() -> PromptContext {
    PromptContext::new(
        "Answer briefly.",
        vec![
            FewShotExample::new("2+2?", "4"),
            FewShotExample::new("sky?", "blue"),
        ],
    )
    .unwrap()
}

/// The tiny random model (seed 11) with the character tokenizer.
pub fn tiny_engine(decode: DecodeConfig, add_bos: bool) -> Engine<Cpu> {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = char_tokenizer(dir.path(), add_bos);
    let mut config = presets::tiny();
    config.vocab_size = VOCAB;
    // Character-level paraphrase-generation prompts are ~1,000 tokens long.
    config.max_position_embeddings = 2048;
    let model = Llama::<Cpu>::from_source(&RandomWeights::with_std(config, 11, 0.5), &()).unwrap();
    Engine::new(model, tokenizer, context(), decode).unwrap()
}

/// Three questions with 1 to 3 paraphrases of different lengths.
pub fn questions() -> Vec<Question> {
    vec![
        Question::new(
            0,
            vec![
                "who?".into(),
                "who is it, really?".into(),
                "name them".into(),
            ],
        ),
        Question::new(
            1,
            vec!["where is the big red house?".into(), "where?".into()],
        ),
        Question::new(2, vec!["when".into()]),
    ]
}
