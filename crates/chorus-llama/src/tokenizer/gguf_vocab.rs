//! The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata, rebuilt
//! with the `tokenizers` crate so that it matches the model's own
//! `tokenizer.json` (the file llama.cpp's converter read).
//!
//! Two vocabulary kinds, as llama.cpp names them in `tokenizer.ggml.model`:
//! - `gpt2`: byte-level BPE from the token list and merges; the pre-tokenizer
//!   follows `tokenizer.ggml.pre` (see [`BpeFamily::from_pre`]).
//! - `llama`: SentencePiece BPE (Llama 2, Mistral v0.1–v0.3, TinyLlama) from the
//!   token list and scores. GGUF keeps no merges for it, so they are derived
//!   from the scores exactly as transformers' `LlamaConverter` derives the
//!   `tokenizer.json` these models ship; spaces become `▁`, one `▁` is prepended
//!   (`tokenizer.ggml.add_space_prefix`, default on), and characters outside the
//!   vocabulary fall back to their `<0xXX>` byte tokens.

use std::collections::HashMap;

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::normalizers::{
    NormalizerWrapper, Prepend, Replace, Sequence as NormalizerSequence,
};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::gguf::GgufValue;

/// llama.cpp's `tokenizer.ggml.token_type` (SentencePiece's piece types) for
/// the unknown token.
const TOKEN_TYPE_UNKNOWN: i64 = 2;
/// ... for control tokens (`<s>`, `<|im_start|>`, `[INST]`).
const TOKEN_TYPE_CONTROL: i64 = 3;
/// ... for user-defined tokens.
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// SentencePiece's word-boundary mark, which stands for a space.
const SPM_SPACE: &str = "\u{2581}";

/// The Llama-3 pre-tokenizer regex (llama.cpp `llama-bpe`, Llama 3 `tokenizer.json`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The Qwen2 / Qwen2.5 pre-tokenizer regex (llama.cpp `qwen2`): Llama 3's with
/// every digit on its own.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Mistral's Tekken pre-tokenizer regex (llama.cpp `tekken`; Mistral Nemo and
/// later), as its `tokenizer.json` spells it: words split before an upper-case
/// run (`CamelCase` → `Camel`, `Case`), single digits, `/` kept with
/// punctuation runs. llama.cpp rewrites the letter-case classes for its own
/// regex engine; the `tokenizers` regex engine takes the original.
const TEKKEN_REGEX: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A tokenizer rebuilt from GGUF metadata, with the special-token settings.
pub(super) struct GgufTokenizer {
    /// The rebuilt tokenizer.
    pub tokenizer: tokenizers::Tokenizer,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`, else llama.cpp's default for the vocabulary.
    pub add_bos: bool,
}

/// Rebuilds the tokenizer of GGUF `metadata`. Errors say which key is missing
/// or malformed, or which vocabulary kind / pre-tokenizer is not supported.
pub(super) fn from_metadata(metadata: &[(String, GgufValue)]) -> Result<GgufTokenizer, String> {
    let get = |key: &str| metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let model = get("tokenizer.ggml.model").and_then(GgufValue::as_str);
    let tokens = string_array(get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens")?;
    let types = token_types(get("tokenizer.ggml.token_type"), tokens.len())?;
    let id = |key: &str| -> Result<Option<u32>, String> {
        let Some(value) = get(key) else {
            return Ok(None);
        };
        // llama.cpp writes -1 (or leaves the key out) for "no such token".
        if value.as_i64().is_some_and(|v| v < 0) {
            return Ok(None);
        }
        match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(id) if (id as usize) < tokens.len() => Ok(Some(id)),
            _ => Err(format!(
                "`{key}` = {value:?} is not an id of the {} tokens",
                tokens.len()
            )),
        }
    };
    let (tokenizer, default_add_bos) = match model {
        Some("gpt2") => {
            let merges = string_array(get("tokenizer.ggml.merges"), "tokenizer.ggml.merges")?;
            // A GGUF without the key predates it; llama.cpp then uses its default.
            let pre = get("tokenizer.ggml.pre")
                .and_then(GgufValue::as_str)
                .unwrap_or("default");
            let family = BpeFamily::from_pre(pre)?;
            let add_bos = family.add_bos;
            (build_bpe(&tokens, &merges, &types, family)?, add_bos)
        }
        Some("llama") => {
            let scores = f32_array(get("tokenizer.ggml.scores"), tokens.len())?;
            let add_space_prefix = get("tokenizer.ggml.add_space_prefix")
                .and_then(GgufValue::as_bool)
                .unwrap_or(true);
            let unk = match id("tokenizer.ggml.unknown_token_id")? {
                Some(unk) => Some(unk),
                None => types
                    .iter()
                    .position(|&t| t == TOKEN_TYPE_UNKNOWN)
                    .map(|i| i as u32),
            };
            let spm = build_spm(&tokens, &scores, &types, unk, add_space_prefix)?;
            // SentencePiece models start every prompt with BOS unless told not to.
            (spm, true)
        }
        other => {
            return Err(format!(
                "`tokenizer.ggml.model` is {other:?}; supported are byte-level BPE (`gpt2`) \
                 and SentencePiece (`llama`)"
            ));
        }
    };
    Ok(GgufTokenizer {
        tokenizer,
        bos: id("tokenizer.ggml.bos_token_id")?,
        eos: id("tokenizer.ggml.eos_token_id")?,
        add_bos: get("tokenizer.ggml.add_bos_token")
            .and_then(GgufValue::as_bool)
            .unwrap_or(default_add_bos),
    })
}

/// A string array such as `tokenizer.ggml.tokens` or `merges`.
fn string_array(value: Option<&GgufValue>, key: &str) -> Result<Vec<String>, String> {
    let values = value
        .and_then(GgufValue::as_array)
        .ok_or_else(|| format!("missing array `{key}`"))?;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{key}`[{i}] is not a string"))
        })
        .collect()
}

