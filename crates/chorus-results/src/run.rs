//! Run parameters: which model, method and dataset produced a result file, and
//! how they are stored in the Arrow schema metadata.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

/// A generation method; it decides which columns a result file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Only paraphrase 0 (the original question).
    Origin,
    /// Every paraphrase answered on its own; one row per paraphrase.
    PerPrompt,
    /// Mean of the paraphrases' logits.
    Avg,
    /// Element-wise maximum of the paraphrases' probabilities.
    Max,
    /// Logits weighted by per-paraphrase confidence.
    WeightedAvg,
    /// The logits of the most confident paraphrase.
    WeightedMax,
    /// All paraphrases packed into one sequence, fused inside attention.
    Flex,
}

impl Method {
    /// Every method, in documentation order.
    pub const ALL: [Method; 7] = [
        Method::Origin,
        Method::PerPrompt,
        Method::Avg,
        Method::Max,
        Method::WeightedAvg,
        Method::WeightedMax,
        Method::Flex,
    ];

    /// The name used on the command line, in file names and in metadata.
    pub fn name(self) -> &'static str {
        match self {
            Method::Origin => "origin",
            Method::PerPrompt => "per_prompt",
            Method::Avg => "avg",
            Method::Max => "max",
            Method::WeightedAvg => "weighted_avg",
            Method::WeightedMax => "weighted_max",
            Method::Flex => "flex",
        }
    }

    /// The column family of this method's result rows.
    pub fn kind(self) -> RowKind {
        match self {
            Method::Origin => RowKind::Origin,
            Method::PerPrompt => RowKind::PerPrompt,
            Method::Avg | Method::Max | Method::Flex => RowKind::Fused,
            Method::WeightedAvg | Method::WeightedMax => RowKind::Weighted,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Method`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown method `{0}` (expected origin, per_prompt, avg, max, weighted_avg, weighted_max or flex)"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| UnknownMethod(name.to_string()))
    }
}

/// A family of methods sharing one set of input columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// `origin`: question, prompt.
    Origin,
    /// `per_prompt`: paraphrase_index, paraphrase, prompt.
    PerPrompt,
    /// `avg`, `max`, `flex`: paraphrases, prompts.
    Fused,
    /// `weighted_avg`, `weighted_max`: paraphrases, prompts, confidences.
    Weighted,
}

impl RowKind {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Origin => "origin",
            RowKind::PerPrompt => "per_prompt",
            RowKind::Fused => "fused",
            RowKind::Weighted => "weighted",
        }
    }
}

impl fmt::Display for RowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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

impl FromStr for ShardInfo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not of the form i/n"))?;
        let parse = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|error| format!("`{text}`: {error}"))
        };
        let (index, count) = (parse(index)?, parse(count)?);
        if index >= count {
            return Err(format!("`{text}`: the shard index must be below the count"));
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
                    .map_err(|error| bad(keys::SHARD, error))
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
    fn method_names_round_trip() {
        for method in Method::ALL {
            assert_eq!(method.name().parse::<Method>(), Ok(method));
        }
        assert!("average".parse::<Method>().is_err());
    }

    #[test]
    fn shard_parses_and_rejects_bad_specs() {
        assert_eq!(
            "2/4".parse::<ShardInfo>(),
            Ok(ShardInfo { index: 2, count: 4 })
        );
        assert!("4/4".parse::<ShardInfo>().is_err());
        assert!("2".parse::<ShardInfo>().is_err());
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
