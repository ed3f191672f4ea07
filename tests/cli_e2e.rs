//! End-to-end runs of the two front ends (`chorus::cli::run_flex` /
//! `run_ensemble`, which the binaries' `main` calls) with the real SmolLM2
//! checkpoint on a few items of each dataset: output files read back (and by
//! pandas when pyarrow is installed), kill-and-resume, shard merging, and
//! clear errors for bad input. Model tests skip when the checkpoint is absent.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use chorus::cli::{CliError, run_ensemble, run_flex};
use chorus::results::{ResultTable, RowInput, read_results};

/// The SmolLM2 checkpoint, or `None` (reason printed) when absent.
fn model() -> Option<String> {
    chorus::llama::testing::smollm2_or_skip().map(|path| path.to_string_lossy().into_owned())
}

fn args(program: &str, flags: &[&str]) -> Vec<OsString> {
    std::iter::once(program)
        .chain(flags.iter().copied())
        .map(OsString::from)
        .collect()
}

fn flex(flags: &[&str]) -> Result<String, CliError> {
    run_flex(args("flex-generate", flags))
}

fn ensemble(flags: &[&str]) -> Result<String, CliError> {
    run_ensemble(args("ensemble-generate", flags))
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The columns that depend on the model's answers and inputs, for comparing
/// runs (every column but none: rows are compared whole).
fn rows(path: &Path) -> ResultTable {
    read_results(path).unwrap()
}

/// Reads `path` with pandas; `None` (and a message) without pyarrow.
fn pandas_rows(path: &Path) -> Option<usize> {
    let probe = Command::new("python3")
        .args(["-c", "import pyarrow, pandas"])
        .output()
        .ok()?;
    if !probe.status.success() {
        eprintln!("pandas check skipped: python3 with pyarrow and pandas is not installed");
        return None;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, pandas; print(len(pandas.read_feather(sys.argv[1])))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    )
}

#[test]
fn flex_generate_answers_both_datasets() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    for dataset in ["webqa", "myriadlama"] {
        let out = dir.path().join(format!("{dataset}.feather"));
        // Three MyriadLAMA paraphrases keep the packed prompt short.
        let summary = flex(&[
            "--num_samples",
            "3",
            "--dataset",
            dataset,
            "--model",
            &model,
            "--max_samples",
            "2",
            "--output",
            path_str(&out),
        ])
        .unwrap();
        assert!(summary.contains("2 items"), "{summary}");
        let table = rows(&out);
        assert_eq!(table.rows().len(), 2);
        assert_eq!(table.run().method.name(), "flex");
        assert_eq!(table.run().dataset, dataset);
        assert_eq!(table.run().options["positions"], "segment");
        for row in table.rows() {
            let RowInput::Fused {
                paraphrases,
                prompts,
            } = &row.input
            else {
                panic!("flex rows are fused rows");
            };
            assert!(!paraphrases.is_empty() && !prompts.is_empty());
            assert!(!row.output.generated_ids.is_empty());
            assert!(!row.answers.is_empty());
        }
        if dataset == "myriadlama" {
            // MyriadLAMA predictions are one word.
            assert!(
                table
                    .rows()
                    .iter()
                    .all(|r| !r.output.prediction.contains(' '))
            );
        }
        if let Some(count) = pandas_rows(&out) {
            assert_eq!(count, 2);
        }
        assert!(out.with_extension("csv").exists());
    }
}

#[test]
fn ensemble_generate_runs_each_method_family() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let results = path_str(dir.path());
    for (method, rows_expected) in [
        ("origin", 2),
        ("per_prompt", 4),
        ("avg", 2),
        ("weighted_max", 2),
    ] {
        let flags = [
            "--method",
            method,
            "--dataset",
            "myriadlama",
            "--model",
            &model,
            "--max_samples",
            "2",
            "--num_ensemble",
            "2",
            "--results-dir",
            results,
        ];
        let summary = ensemble(&[&flags[..], &["--lemmaize"]].concat()).unwrap();
        let stem = if method == "origin" {
            "origin".to_string()
        } else {
            format!("{method}-n2")
        };
        let model_name = Path::new(&model)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let out = dir
            .path()
            .join(model_name)
            .join("myriadlama")
            .join(format!("{stem}.feather"));
        assert!(summary.contains(path_str(&out)), "{summary}");
        let table = rows(&out);
        assert_eq!(table.rows().len(), rows_expected, "{method}");
        assert!(table.columns().lemmas, "--lemmaize adds the lemma columns");
        if method == "weighted_max" {
            let RowInput::Weighted { confidences, .. } = &table.rows()[0].input else {
                panic!("weighted rows");
            };
            assert_eq!(confidences.len(), 2);
        }
        // A second run finds the output and skips it.
        let again = ensemble(&flags).unwrap();
        assert!(again.contains("skipped"), "{again}");
    }
}