/// `tokenizer.ggml.scores`, one per token.
fn f32_array(value: Option<&GgufValue>, n_tokens: usize) -> Result<Vec<f32>, String> {
    let key = "tokenizer.ggml.scores";
    let values = value.and_then(GgufValue::as_array).ok_or_else(|| {
        format!("missing array `{key}` (a SentencePiece vocabulary needs its scores)")
    })?;
    if values.len() != n_tokens {
        return Err(format!(
            "`{key}` has {} entries for {n_tokens} tokens",
            values.len()
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_f64()
                .map(|s| s as f32)
                .ok_or_else(|| format!("`{key}`[{i}] is not a float"))
        })
        .collect()
}

/// `tokenizer.ggml.token_type`, or all-normal when absent.
fn token_types(value: Option<&GgufValue>, n_tokens: usize) -> Result<Vec<i64>, String> {
    let Some(value) = value else {
        return Ok(vec![1; n_tokens]);
    };
    let values = value
        .as_array()
        .ok_or("`tokenizer.ggml.token_type` is not an array")?;
    if values.len() != n_tokens {
        return Err(format!(
            "`tokenizer.ggml.token_type` has {} entries for {n_tokens} tokens",
            values.len()
        ));
    }
    values
        .iter()
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| format!("token type {v:?} is not an integer"))
        })
        .collect()
}

/// What `tokenizer.ggml.pre` selects for a byte-level BPE vocabulary.
pub(super) struct BpeFamily {
    /// The family's normalizer (Qwen2's NFC), if any.
    normalizer: Option<NormalizerWrapper>,
    /// The pre-tokenizer, as the family's `tokenizer.json` spells it.
    pre_tokenizer: PreTokenizerWrapper,
    /// Whether a pre-token that is itself in the vocabulary is one token,
    /// whatever the merges say (llama.cpp's `ignore_merges`, Llama 3's and
    /// Tekken's `tokenizer.json`).
    ignore_merges: bool,
    /// Whether prompts start with BOS when the file does not say.
    add_bos: bool,
}

