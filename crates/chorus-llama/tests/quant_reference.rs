//! Every GGUF dequantiser against the `gguf` Python package's reference
//! `gguf.quants.dequantize` on random blocks (fixtures written by
//! `scripts/fixtures/make_quant_fixtures.py`).
//!
//! The comparison is bit-exact: the reference and Chorus both widen the f16
//! scales exactly, form each sub-block's scale and minimum as one f32 product,
//! then compute `scale * q - min` (or `q * d + m`) in the same order with
//! separate f32 roundings (Rust never contracts to FMA), so no tolerance is
//! needed.

use std::path::{Path, PathBuf};

use chorus_llama::gguf::{GgmlType, dequantize};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quants")
}

fn read(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_dequantiser_equals_the_gguf_reference_bit_for_bit() {
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    let mut seen = Vec::new();
    for entry in manifest["types"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let id = entry["id"].as_u64().unwrap() as u32;
        let ty = GgmlType::from_id(id).unwrap_or_else(|| panic!("{name}: unknown id {id}"));
        assert_eq!(ty.to_string(), name);
        assert!(ty.can_dequantize(), "{name}");
        let file = entry["file"].as_str().unwrap();
        let n = entry["elements"].as_u64().unwrap() as usize;
        let blocks = read(&format!("{file}.blocks"));
        let want: Vec<f32> = read(&format!("{file}.f32"))
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(want.len(), n, "{name}");
        let got = dequantize(ty, &blocks, n).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), n, "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g.to_bits() == w.to_bits(),
                "{name}: element {i} (block {}) is {g:e}, the reference {w:e}",
                i / ty.block_size()
            );
        }
        seen.push(ty);
    }
    // Every type Chorus can dequantise has a fixture.
    for id in 0..64 {
        if let Some(ty) = GgmlType::from_id(id).filter(|t| t.can_dequantize()) {
            assert!(seen.contains(&ty), "no reference fixture for {ty}");
        }
    }
}