#[test]
fn an_interrupted_run_resumes_to_the_uninterrupted_rows() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.feather");
    let resumed = dir.path().join("resumed.feather");
    let common = [
        "--method",
        "avg",
        "--dataset",
        "myriadlama",
        "--model",
        &model,
        "--max_samples",
        "4",
        "--num_ensemble",
        "2",
        "--batch-size",
        "1",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        common.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |flags: Vec<String>| {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        ensemble(&flags)
    };
    run(with(&["--output", path_str(&whole)])).unwrap();

    let error = run(with(&[
        "--output",
        path_str(&resumed),
        "--abort-after",
        "2",
    ]))
    .unwrap_err();
    assert!(matches!(error, CliError::TestAbort { items: 2 }), "{error}");
    assert!(!resumed.exists());
    // Without --resume the checkpoint is protected.
    let error = run(with(&["--output", path_str(&resumed)])).unwrap_err();
    assert!(error.to_string().contains("--resume"), "{error}");
    assert_ne!(error.exit_code(), 0);

    let summary = run(with(&["--output", path_str(&resumed), "--resume"])).unwrap();
    assert!(
        summary.contains("2 items") && summary.contains("(2 resumed)"),
        "{summary}"
    );
    assert_eq!(rows(&resumed).rows(), rows(&whole).rows());
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name);
    let common = [
        "--dataset",
        "myriadlama",
        "--model",
        &model,
        "--max_samples",
        "3",
        "--num_samples",
        "2",
        "--batch-size",
        "1",
    ];
    let run = |extra: &[&str]| {
        let flags: Vec<&str> = common.iter().chain(extra).copied().collect();
        flex(&flags).unwrap()
    };
    run(&["--output", path_str(&out("whole.feather"))]);
    run(&["--shard", "0/2", "--output", path_str(&out("s0.feather"))]);
    run(&["--shard", "1/2", "--output", path_str(&out("s1.feather"))]);
    assert_eq!(
        rows(&out("s0.feather")).run().shard.map(|s| s.to_string()),
        Some("0/2".into())
    );
    let summary = flex(&[
        "merge",
        "--output",
        path_str(&out("merged.feather")),
        path_str(&out("s1.feather")),
        path_str(&out("s0.feather")),
    ])
    .unwrap();
    assert!(summary.contains("3 rows"), "{summary}");
    assert_eq!(rows(&out("merged.feather")), rows(&out("whole.feather")));
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let cases: Vec<(Result<String, CliError>, &str)> = vec![
        (
            ensemble(&["--method", "mean", "--dataset", "webqa"]),
            "invalid value 'mean' for '--method",
        ),
        (
            ensemble(&["--method", "flex", "--dataset", "webqa"]),
            "flex-generate",
        ),
        (
            flex(&["--method", "avg", "--dataset", "webqa"]),
            "ensemble-generate",
        ),
        (flex(&["--dataset", path_str(&missing)]), "does not exist"),
        (
            flex(&["--dataset", "webqa", "--model", "no-such-model"]),
            "no-such-model",
        ),
        (
            flex(&["--dataset", "webqa", "--device", "gpu"]),
            "`gpu` is not a device",
        ),
        (flex(&["--dataset", "webqa", "--shard", "2/2"]), "shard"),
        (
            flex(&["--dataset", "webqa", "--positions", "diagonal"]),
            "diagonal",
        ),
        (
            flex(&[
                "--dataset",
                "webqa",
                "--share-prefix",
                "--positions",
                "continuous",
            ]),
            "share-prefix",
        ),
        (flex(&["--dataset", "webqa", "--dtype", "bf16"]), "f32 only"),
        (
            flex(&["--dataset", "webqa", "--no-such-flag"]),
            "--no-such-flag",
        ),
        (flex(&[]), "--dataset"),
        (
            flex(&[
                "merge",
                "--output",
                path_str(&dir.path().join("m.feather")),
                path_str(&missing),
            ]),
            "nope.jsonl",
        ),
    ];
    for (result, expected) in cases {
        let error = result.expect_err(expected);
        let message = error.to_string();
        assert!(
            message.contains(expected),
            "expected `{expected}` in: {message}"
        );
        assert_ne!(error.exit_code(), 0, "{message}");
    }
    // Values outside a flag's list are clap's usage errors, which list the values.
    let error = ensemble(&["--method", "mean", "--dataset", "webqa"]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.contains("per_prompt") && !message.contains("flex,"),
        "{message}"
    );
    let error = flex(&["--dataset", "webqa", "--mask", "diagonal"]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("structured"), "{error}");
}

#[test]
fn generated_paraphrases_feed_a_flex_run() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("webqa-paraphrased.jsonl");
    let summary = ensemble(&[
        "paraphrase",
        "--model",
        &model,
        "--max_samples",
        "2",
        "--rounds",
        "1",
        "--output",
        path_str(&jsonl),
    ])
    .unwrap();
    assert!(summary.contains("2 items x 1 rounds"), "{summary}");
    let loaded = chorus::data::load_path(&jsonl, chorus::data::EmptyPolicy::Error).unwrap();
    assert_eq!(loaded.items.len(), 2);
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["paraphrases"][0], first["question"]);
    assert_eq!(first["paraphrases"].as_array().unwrap().len(), 2);

    let out = dir.path().join("flex.feather");
    flex(&[
        "--dataset",
        path_str(&jsonl),
        "--model",
        &model,
        "--num_ensemble",
        "2",
        "--max_samples",
        "1",
        "--output",
        path_str(&out),
    ])
    .unwrap();
    let table = rows(&out);
    let RowInput::Fused { paraphrases, .. } = &table.rows()[0].input else {
        panic!("flex rows are fused rows");
    };
    assert_eq!(paraphrases.len(), 2);
    assert_eq!(table.run().options["context"], "webqa");
}
