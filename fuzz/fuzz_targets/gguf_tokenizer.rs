//! The tokenizer built from GGUF metadata. The input is a GGUF file whose
//! metadata is copied into the tiny Llama checkpoint (so the file always opens
//! and only the tokenizer keys decide the outcome); the tokenizer, if one is
//! built, encodes and decodes a fixed text and ids in and out of range.
#![no_main]

use chorus_fuzz::tiny_llama_gguf;
use chorus_llama::gguf::{GgmlType, parse_header};
use chorus_llama::{GgufFile, Tokenizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = parse_header(data) else {
        return;
    };
    let mut w = tiny_llama_gguf(GgmlType::F32);
    for (key, value) in header.metadata {
        if key.starts_with("tokenizer.") {
            w.metadata(&key, value);
        }
    }
    let Ok(file) = GgufFile::from_bytes("fuzz.gguf", w.to_bytes()) else {
        return;
    };
    if let Ok(tok) = Tokenizer::from_gguf(&file) {
        for text in ["Who wrote Hamlet? ¿Qué? 🎭\n\t  ", ""] {
            if let Ok(ids) = tok.encode_prompt(text) {
                let _ = tok.decode(&ids);
            }
        }
        let n = tok.vocab_size() as u32;
        let _ = tok.decode(&[0, n.saturating_sub(1), n, n + 1, u32::MAX]);
        let _ = tok.id_to_token(u32::MAX);
    }
});
