//! Headers and tensor tables that lie (issue 16): absurd counts and lengths,
//! tensors larger than the file, offsets past its end, overlapping tensors,
//! dimensions whose product overflows, sizes that disagree with the dtype.
//! Each is refused with a message naming the tensor (or field) before anything
//! is sized from the claim: the files here are a few hundred bytes, so an
//! allocation of the claimed size would abort the test process.

use std::path::Path;

use chorus_llama::gguf::parse_header;
use chorus_llama::hf::safetensors_index;
use chorus_llama::{GgufFile, HfCheckpoint};

/// GGUF v3 header with the given counts.
fn gguf_header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b
}

fn push_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

/// One tensor info: name, ggml dims, type id, data offset.
fn push_tensor(b: &mut Vec<u8>, name: &str, dims: &[u64], ty: u32, offset: u64) {
    push_str(b, name);
    b.extend((dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend(d.to_le_bytes());
    }
    b.extend(ty.to_le_bytes());
    b.extend(offset.to_le_bytes());
}

/// Pads to the 32-byte data alignment, then appends `data_len` zero bytes.
fn with_data(mut b: Vec<u8>, data_len: usize) -> Vec<u8> {
    b.resize(b.len().next_multiple_of(32) + data_len, 0);
    b
}

/// A GGUF file with only tensor infos, `data_len` bytes of data.
fn gguf_with_tensors(tensors: &[(&str, &[u64], u32, u64)], data_len: usize) -> Vec<u8> {
    let mut b = gguf_header(tensors.len() as u64, 0);
    for &(name, dims, ty, offset) in tensors {
        push_tensor(&mut b, name, dims, ty, offset);
    }
    with_data(b, data_len)
}

fn header_err(bytes: &[u8]) -> String {
    let err = parse_header(bytes).expect_err("a lying header must be refused");
    // The file-level open gives the same message with the path.
    let file = GgufFile::from_bytes("/m/lying.gguf", bytes.to_vec()).expect_err("refused");
    let file = file.to_string();
    assert!(
        file.contains("/m/lying.gguf") && file.contains(&err),
        "{file}"
    );
    err
}

const F32: u32 = 0;
const Q4_0: u32 = 2;

#[test]
fn gguf_claiming_2_pow_40_tensors_is_refused() {
    let err = header_err(&with_data(gguf_header(1 << 40, 0), 64));
    assert!(err.contains("tensor count 1099511627776"), "{err}");
}

#[test]
fn gguf_claiming_2_pow_40_metadata_entries_is_refused() {
    let err = header_err(&with_data(gguf_header(0, 1 << 40), 64));
    assert!(err.contains("metadata count 1099511627776"), "{err}");
}

#[test]
fn gguf_string_claiming_2_pow_63_bytes_is_refused() {
    // As a key...
    let mut b = gguf_header(0, 1);
    b.extend((1u64 << 63).to_le_bytes());
    b.extend([b'a'; 32]);
    let err = header_err(&b);
    assert!(
        err.contains("metadata #0 key") && err.contains("string length 9223372036854775808"),
        "{err}"
    );
    // ...and as a value, named by its key.
    let mut b = gguf_header(0, 1);
    push_str(&mut b, "general.name");
    b.extend(8u32.to_le_bytes());
    b.extend((1u64 << 63).to_le_bytes());
    b.extend([b'a'; 32]);
    let err = header_err(&b);
    assert!(
        err.contains("`general.name`") && err.contains("string length 9223372036854775808"),
        "{err}"
    );
}

#[test]
fn gguf_array_claiming_2_pow_62_elements_is_refused() {
    let mut b = gguf_header(0, 1);
    push_str(&mut b, "tokenizer.ggml.tokens");
    b.extend(9u32.to_le_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend((1u64 << 62).to_le_bytes());
    let err = header_err(&b);
    assert!(
        err.contains("`tokenizer.ggml.tokens`") && err.contains("array length 4611686018427387904"),
        "{err}"
    );
}

#[test]
fn gguf_tensor_larger_than_the_file_is_refused_by_name() {
    let b = gguf_with_tensors(&[("blk.0.attn_q.weight", &[1 << 20, 1 << 10], F32, 0)], 64);
    let err = header_err(&b);
    assert!(
        err.contains("`blk.0.attn_q.weight`") && err.contains("ends past the end of the file"),
        "{err}"
    );
}

#[test]
fn gguf_offset_past_the_end_is_refused_by_name() {
    let b = gguf_with_tensors(
        &[
            ("token_embd.weight", &[4], F32, 0),
            ("output_norm.weight", &[4], F32, 1 << 40),
        ],
        64,
    );
    let err = header_err(&b);
    assert!(
        err.contains("`output_norm.weight`") && err.contains("starts at data offset 1099511627776"),
        "{err}"
    );
}

#[test]
fn gguf_overlapping_tensors_are_refused_naming_both() {
    // 16 f32 = 64 bytes at 0, and 16 more at 32: bytes 32..64 are shared.
    let b = gguf_with_tensors(
        &[
            ("blk.0.ffn_up.weight", &[16], F32, 0),
            ("blk.0.ffn_down.weight", &[16], F32, 32),
        ],
        128,
    );
    let err = header_err(&b);
    assert!(
        err.contains("overlaps")
            && err.contains("`blk.0.ffn_up.weight`")
            && err.contains("`blk.0.ffn_down.weight`"),
        "{err}"
    );
    // Adjacent tensors, in either table order, are fine.
    let ok = gguf_with_tensors(&[("b", &[8], F32, 32), ("a", &[8], F32, 0)], 64);
    assert_eq!(parse_header(&ok).unwrap().tensors.len(), 2);
}

#[test]
fn gguf_dims_whose_product_overflows_are_refused_by_name() {
    let b = gguf_with_tensors(
        &[("token_embd.weight", &[1 << 32, 1 << 32, 1 << 32], F32, 0)],
        64,
    );
    let err = header_err(&b);
    assert!(
        err.contains("`token_embd.weight`") && err.contains("overflow"),
        "{err}"
    );
    // Just below the overflow, the byte count still cannot fit the file.
    let b = gguf_with_tensors(&[("token_embd.weight", &[1 << 30, 1 << 28], F32, 0)], 64);
    let err = header_err(&b);
    assert!(err.contains("`token_embd.weight`"), "{err}");
}

#[test]
fn gguf_wrong_type_sizes_are_refused_by_name() {
    // Q4_0 stores 32 weights a block: 33 is not a whole number of blocks.
    let b = gguf_with_tensors(&[("blk.0.attn_k.weight", &[33, 2], Q4_0, 0)], 64);
    let err = header_err(&b);
    assert!(
        err.contains("`blk.0.attn_k.weight`") && err.contains("block size 32"),
        "{err}"
    );
    let b = gguf_with_tensors(&[("blk.0.attn_v.weight", &[32], 99, 0)], 64);
    let err = header_err(&b);
    assert!(
        err.contains("`blk.0.attn_v.weight`") && err.contains("type id 99"),
        "{err}"
    );
}

#[test]
fn gguf_duplicate_tensor_names_and_metadata_keys_are_refused() {
    let b = gguf_with_tensors(&[("a", &[8], F32, 0), ("a", &[8], F32, 32)], 64);
    let err = header_err(&b);
    assert!(err.contains("tensor `a` appears twice"), "{err}");
    let mut b = gguf_header(0, 2);
    for _ in 0..2 {
        push_str(&mut b, "llama.block_count");
        b.extend(4u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
    }
    let err = header_err(&b);
    assert!(err.contains("`llama.block_count` appears twice"), "{err}");
}

/// A safetensors file from a header JSON and `data_len` bytes of data.
fn safetensors(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.resize(b.len() + data_len, 0);
    b
}

fn st_err(bytes: &[u8]) -> String {
    let err = safetensors_index(Path::new("/m/lying.safetensors"), bytes)
        .expect_err("a lying table must be refused")
        .to_string();
    assert!(err.contains("/m/lying.safetensors"), "{err}");
    err
}

#[test]
fn safetensors_header_length_past_the_file_is_refused() {
    let mut b = (1u64 << 63).to_le_bytes().to_vec();
    b.extend(b"{}");
    let err = st_err(&b);
    assert!(err.contains("claims 9223372036854775808 bytes"), "{err}");
}

#[test]
fn safetensors_size_disagreeing_with_dtype_is_refused_by_name() {
    let b = safetensors(
        r#"{"model.norm.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#,
        8,
    );
    let err = st_err(&b);
    assert!(
        err.contains("`model.norm.weight`")
            && err.contains("takes 16 bytes")
            && err.contains("give 8"),
        "{err}"
    );
}

#[test]
fn safetensors_offsets_past_the_end_are_refused_by_name() {
    let b = safetensors(
        r#"{"lm_head.weight":{"dtype":"BF16","shape":[1099511627776],"data_offsets":[0,2199023255552]}}"#,
        16,
    );
    let err = st_err(&b);
    assert!(
        err.contains("`lm_head.weight`") && err.contains("past the data section"),
        "{err}"
    );
}

#[test]
fn safetensors_overlapping_tensors_are_refused_naming_both() {
    let b = safetensors(
        r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
        24,
    );
    let err = st_err(&b);
    assert!(
        err.contains("overlaps") && err.contains("`a`") && err.contains("`b`"),
        "{err}"
    );
}

#[test]
fn safetensors_shape_overflow_is_refused_by_name() {
    let b = safetensors(
        r#"{"x":{"dtype":"F64","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}}"#,
        8,
    );
    let err = st_err(&b);
    assert!(err.contains("`x`") && err.contains("overflows"), "{err}");
}

const CONFIG: &str = r#"{"vocab_size": 8, "hidden_size": 32, "intermediate_size": 32,
 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}"#;

#[test]
fn a_tensor_in_two_shards_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    let shard = safetensors(
        r#"{"model.norm.weight":{"dtype":"F32","shape":[32],"data_offsets":[0,128]}}"#,
        128,
    );
    std::fs::write(dir.path().join("a.safetensors"), &shard).unwrap();
    std::fs::write(dir.path().join("b.safetensors"), &shard).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        r#"{"weight_map": {"model.norm.weight": "a.safetensors", "x": "b.safetensors"}}"#,
    )
    .unwrap();
    let err = HfCheckpoint::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("`model.norm.weight`")
            && err.contains("a.safetensors")
            && err.contains("b.safetensors"),
        "{err}"
    );
}

#[test]
fn a_shard_name_outside_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        r#"{"weight_map": {"model.norm.weight": "../../etc/passwd"}}"#,
    )
    .unwrap();
    let err = HfCheckpoint::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors.index.json") && err.contains("../../etc/passwd"),
        "{err}"
    );
}
