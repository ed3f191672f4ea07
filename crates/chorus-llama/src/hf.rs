//! Hugging Face checkpoint directories: `config.json`, `model.safetensors` or
//! sharded `model.safetensors.index.json`, memory-mapped; F32/F16/BF16 tensors
//! are converted to f32 on request.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::gguf::{Bytes, map_file};
use crate::weights::check_config_sizes;
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
    let format = |message: String| LlamaError::Format {
        path: path.to_path_buf(),
        message,
    };
    check_tensor_table(bytes).map_err(&format)?;
    let (header_len, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format(format!("bad safetensors header: {e}")))?;
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

/// The safetensors crate refuses a header longer than this; so do we, before
/// reading it.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// Checks a safetensors tensor table before the `safetensors` crate does, so
/// that a table that lies is refused with the tensor named (the crate's own
/// errors, e.g. "invalid info", do not name it): a header length past the
/// end, a dtype and shape whose size is not the byte range given, a shape whose
/// size overflows, offsets past the end of the data or overlapping another
/// tensor. Nothing is allocated from a claimed size. Headers this check cannot
/// read (not JSON, no tensor object) are left to the crate's messages.
fn check_tensor_table(bytes: &[u8]) -> Result<(), String> {
    let Some(len) = bytes.get(..8) else {
        return Ok(());
    };
    let header_len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    let available = bytes.len() as u64 - 8;
    if header_len > available || header_len > MAX_HEADER_LEN {
        return Err(format!(
            "truncated or corrupt: the safetensors header claims {header_len} bytes, the file has {available} after the length{}",
            if header_len > MAX_HEADER_LEN {
                format!(" (at most {MAX_HEADER_LEN} are read)")
            } else {
                String::new()
            }
        ));
    }
    let data_len = available - header_len;
    let header = &bytes[8..8 + header_len as usize];
    let Ok(serde_json::Value::Object(table)) = serde_json::from_slice::<serde_json::Value>(header)
    else {
        return Ok(());
    };
    let mut ranges = Vec::with_capacity(table.len());
    for (name, info) in &table {
        if name == "__metadata__" {
            continue;
        }
        let err = |message: String| format!("tensor `{name}`: {message}");
        let Some(info) = info.as_object() else {
            return Err(err("its entry is not an object".into()));
        };
        let dtype: Dtype = serde_json::from_value(info.get("dtype").cloned().unwrap_or_default())
            .map_err(|_| {
            err(format!(
                "unknown dtype {}",
                info.get("dtype").unwrap_or(&serde_json::Value::Null)
            ))
        })?;
        let shape = info
            .get("shape")
            .and_then(|v| v.as_array())
            .and_then(|dims| {
                dims.iter()
                    .map(serde_json::Value::as_u64)
                    .collect::<Option<Vec<u64>>>()
            })
            .ok_or_else(|| err("`shape` is not a list of non-negative integers".into()))?;
        let offsets = info
            .get("data_offsets")
            .and_then(|v| v.as_array())
            .and_then(|o| match o.as_slice() {
                [s, e] => Some((s.as_u64()?, e.as_u64()?)),
                _ => None,
            })
            .ok_or_else(|| err("`data_offsets` is not a pair of non-negative integers".into()))?;
        let n_bytes = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.bitsize() as u64))
            .map(|bits| bits.div_ceil(8))
            .ok_or_else(|| err(format!("shape {shape:?} of {dtype:?} overflows")))?;
        let (start, end) = offsets;
        if start > end {
            return Err(err(format!("data offsets [{start}, {end}] run backwards")));
        }
        if end > data_len {
            return Err(err(format!(
                "data offsets [{start}, {end}] end past the data section ({data_len} bytes): truncated or corrupt"
            )));
        }
        if end - start != n_bytes {
            return Err(err(format!(
                "{dtype:?} of shape {shape:?} takes {n_bytes} bytes, its data offsets [{start}, {end}] give {}",
                end - start
            )));
        }
        ranges.push((start, end, name));
    }
    ranges.sort();
    for pair in ranges.windows(2) {
        let ((a_start, a_end, a), (b_start, _, b)) = (&pair[0], &pair[1]);
        if a_end > b_start {
            return Err(format!(
                "corrupt tensor table: tensor `{a}` (data bytes {a_start}..{a_end}) overlaps tensor `{b}` (from data byte {b_start})"
            ));
        }
    }
    Ok(())
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
                // Two shards holding one tensor: which copy is meant cannot be
                // told, so neither is taken.
                if let Some((other, _)) = tensors.get(&entry.name) {
                    let other: &Shard = &shards[*other];
                    return Err(LlamaError::Format {
                        path: path.clone(),
                        message: format!(
                            "tensor `{}` is also in {}",
                            entry.name,
                            other.path.display()
                        ),
                    });
                }
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
        crate::weights::check_tensor_shapes(&self.config, &self.dir, |name| {
            let (shard, entry) = self.tensors.get(name)?;
            Some((self.shards[*shard].path.as_path(), entry.shape.as_slice()))
        })
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
        // Shards live beside the index: a name with a folder in it (or `..`)
        // would read a file outside the checkpoint.
        let plain = Path::new(file)
            .file_name()
            .is_some_and(|name| name == std::ffi::OsStr::new(file));
        if !plain {
            return Err(LlamaError::Format {
                path: index.clone(),
                message: format!(
                    "`weight_map`.`{tensor}` names {file:?}, not a file name in this folder"
                ),
            });
        }
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
