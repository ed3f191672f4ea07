//! Tiny random checkpoints of every supported architecture (Llama, Qwen2,
//! Mistral with a 4-key sliding window), made by
//! `scripts/fixtures/make_tiny_models.py` with transformers' logits and greedy
//! tokens as the reference: each loads from its safetensors folder, from its
//! PyTorch `.bin` folder (Qwen2's sharded), from a fake Hugging Face hub cache
//! and from GGUF, and gives transformers' logits at every position within
//! 1e-4 and the same greedy tokens, on the CPU kernels and the Burn reference.

use std::path::{Path, PathBuf};

use chorus_llama::hub::{HubCache, RepoSpec};
use chorus_llama::{
    Architecture, BurnCpu, Checkpoint, Cpu, ForwardInput, Kernels, Llama, LlamaError, RowInput,
    WeightSource,
};
use serde::Deserialize;

/// Largest allowed |Chorus − transformers| over every logit.
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    architecture: String,
    probes: Vec<Probe>,
    sequences: Vec<Sequence>,
}

#[derive(Deserialize)]
struct Probe {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Sequence {
    ids: Vec<u32>,
    /// `[position][vocab]`.
    logits: Vec<Vec<f32>>,
    greedy: Vec<u32>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-models")
}

fn reference(family: &str) -> Reference {
    let path = fixtures().join(family).join("reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Logits at every position of `ids`, one causal row.
fn all_logits<K: Kernels>(model: &Llama<K>, ids: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = model.new_cache(1, ids.len()).unwrap();
    let mut row = RowInput::causal(0, ids.to_vec(), 0);
    row.logits_at = (0..ids.len()).collect();
    let logits = model
        .forward(&ForwardInput { rows: vec![row] }, &mut cache)
        .unwrap();
    let vocab = logits.vocab();
    let flat = model.logits_to_vec(&logits).unwrap();
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Greedy tokens with the KV cache: the prompt once, then one token a step.
fn greedy<K: Kernels>(model: &Llama<K>, ids: &[u32], steps: usize) -> Vec<u32> {
    let mut cache = model.new_cache(1, ids.len() + steps).unwrap();
    let mut input = ForwardInput::causal(vec![ids.to_vec()], 0);
    let mut out = Vec::new();
    for _ in 0..steps {
        let logits = model.forward(&input, &mut cache).unwrap();
        let next = argmax(&model.logits_to_vec(&logits).unwrap());
        out.push(next);
        input = ForwardInput::causal(vec![vec![next]], ids.len() + out.len() - 1);
    }
    out
}

/// Checks a model against the reference; returns the largest logit difference.
fn check_model<K: Kernels>(
    source: &dyn WeightSource,
    device: &K::Device,
    reference: &Reference,
    what: &str,
) -> f32 {
    let model = Llama::<K>::from_source(source, device).unwrap();
    let mut worst = 0.0f32;
    for (s, sequence) in reference.sequences.iter().enumerate() {
        let logits = all_logits(&model, &sequence.ids);
        assert_eq!(logits.len(), sequence.logits.len(), "{what}: sequence {s}");
        for (position, (ours, theirs)) in logits.iter().zip(&sequence.logits).enumerate() {
            for (a, b) in ours.iter().zip(theirs) {
                let diff = (a - b).abs();
                assert!(
                    diff <= TOLERANCE,
                    "{what}: sequence {s} position {position}: {a} vs transformers {b}"
                );
                worst = worst.max(diff);
            }
        }
        let tokens = greedy(&model, &sequence.ids, sequence.greedy.len());
        assert_eq!(
            tokens, sequence.greedy,
            "{what}: greedy tokens of sequence {s}"
        );
    }
    worst
}

fn check_checkpoint(checkpoint: &Checkpoint, family: &str, what: &str) {
    let reference = reference(family);
    let config = checkpoint.weights.config();
    assert_eq!(
        config.architecture.hf_name(),
        reference.architecture,
        "{what}"
    );
    for probe in &reference.probes {
        assert_eq!(
            checkpoint.tokenizer.encode(&probe.text).unwrap(),
            probe.ids,
            "{what}: tokens of {:?}",
            probe.text
        );
    }
    let worst = check_model::<Cpu>(checkpoint.weights.as_ref(), &(), &reference, what);
    eprintln!("{what}: largest logit difference to transformers {worst:.2e} (cpu kernels)");
}

fn families() -> [(&'static str, Architecture); 3] {
    [
        ("llama", Architecture::Llama),
        ("qwen2", Architecture::Qwen2),
        ("mistral", Architecture::Mistral),
    ]
}

#[test]
fn safetensors_folders_match_transformers() {
    for (family, architecture) in families() {
        let dir = fixtures().join(family).join("safetensors");
        let checkpoint = Checkpoint::open(&dir).unwrap();
        assert_eq!(checkpoint.weights.config().architecture, architecture);
        check_checkpoint(&checkpoint, family, &format!("{family} safetensors"));
    }
}

#[test]
fn the_burn_reference_kernels_agree_too() {
    for (family, _) in families() {
        let dir = fixtures().join(family).join("safetensors");
        let checkpoint = Checkpoint::open(&dir).unwrap();
        let worst = check_model::<BurnCpu>(
            checkpoint.weights.as_ref(),
            &Default::default(),
            &reference(family),
            &format!("{family} safetensors, burn reference"),
        );
        eprintln!("{family}: burn reference, largest logit difference {worst:.2e}");
    }
}

#[test]
fn pytorch_bin_folders_match_transformers() {
    for (family, _) in families() {
        let dir = fixtures().join(family).join("bin");
        let checkpoint = Checkpoint::open(&dir).unwrap();
        check_checkpoint(&checkpoint, family, &format!("{family} pytorch_model.bin"));
    }
}

#[test]
fn gguf_files_match_transformers() {
    for (family, architecture) in families() {
        let path = fixtures().join(family).join(format!("{family}.gguf"));
        let checkpoint = Checkpoint::open(&path).unwrap();
        let config = checkpoint.weights.config();
        assert_eq!(config.architecture, architecture, "{family}");
        if architecture == Architecture::Mistral {
            assert_eq!(config.sliding_window, Some(4));
        }
        check_checkpoint(&checkpoint, family, &format!("{family} gguf"));
    }
}

/// Links every file of `from` into `to` (the hub cache's snapshots hold links
/// into `blobs/`).
fn link_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = std::fs::canonicalize(entry.path()).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, to.join(entry.file_name())).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&target, to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn hub_cache_trees_resolve_and_load() {
    let hub = tempfile::tempdir().unwrap();
    let commit = "4f2a9c0d1e3b5a7c9e1f3a5b7c9d1e3f5a7b9c1d";
    let other = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    for (family, _) in families() {
        let repo = hub.path().join(format!("models--tiny-org--{family}"));
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        link_all(
            &fixtures().join(family).join("safetensors"),
            &repo.join("snapshots").join(commit),
        );
        // Another revision with PyTorch weights, reached by commit hash.
        link_all(
            &fixtures().join(family).join("bin"),
            &repo.join("snapshots").join(other),
        );
    }
    let cache = HubCache::at(hub.path());
    for (family, _) in families() {
        let main = RepoSpec::parse(&format!("tiny-org/{family}")).unwrap();
        let checkpoint = Checkpoint::open_hub(&main, &cache).unwrap();
        check_checkpoint(&checkpoint, family, &format!("{family} from the hub cache"));
        let pinned = RepoSpec::parse(&format!("tiny-org/{family}@{other}")).unwrap();
        let checkpoint = Checkpoint::open_hub(&pinned, &cache).unwrap();
        check_checkpoint(&checkpoint, family, &format!("{family} at {other}"));
    }
    let missing = RepoSpec::parse("tiny-org/gemma").unwrap();
    let error = Checkpoint::open_hub(&missing, &cache).unwrap_err();
    assert!(matches!(error, LlamaError::Hub(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("huggingface-cli download tiny-org/gemma"),
        "{error}"
    );
}

#[test]
fn safetensors_are_preferred_when_both_formats_are_there() {
    let dir = tempfile::tempdir().unwrap();
    let family = fixtures().join("llama");
    link_all(&family.join("bin"), dir.path());
    std::os::unix::fs::symlink(
        std::fs::canonicalize(family.join("safetensors/model.safetensors")).unwrap(),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let source: &dyn WeightSource = checkpoint.weights.as_ref();
    assert!(source.contains("model.embed_tokens.weight"));
    // The .bin of the tiny Llama also holds the tied `lm_head.weight`, the
    // safetensors file does not: its absence shows which file was read.
    assert!(!source.contains("lm_head.weight"));
}

#[test]
fn other_architectures_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architectures": ["GPT2LMHeadModel"], "n_embd": 64}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"").unwrap();
    let error = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(error.contains("GPT2LMHeadModel"), "{error}");
    assert!(error.contains("config.json"), "{error}");
    assert!(error.contains("Qwen2ForCausalLM"), "{error}");
}

#[test]
fn folders_without_weights_say_what_they_expected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("llama/safetensors/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let error = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(error.contains("pytorch_model.bin"), "{error}");
}

/// A source with another config: the same weights read as another model.
struct WithConfig<'a> {
    inner: &'a dyn WeightSource,
    config: chorus_llama::LlamaConfig,
}

impl WeightSource for WithConfig<'_> {
    fn config(&self) -> &chorus_llama::LlamaConfig {
        &self.config
    }
    fn tensor(&self, name: &str) -> Result<chorus_llama::HostTensor, LlamaError> {
        self.inner.tensor(name)
    }
    fn contains(&self, name: &str) -> bool {
        self.inner.contains(name)
    }
}

#[test]
fn mistral_matches_only_with_its_window() {
    let checkpoint = Checkpoint::open(&fixtures().join("mistral/safetensors")).unwrap();
    let mut config = checkpoint.weights.config().clone();
    assert_eq!(config.sliding_window, Some(4));
    config.sliding_window = None;
    let full = WithConfig {
        inner: checkpoint.weights.as_ref(),
        config,
    };
    let model = Llama::<Cpu>::from_source(&full, &()).unwrap();
    let reference = reference("mistral");
    let sequence = reference
        .sequences
        .iter()
        .max_by_key(|s| s.ids.len())
        .unwrap();
    let logits = all_logits(&model, &sequence.ids);
    // Positions inside the window see the same keys either way; past it the
    // full-attention model drifts from transformers.
    let diff = |p: usize| {
        logits[p]
            .iter()
            .zip(&sequence.logits[p])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(diff(3) <= TOLERANCE, "{}", diff(3));
    let last = sequence.ids.len() - 1;
    assert!(
        diff(last) > 1e-2,
        "the window changed nothing: {}",
        diff(last)
    );
}

#[test]
fn the_window_counts_shared_context_keys() {
    // The first tokens encoded once as a shared context, the rest as a row
    // that sees it: the same logits as the whole sequence in one row, for a
    // window that spans the boundary.
    let checkpoint = Checkpoint::open(&fixtures().join("mistral/safetensors")).unwrap();
    let model = Llama::<Cpu>::from_source(checkpoint.weights.as_ref(), &()).unwrap();
    let reference = reference("mistral");
    let sequence = &reference.sequences[0];
    let split = 6;
    let (head, tail) = sequence.ids.split_at(split);
    let context = model
        .encode_context(
            head.to_vec(),
            (0..split).collect(),
            chorus_llama::KeyMask::Causal,
        )
        .unwrap();
    let mut cache = model
        .new_cache_sharing(&std::sync::Arc::new(context), vec![true], tail.len())
        .unwrap();
    let mut row = RowInput::causal(0, tail.to_vec(), split);
    row.logits_at = (0..tail.len()).collect();
    let logits = model
        .forward(&ForwardInput { rows: vec![row] }, &mut cache)
        .unwrap();
    let flat = model.logits_to_vec(&logits).unwrap();
    for (i, ours) in flat.chunks(logits.vocab()).enumerate() {
        for (a, b) in ours.iter().zip(&sequence.logits[split + i]) {
            assert!(
                (a - b).abs() <= TOLERANCE,
                "position {}: {a} vs {b}",
                split + i
            );
        }
    }
}

#[test]
fn gguf_repositories_in_the_hub_cache_open_their_one_file() {
    let hub = tempfile::tempdir().unwrap();
    let commit = "1111111111111111111111111111111111111111";
    let repo = hub.path().join("models--tiny-org--qwen2-GGUF");
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let gguf = std::fs::canonicalize(fixtures().join("qwen2/qwen2.gguf")).unwrap();
    std::os::unix::fs::symlink(&gguf, snapshot.join("qwen2-f16.gguf")).unwrap();
    let cache = HubCache::at(hub.path());
    let spec = RepoSpec::parse("tiny-org/qwen2-GGUF").unwrap();
    let checkpoint = Checkpoint::open_hub(&spec, &cache).unwrap();
    check_checkpoint(&checkpoint, "qwen2", "qwen2 GGUF repository");
    // Two quantisations: which one is meant cannot be guessed.
    std::os::unix::fs::symlink(&gguf, snapshot.join("qwen2-q8_0.gguf")).unwrap();
    let error = Checkpoint::open_hub(&spec, &cache).unwrap_err().to_string();
    assert!(
        error.contains("qwen2-f16.gguf") && error.contains("qwen2-q8_0.gguf"),
        "{error}"
    );
}
