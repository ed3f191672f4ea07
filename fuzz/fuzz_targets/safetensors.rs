//! Safetensors and `config.json`. The first byte picks: 0 — a safetensors file
//! alone (index, then every tensor to f32); 1 — `config.json` alone; 2 — a
//! checkpoint folder with the tiny Llama's `config.json` and the input as
//! `model.safetensors`, opened and every tensor read.
#![no_main]

use chorus_fuzz::{TINY_CONFIG_JSON, put, scratch};
use chorus_llama::hf::{read_config, safetensors_index, safetensors_to_f32};
use chorus_llama::{HfCheckpoint, WeightSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let path = std::path::Path::new("fuzz.safetensors");
            if let Ok(entries) = safetensors_index(path, rest) {
                for e in entries {
                    let _ = safetensors_to_f32(e.dtype, &rest[e.range.clone()]);
                }
            }
        }
        1 => {
            let path = put("config/config.json", rest);
            let _ = read_config(&path);
        }
        _ => {
            put("ckpt/config.json", TINY_CONFIG_JSON.as_bytes());
            put("ckpt/model.safetensors", rest);
            if let Ok(ckpt) = HfCheckpoint::open(scratch().join("ckpt")) {
                for name in ckpt.tensor_names() {
                    let _ = ckpt.tensor(&name);
                }
            }
        }
    }
});
