//! GGUF tokenizers of each supported family against the family's own
//! `tokenizer.json` run by the Python `tokenizers` library
//! (`scripts/fixtures/make_tokenizer_fixtures.py` writes
//! `tests/fixtures/tokenizers/<family>/`): identical ids for every probe
//! string, identical decoded text, the special-token settings, and for
//! SentencePiece also `sentencepiece`'s own ids.

use std::path::{Path, PathBuf};

use chorus_llama::Tokenizer;
use serde_json::Value;

fn family_dir(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizers")
        .join(family)
}

fn expected(family: &str) -> Value {
    let path = family_dir(family).join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn opt_id(v: &Value) -> Option<u32> {
    v.as_u64().map(|x| x as u32)
}

/// Chorus's tokenizer rebuilt from the family's GGUF gives the reference ids
/// and decoded text for every probe, and the file's special-token settings.
fn check_family(family: &str) {
    let want = expected(family);
    let tok = Tokenizer::open(&family_dir(family).join("tokenizer.gguf"))
        .unwrap_or_else(|e| panic!("{family}: {e}"));
    assert_eq!(
        tok.vocab_size() as u64,
        want["vocab_size"].as_u64().unwrap(),
        "{family}"
    );
    assert_eq!(tok.bos_id(), opt_id(&want["bos"]), "{family} bos");
    assert_eq!(tok.eos_id(), opt_id(&want["eos"]), "{family} eos");
    assert_eq!(
        tok.add_bos(),
        want["add_bos"].as_bool().unwrap(),
        "{family} add_bos"
    );
    let probes = want["probes"].as_array().unwrap();
    assert!(probes.len() >= 20, "{family}");
    for probe in probes {
        let text = probe["text"].as_str().unwrap();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, ids(&probe["ids"]), "{family}: ids of {text:?}");
        assert_eq!(
            tok.decode(&got).unwrap(),
            probe["decoded"].as_str().unwrap(),
            "{family}: decoding {text:?}"
        );
        let prompt = tok.encode_prompt(text).unwrap();
        match (tok.add_bos(), tok.bos_id()) {
            (true, Some(bos)) => assert_eq!(prompt[0], bos, "{family}"),
            _ => assert_eq!(prompt, got, "{family}"),
        }
    }
}

#[test]
fn gpt2_gguf_matches_its_tokenizer_json() {
    check_family("gpt2");
}

#[test]
fn qwen2_gguf_matches_its_tokenizer_json() {
    check_family("qwen2");
}

#[test]
fn tekken_gguf_matches_its_tokenizer_json() {
    check_family("tekken");
}

#[test]
fn llama3_gguf_matches_its_tokenizer_json() {
    check_family("llama-bpe");
}

#[test]
fn smollm_gguf_matches_its_tokenizer_json() {
    check_family("smollm");
}

#[test]
fn sentencepiece_gguf_matches_its_tokenizer_json() {
    check_family("spm");
}

/// The SentencePiece path also equals `sentencepiece` itself (the model file
/// the GGUF was converted from) on every probe that holds no special token.
#[test]
fn sentencepiece_gguf_matches_sentencepiece() {
    let want = expected("spm");
    let tok = Tokenizer::open(&family_dir("spm").join("tokenizer.gguf")).unwrap();
    let reference = want["sentencepiece"]["ids"].as_object().unwrap();
    assert!(reference.len() >= 20);
    for (text, ids_want) in reference {
        assert_eq!(tok.encode(text).unwrap(), ids(ids_want), "{text:?}");
    }
}

/// The same vocabulary, read from tokenizer.json by Chorus, agrees with the
/// GGUF-built tokenizer (both paths end in the same ids).
#[test]
fn tokenizer_json_and_gguf_agree() {
    for family in ["gpt2", "qwen2", "tekken", "llama-bpe", "smollm", "spm"] {
        let from_json = Tokenizer::from_file(family_dir(family).join("tokenizer.json")).unwrap();
        let from_gguf = Tokenizer::open(&family_dir(family).join("tokenizer.gguf")).unwrap();
        for probe in expected(family)["probes"].as_array().unwrap() {
            let text = probe["text"].as_str().unwrap();
            assert_eq!(
                from_json.encode(text).unwrap(),
                from_gguf.encode(text).unwrap(),
                "{family}: {text:?}"
            );
        }
    }
}

#[test]
fn unknown_pre_tokenizer_is_refused_by_name() {
    let path = family_dir("qwen2").join("tokenizer.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let mut header = chorus_llama::gguf::parse_header(&bytes).unwrap();
    for (key, value) in &mut header.metadata {
        if key == "tokenizer.ggml.pre" {
            *value = chorus_llama::gguf::GgufValue::String("made-up-pre".into());
        }
    }
    let err = Tokenizer::from_gguf_metadata(&header.metadata, "test")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("made-up-pre") && err.contains("tokenizer.ggml.pre"),
        "{err}"
    );
}

const FAMILIES: [&str; 6] = ["gpt2", "qwen2", "tekken", "llama-bpe", "smollm", "spm"];

/// Every family's tokenizer, opened once for all cases of a property.
fn family_tokenizers() -> &'static [Tokenizer] {
    static TOKENIZERS: std::sync::OnceLock<Vec<Tokenizer>> = std::sync::OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        FAMILIES
            .iter()
            .map(|f| Tokenizer::open(&family_dir(f).join("tokenizer.gguf")).unwrap())
            .collect()
    })
}

/// Which families take the prefix shortcut: byte-level BPE without a
/// normalizer does; Qwen2 (NFC) and SentencePiece encode every prompt whole.
#[test]
fn prompt_prefixes_resume_where_the_tokenizer_allows() {
    let prefix = "Answer the question.\n\nQ: Who wrote Hamlet?\nA: William Shakespeare";
    for (family, tok) in FAMILIES.iter().zip(family_tokenizers()) {
        let resumes = chorus_llama::PromptPrefix::new(tok, prefix)
            .unwrap()
            .resumes();
        let expected = !matches!(*family, "qwen2" | "spm");
        assert_eq!(resumes, expected, "{family}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Every family: a prompt that starts with a prefix gets the ids of a
    /// whole encoding, whatever the prefix and the rest (letters, digits,
    /// spaces, newlines, punctuation, accents, CJK, emoji).
    #[test]
    fn prompt_prefixes_encode_like_whole_prompts(
        prefix in "[A-Za-z0-9 \\n.,:;'?!()é中😀-]{1,40}",
        rest in "[A-Za-z0-9 \\n.,:;'?!()é中😀-]{0,24}",
    ) {
        for (family, tok) in FAMILIES.iter().zip(family_tokenizers()) {
            let encoder = chorus_llama::PromptPrefix::new(tok, &prefix).unwrap();
            let text = format!("{prefix}{rest}");
            proptest::prop_assert_eq!(
                encoder.encode_prompt(&text).unwrap(),
                tok.encode_prompt(&text).unwrap(),
                "{} {:?} + {:?}", family, prefix, rest
            );
            proptest::prop_assert_eq!(encoder.encode(&text).unwrap(), tok.encode(&text).unwrap());
        }
    }
}
