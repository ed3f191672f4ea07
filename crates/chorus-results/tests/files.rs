//! End-to-end behaviour of result files: round trips through Feather and CSV,
//! skip-unless-forced, resume after a kill (including a torn checkpoint
//! line), shard merging, `--lemmaize`, and reading by pandas.

use std::path::{Path, PathBuf};
use std::process::Command;

use chorus_results::{
    Method, Outcome, Output, ResultRow, ResultWriter, ResultsError, RowInput, RowKey, RunInfo,
    ShardInfo, StopReason, WriteOptions, add_lemma_columns, merge, read_results,
};
use proptest::prelude::*;

fn output(item_index: u64) -> Output {
    Output {
        prediction: format!("answer {item_index}"),
        generation: format!(" answer {item_index}\n"),
        generated_ids: vec![item_index as u32, 198],
        stop_reason: StopReason::Newline,
    }
}

/// A row of `method` for item `item_index` (paraphrase `paraphrase` for
/// per_prompt).
fn row(method: Method, item_index: u64, paraphrase: u32) -> ResultRow {
    let question = format!("question {item_index}, it's \"quoted\"");
    let prompt = format!("Q: {question}\nA:");
    let members = |n: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|p| {
                (
                    format!("{question} v{p}"),
                    format!("Q: {question} v{p}\nA:"),
                )
            })
            .collect()
    };
    let input = match method {
        Method::Origin => RowInput::Origin { question, prompt },
        Method::PerPrompt => RowInput::PerPrompt {
            paraphrase_index: paraphrase,
            paraphrase: question,
            prompt,
        },
        Method::WeightedAvg | Method::WeightedMax => RowInput::Weighted {
            paraphrases: members(3).into_iter().map(|(p, _)| p).collect(),
            prompts: members(3).into_iter().map(|(_, p)| p).collect(),
            confidences: vec![0.25, 0.5, 0.75],
        },
        // Flex prompts are layout segments: not one per paraphrase.
        Method::Flex => RowInput::Fused {
            paraphrases: members(3).into_iter().map(|(p, _)| p).collect(),
            prompts: vec![
                "Instruction.\n\n".into(),
                question.clone(),
                "\nA:".into(),
                "x".into(),
            ],
        },
        Method::Avg | Method::Max => RowInput::Fused {
            paraphrases: members(3).into_iter().map(|(p, _)| p).collect(),
            prompts: members(3).into_iter().map(|(_, p)| p).collect(),
        },
    };
    ResultRow {
        item_index,
        uuid: format!("uuid-{item_index}"),
        answers: vec![format!("Answer {item_index}"), "New York".into()],
        input,
        output: output(item_index),
        lemmas: None,
    }
}

fn run_info(method: Method) -> RunInfo {
    RunInfo::new(
        "smollm2-135m-it",
        method,
        "webqa",
        serde_json::json!({"max_new_tokens": 10, "tag": "m5a0s3"}),
    )
}

fn open(path: &Path, run: RunInfo, options: WriteOptions) -> ResultWriter {
    match ResultWriter::open(path, run, options).unwrap() {
        Outcome::Ready(writer) => writer,
        Outcome::AlreadyExists(paths) => panic!("{} exists", paths.feather.display()),
    }
}

/// Writes `rows` for `run` in one go and returns the Feather path.
fn write_all(path: &Path, run: RunInfo, rows: Vec<ResultRow>) -> PathBuf {
    let mut writer = open(path, run, WriteOptions::default());
    writer.append(rows).unwrap();
    writer.finish().unwrap().paths.feather
}

const RESUME: WriteOptions = WriteOptions {
    force: false,
    resume: true,
};

#[test]
fn every_method_round_trips_in_item_order() {
    let directory = tempfile::tempdir().unwrap();
    for method in Method::ALL {
        let path = directory.path().join(format!("{method}.feather"));
        let rows: Vec<ResultRow> = [2, 0, 1].into_iter().map(|i| row(method, i, 0)).collect();
        write_all(&path, run_info(method), rows.clone());
        let table = read_results(&path).unwrap();
        assert_eq!(table.run(), &run_info(method));
        let mut expected = rows;
        expected.sort_by_key(ResultRow::key);
        assert_eq!(table.rows(), expected.as_slice(), "{method}");
        assert!(!path.with_extension("feather.partial.jsonl").exists());
    }
}

