//! Hugging Face checkpoint folders that ship PyTorch weights only:
//! `pytorch_model.bin`, or shards named by `pytorch_model.bin.index.json`.
//!
//! The files are read with burn-store's PyTorch reader (`PytorchReader`: the
//! zip and legacy pickle formats `torch.save` writes, tensors read lazily), not
//! with a pickle parser of our own. Its tensor handles are not thread-safe, so
//! the checkpoint keeps only each shard's tensor names and shapes and reopens
//! the shard (its small pickle index; the data stays on disk until asked for)
//! for each tensor the loader requests: memory stays at one tensor, as with the
//! memory-mapped safetensors files. safetensors remains the first choice when a
//! folder has both ([`crate::Checkpoint::open`]).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{DType, TensorData};
use burn_store::pytorch::PytorchReader;

use crate::hf::read_config;
use crate::{HostTensor, LlamaConfig, LlamaError, WeightSource};

/// The single-file PyTorch checkpoint name transformers writes.
pub const PYTORCH_FILE: &str = "pytorch_model.bin";
/// The shard index transformers writes beside sharded PyTorch checkpoints.
pub const PYTORCH_INDEX: &str = "pytorch_model.bin.index.json";

/// An opened folder of PyTorch weights with its `config.json`.
pub struct PytorchCheckpoint {
    dir: PathBuf,
    config: LlamaConfig,
    shards: Vec<PathBuf>,
    /// Tensor name → (shard index, shape).
    tensors: HashMap<String, (usize, Vec<usize>)>,
}

/// Summarises instead of printing every tensor.
impl std::fmt::Debug for PytorchCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PytorchCheckpoint")
            .field("dir", &self.dir)
            .field("shards", &self.shards.len())
            .field("tensors", &self.tensors.len())
            .field("config", &self.config)
            .finish()
    }
}

/// Whether `dir` holds PyTorch weights (a shard index or `pytorch_model.bin`).
pub fn has_pytorch_weights(dir: &Path) -> bool {
    dir.join(PYTORCH_INDEX).is_file() || dir.join(PYTORCH_FILE).is_file()
}

fn reader_error(path: &Path, e: impl std::fmt::Display) -> LlamaError {
    LlamaError::Format {
        path: path.to_path_buf(),
        message: format!("not a readable PyTorch checkpoint: {e}"),
    }
}

impl PytorchCheckpoint {
    /// Opens `dir`: reads `config.json`, the tensor index of every shard, and
    /// checks that every tensor the config implies is present with its shape.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref().to_path_buf();
        let config = read_config(&dir.join("config.json"))?;
        let mut shards: Vec<PathBuf> = Vec::new();
        let mut tensors: HashMap<String, (usize, Vec<usize>)> = HashMap::new();
        for file in shard_files(&dir)? {
            let path = dir.join(&file);
            let reader = PytorchReader::new(&path).map_err(|e| reader_error(&path, e))?;
            for (name, snapshot) in reader.tensors() {
                if let Some((other, _)) = tensors.get(name) {
                    return Err(LlamaError::Format {
                        path: path.clone(),
                        message: format!("tensor `{name}` is also in {}", shards[*other].display()),
                    });
                }
                tensors.insert(name.clone(), (shards.len(), snapshot.shape.to_vec()));
            }
            shards.push(path);
        }
        let ckpt = Self {
            dir,
            config,
            shards,
            tensors,
        };
        ckpt.check_tensors()?;
        tracing::debug!(dir = %ckpt.dir.display(), shards = ckpt.shards.len(), "opened PyTorch checkpoint");
        Ok(ckpt)
    }

    fn check_tensors(&self) -> Result<(), LlamaError> {
        crate::weights::check_tensor_shapes(&self.config, &self.dir, |name| {
            let (shard, shape) = self.tensors.get(name)?;
            Some((self.shards[*shard].as_path(), shape.as_slice()))
        })
    }

    /// The checkpoint folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of all tensors in all shards, sorted.
    pub fn tensor_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }
}

impl WeightSource for PytorchCheckpoint {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn tensor(&self, name: &str) -> Result<HostTensor, LlamaError> {
        let (shard, shape) = self
            .tensors
            .get(name)
            .ok_or_else(|| LlamaError::MissingTensor {
                path: self.dir.clone(),
                tensor: name.to_string(),
            })?;
        let path = &self.shards[*shard];
        let reader = PytorchReader::new(path).map_err(|e| reader_error(path, e))?;
        let format = |message: String| LlamaError::Format {
            path: path.clone(),
            message: format!("tensor `{name}`: {message}"),
        };
        let snapshot = reader
            .get(name)
            .ok_or_else(|| format("no longer in the file".into()))?;
        let data = snapshot.to_data().map_err(|e| format(format!("{e:?}")))?;
        let data = to_f32(data).map_err(format)?;
        if data.len() != shape.iter().product::<usize>() {
            return Err(format(format!("{} values for shape {shape:?}", data.len())));
        }
        Ok(HostTensor {
            shape: shape.clone(),
            data,
        })
    }

    fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// A float tensor's values as f32 (F32, F16, BF16, F64 as stored by PyTorch).
fn to_f32(data: TensorData) -> Result<Vec<f32>, String> {
    match data.dtype {
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| format!("{e:?}")),
        other => Err(format!(
            "dtype {other:?} is not supported (F32, F16, BF16, F64 are)"
        )),
    }
}

/// The PyTorch weight files of `dir`: those named by the shard index, else
/// `pytorch_model.bin`.
fn shard_files(dir: &Path) -> Result<Vec<String>, LlamaError> {
    let index = dir.join(PYTORCH_INDEX);
    if !index.exists() {
        return Ok(vec![PYTORCH_FILE.to_string()]);
    }
    let format = |message: String| LlamaError::Format {
        path: index.clone(),
        message,
    };
    let text = std::fs::read_to_string(&index).map_err(|source| LlamaError::Io {
        path: index.clone(),
        source,
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(format!("invalid JSON: {e}")))?;
    let map = json["weight_map"]
        .as_object()
        .ok_or_else(|| format("no `weight_map` object".into()))?;
    let mut files = BTreeSet::new();
    for (tensor, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| format(format!("`weight_map`.`{tensor}` is not a file name")))?;
        // Shards live beside the index: a name with a folder in it (or `..`)
        // would read a file outside the checkpoint.
        if Path::new(file).file_name() != Some(std::ffi::OsStr::new(file)) {
            return Err(format(format!(
                "`weight_map`.`{tensor}` names {file:?}, not a file name in this folder"
            )));
        }
        files.insert(file.to_string());
    }
    Ok(files.into_iter().collect())
}
