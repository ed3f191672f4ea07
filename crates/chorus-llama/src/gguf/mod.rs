//! GGUF checkpoints (llama.cpp's format, v2 and v3), memory-mapped.
//!
//! [`GgufFile::open`] parses the header, builds a [`LlamaConfig`] from the
//! `llama.*` metadata and checks every tensor the model needs: present, inside
//! the file, of a known type, with the shape the config implies. Tensors are
//! dequantised to f32 on request ([`WeightSource::tensor`]), renamed to Hugging
//! Face names, and Q/K projections get llama.cpp's row permutation undone, so
//! the model sees what `transformers` loads from the same file.
//! A Llama-3 file's `rope_freqs.weight` becomes the equivalent `rope_scaling`.

mod llama;
mod quant;
mod reader;
mod types;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::weights::{check_config_sizes, expected_tensor_shapes};
use crate::{HostTensor, LlamaConfig, LlamaError, WeightSource};

pub use llama::{
    config_from_metadata, gguf_name, hf_name, llama3_rope_factors, llama3_scaling_from_factors,
    permute_qk, unpermute_qk,
};
pub use quant::{dequantize, quantize};
pub use reader::{GgufHeader, GgufTensorInfo, parse_header};
pub use types::{GgmlType, GgufValue};
pub use writer::GgufWriter;

use llama::{MetadataLookup, permuted_heads};

/// The bytes of a checkpoint: a read-only memory map, or an owned buffer.
#[derive(Debug)]
pub(crate) enum Bytes {
    /// A memory-mapped file.
    Mapped(Mmap),
    /// Bytes held in memory (tests, in-memory files).
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Owned(v) => v,
        }
    }
}

/// Memory-maps `path` read-only.
pub(crate) fn map_file(path: &Path) -> Result<Bytes, LlamaError> {
    let io = |source| LlamaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the map is read-only and private to this process. Like every
    // mmap-based loader (llama.cpp, safetensors), we rely on the checkpoint not
    // being truncated or rewritten by another process while it is open.
    let map = unsafe { Mmap::map(&file) }.map_err(io)?;
    Ok(Bytes::Mapped(map))
}

/// An opened GGUF checkpoint of a Llama-family model.
pub struct GgufFile {
    path: PathBuf,
    bytes: Bytes,
    header: GgufHeader,
    config: LlamaConfig,
    /// Hugging Face name → index into `header.tensors`.
    by_hf_name: HashMap<String, usize>,
}

