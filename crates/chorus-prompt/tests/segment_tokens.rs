//! Per-segment tokenisation must give the token ids of the whole prompt. A
//! GPT-2-style byte-level BPE (the kind SmolLM2 and Llama 3 use) encodes a
//! trailing `"\n\n"` as one token but the same run before `Q` as two; the layouts
//! put separators at the start of segments so that this never splits differently.
//! The tokenizer here is the smallest one with that behaviour: the byte alphabet
//! plus a single `"\n\n"` merge.

use std::str::FromStr;

use chorus_prompt::{FewShotExample, FlexOptions, FuseFirst, PromptContext, PromptLayout};
use serde_json::json;
use tokenizers::Tokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

fn tokenizer() -> Tokenizer {
    let mut alphabet: Vec<String> = ByteLevel::alphabet()
        .into_iter()
        .map(String::from)
        .collect();
    alphabet.sort();
    alphabet.push("ĊĊ".into());
    let vocab: serde_json::Map<String, serde_json::Value> = alphabet
        .into_iter()
        .enumerate()
        .map(|(id, token)| (token, json!(id)))
        .collect();
    let spec = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "post_processor": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "vocab": vocab, "merges": [["Ċ", "Ċ"]]},
    });
    Tokenizer::from_str(&spec.to_string()).expect("valid tokenizer")
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, tokenizers::Error> {
    Ok(tokenizer.encode(text, false)?.get_ids().to_vec())
}

fn context() -> PromptContext {
    let examples = vec![
        FewShotExample {
            questions: vec!["[MASK] is a fruit.".into(), "A fruit: [MASK].".into()],
            answer: "apple".into(),
        },
        FewShotExample::new("Paris is in [MASK].", "France"),
    ];
    PromptContext::new("Predict the [MASK].", examples).unwrap()
}

fn assert_segments_tokenise_like_the_whole(layout: &PromptLayout, tokenizer: &Tokenizer) {
    let tokenized = layout.tokenize(&|t: &str| encode(tokenizer, t)).unwrap();
    assert_eq!(
        tokenized.token_ids(),
        encode(tokenizer, &layout.render()).unwrap(),
        "{:?}",
        layout.render()
    );
}

#[test]
fn the_tokenizer_splits_a_trailing_blank_line_differently() {
    let tokenizer = tokenizer();
    let alone = encode(&tokenizer, "x\n\n").unwrap();
    let inside = encode(&tokenizer, "x\n\nQ").unwrap();
    assert_eq!(alone.len(), 2, "x + one \\n\\n token");
    assert_eq!(inside.len(), 4, "x + \\n + \\n + Q");
}

#[test]
fn every_layout_tokenises_segment_by_segment_like_the_whole_prompt() {
    let tokenizer = tokenizer();
    let ctx = context();
    let paraphrases = ["[MASK] is red.", "Red is the colour of [MASK]."];
    assert_segments_tokenise_like_the_whole(&ctx.standard(paraphrases[0], 0), &tokenizer);
    assert_segments_tokenise_like_the_whole(&ctx.structured(&paraphrases, 3).unwrap(), &tokenizer);
    for share_prefix in [false, true] {
        for fuse_first in [FuseFirst::None, FuseFirst::SharedSuffix] {
            let layout = ctx
                .flex(
                    &paraphrases,
                    FlexOptions {
                        share_prefix,
                        fuse_first,
                    },
                )
                .unwrap();
            if share_prefix {
                // Shared prefix + one question segment (+ suffix) is one standalone prompt.
                let segments = layout.segments();
                let prefix = encode(&tokenizer, &segments[0].text).unwrap();
                let question = encode(&tokenizer, &segments[1].text).unwrap();
                let suffix = match fuse_first {
                    FuseFirst::SharedSuffix => {
                        encode(&tokenizer, &segments[segments.len() - 1].text).unwrap()
                    }
                    FuseFirst::None => Vec::new(),
                };
                let standalone = encode(&tokenizer, &ctx.standard_prompt(paraphrases[0])).unwrap();
                assert_eq!([prefix, question, suffix].concat(), standalone);
            } else {
                assert_segments_tokenise_like_the_whole(&layout, &tokenizer);
            }
        }
    }
}