/// Rewrites the Feather file `path` with `compression`, as pyarrow does
/// (pandas' `to_feather` compresses with LZ4 unless told otherwise).
fn recompress(path: &Path, compression: arrow_ipc::CompressionType) {
    use arrow_ipc::reader::FileReader;
    use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
    let reader = FileReader::try_new(std::fs::File::open(path).unwrap(), None).unwrap();
    let schema = reader.schema();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(compression))
        .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = FileWriter::try_new_with_options(file, &schema, options).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn lz4_and_zstd_compressed_files_are_read() {
    let directory = tempfile::tempdir().unwrap();
    for (name, compression) in [
        ("lz4", arrow_ipc::CompressionType::LZ4_FRAME),
        ("zstd", arrow_ipc::CompressionType::ZSTD),
    ] {
        let path = directory.path().join(format!("{name}.feather"));
        let rows: Vec<ResultRow> = (0..3).map(|i| row(Method::Avg, i, 0)).collect();
        write_all(&path, run_info(Method::Avg), rows.clone());
        recompress(&path, compression);
        let table = read_results(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(table.rows(), rows.as_slice(), "{name}");
    }
}

#[test]
fn csv_has_the_feather_columns_and_python_list_cells() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("avg.feather");
    write_all(&path, run_info(Method::Avg), vec![row(Method::Avg, 0, 0)]);
    let table = read_results(&path).unwrap();
    let csv_text = std::fs::read_to_string(path.with_extension("csv")).unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let expected: Vec<String> = table
        .columns()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(header, expected);
    let record = reader.records().next().unwrap().unwrap();
    assert_eq!(&record[2], "['Answer 0', 'New York']");
    assert_eq!(&record[7], "[0, 198]");
    assert_eq!(&record[8], "newline");
}

#[test]
fn existing_output_is_skipped_unless_forced() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested/dir/origin.feather");
    write_all(
        &path,
        run_info(Method::Origin),
        vec![row(Method::Origin, 0, 0)],
    );
    let outcome =
        ResultWriter::open(&path, run_info(Method::Origin), WriteOptions::default()).unwrap();
    assert!(matches!(outcome, Outcome::AlreadyExists(_)));
    let force = WriteOptions {
        force: true,
        resume: false,
    };
    let mut writer = open(&path, run_info(Method::Origin), force);
    // Until finish, the old file stays readable.
    assert_eq!(read_results(&path).unwrap().rows().len(), 1);
    writer
        .append([1, 2].map(|i| row(Method::Origin, i, 0)))
        .unwrap();
    writer.finish().unwrap();
    let items: Vec<u64> = read_results(&path)
        .unwrap()
        .rows()
        .iter()
        .map(|r| r.item_index)
        .collect();
    assert_eq!(items, [1, 2]);
}

#[test]
fn a_killed_run_resumes_without_losing_or_repeating_rows() {
    let directory = tempfile::tempdir().unwrap();
    let method = Method::PerPrompt;
    let all: Vec<ResultRow> = (0..4)
        .flat_map(|i| (0..2).map(move |p| row(method, i, p)))
        .collect();
    let reference = write_all(
        &directory.path().join("reference.feather"),
        run_info(method),
        all.clone(),
    );

    let path = directory.path().join("resumed.feather");
    let mut writer = open(&path, run_info(method), WriteOptions::default());
    writer.append(all[..3].to_vec()).unwrap();
    writer.append(all[3..5].to_vec()).unwrap();
    drop(writer); // the "kill": no finish, the checkpoint stays
    assert!(!path.exists());

    // Without --resume or --force the checkpoint is protected.
    let error = ResultWriter::open(&path, run_info(method), WriteOptions::default()).unwrap_err();
    assert!(
        matches!(error, ResultsError::CheckpointExists { .. }),
        "{error}"
    );

    let mut writer = open(&path, run_info(method), RESUME);
    assert_eq!(writer.resumed_rows(), 5);
    assert!(writer.is_finished(RowKey::paraphrase(2, 0)));
    assert!(!writer.is_finished(RowKey::paraphrase(2, 1)));
    // A finished row is refused, and the refused batch records nothing.
    let error = writer.append([all[5].clone(), all[0].clone()]).unwrap_err();
    assert!(
        matches!(error, ResultsError::DuplicateRow { .. }),
        "{error}"
    );
    let pending: Vec<ResultRow> = all
        .iter()
        .filter(|r| !writer.is_finished(r.key()))
        .cloned()
        .collect();
    assert_eq!(pending.len(), 3);
    writer.append(pending).unwrap();
    writer.finish().unwrap();
    assert_eq!(
        read_results(&path).unwrap().rows(),
        read_results(&reference).unwrap().rows()
    );
}

