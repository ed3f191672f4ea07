//! Dataset names (`webqa`, `myriadlama` or a path) and the data folder.

use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::Result;
use crate::hf::load_hf_dataset;
use crate::item::{EmptyPolicy, Loaded};
use crate::jsonl::{JsonlFormat, first_record, load_jsonl};

/// Environment variable overriding the data folder.
pub const DATA_DIR_ENV: &str = "CHORUS_DATA";

/// The folder holding `webquestions/`, `myriadlama/` and `fewshot.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data folder to use: `explicit` (a command-line argument) if given, else
    /// `$CHORUS_DATA` if set and non-empty, else [`DataDir::compiled_default`].
    pub fn resolve(explicit: Option<&Path>) -> Self {
        Self::choose(explicit, std::env::var_os(DATA_DIR_ENV))
    }

    /// [`DataDir::resolve`]'s precedence with the environment value passed in.
    fn choose(explicit: Option<&Path>, from_env: Option<OsString>) -> Self {
        match (explicit, from_env) {
            (Some(root), _) => Self::new(root),
            (None, Some(root)) if !root.is_empty() => Self::new(root),
            _ => Self::new(Self::compiled_default()),
        }
    }

    /// The workspace's `data/` folder, located from this crate's source folder at
    /// compile time (`crates/chorus-data/../../data`).
    pub fn compiled_default() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `fewshot.json`: instructions and few-shot blocks per dataset.
    pub fn fewshot_path(&self) -> PathBuf {
        self.root.join("fewshot.json")
    }
}

/// A dataset named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dataset {
    /// WebQuestions: `webquestions/test.jsonl`, few-shot from `webquestions/train.jsonl`.
    WebQa,
    /// MyriadLAMA: `myriadlama/test.jsonl`.
    MyriadLama,
    /// Any JSONL file or `save_to_disk` folder.
    Path(PathBuf),
}

impl FromStr for Dataset {
    type Err = Infallible;

    /// `webqa` and `myriadlama` (case-insensitive) name the built-in datasets;
    /// anything else is a path.
    fn from_str(name: &str) -> std::result::Result<Self, Infallible> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "webqa" => Self::WebQa,
            "myriadlama" => Self::MyriadLama,
            _ => Self::Path(PathBuf::from(name)),
        })
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebQa => f.write_str("webqa"),
            Self::MyriadLama => f.write_str("myriadlama"),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Dataset {
    /// The file (or folder) holding the evaluated items.
    pub fn test_path(&self, dir: &DataDir) -> PathBuf {
        match self {
            Self::WebQa => dir.root().join("webquestions/test.jsonl"),
            Self::MyriadLama => dir.root().join("myriadlama/test.jsonl"),
            Self::Path(path) => path.clone(),
        }
    }

    /// The file few-shot examples are drawn from, where the dataset has one.
    pub fn train_path(&self, dir: &DataDir) -> Option<PathBuf> {
        match self {
            Self::WebQa => Some(dir.root().join("webquestions/train.jsonl")),
            Self::MyriadLama | Self::Path(_) => None,
        }
    }

    /// Loads the evaluated items.
    pub fn load(&self, dir: &DataDir, policy: EmptyPolicy) -> Result<Loaded> {
        load_path(&self.test_path(dir), policy)
    }

    /// Loads the few-shot source items, where the dataset has them.
    pub fn load_train(&self, dir: &DataDir, policy: EmptyPolicy) -> Result<Option<Loaded>> {
        self.train_path(dir)
            .map(|path| load_path(&path, policy))
            .transpose()
    }
}

/// Loads a JSONL file or a `save_to_disk` folder, recognising the layout: a folder
/// is read by [`load_hf_dataset`] (split `test` of a `DatasetDict`); a file's
/// format is guessed from its first record ([`JsonlFormat::sniff`]).
pub fn load_path(path: &Path, policy: EmptyPolicy) -> Result<Loaded> {
    if path.is_dir() {
        return load_hf_dataset(path, None, policy);
    }
    let Some(first) = first_record(path)? else {
        tracing::warn!(path = %path.display(), "dataset file has no records");
        return Ok(Loaded::default());
    };
    load_jsonl(path, &JsonlFormat::sniff(&first), policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_the_built_in_files() {
        let dir = DataDir::new("/d");
        let webqa: Dataset = "webqa".parse().unwrap();
        assert_eq!(
            webqa.test_path(&dir),
            PathBuf::from("/d/webquestions/test.jsonl")
        );
        assert_eq!(
            webqa.train_path(&dir),
            Some(PathBuf::from("/d/webquestions/train.jsonl"))
        );
        let lama: Dataset = "MyriadLAMA".parse().unwrap();
        assert_eq!(
            lama.test_path(&dir),
            PathBuf::from("/d/myriadlama/test.jsonl")
        );
        assert_eq!(lama.train_path(&dir), None);
        let path: Dataset = "x/y.jsonl".parse().unwrap();
        assert_eq!(path.test_path(&dir), PathBuf::from("x/y.jsonl"));
        assert_eq!(path.to_string(), "x/y.jsonl");
    }

    #[test]
    fn explicit_folder_wins_and_default_is_the_workspace_data() {
        assert_eq!(
            DataDir::resolve(Some(Path::new("/x"))).root(),
            Path::new("/x")
        );
        assert!(DataDir::compiled_default().join("fewshot.json").exists());
    }

    #[test]
    fn loads_the_workspace_datasets() {
        let dir = DataDir::new(DataDir::compiled_default());
        let lama = Dataset::MyriadLama.load(&dir, EmptyPolicy::Error).unwrap();
        assert_eq!(lama.items.len(), 2000);
        let train = Dataset::WebQa
            .load_train(&dir, EmptyPolicy::Error)
            .unwrap()
            .unwrap();
        assert_eq!(train.items.len(), 3778);
    }

    #[test]
    fn load_path_reads_a_save_to_disk_folder() {
        let folder =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/myriadlama_paraphrases");
        assert_eq!(
            load_path(&folder, EmptyPolicy::Error).unwrap().items.len(),
            3
        );
    }
}
