//! End-to-end runs of the two front ends (`chorus::cli::run_flex` /
//! `run_ensemble`, which the binaries' `main` calls) with the real SmolLM2
//! checkpoint on a few items of each dataset: output files read back (and by
//! pandas when pyarrow is installed), kill-and-resume, shard merging, and
//! clear errors for bad input. Model tests skip when the checkpoint is absent.
//! `report` runs on pandas-written LZ4 / ZSTD Feather fixtures and on result
//! files written here with chorus-results (no model needed).

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
fn an_interrupted_paraphrase_run_resumes_to_the_uninterrupted_output() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |output: &Path, extra: &[&str]| {
        let mut flags = vec![
            "paraphrase",
            "--model",
            &model,
            "--max_samples",
            "3",
            "--rounds",
            "3",
            "--temperature",
            "0.7",
            "--batch-size",
            "2",
            "--output",
            path_str(output),
        ];
        flags.extend_from_slice(extra);
        ensemble(&flags)
    };
    let whole = dir.path().join("whole.jsonl");
    run(&whole, &[]).unwrap();
    assert!(!dir.path().join("whole.jsonl.partial.jsonl").exists());

    let resumed = dir.path().join("resumed.jsonl");
    let error = run(&resumed, &["--abort-after", "2"]).unwrap_err();
    assert!(
        matches!(error, CliError::TestAbortRounds { rounds: 2 }),
        "{error}"
    );
    assert!(!resumed.exists());
    // The checkpoint is neither ignored nor silently resumed.
    let error = run(&resumed, &[]).unwrap_err().to_string();
    assert!(
        error.contains("--resume") && error.contains("partial.jsonl"),
        "{error}"
    );
    // Other sampling settings cannot continue it.
    let error = run(&resumed, &["--resume", "--seed", "9"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("other settings"), "{error}");
    run(&resumed, &["--resume"]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&resumed).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
    assert!(!dir.path().join("resumed.jsonl.partial.jsonl").exists());
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

/// The pandas-written fixtures of `report` (`scripts/make-report-fixtures.py`).
fn report_fixture(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/report/").to_owned() + name
}

#[test]
fn report_scores_pandas_lz4_and_zstd_feather_files() {
    let (lz4, zstd) = (
        report_fixture("pandas_lz4.feather"),
        report_fixture("pandas_zstd.feather"),
    );
    let flags = ["report", "--lemmaize-missing", lz4.as_str(), zstd.as_str()];
    let markdown = ensemble(&flags).unwrap();
    // The fused file: 3 of 5 right, its oracle and recovered share beside it.
    assert!(
        markdown.contains(
            "| report | pandas_lz4 | - | 3 | 5 | 60.0% | 3 | 1 | 60.0% | 66.7% | 100.0% |"
        ),
        "{markdown}"
    );
    // The per_prompt file (paraphrase_index): 3 of 9, consistency 5/9.
    assert!(
        markdown.contains("| report | - | 3 | 3 | 33.3% | 66.7% | 55.6% | 66.7 pp | 27.2 pp | 0: 66.7%, 1: 33.3%, 2: 0.0% |"),
        "{markdown}"
    );
    // flex-generate has the same subcommand.
    assert_eq!(flex(&flags).unwrap(), markdown);

    let compat = ensemble(&[&flags[..], &["--anchor-compat", "--format", "csv"]].concat()).unwrap();
    let mut lines = compat.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("path,model,method,dataset,paraphrases,total,correct,empty,accuracy,")
    );
    // The empty prediction counts as right with --anchor-compat: 4 of 5.
    assert!(
        lines.next().unwrap().contains(",3,5,4,1,0.800000,"),
        "{compat}"
    );

    // Without --lemmaize-missing a file without lemma columns is refused.
    let error = ensemble(&["report", lz4.as_str()]).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("pandas_lz4.feather") && message.contains("predict_lemma"),
        "{message}"
    );
    assert_ne!(error.exit_code(), 0);
}

