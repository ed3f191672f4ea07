//! The tokenizer rebuilt from the SmolLM2 GGUF against the PyTorch oracle's
//! goldens (`tests/fixtures/golden`): 50 probe strings and every prompt.
//! Skipped when the model file is absent.

use std::path::PathBuf;

use chorus_llama::testing::golden_records as golden;
use chorus_llama::{GgufFile, Tokenizer};
use serde_json::Value;

/// The SmolLM2 GGUF, or `None` (reason printed) when absent.
fn model_path() -> Option<PathBuf> {
    chorus_llama::testing::smollm2_or_skip()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn tokenizer() -> Option<Tokenizer> {
    let path = model_path()?;
    Some(Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap())
}

#[test]
fn special_ids_and_flags_match_the_gguf() {
    let Some(tok) = tokenizer() else { return };
    assert_eq!(tok.eos_id(), Some(2));
    assert!(!tok.add_bos());
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(tok.token_to_id("<|im_end|>"), Some(2));
    assert_eq!(tok.encode("<|im_start|>user").unwrap()[0], 1);
}

#[test]
fn probe_strings_match_llama_cpp_ids_and_round_trip() {
    let Some(tok) = tokenizer() else { return };
    let rows = golden("tokenizer.jsonl");
    assert_eq!(rows.len(), 50);
    let mut presplit_differs = 0;
    for row in rows {
        let text = row["text"].as_str().unwrap();
        // docs/DESIGN.md rule 7: follow the declared pre-tokenizer (digits split).
        let want = match row.get("ids_digit_presplit") {
            Some(v) => ids(v),
            None => ids(&row["ids_add_special_tokens_false"]),
        };
        if row["digit_presplit_differs"].as_bool() == Some(true) {
            presplit_differs += 1;
        }
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "text {text:?}");
        // add_bos is false: a prompt is the plain encoding
        assert_eq!(tok.encode_prompt(text).unwrap(), got, "text {text:?}");
        assert_eq!(
            tok.decode(&got).unwrap(),
            row["decoded"].as_str().unwrap(),
            "text {text:?}"
        );
        if row["roundtrip_ok"].as_bool() == Some(true) {
            assert_eq!(tok.decode(&got).unwrap(), text);
        }
    }
    assert!(
        presplit_differs > 0,
        "the goldens exercise the digit pre-split"
    );
}

#[test]
fn every_golden_prompt_tokenises_identically() {
    let Some(tok) = tokenizer() else { return };
    let rows = golden("prompts.jsonl");
    assert_eq!(rows.len(), 200);
    for row in rows {
        let prompt = row["prompt"].as_str().unwrap();
        assert_eq!(
            tok.encode_prompt(prompt).unwrap(),
            ids(&row["token_ids"]),
            "prompt {prompt:?}"
        );
    }
}

#[test]
fn tokenizer_and_checkpoint_are_send_sync_clone() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_clone<T: Clone>() {}
    assert_send_sync::<Tokenizer>();
    assert_clone::<Tokenizer>();
    assert_send_sync::<chorus_llama::Checkpoint>();
    assert_send_sync::<GgufFile>();
    assert_send_sync::<chorus_llama::HfCheckpoint>();
}

/// The GGUF-rebuilt tokenizer saved as `tokenizer.json` and loaded back through
/// the Hugging Face path gives the same ids: both paths share one definition.
#[test]
fn gguf_tokenizer_saved_as_json_loads_identically() {
    let Some(tok) = tokenizer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, tok.inner().to_string(false).unwrap()).unwrap();
    let back = Tokenizer::from_file(&path)
        .unwrap()
        .with_special_ids(Some(1), Some(2));
    assert_eq!(back.eos_id(), Some(2));
    assert!(!back.add_bos());
    for row in golden("tokenizer.jsonl")
        .iter()
        .chain(golden("prompts.jsonl").iter().take(20))
    {
        let text = row
            .get("text")
            .or_else(|| row.get("prompt"))
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(
            back.encode(text).unwrap(),
            tok.encode(text).unwrap(),
            "{text:?}"
        );
    }
}

#[test]
fn debug_output_is_a_summary() {
    let Some(path) = model_path() else { return };
    let file = GgufFile::open(&path).unwrap();
    let tok = Tokenizer::from_gguf(&file).unwrap();
    let text = format!("{file:?} {tok:?}");
    assert!(
        text.contains("vocab_size: 49152") && text.contains("tensors: 272"),
        "{text}"
    );
    assert!(text.len() < 4000, "{} bytes of Debug output", text.len());
}

#[test]
fn a_saved_tokenizer_reads_back_the_same() {
    let Some(tok) = tokenizer() else { return };
    let dir = tempfile::tempdir().unwrap();
    tok.save(dir.path()).unwrap();
    let back = Tokenizer::open(&dir.path().join("tokenizer.json")).unwrap();
    assert_eq!(
        (back.bos_id(), back.eos_id(), back.add_bos()),
        (tok.bos_id(), tok.eos_id(), tok.add_bos())
    );
    assert_eq!(back.vocab_size(), tok.vocab_size());
    for row in golden("tokenizer.jsonl")
        .into_iter()
        .chain(golden("prompts.jsonl"))
    {
        let text = row
            .get("text")
            .or(row.get("prompt"))
            .and_then(Value::as_str)
            .unwrap();
        assert_eq!(
            back.encode_prompt(text).unwrap(),
            tok.encode_prompt(text).unwrap(),
            "{text:?}"
        );
    }
}