/// Summarises instead of printing all metadata (the token list alone has
/// tens of thousands of entries).
impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.header.version)
            .field("metadata_keys", &self.header.metadata.len())
            .field("tensors", &self.header.tensors.len())
            .field("config", &self.config)
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates a GGUF file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        let bytes = map_file(path)?;
        let file = Self::from_parts(path.to_path_buf(), bytes)?;
        tracing::debug!(
            path = %path.display(),
            tensors = file.header.tensors.len(),
            version = file.header.version,
            "opened GGUF"
        );
        Ok(file)
    }

    /// Validates a GGUF file held in memory; `path` is only used in messages.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self, LlamaError> {
        Self::from_parts(path.into(), Bytes::Owned(bytes))
    }

    fn from_parts(path: PathBuf, bytes: Bytes) -> Result<Self, LlamaError> {
        let format = |message: String| LlamaError::Format {
            path: path.clone(),
            message,
        };
        let header = parse_header(&bytes).map_err(format)?;
        let by_hf_name = index_by_hf_name(&header).map_err(format)?;
        let has_output = by_hf_name.contains_key("lm_head.weight");
        let embd_rows = by_hf_name
            .get("model.embed_tokens.weight")
            .and_then(|&i| header.tensors[i].torch_shape().first().copied());
        let mut config =
            config_from_metadata(&header.metadata, has_output, embd_rows).map_err(format)?;
        check_config_sizes(&config).map_err(|e| format(format!("llama metadata: {e}")))?;
        if config.rope_scaling.is_none()
            && let Some(info) = header
                .tensors
                .iter()
                .find(|t| t.name == "rope_freqs.weight")
        {
            let start = header.data_offset + info.offset as usize;
            let raw = &bytes[start..start + info.n_bytes];
            let factors = dequantize(info.ggml_type, raw, info.n_elements)
                .map_err(|e| format(format!("tensor `rope_freqs.weight`: {e}")))?;
            let scaling =
                llama3_scaling_from_factors(&factors, config.rope_theta, config.head_dim())
                    .map_err(format)?;
            tracing::debug!(
                ?scaling,
                "Llama-3 RoPE scaling recovered from rope_freqs.weight"
            );
            config.rope_scaling = Some(scaling);
        }
        let file = Self {
            path,
            bytes,
            header,
            config,
            by_hf_name,
        };
        file.check_tensors()?;
        Ok(file)
    }

    /// Every tensor the config implies is present, dequantisable and of the
    /// right shape.
    fn check_tensors(&self) -> Result<(), LlamaError> {
        for (name, expected) in expected_tensor_shapes(&self.config) {
            let Some(&i) = self.by_hf_name.get(&name) else {
                return Err(LlamaError::MissingTensor {
                    path: self.path.clone(),
                    tensor: name,
                });
            };
            let info = &self.header.tensors[i];
            let found = info.torch_shape();
            if found != expected {
                return Err(LlamaError::ShapeMismatch {
                    path: Some(self.path.clone()),
                    tensor: format!("{name} (GGUF `{}`)", info.name),
                    found,
                    expected,
                });
            }
            if !info.ggml_type.can_dequantize() {
                return Err(LlamaError::Format {
                    path: self.path.clone(),
                    message: format!(
                        "tensor `{}`: dequantising {} is not supported",
                        info.name, info.ggml_type
                    ),
                });
            }
        }
        Ok(())
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed header (version, metadata, tensor infos, data offset).
    pub fn header(&self) -> &GgufHeader {
        &self.header
    }

    /// A metadata value by key, e.g. `tokenizer.ggml.pre`.
    pub fn metadata(&self, key: &str) -> Option<&GgufValue> {
        self.header.metadata.lookup(key)
    }

    /// Tensor infos in file order (llama.cpp names).
    pub fn tensor_infos(&self) -> &[GgufTensorInfo] {
        &self.header.tensors
    }

    /// Hugging Face names of all tensors that have one, in file order.
    pub fn hf_tensor_names(&self) -> Vec<String> {
        self.header
            .tensors
            .iter()
            .filter_map(|t| hf_name(&t.name))
            .collect()
    }

    /// The raw bytes of a tensor by its GGUF name.
    fn raw_bytes(&self, info: &GgufTensorInfo) -> &[u8] {
        // Ranges were checked against the file length in `parse_header`.
        let start = self.header.data_offset + info.offset as usize;
        &self.bytes[start..start + info.n_bytes]
    }

    /// A tensor by its GGUF (llama.cpp) name, dequantised, in PyTorch shape, with
    /// no renaming and no un-permutation.
    pub fn raw_tensor(&self, gguf_name: &str) -> Result<HostTensor, LlamaError> {
        let info = self
            .header
            .tensors
            .iter()
            .find(|t| t.name == gguf_name)
            .ok_or_else(|| LlamaError::MissingTensor {
                path: self.path.clone(),
                tensor: gguf_name.to_string(),
            })?;
        self.dequantize_info(info)
    }

    fn dequantize_info(&self, info: &GgufTensorInfo) -> Result<HostTensor, LlamaError> {
        let data =
            dequantize(info.ggml_type, self.raw_bytes(info), info.n_elements).map_err(|e| {
                LlamaError::Format {
                    path: self.path.clone(),
                    message: format!("tensor `{}`: {e}", info.name),
                }
            })?;
        Ok(HostTensor {
            shape: info.torch_shape(),
            data,
        })
    }
}

/// Maps Hugging Face names to tensor indices; two GGUF tensors mapping to one
/// name is an error.
fn index_by_hf_name(header: &GgufHeader) -> Result<HashMap<String, usize>, String> {
    let mut map = HashMap::new();
    for (i, t) in header.tensors.iter().enumerate() {
        if let Some(hf) = hf_name(&t.name)
            && map.insert(hf, i).is_some()
        {
            return Err(format!("tensor `{}` appears twice", t.name));
        }
    }
    Ok(map)
}

impl WeightSource for GgufFile {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn tensor(&self, name: &str) -> Result<HostTensor, LlamaError> {
        let &i = self
            .by_hf_name
            .get(name)
            .ok_or_else(|| LlamaError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })?;
        let info = &self.header.tensors[i];
        let mut t = self.dequantize_info(info)?;
        if let Some(n_head) = permuted_heads(name, &self.config) {
            let (rows, cols) = match t.shape[..] {
                [r, c] => (r, c),
                _ => (t.shape.iter().product(), 1),
            };
            t.data = unpermute_qk(&t.data, rows, cols, n_head).map_err(|e| LlamaError::Format {
                path: self.path.clone(),
                message: format!("tensor `{}`: {e}", info.name),
            })?;
        }
        Ok(t)
    }

    fn contains(&self, name: &str) -> bool {
        self.by_hf_name.contains_key(name)
    }
}
