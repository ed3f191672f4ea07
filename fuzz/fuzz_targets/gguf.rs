//! GGUF: header, metadata, tensor table, then every tensor's quantised blocks;
//! a whole checkpoint when the input is one; and the dequantisers on raw
//! blocks (first byte picks the ggml type).
#![no_main]

use chorus_llama::GgufFile;
use chorus_llama::WeightSource;
use chorus_llama::gguf::{GgmlType, dequantize, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = parse_header(data) {
        for t in &header.tensors {
            // parse_header promises every range lies inside the input.
            let start = header.data_offset + t.offset as usize;
            let raw = &data[start..start + t.n_bytes];
            if t.ggml_type.can_dequantize() {
                let _ = dequantize(t.ggml_type, raw, t.n_elements);
            }
        }
    }
    if let Ok(file) = GgufFile::from_bytes("fuzz.gguf", data.to_vec()) {
        for name in file.hf_tensor_names() {
            let _ = file.tensor(&name);
        }
    }
    if let Some((&id, rest)) = data.split_first()
        && let Some(ty) = GgmlType::from_id(u32::from(id % 32))
    {
        let blocks = rest.len() / ty.type_size();
        let _ = dequantize(
            ty,
            &rest[..blocks * ty.type_size()],
            blocks * ty.block_size(),
        );
        // A lying element count must be an error, not a huge allocation.
        let _ = dequantize(ty, rest, usize::MAX - usize::from(id));
    }
});
