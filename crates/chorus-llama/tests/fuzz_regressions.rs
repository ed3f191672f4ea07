//! Inputs the `gguf` fuzz target found crashing (tests/fuzz-regressions/,
//! replayed on stable without the fuzzer), and the bug they showed: an element
//! count passed to `dequantize` whose byte size overflows (only a panic with
//! overflow checks on; wrapped, the size could match the data and the output
//! be allocated from the lie). Each input goes through the target's calls.

use std::path::Path;

use chorus_llama::GgufFile;
use chorus_llama::gguf::{GgmlType, dequantize, parse_header};

/// What `fuzz/fuzz_targets/gguf.rs` does with one input.
fn replay(data: &[u8]) {
    if let Ok(header) = parse_header(data) {
        for t in &header.tensors {
            let start = header.data_offset + t.offset as usize;
            if t.ggml_type.can_dequantize() {
                let _ = dequantize(t.ggml_type, &data[start..start + t.n_bytes], t.n_elements);
            }
        }
    }
    let _ = GgufFile::from_bytes("fuzz.gguf", data.to_vec());
    if let Some((&id, rest)) = data.split_first()
        && let Some(ty) = GgmlType::from_id(u32::from(id % 32))
    {
        let blocks = rest.len() / ty.type_size();
        let _ = dequantize(
            ty,
            &rest[..blocks * ty.type_size()],
            blocks * ty.block_size(),
        );
        assert!(dequantize(ty, rest, usize::MAX - usize::from(id)).is_err());
    }
}

#[test]
fn every_gguf_fuzz_regression_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        replay(&std::fs::read(entry.unwrap().path()).unwrap());
        seen += 1;
    }
    assert!(seen > 0);
}

#[test]
fn a_lying_element_count_is_an_error_not_an_overflow() {
    // 2^64 - 32 elements: a whole number of Q8_0 blocks (34 bytes each) whose
    // byte count overflows.
    let err = dequantize(GgmlType::Q8_0, &[0; 34], usize::MAX - 31).unwrap_err();
    assert!(err.contains("overflow"), "{err}");
    let err = dequantize(GgmlType::Q8K, &[0; 292], usize::MAX / 256 * 256).unwrap_err();
    assert!(err.contains("overflow"), "{err}");
}