#[test]
fn a_kill_between_the_final_write_and_the_checkpoint_removal_leaves_nothing_stale() {
    let directory = tempfile::tempdir().unwrap();
    let method = Method::Avg;
    let path = directory.path().join("finished.feather");
    let checkpoint = directory.path().join("finished.feather.partial.jsonl");
    // The killed run: rows checkpointed, then the output written, then the kill.
    let mut writer = open(&path, run_info(method), WriteOptions::default());
    writer.append([row(method, 0, 0)]).unwrap();
    let saved = std::fs::read(&checkpoint).unwrap();
    writer.finish().unwrap();
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&checkpoint, &saved).unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(&checkpoint)
        .unwrap();
    file.set_modified(written).unwrap();
    drop(file);

    let outcome = ResultWriter::open(&path, run_info(method), RESUME).unwrap();
    assert!(matches!(outcome, Outcome::AlreadyExists(_)));
    assert!(!checkpoint.exists(), "the finished run's checkpoint stays");
    assert_eq!(read_results(&path).unwrap().rows().len(), 1);

    // A checkpoint newer than the output is a later run's: it stays.
    std::fs::write(&checkpoint, &saved).unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(&checkpoint)
        .unwrap();
    file.set_modified(written + std::time::Duration::from_secs(5))
        .unwrap();
    drop(file);
    let outcome = ResultWriter::open(&path, run_info(method), RESUME).unwrap();
    assert!(matches!(outcome, Outcome::AlreadyExists(_)));
    assert!(checkpoint.exists(), "a later run's checkpoint was removed");
}

#[test]
fn a_torn_last_checkpoint_line_is_dropped_and_redone() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("avg.feather");
    let checkpoint = directory.path().join("avg.feather.partial.jsonl");
    let mut writer = open(&path, run_info(Method::Avg), WriteOptions::default());
    writer.append([row(Method::Avg, 0, 0)]).unwrap();
    writer.append([row(Method::Avg, 1, 0)]).unwrap();
    drop(writer);
    // Cut the last row in half, as a kill during the write would.
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let torn_len = text.len() - 40;
    std::fs::write(&checkpoint, &text[..torn_len]).unwrap();

    let mut writer = open(&path, run_info(Method::Avg), RESUME);
    assert_eq!(writer.resumed_rows(), 1);
    assert!(!writer.is_finished(RowKey::item(1)));
    writer.append([row(Method::Avg, 1, 0)]).unwrap();
    drop(writer);
    // The repaired checkpoint resumes cleanly a second time.
    let writer = open(&path, run_info(Method::Avg), RESUME);
    assert_eq!(writer.finished_keys().count(), 2);
    assert_eq!(writer.finish().unwrap().rows, 2);
}

