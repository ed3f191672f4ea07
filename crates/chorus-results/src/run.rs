//! Run parameters: which model, method and dataset produced a result file, and
//! how they are stored in the Arrow schema metadata.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use chorus_data::Method;

use crate::error::{Result, ResultsError};

/// The version of the result layout written into every file
/// (metadata key `chorus_results_format`). Bump it when columns change meaning.
pub const FORMAT_VERSION: &str = "1";

/// Schema metadata keys, as Python sees them in
/// `pyarrow.feather.read_table(path).schema.metadata`.
pub mod keys {
    /// Model name or path.
    pub const MODEL: &str = "model";
    /// Method name (`origin`, `per_prompt`, `avg`, ...).
    pub const METHOD: &str = "method";
    /// Dataset name or path.
    pub const DATASET: &str = "dataset";
    /// The run's options as a JSON object.
    pub const OPTIONS: &str = "options";
    /// The chorus version that wrote the file.
    pub const VERSION: &str = "chorus_version";
    /// `i/n` when the file is one shard of a run; absent for a whole run.
    pub const SHARD: &str = "shard";
    /// The result layout version, [`FORMAT_VERSION`](super::FORMAT_VERSION).
    pub const FORMAT: &str = "chorus_results_format";
}

/// One shard of a sharded run (`--shard index/count`, 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard's 0-based index.
    pub index: u32,
    /// The number of shards.
    pub count: u32,
}

