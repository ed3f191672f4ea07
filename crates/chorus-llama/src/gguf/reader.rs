//! Parsing of the GGUF container (v2 and v3): header, metadata, tensor infos.
//!
//! Every read is bounds-checked and every count is checked against the bytes
//! left before anything is allocated, so arbitrary input yields an error, never
//! a panic or a huge allocation.

use std::collections::HashSet;

use super::types::{GgmlType, GgufValue};

/// `GGUF` as a little-endian u32.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the tensor data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays deeper than this are rejected (no real file nests at all).
const MAX_NESTING: u32 = 8;

/// Where one tensor lives in the file, in GGUF terms.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    /// The tensor name as stored (llama.cpp naming, e.g. `blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` is the contiguous one (PyTorch's last).
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Byte offset relative to the start of the data section.
    pub offset: u64,
    /// Number of elements.
    pub n_elements: usize,
    /// Number of bytes of data.
    pub n_bytes: usize,
}

impl GgufTensorInfo {
    /// The shape in PyTorch order (the GGUF dims reversed).
    pub fn torch_shape(&self) -> Vec<usize> {
        // dims were checked to fit usize when parsed.
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A parsed GGUF header: everything but the tensor data.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor infos in file order.
    pub tensors: Vec<GgufTensorInfo>,
    /// Alignment of the data section and of every tensor offset.
    pub alignment: u64,
    /// Absolute byte offset of the data section.
    pub data_offset: usize,
}

/// Parses the header of a GGUF file held in `bytes` and checks that every
/// tensor's data lies inside `bytes`. Errors describe the fault and name the
/// metadata key or tensor concerned.
pub fn parse_header(bytes: &[u8]) -> Result<GgufHeader, String> {
    let mut c = Cursor { bytes, pos: 0 };
    let magic = c
        .take(4)
        .map_err(|_| "file too short for the GGUF magic".to_string())?;
    if magic != GGUF_MAGIC {
        return Err(format!(
            "bad magic {magic:02x?}, expected \"GGUF\" (not a GGUF file)"
        ));
    }
    let version = c.u32().map_err(|e| format!("version: {e}"))?;
    if !(2..=3).contains(&version) {
        // A big-endian file (GGUF v3 allows them) shows a byte-swapped version.
        let hint = if (2..=3).contains(&version.swap_bytes()) {
            ": the file is big-endian, only little-endian GGUF is read"
        } else {
            " (only 2 and 3 are read)"
        };
        return Err(format!("unsupported GGUF version {version}{hint}"));
    }
    let n_tensors = c.u64().map_err(|e| format!("tensor count: {e}"))?;
    let n_kv = c.u64().map_err(|e| format!("metadata count: {e}"))?;
    // A KV pair takes at least 8 (key length) + 4 (type) + 1 bytes.
    let n_kv = c.bounded_count(n_kv, 13, "metadata count")?;
    let mut metadata = Vec::with_capacity(n_kv);
    let mut keys = HashSet::with_capacity(n_kv);
    for i in 0..n_kv {
        let key = c.string().map_err(|e| format!("metadata #{i} key: {e}"))?;
        let value = c.value(0).map_err(|e| format!("metadata `{key}`: {e}"))?;
        // llama.cpp refuses duplicate keys too: which of two values is meant
        // cannot be told, and lookups here would silently take the first.
        if !keys.insert(key.clone()) {
            return Err(format!("metadata key `{key}` appears twice"));
        }
        metadata.push((key, value));
    }
    let alignment = alignment_of(&metadata)?;
    // A tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes.
    let n_tensors = c.bounded_count(n_tensors, 32, "tensor count")?;
    let mut tensors = Vec::with_capacity(n_tensors);
    let mut names = HashSet::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let info = c
            .tensor_info(alignment)
            .map_err(|e| format!("tensor info #{i}: {e}"))?;
        if !names.insert(info.name.clone()) {
            return Err(format!(
                "tensor info #{i}: tensor `{}` appears twice in the tensor table",
                info.name
            ));
        }
        tensors.push(info);
    }
    let data_offset = align_up(c.pos as u64, alignment)
        .and_then(|o| usize::try_from(o).ok())
        .ok_or("data section offset overflows")?;
    check_tensor_ranges(&tensors, data_offset, bytes.len())?;
    Ok(GgufHeader {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}

fn alignment_of(metadata: &[(String, GgufValue)]) -> Result<u64, String> {
    let Some((_, value)) = metadata.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match value.as_u64() {
        Some(a) if a.is_power_of_two() && a <= 1 << 20 => Ok(a),
        _ => Err(format!(
            "metadata `general.alignment`: {value:?} is not a power of two up to 2^20"
        )),
    }
}

fn align_up(pos: u64, alignment: u64) -> Option<u64> {
    pos.checked_add(alignment - 1)
        .map(|p| p / alignment * alignment)
}

/// Every tensor's bytes lie inside the file, and no two tensors share a byte:
/// a table whose offsets lie would otherwise hand out another tensor's data
/// (or, past the end, fault the memory map).
fn check_tensor_ranges(
    tensors: &[GgufTensorInfo],
    data_offset: usize,
    file_len: usize,
) -> Result<(), String> {
    let data_len = (file_len as u64).saturating_sub(data_offset as u64);
    for t in tensors {
        if t.offset > data_len {
            return Err(format!(
                "truncated or corrupt: tensor `{}` starts at data offset {}, past the end of the data section ({data_len} bytes; the file has {file_len})",
                t.name, t.offset
            ));
        }
        if t.n_bytes as u64 > data_len - t.offset {
            return Err(format!(
                "truncated: tensor `{}` ({} bytes at data offset {}) ends past the end of the file ({} bytes)",
                t.name, t.n_bytes, t.offset, file_len
            ));
        }
    }
    let mut by_offset: Vec<&GgufTensorInfo> = tensors.iter().filter(|t| t.n_bytes > 0).collect();
    by_offset.sort_by_key(|t| t.offset);
    for pair in by_offset.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Ranges are inside the file, so this sum cannot overflow.
        let a_end = a.offset + a.n_bytes as u64;
        if a_end > b.offset {
            return Err(format!(
                "corrupt tensor table: tensor `{}` (data bytes {}..{a_end}) overlaps tensor `{}` (from data byte {})",
                a.name, a.offset, b.name, b.offset
            ));
        }
    }
    Ok(())
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated: need {n} bytes at offset {}, file has {}",
                self.pos,
                self.bytes.len()
            ));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// `count` as usize, rejected when `count` items of at least `min_size`
    /// bytes each cannot fit in what is left of the file.
    fn bounded_count(&self, count: u64, min_size: usize, what: &str) -> Result<usize, String> {
        let fits = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(min_size))
            .is_some_and(|need| need <= self.remaining());
        if fits {
            Ok(count as usize)
        } else {
            Err(format!(
                "truncated or corrupt: {what} {count} cannot fit in the {} bytes left",
                self.remaining()
            ))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u64()?;
        let len = self.bounded_count(len, 1, "string length")?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|e| format!("string is not UTF-8: {e}"))
    }

    fn value(&mut self, depth: u32) -> Result<GgufValue, String> {
        let ty = self.u32()?;
        self.value_of_type(ty, depth)
    }

    fn value_of_type(&mut self, ty: u32, depth: u32) -> Result<GgufValue, String> {
        Ok(match ty {
            0 => GgufValue::U8(self.array::<1>()?[0]),
            1 => GgufValue::I8(self.array::<1>()?[0] as i8),
            2 => GgufValue::U16(u16::from_le_bytes(self.array()?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array()?)),
            4 => GgufValue::U32(self.u32()?),
            5 => GgufValue::I32(i32::from_le_bytes(self.array()?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array()?)),
            7 => match self.array::<1>()?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => return Err(format!("bool byte {b} is neither 0 nor 1")),
            },
            8 => GgufValue::String(self.string()?),
            9 => self.array_value(depth)?,
            10 => GgufValue::U64(self.u64()?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array()?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown metadata value type {other}")),
        })
    }

    fn array_value(&mut self, depth: u32) -> Result<GgufValue, String> {
        if depth >= MAX_NESTING {
            return Err(format!("arrays nested deeper than {MAX_NESTING}"));
        }
        let element_type = self.u32()?;
        let min_size = match element_type {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            other => return Err(format!("unknown array element type {other}")),
        };
        let count = self.u64()?;
        let count = self.bounded_count(count, min_size, "array length")?;
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            let v = self
                .value_of_type(element_type, depth + 1)
                .map_err(|e| format!("array element {i}: {e}"))?;
            values.push(v);
        }
        Ok(GgufValue::Array {
            element_type,
            values,
        })
    }

    fn tensor_info(&mut self, alignment: u64) -> Result<GgufTensorInfo, String> {
        let name = self.string()?;
        let with_name = |e: String| format!("`{name}`: {e}");
        let n_dims = self.u32().map_err(with_name)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(with_name(format!(
                "{n_dims} dimensions (1 to {MAX_DIMS} allowed)"
            )));
        }
        let dims = (0..n_dims)
            .map(|_| self.u64())
            .collect::<Result<Vec<_>, _>>()
            .map_err(with_name)?;
        let type_id = self.u32().map_err(with_name)?;
        let ggml_type = GgmlType::from_id(type_id)
            .ok_or_else(|| with_name(format!("unknown or unsupported ggml type id {type_id}")))?;
        let offset = self.u64().map_err(with_name)?;
        if offset % alignment != 0 {
            return Err(with_name(format!(
                "data offset {offset} is not a multiple of {alignment}"
            )));
        }
        let (n_elements, n_bytes) = tensor_size(&dims, ggml_type).map_err(with_name)?;
        Ok(GgufTensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            n_elements,
            n_bytes,
        })
    }
}

/// Element and byte counts of a tensor, checking overflow and block alignment
/// of the contiguous dimension.
fn tensor_size(dims: &[u64], ty: GgmlType) -> Result<(usize, usize), String> {
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    if !dims[0].is_multiple_of(ty.block_size() as u64) {
        return Err(format!(
            "first dimension {} is not a multiple of the {ty} block size {}",
            dims[0],
            ty.block_size()
        ));
    }
    Ok((n, n / ty.block_size() * ty.type_size()))
}