#[test]
fn resume_refuses_a_checkpoint_of_another_run() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("max.feather");
    let mut writer = open(&path, run_info(Method::Max), WriteOptions::default());
    writer.append([row(Method::Max, 0, 0)]).unwrap();
    drop(writer);
    let other = RunInfo {
        model: "another-model".into(),
        ..run_info(Method::Max)
    };
    let error = ResultWriter::open(&path, other, RESUME).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("model differs"), "{message}");
    assert!(message.contains("partial.jsonl"), "{message}");
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let directory = tempfile::tempdir().unwrap();
    let method = Method::Flex;
    let rows: Vec<ResultRow> = (0..5).map(|i| row(method, i, 0)).collect();
    let whole = write_all(
        &directory.path().join("whole.feather"),
        run_info(method),
        rows.clone(),
    );
    let shard_paths: Vec<PathBuf> = (0..2u32)
        .map(|index| {
            let shard = ShardInfo { index, count: 2 };
            let mine = rows
                .iter()
                .filter(|r| r.item_index % 2 == u64::from(index))
                .cloned()
                .collect();
            let path = directory.path().join(format!("shard{index}.feather"));
            write_all(&path, run_info(method).with_shard(shard), mine)
        })
        .collect();
    let merged = directory.path().join("merged.feather");
    let outcome = merge(&shard_paths, &merged, false).unwrap();
    assert!(matches!(outcome, Outcome::Ready(ref w) if w.rows == 5));
    assert_eq!(
        read_results(&merged).unwrap(),
        read_results(&whole).unwrap()
    );
    assert_eq!(
        std::fs::read(merged.with_extension("csv")).unwrap(),
        std::fs::read(whole.with_extension("csv")).unwrap()
    );
    assert!(matches!(
        merge(&shard_paths, &merged, false).unwrap(),
        Outcome::AlreadyExists(_)
    ));

    let error = merge(&shard_paths[..1], directory.path().join("m.feather"), false).unwrap_err();
    assert!(error.to_string().contains("1/2 missing"), "{error}");
    let twice = [shard_paths[0].clone(), shard_paths[0].clone()];
    assert!(merge(&twice, directory.path().join("m.feather"), false).is_err());
    let other_method = write_all(
        &directory.path().join("avg.feather"),
        run_info(Method::Avg).with_shard(ShardInfo { index: 1, count: 2 }),
        vec![row(Method::Avg, 1, 0)],
    );
    let mixed = [shard_paths[0].clone(), other_method];
    let error = merge(&mixed, directory.path().join("m.feather"), false).unwrap_err();
    assert!(error.to_string().contains("method differs"), "{error}");
}

#[test]
fn lemma_columns_are_added_to_an_existing_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("origin.feather");
    write_all(
        &path,
        run_info(Method::Origin),
        vec![row(Method::Origin, 0, 0), row(Method::Origin, 1, 0)],
    );
    let lower_words =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_lowercase).collect() };
    let written = add_lemma_columns(&path, lower_words).unwrap();
    assert_eq!(written.rows, 2);
    let table = read_results(&path).unwrap();
    assert!(table.columns().lemmas);
    let lemmas = table.rows()[1].lemmas.clone().unwrap();
    assert_eq!(lemmas.prediction, ["answer", "1"]);
    assert_eq!(lemmas.answers, [vec!["answer", "1"], vec!["new", "york"]]);
    let header = std::fs::read_to_string(path.with_extension("csv")).unwrap();
    assert!(
        header
            .lines()
            .next()
            .unwrap()
            .ends_with("predict_lemma,answer_lemmas")
    );
    // Lemmaizing again recomputes rather than duplicating the columns.
    add_lemma_columns(&path, |text: &str| vec![text.to_uppercase()]).unwrap();
    let again = read_results(&path).unwrap();
    assert_eq!(
        again.rows()[0].lemmas.clone().unwrap().prediction,
        ["ANSWER 0"]
    );
    let leftovers = std::fs::read_dir(directory.path()).unwrap().count();
    assert_eq!(leftovers, 2, "only the Feather and CSV files remain");
}

/// Runs `python3 -c script path`, or `None` when python3 with pyarrow and
/// pandas is not available.
fn python_with_pandas(script: &str, path: &Path) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import pyarrow, pandas"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let result = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    Some(String::from_utf8(result.stdout).unwrap())
}

#[test]
fn pandas_reads_the_feather_file_and_its_metadata() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("weighted_avg.feather");
    write_all(
        &path,
        run_info(Method::WeightedAvg),
        vec![
            row(Method::WeightedAvg, 0, 0),
            row(Method::WeightedAvg, 1, 0),
        ],
    );
    add_lemma_columns(&path, |text: &str| vec![text.to_lowercase()]).unwrap();
    let script = r#"
