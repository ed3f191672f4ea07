//! Fuzz-style properties: the GGUF and safetensors header parsers return `Err`
//! on garbage, truncations and mutations of valid files; they never panic.

use std::path::Path;

use chorus_llama::GgufFile;
use chorus_llama::gguf::{GgmlType, GgufValue, GgufWriter, parse_header};
use chorus_llama::hf::safetensors_index;
use proptest::prelude::*;

/// A small valid GGUF with metadata of every value type and a few tensors.
fn small_gguf() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.metadata("general.architecture", GgufValue::String("llama".into()))
        .metadata("a.u8", GgufValue::U8(7))
        .metadata("a.i8", GgufValue::I8(-7))
        .metadata("a.u16", GgufValue::U16(700))
        .metadata("a.i16", GgufValue::I16(-700))
        .metadata("a.i32", GgufValue::I32(-70_000))
        .metadata("a.u64", GgufValue::U64(1 << 40))
        .metadata("a.i64", GgufValue::I64(-(1 << 40)))
        .metadata("a.f64", GgufValue::F64(0.25))
        .metadata("a.bool", GgufValue::Bool(true))
        .metadata(
            "a.strings",
            GgufValue::Array {
                element_type: 8,
                values: vec![
                    GgufValue::String("x".into()),
                    GgufValue::String("ÿz".into()),
                ],
            },
        )
        .metadata(
            "a.nested",
            GgufValue::Array {
                element_type: 9,
                values: vec![GgufValue::Array {
                    element_type: 6,
                    values: vec![GgufValue::F32(1.5)],
                }],
            },
        )
        .metadata("llama.embedding_length", GgufValue::U32(32));
    w.tensor("token_embd.weight", &[2, 32], GgmlType::Q8_0, &[0.5; 64])
        .unwrap();
    w.tensor("output_norm.weight", &[32], GgmlType::F32, &[1.0; 32])
        .unwrap();
    w.tensor("blk.0.attn_q.weight", &[2, 32], GgmlType::Q4_1, &[-0.5; 64])
        .unwrap();
    w.to_bytes()
}

#[test]
fn small_gguf_parses_with_every_value_type() {
    let header = parse_header(&small_gguf()).unwrap();
    assert_eq!(header.version, 3);
    assert_eq!(header.tensors.len(), 3);
    assert_eq!(header.data_offset % 32, 0);
    let get = |k: &str| {
        header
            .metadata
            .iter()
            .find(|(key, _)| key == k)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get("a.i16"), GgufValue::I16(-700));
    assert_eq!(get("a.u64").as_u64(), Some(1 << 40));
    assert_eq!(get("a.strings").as_array().unwrap()[1].as_str(), Some("ÿz"));
    assert_eq!(header.tensors[1].torch_shape(), vec![32]);
    assert_eq!(header.tensors[0].n_bytes, 2 * 34);
}

#[test]
fn version_2_reads_like_version_3_and_big_endian_is_named() {
    let mut bytes = small_gguf();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let v2 = parse_header(&bytes).unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.tensors, parse_header(&small_gguf()).unwrap().tensors);
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    let err = parse_header(&bytes).unwrap_err();
    assert!(err.contains("big-endian"), "{err}");
}

#[test]
fn general_alignment_is_honoured() {
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", GgufValue::U32(64));
    w.tensor("a", &[3], GgmlType::F32, &[1.0, 2.0, 3.0])
        .unwrap();
    w.tensor("b", &[2], GgmlType::F32, &[4.0, 5.0]).unwrap();
    let bytes = w.to_bytes();
    let header = parse_header(&bytes).unwrap();
    assert_eq!(header.alignment, 64);
    assert_eq!(header.data_offset % 64, 0);
    assert_eq!(header.tensors[1].offset, 64);
    let at = header.data_offset + 64;
    assert_eq!(&bytes[at..at + 4], &4.0f32.to_le_bytes());
    // an alignment that is not a power of two is rejected
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", GgufValue::U32(48));
    let err = parse_header(&w.to_bytes()).unwrap_err();
    assert!(err.contains("general.alignment"), "{err}");
}

fn gguf_opens_without_panic(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let header = parse_header(&bytes);
    let file = GgufFile::from_bytes("fuzz.gguf", bytes);
    // Not a complete Llama checkpoint, so opening must fail (with a message).
    prop_assert!(file.is_err());
    if let Err(e) = file {
        prop_assert!(e.to_string().contains("fuzz.gguf"));
    }
    drop(header);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(parse_header(&bytes).is_err() || bytes.starts_with(b"GGUF"));
        gguf_opens_without_panic(bytes)?;
    }

    #[test]
    fn random_bytes_after_magic_never_panic(version in 0u32..5, rest in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend(version.to_le_bytes());
        bytes.extend(rest);
        gguf_opens_without_panic(bytes)?;
    }

    #[test]
    fn truncations_of_a_valid_gguf_are_errors(cut in 0usize..10_000) {
        let full = small_gguf();
        let cut = cut % full.len();
        prop_assert!(parse_header(&full[..cut]).is_err());
        gguf_opens_without_panic(full[..cut].to_vec())?;
    }

    #[test]
    fn mutations_of_a_valid_gguf_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = small_gguf();
        let n = bytes.len();
        for (at, b) in edits {
            bytes[at % n] = b;
        }
        let _ = parse_header(&bytes);
        gguf_opens_without_panic(bytes)?;
    }

    #[test]
    fn random_safetensors_headers_are_errors(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let r = safetensors_index(Path::new("fuzz.safetensors"), &bytes);
        prop_assert!(r.is_err());
        prop_assert!(r.unwrap_err().to_string().contains("fuzz.safetensors"));
    }

    #[test]
    fn mutated_safetensors_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut bytes = small_safetensors();
        let n = bytes.len();
        for (at, b) in edits {
            bytes[at % n] = b;
        }
        bytes.truncate(cut % (n + 1));
        if let Err(e) = safetensors_index(Path::new("fuzz.safetensors"), &bytes) {
            prop_assert!(e.to_string().contains("fuzz.safetensors"));
        }
    }
}

fn small_safetensors() -> Vec<u8> {
    use safetensors::tensor::TensorView;
    let a: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let b: Vec<u8> = vec![0x80, 0x3F, 0x00, 0x40];
    let views = vec![
        (
            "a",
            TensorView::new(safetensors::Dtype::F32, vec![2, 2], &a).unwrap(),
        ),
        (
            "b",
            TensorView::new(safetensors::Dtype::BF16, vec![2], &b).unwrap(),
        ),
    ];
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn small_safetensors_parses() {
    let entries = safetensors_index(Path::new("x.safetensors"), &small_safetensors()).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name, "a");
    assert_eq!(entries[0].shape, vec![2, 2]);
    assert_eq!(entries[1].range.len(), 4);
}
