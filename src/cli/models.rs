//! `--model` resolution: an existing path, a name from `models.toml`, a
//! Hugging Face id `org/name[@revision]` found in the local hub cache
//! (`chorus_llama::hub`; never downloaded), or seeded random weights of a
//! preset shape (`random:<preset>[:<seed>]`).
//!
//! `models.toml` maps names to checkpoint paths, one `name = "path"` line
//! each. It is looked for at `$CHORUS_MODELS_TOML`, then `./models.toml`, then
//! the repository root this binary was built from. A relative path is tried
//! under `$CHORUS_MODELS` (as given, then by file name) when that variable is
//! set, and otherwise relative to the folder holding `models.toml`.
//!
//! Random weights (e.g. `random:llama-3.2-3b` for the Llama-3.2-3B shape) take
//! their tokenizer from `--tokenizer`, by default the default model's: a real
//! model's compute on real prompts, for GPU benchmarks without its weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chorus_llama::hub::{HubCache, RepoSpec};
use chorus_llama::{Checkpoint, RandomWeights, presets};

use crate::cli::args::DEFAULT_MODEL;
use crate::cli::error::{CliError, Result};

/// Environment variable naming the models.toml to use.
pub const MODELS_TOML_ENV: &str = "CHORUS_MODELS_TOML";
/// Environment variable naming a folder relative models.toml entries live in.
pub const MODELS_DIR_ENV: &str = "CHORUS_MODELS";
/// The prefix of a random-weights model spec.
const RANDOM_PREFIX: &str = "random:";

/// A model to load: its short name (for output paths and metadata) and where
/// its weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The models.toml name, the file stem / folder name of a path, the name
    /// part of a hub id (with `@<revision>` when one was given), or
    /// `random-<preset>[-seed<N>]`.
    pub name: String,
    /// The weights.
    pub source: ModelSource,
}

/// Where a model's weights and tokenizer come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A checkpoint: a `.gguf` file or a Hugging Face folder.
    Checkpoint(PathBuf),
    /// Seeded random weights of a preset shape, with another checkpoint's tokenizer.
    Random {
        /// The preset name (`chorus_llama::presets::NAMES`).
        preset: String,
        /// The weights' seed.
        seed: u64,
        /// The checkpoint (or `tokenizer.json`) whose tokenizer drives it.
        tokenizer: PathBuf,
    },
}

impl ResolvedModel {
    /// Opens the weights and tokenizer.
    pub fn open(&self) -> Result<Checkpoint> {
        match &self.source {
            ModelSource::Checkpoint(path) => Ok(Checkpoint::open(path)?),
            ModelSource::Random {
                preset,
                seed,
                tokenizer,
            } => {
                let config = presets::by_name(preset).ok_or_else(|| unknown_preset(preset))?;
                Ok(Checkpoint::random(
                    RandomWeights::new(config, *seed),
                    tokenizer,
                )?)
            }
        }
    }

    /// What the weights are, for logs and messages.
    pub fn describe(&self) -> String {
        match &self.source {
            ModelSource::Checkpoint(path) => path.display().to_string(),
            ModelSource::Random {
                preset,
                seed,
                tokenizer,
            } => format!(
                "random {preset} weights (seed {seed}), tokenizer of {}",
                tokenizer.display()
            ),
        }
    }
}

/// Resolves `--model` (and, for random weights, `--tokenizer`).
pub fn resolve_model_with(spec: &str, tokenizer: Option<&str>) -> Result<ResolvedModel> {
    match spec.strip_prefix(RANDOM_PREFIX) {
        Some(rest) => resolve_random(rest, tokenizer.unwrap_or(DEFAULT_MODEL)),
        None => resolve_model(spec),
    }
}

/// `<preset>[:<seed>]` with the tokenizer of `tokenizer_spec` (a checkpoint).
fn resolve_random(rest: &str, tokenizer_spec: &str) -> Result<ResolvedModel> {
    let (preset, seed) = match rest.split_once(':') {
        Some((preset, seed)) => {
            let seed = seed.parse::<u64>().map_err(|_| {
                CliError::Usage(format!(
                    "--model {RANDOM_PREFIX}{rest}: the seed `{seed}` is not a non-negative integer"
                ))
            })?;
            (preset, seed)
        }
        None => (rest, 0),
    };
    if presets::by_name(preset).is_none() {
        return Err(unknown_preset(preset));
    }
    let (_, tokenizer) = resolve_checkpoint(tokenizer_spec)?;
    let name = match seed {
        0 => format!("random-{preset}"),
        seed => format!("random-{preset}-seed{seed}"),
    };
    Ok(ResolvedModel {
        name,
        source: ModelSource::Random {
            preset: preset.into(),
            seed,
            tokenizer,
        },
    })
}