import sys, json, ast, pandas, pyarrow.feather as feather
path = sys.argv[1]
frame = pandas.read_feather(path)
meta = feather.read_table(path).schema.metadata
csv = pandas.read_csv(path[:-len('feather')] + 'csv')
print(json.dumps({
    "columns": list(frame.columns),
    "rows": len(frame),
    "answers": list(frame["answers"][1]),
    "confidences": list(frame["confidences"][0]),
    "answer_lemmas": [list(x) for x in frame["answer_lemmas"][0]],
    "prompt": frame["paraphrases"][0][0],
    "method": meta[b"method"].decode(),
    "options": json.loads(meta[b"options"]),
    "csv_columns": list(csv.columns),
    "csv_answers": ast.literal_eval(csv["answers"][1]),
}))
"#;
    let Some(stdout) = python_with_pandas(script, &path) else {
        eprintln!("skipping: python3 with pyarrow and pandas is not installed");
        return;
    };
    let seen: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(seen["rows"], 2);
    assert_eq!(seen["columns"], seen["csv_columns"]);
    assert_eq!(seen["columns"][5], "confidences");
    assert_eq!(seen["answers"], serde_json::json!(["Answer 1", "New York"]));
    assert_eq!(seen["csv_answers"], seen["answers"]);
    assert_eq!(seen["confidences"], serde_json::json!([0.25, 0.5, 0.75]));
    assert_eq!(
        seen["answer_lemmas"],
        serde_json::json!([["answer 0"], ["new york"]])
    );
    assert_eq!(seen["prompt"], "question 0, it's \"quoted\" v0");
    assert_eq!(seen["method"], "weighted_avg");
    assert_eq!(seen["options"]["tag"], "m5a0s3");
}

#[test]
fn pandas_reads_an_empty_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_all(
        &directory.path().join("empty.feather"),
        run_info(Method::Origin),
        vec![],
    );
    assert!(read_results(&path).unwrap().rows().is_empty());
    let script = "import sys, pandas; print(list(pandas.read_feather(sys.argv[1]).columns))";
    let Some(stdout) = python_with_pandas(script, &path) else {
        eprintln!("skipping: python3 with pyarrow and pandas is not installed");
        return;
    };
    assert!(stdout.contains("'question', 'prompt'"), "{stdout}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any texts, ids and confidences survive Feather and CSV (CSV checked
    /// for its row count via the csv crate, which handles quoting).
    #[test]
    fn arbitrary_rows_round_trip(
        texts in proptest::collection::vec(any::<String>(), 1..6),
        ids in proptest::collection::vec(any::<u32>(), 0..8),
        confidence in -1e300f64..1e300,
        items in proptest::collection::btree_set(0u64..1000, 0..6),
    ) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("p.feather");
        let rows: Vec<ResultRow> = items
            .iter()
            .map(|&item_index| ResultRow {
                item_index,
                uuid: texts[0].clone(),
                answers: texts.clone(),
                input: RowInput::Weighted {
                    paraphrases: texts.clone(),
                    prompts: texts.iter().map(|text| format!("{text}\n")).collect(),
                    confidences: vec![confidence; texts.len()],
                },
                output: Output {
                    prediction: texts[texts.len() - 1].clone(),
                    generation: texts.concat(),
                    generated_ids: ids.clone(),
                    stop_reason: StopReason::MaxNewTokens,
                },
                lemmas: None,
            })
            .collect();
        write_all(&path, run_info(Method::WeightedMax), rows.clone());
        let table = read_results(&path).unwrap();
        prop_assert_eq!(table.rows(), rows.as_slice());
        let csv_rows = csv::Reader::from_path(path.with_extension("csv"))
            .unwrap()
            .records()
            .count();
        prop_assert_eq!(csv_rows, rows.len());
    }
}

#[test]
fn a_second_writer_of_the_same_output_is_refused_naming_the_lock() {
    let directory = tempfile::tempdir().unwrap();
    let method = Method::Avg;
    let path = directory.path().join("avg.feather");
    let mut first = open(&path, run_info(method), WriteOptions::default());
    first.append([row(method, 0, 0)]).unwrap();
    // A second writer (as a second process would be) is refused at once, even
    // with --force or --resume, and the message names the lock file.
    for options in [
        WriteOptions::default(),
        RESUME,
        WriteOptions {
            force: true,
            resume: false,
        },
    ] {
        let error = ResultWriter::open(&path, run_info(method), options).unwrap_err();
        let ResultsError::Locked { output, lock } = &error else {
            panic!("expected Locked, got {error}");
        };
        assert_eq!(output, &path);
        assert!(
            error.to_string().contains(&lock.display().to_string()),
            "{error}"
        );
    }
    // The refused writers touched nothing: the first one finishes its run.
    first.append([row(method, 1, 0)]).unwrap();
    first.finish().unwrap();
    assert_eq!(read_results(&path).unwrap().rows().len(), 2);
    // The lock went with the writer: the output can be written again.
    let again = open(
        &path,
        run_info(method),
        WriteOptions {
            force: true,
            resume: false,
        },
    );
    drop(again);
}