#[test]
fn report_on_chorus_files_gives_paraphrase_metrics_and_the_oracle() {
    use chorus::results::{
        Method, Outcome, Output, ResultRow, ResultWriter, RunInfo, StopReason, WriteOptions,
        add_lemma_columns,
    };
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let run = |method| {
        RunInfo::new(
            "SmolLM2-135M",
            method,
            "webqa",
            serde_json::json!({"selection": "n3", "seed": 42}),
        )
    };
    let write = |method: Method, stem: &str, rows: Vec<ResultRow>| {
        let path = results
            .join("smollm2/webqa")
            .join(format!("{stem}.feather"));
        let Outcome::Ready(mut writer) =
            ResultWriter::open(&path, run(method), WriteOptions::default()).unwrap()
        else {
            panic!("fresh directory");
        };
        writer.append(rows).unwrap();
        writer.finish().unwrap();
    };
    let output = |prediction: &str| Output {
        prediction: prediction.into(),
        generation: format!(" {prediction}\n"),
        generated_ids: vec![1, 198],
        stop_reason: StopReason::Newline,
    };
    let answers = ["Paris", "Rome", "Berlin", "Tokyo"];
    let paraphrases: Vec<String> = (0..3).map(|p| format!("question v{p}")).collect();
    // Per item, the per_prompt predictions of paraphrases 0, 1, 2:
    // right right wrong / wrong right wrong / wrong x3 / right right wrong.
    let per_prompt = [
        ["Paris", "Paris", "Lyon"],
        ["Milan", "Rome", "Milan"],
        ["Bonn", "Bonn", "Bonn"],
        ["Tokyo", "Tokyo", "Kyoto"],
    ];
    let mut rows = Vec::new();
    for (item, predictions) in per_prompt.iter().enumerate() {
        for (index, prediction) in predictions.iter().enumerate() {
            rows.push(ResultRow {
                item_index: item as u64,
                uuid: format!("u{item}"),
                answers: vec![answers[item].into()],
                input: chorus::results::RowInput::PerPrompt {
                    paraphrase_index: index as u32,
                    paraphrase: paraphrases[index].clone(),
                    prompt: format!("Q: {}\nA:", paraphrases[index]),
                },
                output: output(prediction),
                lemmas: None,
            });
        }
    }
    write(Method::PerPrompt, "per_prompt-n3", rows);
    // Stored lemmas, added as --lemmaize adds them (a stand-in lemmatiser:
    // the lower-cased text as one lemma).
    let per_prompt_file = results.join("smollm2/webqa/per_prompt-n3.feather");
    add_lemma_columns(&per_prompt_file, |text| vec![text.to_lowercase()]).unwrap();
    // avg: right, wrong, wrong, right.
    let fused = ["Paris", "Milan", "Bonn", "Tokyo"];
    let rows = fused
        .iter()
        .enumerate()
        .map(|(item, prediction)| ResultRow {
            item_index: item as u64,
            uuid: format!("u{item}"),
            answers: vec![answers[item].into()],
            input: chorus::results::RowInput::Fused {
                paraphrases: paraphrases.clone(),
                prompts: paraphrases.iter().map(|p| format!("Q: {p}\nA:")).collect(),
            },
            output: output(prediction),
            lemmas: None,
        })
        .collect();
    write(Method::Avg, "avg-n3", rows);

    let png = dir.path().join("accuracy.png");
    let json = ensemble(&[
        "report",
        path_str(&results),
        "--lemmaize-missing",
        "--format",
        "json",
        "--plot",
        path_str(&png),
    ])
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{json}");
    let (avg, pp) = (&files[0], &files[1]);
    assert_eq!(avg["path"], "smollm2/webqa/avg-n3.feather");
    assert_eq!(
        (avg["kind"].as_str(), pp["kind"].as_str()),
        (Some("fused"), Some("per_paraphrase"))
    );
    let close = |value: &serde_json::Value, expected: f64| {
        let value = value.as_f64().unwrap_or(f64::NAN);
        assert!(
            (value - expected).abs() < 1e-9,
            "{value} != {expected}\n{json}"
        );
    };
    // per_prompt: 5 of 12 right.
    close(&pp["prediction"]["accuracy"], 5.0 / 12.0);
    let metrics = &pp["paraphrase_metrics"];
    assert_eq!(metrics["items"], 4);
    // Agreeing pairs: 1 of 3, 1 of 3, 3 of 3, 1 of 3.
    close(
        &metrics["consistency"],
        (1.0 / 3.0 + 1.0 / 3.0 + 1.0 + 1.0 / 3.0) / 4.0,
    );
    // Accuracy by paraphrase_index: 2/4, 3/4, 0/4.
    let positions: Vec<f64> = metrics["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(positions, [0.5, 0.75, 0.0]);
    close(&metrics["fluctuation_range"], 0.75);
    let mean = 1.25 / 3.0;
    let variance = [0.5f64, 0.75, 0.0]
        .iter()
        .map(|a| (a - mean).powi(2))
        .sum::<f64>()
        / 3.0;
    close(&metrics["fluctuation_std"], variance.sqrt());
    // Items right by some paraphrase: u0, u1, u3.
    close(&metrics["oracle"], 0.75);
    // Mean over items of the share right: (2/3 + 1/3 + 0 + 2/3) / 4.
    close(&metrics["mean_accuracy"], 5.0 / 12.0);

    // avg: 2 of 4; recovered (1/2 - 5/12) / (3/4 - 5/12) = 1/4.
    close(&avg["prediction"]["accuracy"], 0.5);
    let oracle = &avg["oracle"];
    assert_eq!(oracle["reference"], "smollm2/webqa/per_prompt-n3.feather");
    assert_eq!(oracle["items"], 4);
    close(&oracle["oracle"], 0.75);
    close(&oracle["mean_accuracy"], 5.0 / 12.0);
    close(&oracle["recovered"], 0.25);
    assert!(png.exists());

    let markdown = ensemble(&["report", "--lemmaize-missing", path_str(&results)]).unwrap();
    assert!(
        markdown.contains("| SmolLM2-135M | avg | webqa | 3 | 4 | 50.0% | 2 | 0 | 50.0% | 75.0% | 25.0% | smollm2/webqa/avg-n3.feather |"),
        "{markdown}"
    );
    // The per_prompt file alone has stored lemmas: no flag needed.
    let alone = ensemble(&["report", path_str(&per_prompt_file)]).unwrap();
    assert!(alone.contains("| 41.7% |"), "{alone}");
}

#[test]
fn report_names_the_file_and_column_of_a_wrong_column() {
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report-errors/bad_answers.feather"
    )
    .to_owned();
    for result in [
        ensemble(&["report", "--lemmaize-missing", bad.as_str()]),
        flex(&["report", "--lemmaize-missing", bad.as_str()]),
    ] {
        let error = result.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("bad_answers.feather")
                && message.contains("column `answers`")
                && message.contains("Int64"),
            "{message}"
        );
        assert_eq!(error.exit_code(), 1);
    }
    // A bad --format value is clap's usage error listing the formats.
    let error = ensemble(&["report", "--format", "html", bad.as_str()]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.contains("md") && message.contains("json"),
        "{message}"
    );
}

