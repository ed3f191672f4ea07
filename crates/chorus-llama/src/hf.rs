//! Hugging Face checkpoint directories: `config.json`, `model.safetensors` or
//! sharded `model.safetensors.index.json`, memory-mapped; F32/F16/BF16 tensors
//! are converted to f32 on request.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::gguf::{Bytes, map_file};
use crate::weights::{check_config_sizes, expected_tensor_shapes};
use crate::{HostTensor, LlamaConfig, LlamaError, WeightSource};

/// One tensor of a safetensors file: where its bytes are and what they hold.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetensorsEntry {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape (PyTorch order).
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub range: std::ops::Range<usize>,
}

/// Parses and validates a safetensors header (lengths, JSON, offsets covering
/// the buffer exactly). Errors name `path`.
pub fn safetensors_index(path: &Path, bytes: &[u8]) -> Result<Vec<SafetensorsEntry>, LlamaError> {
    let (header_len, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| LlamaError::Format {
            path: path.to_path_buf(),
            message: format!("bad safetensors header: {e}"),
        })?;
    let data_start = 8 + header_len;
    let mut entries: Vec<SafetensorsEntry> = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| SafetensorsEntry {
            name,
            dtype: info.dtype,
            shape: info.shape.clone(),
            range: data_start + info.data_offsets.0..data_start + info.data_offsets.1,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Converts safetensors bytes to f32.
pub fn safetensors_to_f32(dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, String> {
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        other => {
            return Err(format!(
                "dtype {other:?} is not supported (F32, F16, BF16 are)"
            ));
        }
    })
}

/// One memory-mapped safetensors shard.
#[derive(Debug)]
struct Shard {
    path: PathBuf,
    bytes: Bytes,
}

/// An opened Hugging Face checkpoint directory.
pub struct HfCheckpoint {
    dir: PathBuf,
    config: LlamaConfig,
    shards: Vec<Shard>,
    /// Tensor name → (shard index, entry).
    tensors: HashMap<String, (usize, SafetensorsEntry)>,
}

/// Summarises instead of printing every tensor entry.
impl std::fmt::Debug for HfCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfCheckpoint")
            .field("dir", &self.dir)
            .field("shards", &self.shards.len())
            .field("tensors", &self.tensors.len())
            .field("config", &self.config)
            .finish()
    }
}

impl HfCheckpoint {
    /// Opens `dir`: reads `config.json`, maps every safetensors shard and checks
    /// that every tensor the config implies is present with the right shape.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref().to_path_buf();
        let config = read_config(&dir.join("config.json"))?;
        let mut shards = Vec::new();
        let mut tensors = HashMap::new();
        for file in shard_files(&dir)? {
            let path = dir.join(&file);
            let bytes = map_file(&path)?;
            for entry in safetensors_index(&path, &bytes)? {
                tensors.insert(entry.name.clone(), (shards.len(), entry));
            }
            shards.push(Shard { path, bytes });
        }
        let ckpt = Self {
            dir,
            config,
            shards,
            tensors,
        };
        ckpt.check_tensors()?;
        tracing::debug!(dir = %ckpt.dir.display(), shards = ckpt.shards.len(), "opened HF checkpoint");
        Ok(ckpt)
    }

    fn check_tensors(&self) -> Result<(), LlamaError> {
        for (name, expected) in expected_tensor_shapes(&self.config) {
            let Some((shard, entry)) = self.tensors.get(&name) else {
                return Err(LlamaError::MissingTensor {
                    path: self.dir.clone(),
                    tensor: name,
                });
            };
            if entry.shape != expected {
                return Err(LlamaError::ShapeMismatch {
                    path: Some(self.shards[*shard].path.clone()),
                    tensor: name,
                    found: entry.shape.clone(),
                    expected,
                });
            }
        }
        Ok(())
    }

    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of all tensors in all shards.
    pub fn tensor_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }
}

impl WeightSource for HfCheckpoint {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn tensor(&self, name: &str) -> Result<HostTensor, LlamaError> {
        let (shard, entry) = self
            .tensors
            .get(name)
            .ok_or_else(|| LlamaError::MissingTensor {
                path: self.dir.clone(),
                tensor: name.to_string(),
            })?;
        let shard = &self.shards[*shard];
        // Ranges were validated against the file by `safetensors_index`.
        let data =
            safetensors_to_f32(entry.dtype, &shard.bytes[entry.range.clone()]).map_err(|e| {
                LlamaError::Format {
                    path: shard.path.clone(),
                    message: format!("tensor `{name}`: {e}"),
                }
            })?;
        Ok(HostTensor {
            shape: entry.shape.clone(),
            data,
        })
    }

    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// The safetensors files of a directory: those named by the shard index, else
/// `model.safetensors`.
fn shard_files(dir: &Path) -> Result<Vec<String>, LlamaError> {
    let index = dir.join("model.safetensors.index.json");
    if !index.exists() {
        return Ok(vec!["model.safetensors".to_string()]);
    }
    let json = read_json(&index)?;
    let map = json["weight_map"]
        .as_object()
        .ok_or_else(|| LlamaError::Format {
            path: index.clone(),
            message: "no `weight_map` object".into(),
        })?;
    let mut files = BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| LlamaError::Format {
            path: index.clone(),
            message: format!("`weight_map`.`{tensor}` is not a file name"),
        })?;
        files.insert(file.to_string());
    }
    Ok(files.into_iter().collect())
}

fn read_json(path: &Path) -> Result<serde_json::Value, LlamaError> {
    let text = std::fs::read_to_string(path).map_err(|source| LlamaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| LlamaError::Format {
        path: path.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })
}

/// Reads `config.json`. A list-valued `eos_token_id` (Llama 3.x) is reduced to
/// its first id, since [`LlamaConfig`] holds one.
pub fn read_config(path: &Path) -> Result<LlamaConfig, LlamaError> {
    let mut json = read_json(path)?;
    if let Some(first) = json
        .get("eos_token_id")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first().cloned())
    {
        json["eos_token_id"] = first;
    }
    let config: LlamaConfig = serde_json::from_value(json).map_err(|e| LlamaError::Format {
        path: path.to_path_buf(),
        message: format!("not a Llama config: {e}"),
    })?;
    check_config_sizes(&config).map_err(|message| LlamaError::Format {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(config)
}
