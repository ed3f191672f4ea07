//! The local Hugging Face hub cache, read the way `huggingface_hub` reads it
//! offline (`try_to_load_from_cache`): `org/name[@revision]` →
//! `<cache>/models--org--name/refs/<revision>` (a commit hash) →
//! `<cache>/models--org--name/snapshots/<hash>/`. A revision with no file under
//! `refs/` is taken as a snapshot folder name, so a commit hash selects its
//! snapshot directly. Chorus never downloads: a model missing from the cache is
//! an error that says where it looked and how to fetch it.
//!
//! The cache folder is chosen as `huggingface_hub.constants` chooses it:
//! `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
//! `~/.cache/huggingface/hub` (a leading `~` is expanded in each).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The revision used when a spec names none.
pub const DEFAULT_REVISION: &str = "main";

/// Why a hub-cache lookup failed; every message names the cache folder that was
/// searched and the command that would fill it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HubError {
    /// The spec is not `org/name` or `org/name@revision`.
    #[error("`{spec}` is not a Hugging Face model id (`org/name` or `org/name@revision`)")]
    BadSpec {
        /// The spec as given.
        spec: String,
    },
    /// The cache has no folder for the repository, or no snapshot of the revision.
    #[error(
        "{repo}@{revision} is not in the Hugging Face hub cache: {reason} (cache {cache}, from {origin}); \
         Chorus never downloads: fetch it with `huggingface-cli download {repo}{revision_flag}` \
         (or point HF_HUB_CACHE / HF_HOME at the cache that holds it)",
        cache = .cache.display(),
        revision_flag = revision_flag(.revision)
    )]
    NotCached {
        /// The repository id, `org/name`.
        repo: String,
        /// The revision asked for (`main` when none was).
        revision: String,
        /// The cache folder that was searched.
        cache: PathBuf,
        /// Which setting chose that folder (e.g. `HF_HOME`).
        origin: String,
        /// What was missing.
        reason: String,
    },
}

fn revision_flag(revision: &str) -> String {
    if revision == DEFAULT_REVISION {
        String::new()
    } else {
        format!(" --revision {revision}")
    }
}

/// A model on the hub: `org/name`, optionally at a revision (branch, tag or
/// commit hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// The repository id, `org/name`.
    pub repo: String,
    /// The revision after `@`, if any.
    pub revision: Option<String>,
}

impl RepoSpec {
    /// Parses `org/name` or `org/name@revision`. Both parts of the id must be
    /// non-empty and made of the characters the hub allows in ids
    /// (alphanumerics, `-`, `_`, `.`), and neither may be `.` or `..`: paths
    /// such as `./x`, `../x` or `/x` are never taken for ids.
    pub fn parse(spec: &str) -> Result<Self, HubError> {
        let bad = || HubError::BadSpec { spec: spec.into() };
        let (repo, revision) = match spec.split_once('@') {
            Some((repo, revision)) => (repo, Some(revision)),
            None => (spec, None),
        };
        let (org, name) = repo.split_once('/').ok_or_else(bad)?;
        let part_ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !part_ok(org) || !part_ok(name) {
            return Err(bad());
        }
        // A revision names a file under refs/ or a snapshot folder: it may hold
        // slashes (`refs/pr/1`) but must not climb out of the repository folder.
        if let Some(rev) = revision
            && (rev.is_empty()
                || rev.starts_with('/')
                || rev
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == ".."))
        {
            return Err(bad());
        }
        Ok(Self {
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
        })
    }

    /// The revision to look up: the one given, else `main`.
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// The repository's folder name in the cache, `models--org--name`.
    pub fn folder_name(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }

    /// The model's name without its organisation (`Qwen2.5-0.5B`), for output
    /// paths.
    pub fn short_name(&self) -> &str {
        self.repo.rsplit('/').next().unwrap_or(&self.repo)
    }
}

/// A hub cache folder and the setting that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCache {
    /// The cache folder (the one holding `models--*` folders).
    pub root: PathBuf,
    /// Which setting chose it: a variable name or `the default`.
    pub origin: String,
}

impl HubCache {
    /// The cache of this process's environment.
    pub fn from_env() -> Self {
        Self::from_vars(|key| std::env::var_os(key))
    }