fn unknown_preset(preset: &str) -> CliError {
    CliError::Usage(format!(
        "--model {RANDOM_PREFIX}{preset}: unknown preset; known: {}",
        presets::NAMES.join(", ")
    ))
}

/// Resolves a checkpoint spec: an existing path wins; then a models.toml name;
/// then a Hugging Face id in the hub cache of this process's environment.
pub fn resolve_model(spec: &str) -> Result<ResolvedModel> {
    let (name, path) = resolve_checkpoint(spec)?;
    Ok(ResolvedModel {
        name,
        source: ModelSource::Checkpoint(path),
    })
}

/// [`resolve_model`]'s work: the short name and the checkpoint path.
fn resolve_checkpoint(spec: &str) -> Result<(String, PathBuf)> {
    resolve_checkpoint_in(spec, &HubCache::from_env())
}

/// [`resolve_checkpoint`] with the hub cache given (tests).
fn resolve_checkpoint_in(spec: &str, hub: &HubCache) -> Result<(String, PathBuf)> {
    let direct = Path::new(spec);
    if direct.exists() {
        return Ok((name_of_path(direct), direct.to_path_buf()));
    }
    let toml_path = find_models_toml();
    let entries = match &toml_path {
        Some(path) => read_models_toml(path)?,
        None => BTreeMap::new(),
    };
    let Some((toml_path, entry)) = toml_path.as_ref().zip(entries.get(spec)) else {
        // Not a path or a name: a hub id, whose error says where the cache
        // was looked for and how to fill it.
        if let Ok(repo) = RepoSpec::parse(spec) {
            let snapshot = hub.resolve(&repo).map_err(chorus_llama::LlamaError::from)?;
            let name = match &repo.revision {
                Some(revision) => format!("{}@{revision}", repo.short_name()),
                None => repo.short_name().to_string(),
            };
            return Ok((name, snapshot));
        }
        let known = match &toml_path {
            Some(path) => {
                let names: Vec<&str> = entries.keys().map(String::as_str).collect();
                format!("{} (names: {})", path.display(), names.join(", "))
            }
            None => "models.toml (none found; looked at $CHORUS_MODELS_TOML, ./models.toml and the repository root)".into(),
        };
        return Err(CliError::UnknownModel {
            name: spec.into(),
            known: format!("{known}, nor a Hugging Face id `org/name[@revision]`"),
        });
    };
    let base = toml_path.parent().unwrap_or(Path::new("."));
    let models_dir = std::env::var_os(MODELS_DIR_ENV).map(PathBuf::from);
    let path = locate_entry(Path::new(entry), base, models_dir.as_deref());
    if !path.exists() {
        return Err(CliError::MissingModelFile {
            name: spec.into(),
            path,
        });
    }
    Ok((spec.into(), path))
}

/// The short name of a checkpoint path: the file stem of a file
/// (`SmolLM2-135M-Instruct.Q4_1`), the name of a folder.
fn name_of_path(path: &Path) -> String {
    let stem = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    };
    stem.map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "model".into())
}

