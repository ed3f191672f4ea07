//! `--model org/name` end to end: `flex-generate` on a tiny Qwen2 checkpoint
//! (PyTorch shards, `tests/fixtures/tiny-models/qwen2/bin`) laid out as the
//! Hugging Face hub cache lays it out, found through `HF_HUB_CACHE`; and the
//! error for an id the cache does not hold. One test in its own binary: it
//! sets the process's `HF_HUB_CACHE`.

use std::ffi::OsString;
use std::path::Path;

use chorus::cli::run_flex;
use chorus::results::read_results;

const COMMIT: &str = "5d0f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c";

/// `models--tiny-org--qwen2` with `refs/main` and one snapshot linking the
/// fixture's files, its config allowing the long byte-level prompts of
/// WebQuestions (the tiny model's RoPE has no length limit of its own).
fn fake_hub(root: &Path) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-models/qwen2/bin");
    let repo = root.join("models--tiny-org--qwen2");
    let snapshot = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "config.json" {
            let mut config: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
            config["max_position_embeddings"] = 8192.into();
            std::fs::write(snapshot.join(&name), config.to_string()).unwrap();
        } else {
            std::os::unix::fs::symlink(
                std::fs::canonicalize(entry.path()).unwrap(),
                snapshot.join(&name),
            )
            .unwrap();
        }
    }
}

fn flex(flags: &[&str]) -> Result<String, chorus::cli::CliError> {
    run_flex(
        std::iter::once("flex-generate")
            .chain(flags.iter().copied())
            .map(OsString::from)
            .collect::<Vec<_>>(),
    )
}

#[test]
fn hub_ids_run_from_the_cache_and_missing_ones_say_how_to_fetch() {
    let hub = tempfile::tempdir().unwrap();
    fake_hub(hub.path());
    // SAFETY: the only test of this binary; nothing else reads the
    // environment concurrently.
    unsafe { std::env::set_var("HF_HUB_CACHE", hub.path()) };
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("flex.feather");
    let summary = flex(&[
        "--dataset",
        "webqa",
        "--model",
        "tiny-org/qwen2",
        "--max_samples",
        "1",
        "--num_samples",
        "2",
        "--output",
        output.to_str().unwrap(),
    ])
    .unwrap();
    assert!(summary.contains("1 items"), "{summary}");
    let table = read_results(&output).unwrap();
    assert_eq!(table.rows().len(), 1);
    assert_eq!(table.run().model, "qwen2");

    let error = flex(&["--dataset", "webqa", "--model", "tiny-org/absent@v2"])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("huggingface-cli download tiny-org/absent --revision v2"),
        "{error}"
    );
    assert!(error.contains("HF_HUB_CACHE"), "{error}");
}