/// A checkpoint of two avg rows (items 0 and 1), the writer dropped as a kill
/// would leave it; returns the output and checkpoint paths.
fn two_row_checkpoint(directory: &Path) -> (PathBuf, PathBuf) {
    let path = directory.join("avg.feather");
    let mut writer = open(&path, run_info(Method::Avg), WriteOptions::default());
    writer.append([row(Method::Avg, 0, 0)]).unwrap();
    writer.append([row(Method::Avg, 1, 0)]).unwrap();
    drop(writer);
    let checkpoint = directory.join("avg.feather.partial.jsonl");
    (path, checkpoint)
}

#[test]
fn an_edited_checkpoint_row_is_refused_naming_the_line() {
    let directory = tempfile::tempdir().unwrap();
    let (path, checkpoint) = two_row_checkpoint(directory.path());
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    // Still valid JSON, still a valid row: only the checksum tells.
    let edited = text.replacen("uuid-1", "uuid-7", 1);
    assert_ne!(edited, text);
    std::fs::write(&checkpoint, &edited).unwrap();
    let message = ResultWriter::open(&path, run_info(Method::Avg), RESUME)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("partial.jsonl:3:") && message.contains("sha256"),
        "{message}"
    );
    // Nothing was repaired away: the edited file is left for the user.
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), edited);
}

#[test]
fn a_checkpoint_cut_inside_a_middle_line_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let (path, checkpoint) = two_row_checkpoint(directory.path());
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Line 2 loses its second half but keeps its newline; line 3 follows.
    let cut = format!(
        "{}\n{}\n{}\n",
        lines[0],
        &lines[1][..lines[1].len() / 2],
        lines[2]
    );
    std::fs::write(&checkpoint, cut).unwrap();
    let message = ResultWriter::open(&path, run_info(Method::Avg), RESUME)
        .unwrap_err()
        .to_string();
    assert!(message.contains("partial.jsonl:2:"), "{message}");
}

#[test]
fn a_checkpoint_of_another_version_is_refused_with_the_way_out() {
    let directory = tempfile::tempdir().unwrap();
    let (path, checkpoint) = two_row_checkpoint(directory.path());
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    std::fs::write(
        &checkpoint,
        text.replacen("\"chorus_checkpoint\":2", "\"chorus_checkpoint\":1", 1),
    )
    .unwrap();
    let message = ResultWriter::open(&path, run_info(Method::Avg), RESUME)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("version 1") && message.contains("--force"),
        "{message}"
    );
}

#[test]
fn an_output_path_that_is_a_directory_is_refused_before_any_work() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("avg.feather");
    std::fs::create_dir(&path).unwrap();
    let force = WriteOptions {
        force: true,
        resume: false,
    };
    for options in [WriteOptions::default(), RESUME, force] {
        let message = ResultWriter::open(&path, run_info(Method::Avg), options)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("avg.feather") && message.contains("is a directory"),
            "{message}"
        );
    }
    assert!(!directory.path().join("avg.feather.partial.jsonl").exists());
}

#[test]
fn temporaries_left_by_a_killed_final_write_are_removed_on_open() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("avg.feather");
    let stale = directory.path().join(".avg.feather.AbC123.tmp");
    let stale_csv = directory.path().join(".avg.csv.XyZ789.tmp");
    let unrelated = directory.path().join(".other.feather.q1w2e3.tmp");
    for file in [&stale, &stale_csv, &unrelated] {
        std::fs::write(file, b"half a file").unwrap();
    }
    let writer = open(&path, run_info(Method::Avg), WriteOptions::default());
    assert!(!stale.exists() && !stale_csv.exists());
    assert!(unrelated.exists(), "another output's files are left alone");
    drop(writer);
}