impl fmt::Display for ShardInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The error of parsing a [`ShardInfo`] from `i/n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard `{text}`: {reason}")]
pub struct InvalidShard {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for ShardInfo {
    type Err = InvalidShard;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| InvalidShard {
            text: text.to_string(),
            reason,
        };
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| invalid("not of the form i/n".into()))?;
        let parse = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|error| invalid(error.to_string()))
        };
        let (index, count) = (parse(index)?, parse(count)?);
        if index >= count {
            return Err(invalid("the shard index must be below the count".into()));
        }
        Ok(ShardInfo { index, count })
    }
}

/// The parameters of the run that produced a result file; stored in the Arrow
/// schema metadata (and in the checkpoint header, so that `resume` refuses a
/// checkpoint of another run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Model name or path.
    pub model: String,
    /// The method; it fixes the file's columns.
    pub method: Method,
    /// Dataset name or path.
    pub dataset: String,
    /// Every option that changes the results (paraphrase selection, mask,
    /// positions, max_new_tokens, ...), as a JSON value. Options that do not
    /// change results (`--resume`, `--force`, output paths) belong elsewhere,
    /// or a resumed run would be refused as "another run".
    pub options: serde_json::Value,
    /// The chorus version that wrote the file.
    pub version: String,
    /// Which shard this file holds; `None` for a whole run.
    pub shard: Option<ShardInfo>,
}

impl RunInfo {
    /// A whole (unsharded) run written by this version of chorus.
    pub fn new(
        model: impl Into<String>,
        method: Method,
        dataset: impl Into<String>,
        options: serde_json::Value,
    ) -> Self {
        RunInfo {
            model: model.into(),
            method,
            dataset: dataset.into(),
            options,
            version: env!("CARGO_PKG_VERSION").to_string(),
            shard: None,
        }
    }

    /// The same run restricted to one shard.
    pub fn with_shard(self, shard: ShardInfo) -> Self {
        RunInfo {
            shard: Some(shard),
            ..self
        }
    }

    /// The schema metadata that records this run.
    pub(crate) fn to_metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            (keys::MODEL.to_string(), self.model.clone()),
            (keys::METHOD.to_string(), self.method.name().to_string()),
            (keys::DATASET.to_string(), self.dataset.clone()),
            (keys::OPTIONS.to_string(), self.options.to_string()),
            (keys::VERSION.to_string(), self.version.clone()),
            (keys::FORMAT.to_string(), FORMAT_VERSION.to_string()),
        ]);
        if let Some(shard) = self.shard {
            metadata.insert(keys::SHARD.to_string(), shard.to_string());
        }
        metadata
    }

    /// Reads the run back from a file's schema metadata.
    pub(crate) fn from_metadata(metadata: &HashMap<String, String>, path: &Path) -> Result<Self> {
        let get = |key: &'static str| {
            metadata
                .get(key)
                .ok_or_else(|| ResultsError::MissingMetadata {
                    path: path.to_path_buf(),
                    key,
                })
        };
        let bad = |key: &'static str, message: String| ResultsError::BadMetadata {
            path: path.to_path_buf(),
            key,
            message,
        };
        let format = get(keys::FORMAT)?;
        if format != FORMAT_VERSION {
            return Err(bad(
                keys::FORMAT,
                format!("format {format} is not supported (this chorus reads {FORMAT_VERSION})"),
            ));
        }
        let method = get(keys::METHOD)?
            .parse::<Method>()
            .map_err(|error| bad(keys::METHOD, error.to_string()))?;
        let options = serde_json::from_str(get(keys::OPTIONS)?)
            .map_err(|error| bad(keys::OPTIONS, format!("not JSON: {error}")))?;
        let shard = metadata
            .get(keys::SHARD)
            .map(|text| {
                text.parse::<ShardInfo>()
                    .map_err(|error| bad(keys::SHARD, error.reason))
            })
            .transpose()?;
        Ok(RunInfo {
            model: get(keys::MODEL)?.clone(),
            method,
            dataset: get(keys::DATASET)?.clone(),
            options,
            version: get(keys::VERSION)?.clone(),
            shard,
        })
    }

    /// The first run parameter, other than the shard, in which `other`
    /// differs, with both values rendered for a message.
    pub(crate) fn difference(&self, other: &RunInfo) -> Option<(&'static str, String, String)> {
        let fields: [(&'static str, String, String); 5] = [
            (keys::MODEL, self.model.clone(), other.model.clone()),
            (
                keys::METHOD,
                self.method.to_string(),
                other.method.to_string(),
            ),
            (keys::DATASET, self.dataset.clone(), other.dataset.clone()),
            (
                keys::OPTIONS,
                self.options.to_string(),
                other.options.to_string(),
            ),
            (keys::VERSION, self.version.clone(), other.version.clone()),
        ];
        fields.into_iter().find(|(_, mine, theirs)| mine != theirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_and_rejects_bad_specs() {
        assert_eq!(
            "2/4".parse::<ShardInfo>(),
            Ok(ShardInfo { index: 2, count: 4 })
        );
        let error = "4/4".parse::<ShardInfo>().unwrap_err();
        assert_eq!(error.text, "4/4");
        assert!(error.reason.contains("below the count"), "{error}");
        assert_eq!(
            "2".parse::<ShardInfo>().unwrap_err().reason,
            "not of the form i/n"
        );
    }

    #[test]
    fn metadata_round_trips_and_names_missing_keys() {
        let run = RunInfo::new(
            "smollm2",
            Method::WeightedMax,
            "webqa",
            serde_json::json!({"max_new_tokens": 10}),
        )
        .with_shard(ShardInfo { index: 1, count: 3 });
        let path = Path::new("x.feather");
        let mut metadata = run.to_metadata();
        assert_eq!(RunInfo::from_metadata(&metadata, path).ok(), Some(run));
        metadata.remove(keys::DATASET);
        let error = RunInfo::from_metadata(&metadata, path).unwrap_err();
        assert!(
            error.to_string().contains("`dataset` is missing"),
            "{error}"
        );
    }

    #[test]
    fn difference_ignores_the_shard() {
        let run = RunInfo::new("m", Method::Avg, "d", serde_json::json!({}));
        let shard = run.clone().with_shard(ShardInfo { index: 0, count: 2 });
        assert_eq!(run.difference(&shard), None);
        let other = RunInfo {
            dataset: "e".into(),
            ..run.clone()
        };
        assert_eq!(
            run.difference(&other),
            Some(("dataset", "d".into(), "e".into()))
        );
    }
}