    /// The cache chosen by the variables `var` returns, in `huggingface_hub`'s
    /// order (see the module docs); empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let get = |key: &str| var(key).filter(|v| !v.is_empty());
        let home = get("HOME");
        let expand = |value: OsString| expand_home(value, home.as_deref());
        for key in ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"] {
            if let Some(value) = get(key) {
                return Self {
                    root: expand(value),
                    origin: key.into(),
                };
            }
        }
        if let Some(value) = get("HF_HOME") {
            return Self {
                root: expand(value).join("hub"),
                origin: "HF_HOME".into(),
            };
        }
        if let Some(value) = get("XDG_CACHE_HOME") {
            return Self {
                root: expand(value).join("huggingface").join("hub"),
                origin: "XDG_CACHE_HOME".into(),
            };
        }
        Self {
            root: expand(OsString::from("~/.cache/huggingface/hub")),
            origin: "the default ~/.cache/huggingface/hub".into(),
        }
    }

    /// A cache at `root` (tests, explicit folders).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            origin: "an explicit folder".into(),
        }
    }

    /// The snapshot folder of `spec`: `refs/<revision>` read as a commit hash
    /// when that file exists, else the revision itself, as a folder of
    /// `snapshots/`.
    pub fn resolve(&self, spec: &RepoSpec) -> Result<PathBuf, HubError> {
        let revision = spec.revision();
        let missing = |reason: String| HubError::NotCached {
            repo: spec.repo.clone(),
            revision: revision.to_string(),
            cache: self.root.clone(),
            origin: self.origin.clone(),
            reason,
        };
        let repo_dir = self.root.join(spec.folder_name());
        if !repo_dir.is_dir() {
            return Err(missing(format!("no folder {}", repo_dir.display())));
        }
        let ref_file = repo_dir.join("refs").join(revision);
        let commit = if ref_file.is_file() {
            let text = std::fs::read_to_string(&ref_file)
                .map_err(|e| missing(format!("cannot read {}: {e}", ref_file.display())))?;
            let commit = text.trim().to_string();
            if commit.is_empty() || commit.contains(['/', '\\']) || commit == ".." {
                return Err(missing(format!(
                    "{} does not hold a commit hash",
                    ref_file.display()
                )));
            }
            commit
        } else {
            revision.to_string()
        };
        let snapshot = repo_dir.join("snapshots").join(&commit);
        if !snapshot.is_dir() {
            let reason = if commit == revision {
                format!(
                    "no ref {} and no snapshot {}",
                    ref_file.display(),
                    snapshot.display()
                )
            } else {
                format!(
                    "{} points at {commit}, but {} is missing",
                    ref_file.display(),
                    snapshot.display()
                )
            };
            return Err(missing(reason));
        }
        Ok(snapshot)
    }
}

/// `~` or `~/…` under `home` (as Python's `expanduser`); other paths unchanged.
fn expand_home(value: OsString, home: Option<&std::ffi::OsStr>) -> PathBuf {
    let path = PathBuf::from(&value);
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => Path::new(home).join(rest),
        _ => path,
    }
}