fn find_models_toml() -> Option<PathBuf> {
    let from_env = std::env::var_os(MODELS_TOML_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let candidates = [
        from_env,
        Some(PathBuf::from("models.toml")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("models.toml")),
    ];
    candidates.into_iter().flatten().find(|path| path.is_file())
}

/// Reads `name = "path"` entries.
pub fn read_models_toml(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    toml::from_str(&text).map_err(|error| CliError::ModelsToml {
        path: path.to_path_buf(),
        message: format!("expected `name = \"path\"` lines: {error}"),
    })
}

/// Where a models.toml entry points: absolute paths as they are; relative
/// ones under `models_dir` (as given, then by file name) when it is set and
/// holds them, else under `base`.
fn locate_entry(entry: &Path, base: &Path, models_dir: Option<&Path>) -> PathBuf {
    if entry.is_absolute() {
        return entry.to_path_buf();
    }
    if let Some(dir) = models_dir {
        let as_given = dir.join(entry);
        if as_given.exists() {
            return as_given;
        }
        if let Some(file) = entry.file_name() {
            let by_name = dir.join(file);
            if by_name.exists() {
                return by_name;
            }
        }
    }
    base.join(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_resolve_under_the_models_dir_or_the_toml_folder() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("elsewhere");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join("m.gguf"), b"x").unwrap();
        let entry = Path::new("models/m.gguf");
        assert_eq!(
            locate_entry(entry, dir.path(), Some(&models)),
            models.join("m.gguf")
        );
        assert_eq!(
            locate_entry(entry, dir.path(), None),
            dir.path().join("models/m.gguf")
        );
        assert_eq!(
            locate_entry(Path::new("/abs/m.gguf"), dir.path(), Some(&models)),
            PathBuf::from("/abs/m.gguf")
        );
    }

    #[test]
    fn models_toml_parses_and_bad_lines_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "a = \"models/a.gguf\"\nb = \"/x/b\"\n").unwrap();
        let entries = read_models_toml(&good).unwrap();
        assert_eq!(entries["a"], "models/a.gguf");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "a = 3\n").unwrap();
        let message = read_models_toml(&bad).unwrap_err().to_string();
        assert!(message.contains("bad.toml"), "{message}");
    }

    #[test]
    fn paths_are_named_by_stem_and_unknown_names_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Tiny.Q8_0.gguf");
        std::fs::write(&file, b"x").unwrap();
        let resolved = resolve_model(file.to_str().unwrap()).unwrap();
        assert_eq!(resolved.name, "Tiny.Q8_0");
        let error = resolve_model("no-such-model-name").unwrap_err();
        assert!(matches!(error, CliError::UnknownModel { .. }), "{error}");
    }

    #[test]
    fn hub_ids_resolve_in_the_cache_and_missing_ones_say_how_to_fetch() {
        let hub = tempfile::tempdir().unwrap();
        let repo = hub.path().join("models--org--tiny");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        std::fs::write(repo.join("refs/v1"), commit).unwrap();
        let cache = HubCache::at(hub.path());
        let (name, path) = resolve_checkpoint_in("org/tiny@v1", &cache).unwrap();
        assert_eq!(name, "tiny@v1");
        assert_eq!(path, repo.join("snapshots").join(commit));
        let error = resolve_checkpoint_in("org/absent", &cache).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("huggingface-cli download org/absent"),
            "{message}"
        );
        assert!(
            message.contains(&hub.path().display().to_string()),
            "{message}"
        );
        // Not an id either: the usual unknown-name error, which mentions ids.
        let error = resolve_checkpoint_in("no-such-model-name", &cache).unwrap_err();
        assert!(matches!(error, CliError::UnknownModel { .. }), "{error}");
        assert!(error.to_string().contains("org/name"), "{error}");
    }

    #[test]
    fn random_specs_name_preset_seed_and_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = dir.path().join("tok.gguf");
        std::fs::write(&tokenizer, b"x").unwrap();
        let tok = tokenizer.to_str();
        let plain = resolve_model_with("random:llama-3.2-3b", tok).unwrap();
        assert_eq!(plain.name, "random-llama-3.2-3b");
        assert_eq!(
            plain.source,
            ModelSource::Random {
                preset: "llama-3.2-3b".into(),
                seed: 0,
                tokenizer: tokenizer.clone(),
            }
        );
        let seeded = resolve_model_with("random:tiny:7", tok).unwrap();
        assert_eq!(seeded.name, "random-tiny-seed7");
        let unknown = resolve_model_with("random:llama-9000", tok).unwrap_err();
        assert!(unknown.to_string().contains("unknown preset"), "{unknown}");
        let bad_seed = resolve_model_with("random:tiny:minus-one", tok).unwrap_err();
        assert!(bad_seed.to_string().contains("seed"), "{bad_seed}");
        let missing = resolve_model_with("random:tiny", Some("/no/such/tokenizer.gguf"));
        assert!(missing.is_err());
    }
}