#[test]
fn report_measures_paraphrase_sets() {
    let lz4 = report_fixture("pandas_lz4.feather");
    let twenty = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/webquestions/test.paraphrased20.jsonl"
    );
    let flags = [
        "report",
        "--lemmaize-missing",
        lz4.as_str(),
        "--paraphrases",
        twenty,
        "--paraphrases",
        "myriadlama",
        "--format",
        "json",
    ];
    let json: serde_json::Value = serde_json::from_str(&ensemble(&flags).unwrap()).unwrap();
    let sets = json["paraphrase_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0]["items"], 20);
    assert_eq!(sets[1]["items"], 2000);
    // MyriadLAMA's groups: manual templates besides the first, and auto ones.
    assert!(
        sets[1]["by_source"]["manual"]["paraphrases"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        sets[1]["by_source"]["auto"]["paraphrases"]
            .as_u64()
            .unwrap()
            > 0
    );
    for set in sets {
        let share = set["all"]["keep_all"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share), "{set}");
    }
    // A set that cannot be read names itself.
    let error = ensemble(&[
        "report",
        "--lemmaize-missing",
        lz4.as_str(),
        "--paraphrases",
        "missing.jsonl",
    ])
    .unwrap_err()
    .to_string();
    assert!(error.contains("missing.jsonl"), "{error}");
}