/// Resolves `org/name[@revision]` in the cache of this process's environment.
pub fn resolve(spec: &str) -> Result<PathBuf, HubError> {
    HubCache::from_env().resolve(&RepoSpec::parse(spec)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const MAIN: &str = "0123456789abcdef0123456789abcdef01234567";
    const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba98";

    /// `models--org--tiny` with refs main → MAIN, other-branch → OTHER, both
    /// snapshots present.
    fn fake_hub() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("models--org--tiny");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), MAIN).unwrap();
        std::fs::write(repo.join("refs/other-branch"), format!("{OTHER}\n")).unwrap();
        for commit in [MAIN, OTHER] {
            std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        }
        dir
    }

    fn vars(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn refs_main_and_branches_resolve_to_their_snapshots() {
        let hub = fake_hub();
        let cache = HubCache::at(hub.path());
        let snapshots = hub.path().join("models--org--tiny/snapshots");
        let main = cache
            .resolve(&RepoSpec::parse("org/tiny").unwrap())
            .unwrap();
        assert_eq!(main, snapshots.join(MAIN));
        let explicit = cache
            .resolve(&RepoSpec::parse("org/tiny@main").unwrap())
            .unwrap();
        assert_eq!(explicit, snapshots.join(MAIN));
        let branch = cache
            .resolve(&RepoSpec::parse("org/tiny@other-branch").unwrap())
            .unwrap();
        assert_eq!(branch, snapshots.join(OTHER));
    }

    #[test]
    fn a_commit_hash_selects_its_snapshot_directly() {
        let hub = fake_hub();
        let cache = HubCache::at(hub.path());
        let spec = RepoSpec::parse(&format!("org/tiny@{OTHER}")).unwrap();
        assert_eq!(
            cache.resolve(&spec).unwrap(),
            hub.path().join("models--org--tiny/snapshots").join(OTHER)
        );
    }

    #[test]
    fn missing_models_and_revisions_say_where_and_how_to_fetch() {
        let hub = fake_hub();
        let cache = HubCache::at(hub.path());
        let error = cache
            .resolve(&RepoSpec::parse("org/absent").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("models--org--absent"), "{error}");
        assert!(error.contains(&hub.path().display().to_string()), "{error}");
        assert!(
            error.contains("huggingface-cli download org/absent`"),
            "{error}"
        );
        let error = cache
            .resolve(&RepoSpec::parse("org/tiny@v9").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("--revision v9"), "{error}");
        assert!(error.contains("refs/v9"), "{error}");
        // A ref whose snapshot was deleted.
        std::fs::remove_dir(hub.path().join("models--org--tiny/snapshots").join(OTHER)).unwrap();
        let error = cache
            .resolve(&RepoSpec::parse("org/tiny@other-branch").unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains(OTHER), "{error}");
    }

    #[test]
    fn the_cache_folder_follows_huggingface_hub_precedence() {
        let a = Path::new("/a");
        let b = Path::new("/b");
        let c = Path::new("/c");
        let home = Path::new("/home/u");
        let only_home = HubCache::from_vars(vars(&[("HOME", home)]));
        assert_eq!(only_home.root, home.join(".cache/huggingface/hub"));
        let xdg = HubCache::from_vars(vars(&[("HOME", home), ("XDG_CACHE_HOME", c)]));
        assert_eq!(xdg.root, c.join("huggingface/hub"));
        let hf_home = HubCache::from_vars(vars(&[("XDG_CACHE_HOME", c), ("HF_HOME", b)]));
        assert_eq!(hf_home.root, b.join("hub"));
        assert_eq!(hf_home.origin, "HF_HOME");
        let hub_cache = HubCache::from_vars(vars(&[("HF_HOME", b), ("HF_HUB_CACHE", a)]));
        assert_eq!(hub_cache.root, a);
        assert_eq!(hub_cache.origin, "HF_HUB_CACHE");
        let legacy = HubCache::from_vars(vars(&[("HF_HOME", b), ("HUGGINGFACE_HUB_CACHE", c)]));
        assert_eq!(legacy.root, c);
        let tilde = HubCache::from_vars(vars(&[("HOME", home), ("HF_HOME", Path::new("~/hf"))]));
        assert_eq!(tilde.root, home.join("hf/hub"));
        // Empty values are unset, as in huggingface_hub.
        let empty = HubCache::from_vars(vars(&[("HF_HUB_CACHE", Path::new("")), ("HF_HOME", b)]));
        assert_eq!(empty.root, b.join("hub"));
    }

    #[test]
    fn the_resolver_reads_the_variables_it_is_given() {
        let hub = fake_hub();
        let home = tempfile::tempdir().unwrap();
        std::fs::rename(hub.path(), home.path().join("hub")).unwrap();
        let cache = HubCache::from_vars(vars(&[("HF_HOME", home.path())]));
        let found = cache
            .resolve(&RepoSpec::parse("org/tiny").unwrap())
            .unwrap();
        assert!(found.ends_with(Path::new("models--org--tiny/snapshots").join(MAIN)));
    }

    #[test]
    fn specs_parse_ids_and_revisions_only() {
        let spec = RepoSpec::parse("Qwen/Qwen2.5-0.5B@v1.0").unwrap();
        assert_eq!(spec.repo, "Qwen/Qwen2.5-0.5B");
        assert_eq!(spec.revision(), "v1.0");
        assert_eq!(spec.folder_name(), "models--Qwen--Qwen2.5-0.5B");
        assert_eq!(spec.short_name(), "Qwen2.5-0.5B");
        assert_eq!(RepoSpec::parse("a/b").unwrap().revision(), "main");
        assert!(RepoSpec::parse("a/b@refs/pr/1").is_ok());
        for bad in [
            "plain",
            "a/b/c",
            "/abs",
            "a/",
            "../x",
            "a/b@",
            "a/b@../../etc",
            "a/b@x//y",
            "a b/c",
        ] {
            assert!(RepoSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
