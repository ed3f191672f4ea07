//! A small GGUF (v3) writer: enough to build test files and tiny checkpoints.

use super::quant::quantize;
use super::reader::{DEFAULT_ALIGNMENT, GGUF_MAGIC};
use super::types::{GgmlType, GgufValue};

/// One tensor queued for writing.
#[derive(Debug, Clone)]
struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ggml_type: GgmlType,
    data: Vec<u8>,
}

/// Builds a GGUF v3 file in memory.
///
/// Tensors are given with their PyTorch shape and stored with GGUF's reversed
/// dimensions; data is written in the order tensors were added, each aligned to
/// `general.alignment` (32 unless that key is set).
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    /// An empty file (no metadata, no tensors).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata key/value pair.
    pub fn metadata(&mut self, key: &str, value: GgufValue) -> &mut Self {
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Adds a tensor from already-encoded bytes (`data` is not checked).
    pub fn raw_tensor(
        &mut self,
        name: &str,
        torch_shape: &[usize],
        ggml_type: GgmlType,
        data: Vec<u8>,
    ) -> &mut Self {
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            dims: torch_shape.iter().rev().map(|&d| d as u64).collect(),
            ggml_type,
            data,
        });
        self
    }

    /// Adds a tensor from f32 values, encoding them as `ggml_type` with ggml's
    /// reference quantiser (F32, F16, BF16, Q4_0, Q4_1, Q8_0).
    pub fn tensor(
        &mut self,
        name: &str,
        torch_shape: &[usize],
        ggml_type: GgmlType,
        values: &[f32],
    ) -> Result<&mut Self, String> {
        let n: usize = torch_shape.iter().product();
        if n != values.len() {
            return Err(format!(
                "tensor `{name}`: shape {torch_shape:?} needs {n} values, got {}",
                values.len()
            ));
        }
        let data = quantize(ggml_type, values).map_err(|e| format!("tensor `{name}`: {e}"))?;
        Ok(self.raw_tensor(name, torch_shape, ggml_type, data))
    }

    fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .filter(|a| a.is_power_of_two())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// The complete file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self.alignment() as usize;
        let mut out = Vec::new();
        out.extend(GGUF_MAGIC);
        out.extend(3u32.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut out, key);
            out.extend(value.type_id().to_le_bytes());
            write_value(&mut out, value);
        }
        let mut offset = 0usize;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            write_string(&mut out, &t.name);
            out.extend((t.dims.len() as u32).to_le_bytes());
            t.dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
            out.extend(t.ggml_type.id().to_le_bytes());
            out.extend((offset as u64).to_le_bytes());
            offsets.push(offset);
            offset = (offset + t.data.len()).next_multiple_of(alignment);
        }
        let data_start = out.len().next_multiple_of(alignment);
        out.resize(data_start, 0);
        for (t, off) in self.tensors.iter().zip(offsets) {
            out.resize(data_start + off, 0);
            out.extend(&t.data);
        }
        out
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &GgufValue) {
    match value {
        GgufValue::U8(v) => out.push(*v),
        GgufValue::I8(v) => out.push(*v as u8),
        GgufValue::U16(v) => out.extend(v.to_le_bytes()),
        GgufValue::I16(v) => out.extend(v.to_le_bytes()),
        GgufValue::U32(v) => out.extend(v.to_le_bytes()),
        GgufValue::I32(v) => out.extend(v.to_le_bytes()),
        GgufValue::F32(v) => out.extend(v.to_le_bytes()),
        GgufValue::Bool(v) => out.push(u8::from(*v)),
        GgufValue::String(s) => write_string(out, s),
        GgufValue::Array {
            element_type,
            values,
        } => {
            out.extend(element_type.to_le_bytes());
            out.extend((values.len() as u64).to_le_bytes());
            for v in values {
                write_value(out, v);
            }
        }
        GgufValue::U64(v) => out.extend(v.to_le_bytes()),
        GgufValue::I64(v) => out.extend(v.to_le_bytes()),
        GgufValue::F64(v) => out.extend(v.to_le_bytes()),
    }
}