impl BpeFamily {
    /// The family llama.cpp selects for `pre`; an unknown name is an error
    /// naming it (its regexes are not known here, and a near miss would
    /// silently give other ids).
    pub(super) fn from_pre(pre: &str) -> Result<Self, String> {
        let byte_level = |use_regex| ByteLevel::new(false, true, use_regex).into();
        let split = |regex: &str, name: &str| -> Result<PreTokenizerWrapper, String> {
            let split = Split::new(
                SplitPattern::Regex(regex.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("{name} pre-tokenizer regex: {e}"))?;
            Ok(Sequence::new(vec![split.into(), byte_level(false)]).into())
        };
        let plain = |pre_tokenizer| Self {
            normalizer: None,
            pre_tokenizer,
            ignore_merges: false,
            add_bos: false,
        };
        Ok(match pre {
            // GPT-2's own regex, which ByteLevel applies itself.
            "default" | "gpt2" | "gpt-2" => plain(byte_level(true)),
            // Every digit split off, then GPT-2 splitting (SmolLM2's tokenizer.json).
            "smollm" => {
                plain(Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into())
            }
            "llama-bpe" | "llama3" | "llama-v3" => Self {
                ignore_merges: true,
                add_bos: true,
                ..plain(split(LLAMA3_REGEX, "Llama-3")?)
            },
            "qwen2" => Self {
                // Qwen2's tokenizer.json composes text (NFC) before splitting.
                normalizer: Some(NFC.into()),
                ..plain(split(QWEN2_REGEX, "Qwen2")?)
            },
            "tekken" => Self {
                ignore_merges: true,
                add_bos: true,
                ..plain(split(TEKKEN_REGEX, "Tekken")?)
            },
            other => return Err(format!("unsupported `tokenizer.ggml.pre` = `{other}`")),
        })
    }
}

/// The vocabulary as the BPE model wants it: token → id (the last id wins for
/// a duplicated token, as in transformers' converters).
fn vocab_of(tokens: &[String]) -> Vocab {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

/// Control, unknown and user-defined tokens become added tokens, so their text
/// maps to their id; control and unknown ones are special (skipped by a
/// decode that skips specials), as in the families' `tokenizer.json`.
fn added_tokens(tokens: &[String], types: &[i64], normalized: bool) -> Vec<AddedToken> {
    tokens
        .iter()
        .zip(types)
        .filter_map(|(s, &t)| {
            let special = match t {
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN => true,
                TOKEN_TYPE_USER_DEFINED => false,
                _ => return None,
            };
            Some(AddedToken::from(s.clone(), special).normalized(normalized && !special))
        })
        .collect()
}

/// Byte-level BPE over `tokens` (id = index) and `merges` ("a b" pairs).
pub(super) fn build_bpe(
    tokens: &[String],
    merges: &[String],
    types: &[i64],
    family: BpeFamily,
) -> Result<tokenizers::Tokenizer, String> {
    let merges = merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("merge #{i} `{m}` is not two tokens"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab_of(tokens), merges)
        .ignore_merges(family.ignore_merges)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    if let Some(normalizer) = family.normalizer {
        tok.with_normalizer(Some(normalizer));
    }
    tok.with_pre_tokenizer(Some(family.pre_tokenizer));
    tok.with_decoder(Some(ByteLevel::default()));
    tok.add_special_tokens(&added_tokens(tokens, types, true));
    Ok(tok)
}

/// SentencePiece BPE over `tokens` and `scores`, as transformers converts a
/// Llama / Mistral `tokenizer.model` to `tokenizer.json` (legacy mode, the form
/// those models ship).
pub(super) fn build_spm(
    tokens: &[String],
    scores: &[f32],
    types: &[i64],
    unk: Option<u32>,
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer, String> {
    let vocab = vocab_of(tokens);
    let merges = spm_merges(tokens, scores, &vocab);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(tokens[unk as usize].clone());
    }
    let bpe = builder.build().map_err(|e| format!("BPE: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    let replace = |from: &str, to: &str| {
        Replace::new(from, to).map_err(|e| format!("replace `{from}` by `{to}`: {e}"))
    };
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        normalizers.push(Prepend::new(SPM_SPACE.into()).into());
    }
    normalizers.push(replace(" ", SPM_SPACE)?.into());
    tok.with_normalizer(Some(NormalizerSequence::new(normalizers)));
    let mut decoders: Vec<DecoderWrapper> = vec![
        replace(SPM_SPACE, " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        // Undo the prepended space.
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tok.with_decoder(Some(DecoderSequence::new(decoders)));
    // Special and user-defined tokens are matched in the raw text, before the
    // space rule applies (SentencePiece does the same for user-defined ones).
    tok.add_special_tokens(&added_tokens(tokens, types, false));
    Ok(tok)
}

/// The BPE merges of a SentencePiece vocabulary, in transformers' order
/// (`convert_slow_tokenizer.generate_merges` with scores): every split of a
/// token into two vocabulary tokens is a merge, ranked by the merged token's
/// score (highest first), then the longer left part, then the longer right
/// part; ties keep vocabulary order, then the parts' ids. SentencePiece itself
/// merges the pair whose result scores highest, so this ranking reproduces it.
fn spm_merges(tokens: &[String], scores: &[f32], vocab: &Vocab) -> Vec<(String, String)> {
    struct Merge {
        score: f32,
        left_chars: usize,
        right_chars: usize,
        left: u32,
        right: u32,
    }
    // Python compares 0.0 and -0.0 as equal and a NaN score is meaningless:
    // map both to keys that `total_cmp` orders the same way.
    let key = |s: f32| {
        if s.is_nan() {
            f32::NEG_INFINITY
        } else if s == 0.0 {
            0.0
        } else {
            s
        }
    };
    let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    let mut merges = Vec::new();
    for (i, piece) in tokens.iter().enumerate() {
        // A duplicated token is visited once, at its first position, with the
        // score of its last (as a Python dict built from the pairs has it).
        if *first_seen.entry(piece).or_insert(i) != i {
            continue;
        }
        let score = key(scores[vocab[piece.as_str()] as usize]);
        let start = merges.len();
        for (at, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(at);
            if let (Some(&left), Some(&right)) = (vocab.get(l), vocab.get(r)) {
                merges.push(Merge {
                    score,
                    left_chars: l.chars().count(),
                    right_chars: r.chars().count(),
                    left,
                    right,
                });
            }
        }
        merges[start..].sort_by_key(|m| (m.left, m.right));
    }
    // Stable and descending, like Python's `sorted(..., reverse=True)`.
    merges.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.left_chars.cmp(&a.left_chars))
            .then(b.right_chars.cmp(&a.right_chars))
    });
    merges
        .into_iter()
        .map(|m| {
            (
                tokens[m.left as usize].clone(),
                tokens[m.right as usize].clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// A tiny byte-level vocabulary with digit merges: `1 2` → `12`, `12 3` → `123`.
    fn tiny(pre: &str) -> Result<tokenizers::Tokenizer, String> {
        let tokens = strings(&["<s>", "1", "2", "3", "4", "12", "123", "a", "Ġ", "Ġa"]);
        let merges = strings(&["1 2", "12 3", "Ġ a"]);
        let mut types = vec![1i64; tokens.len()];
        types[0] = TOKEN_TYPE_CONTROL;
        build_bpe(&tokens, &merges, &types, BpeFamily::from_pre(pre)?)
    }

    fn ids(tok: &tokenizers::Tokenizer, text: &str) -> Vec<u32> {
        tok.encode(text, false).unwrap().get_ids().to_vec()
    }

    #[test]
    fn smollm_splits_every_digit_before_bpe() {
        let tok = tiny("smollm").unwrap();
        assert_eq!(ids(&tok, "1234"), vec![1, 2, 3, 4]);
        assert_eq!(ids(&tok, "a 1"), vec![7, 8, 1]);
    }

    #[test]
    fn gpt2_default_merges_digit_runs() {
        let tok = tiny("default").unwrap();
        assert_eq!(ids(&tok, "1234"), vec![6, 4]);
        assert_eq!(ids(&tok, "a a"), vec![7, 9]);
    }

    #[test]
    fn llama3_groups_digits_by_three_and_qwen2_and_tekken_split_them() {
        let tok = tiny("llama-bpe").unwrap();
        assert_eq!(ids(&tok, "1234"), vec![6, 4]);
        assert_eq!(ids(&tok, "12 a"), vec![5, 9]);
        for pre in ["qwen2", "tekken"] {
            assert_eq!(ids(&tiny(pre).unwrap(), "1234"), vec![1, 2, 3, 4], "{pre}");
        }
    }

    #[test]
    fn control_tokens_are_special_and_matched_in_text() {
        let tok = tiny("smollm").unwrap();
        assert_eq!(ids(&tok, "a<s>1"), vec![7, 0, 1]);
        assert_eq!(tok.decode(&[7, 0, 1], false).unwrap(), "a<s>1");
    }

    #[test]
    fn unknown_pre_tokenizer_and_bad_merges_are_errors() {
        let err = tiny("deepseek-llm").err().unwrap();
        assert!(
            err.contains("tokenizer.ggml.pre") && err.contains("deepseek-llm"),
            "{err}"
        );
        let tokens = strings(&["a"]);
        let family = BpeFamily::from_pre("default").unwrap();
        let err = build_bpe(&tokens, &strings(&["ab"]), &[1], family).unwrap_err();
        assert!(err.contains("merge #0"), "{err}");
    }

    #[test]
    fn spm_merges_follow_scores_then_longer_left_part() {
        // "abc" (score -1) splits as "a"+"bc" and "ab"+"c"; the longer left part ranks first.
        let tokens = strings(&["a", "b", "c", "ab", "bc", "abc"]);
        let scores = [0.0, 0.0, 0.0, -3.0, -2.0, -1.0];
        let merges = spm_merges(&tokens, &scores, &vocab_of(&tokens));
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![("ab", "c"), ("a", "bc"), ("b", "c"), ("a", "b")]
        );
    }

    #[test]
    fn spm_prefixes_a_space_and_falls_back_to_bytes() {
        let mut tokens = strings(&["<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "▁hi"]);
        tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
        let mut scores = vec![0.0; tokens.len()];
        scores[6] = -1.0;
        scores[7] = -2.0;
        let mut types = vec![1i64; tokens.len()];
        types[0] = TOKEN_TYPE_UNKNOWN;
        types[1] = TOKEN_TYPE_CONTROL;
        types[2] = TOKEN_TYPE_CONTROL;
        types[8..].fill(6);
        let tok = build_spm(&tokens, &scores, &types, Some(0), true).unwrap();
        assert_eq!(ids(&tok, "hi"), vec![7]);
        // "!" is not in the vocabulary: its byte token 0x21.
        assert_eq!(ids(&tok, "hi!"), vec![7, 8 + 0x21]);
        assert_eq!(tok.decode(&[7, 8 + 0x21], false).unwrap(), "hi!");
        assert_eq!(ids(&tok, "</s>"), vec![2]);
        let bare = build_spm(&tokens, &scores, &types, Some(0), false).unwrap();
        assert_eq!(ids(&bare, "hi"), vec![4, 5]);
    }

    #[test]
    fn metadata_errors_name_the_problem() {
        let s = |v: &str| GgufValue::String(v.to_string());
        let array = |values: Vec<GgufValue>| GgufValue::Array {
            element_type: 8,
            values,
        };
        let md = |model: &str| {
            vec![
                ("tokenizer.ggml.model".to_string(), s(model)),
                ("tokenizer.ggml.tokens".to_string(), array(vec![s("a")])),
                ("tokenizer.ggml.merges".to_string(), array(vec![])),
            ]
        };
        let err = from_metadata(&md("bert")).err().unwrap();
        assert!(err.contains("bert"), "{err}");
        let err = from_metadata(&md("llama")).err().unwrap();
        assert!(err.contains("tokenizer.ggml.scores"), "{err}");
        let mut bad_bos = md("gpt2");
        bad_bos.push(("tokenizer.ggml.bos_token_id".into(), GgufValue::U32(7)));
        let err = from_metadata(&bad_bos).err().unwrap();
        assert!(err.contains("bos_token_id"), "{err}");
        let ok = from_metadata(&md("gpt2")).unwrap();
        assert!(!ok.add_bos && ok.bos.is_none());
    }
}
