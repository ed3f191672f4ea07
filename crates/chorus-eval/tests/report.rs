//! `report` over a directory holding a Feather file (with a CSV twin that
//! must be ignored) and a lone CSV file, with every renderer and the plot;
//! over the pandas-written LZ4 / ZSTD fixtures in `tests/fixtures/report/`
//! (paraphrase metrics and the oracle comparison); and its errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chorus_eval::{
    EvalError, FileKind, LemmaSource, Lemmatizer, MatchOptions, ReportOptions, report,
    report_paths, report_with,
};

fn string_lists(rows: &[&[&str]]) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for value in *row {
            builder.values().append_value(value);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn write_fused_feather(path: &Path) {
    let list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let metadata = HashMap::from([
        ("model".to_owned(), "SmolLM2".to_owned()),
        ("method".to_owned(), "avg".to_owned()),
        ("dataset".to_owned(), "webqa".to_owned()),
    ]);
    let schema = Arc::new(
        Schema::new(vec![
            Field::new("uuid", DataType::Utf8, false),
            Field::new("answers", list(), false),
            Field::new("paraphrases", list(), false),
            Field::new("prediction", DataType::Utf8, false),
            Field::new("generation", DataType::Utf8, false),
        ])
        .with_metadata(metadata),
    );
    let three: &[&str] = &["q1", "q2", "q3"];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            strings(&["a", "b", "c", "d"]),
            string_lists(&[&["Paris"], &["Rome"], &["Berlin"], &["New York City"]]),
            string_lists(&[three, three, three, three]),
            strings(&["Paris", "", "Munich", "York"]),
            strings(&[" Paris, France\n", " \n", " Munich\n", " York.\n"]),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
}

fn write_origin_csv(path: &Path) {
    let csv = "uuid,answers,question,prompt,prediction,generation\n\
               a,\"['Paris', \"\"St. John's\"\"]\",q,p,St. John's,\" St. John's\n\"\n\
               b,['Canada'],q,p,the USA,\" the USA\n\"\n";
    std::fs::write(path, csv).unwrap();
}

fn results_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("smollm");
    std::fs::create_dir_all(&model).unwrap();
    write_fused_feather(&model.join("avg.feather"));
    // The CSV twin of a Feather file is not read (its content is invalid).
    std::fs::write(model.join("avg.csv"), "not,a,result\n").unwrap();
    write_origin_csv(&model.join("origin.csv"));
    dir
}

#[test]
fn report_scores_feather_and_csv_files() {
    let dir = results_dir();
    let report = report(dir.path()).unwrap();
    assert_eq!(report.files.len(), 2, "{:?}", report.files);

    let avg = &report.files[0];
    assert_eq!(
        (avg.model.as_str(), avg.method.as_str()),
        ("SmolLM2", "avg")
    );
    assert_eq!(avg.dataset.as_deref(), Some("webqa"));
    assert_eq!(avg.paraphrases, 3);
    // Paris right, empty wrong, Munich wrong, York inside New York City right.
    assert_eq!(
        (
            avg.prediction.correct,
            avg.prediction.total,
            avg.prediction.empty
        ),
        (2, 4, 1)
    );
    let cut = avg.generation_cut.unwrap();
    assert_eq!((cut.correct, cut.total), (2, 4));

    let origin = &report.files[1];
    assert_eq!(
        (origin.model.as_str(), origin.method.as_str()),
        ("smollm", "origin")
    );
    assert_eq!(origin.paraphrases, 1);
    assert_eq!((origin.prediction.correct, origin.prediction.total), (1, 2));
    // "St." is one token (an abbreviation), so cutting the generation at the
    // newline keeps "st. john 's" whole and the answer still matches.
    assert_eq!(origin.generation_cut.unwrap().correct, 1);
}

#[test]
fn anchor_compat_counts_empty_predictions_right() {
    let dir = results_dir();
    let options = ReportOptions {
        match_options: MatchOptions {
            bidirectional: true,
            anchor_compat: true,
        },
        ..ReportOptions::default()
    };
    let report = report_with(dir.path(), &Lemmatizer::english().unwrap(), options).unwrap();
    assert_eq!(report.files[0].prediction.correct, 3);
    assert!(
        report
            .to_markdown()
            .contains("1 empty prediction(s), counted as correct")
    );
}

#[test]
fn renderers_and_plot() {
    let dir = results_dir();
    let report = report(dir.path()).unwrap();
    let markdown = report.to_markdown();
    assert!(
        markdown.contains("| SmolLM2 | avg | webqa | 3 | 4 | 50.0% | 2 | 1 | 50.0% |"),
        "{markdown}"
    );
    assert!(markdown.contains("1 empty prediction(s), counted as wrong"));
    let csv = report.to_csv();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with("path,model,method,dataset,paraphrases,total,correct,empty,accuracy"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["files"][0]["prediction"]["empty"], 1);
    let png = dir.path().join("accuracy.png");
    report.write_plot(&png).unwrap();
    let image = image::open(&png).unwrap();
    assert_eq!((image.width(), image.height()), (800, 500));
}

#[test]
fn result_sets_get_an_overview_table_first() {
    // Two result sets laid out as scripts/results/run_all.sh writes them:
    // <set>/<model>/<dataset>/<file>.
    let dir = tempfile::tempdir().unwrap();
    for set in ["set-a", "set-b"] {
        let folder = dir.path().join(set).join("smollm").join("webqa");
        std::fs::create_dir_all(&folder).unwrap();
        write_fused_feather(&folder.join("avg.feather"));
    }
    write_origin_csv(&dir.path().join("set-b/smollm/webqa/origin.csv"));
    let markdown = report(dir.path()).unwrap().to_markdown();
    let overview = markdown.split("Every result file:").next().unwrap();
    assert!(
        overview.starts_with("Accuracy by method and result set:"),
        "{markdown}"
    );
    assert!(
        overview.contains("| method | set-a | set-b |"),
        "{overview}"
    );
    // Two model names (the Feather metadata's `SmolLM2`, the CSV's parent folder
    // `webqa`), so rows name the model; origin comes first (the README's
    // method order) and a set without the method shows "-".
    let origin = overview
        .find("| webqa origin | - | 50.0% |")
        .expect(overview);
    let avg = overview
        .find("| SmolLM2 avg | 50.0% | 50.0% |")
        .expect(overview);
    assert!(origin < avg, "{overview}");
    // A single result set has no overview.
    assert!(
        !report(&dir.path().join("set-a"))
            .unwrap()
            .to_markdown()
            .contains("result set:")
    );
}

#[test]
fn missing_column_names_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.csv"), "uuid,prediction\na,Paris\n").unwrap();
    let error = report(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("bad.csv") && error.contains("answers"),
        "{error}"
    );
}

#[test]
fn bad_list_cell_names_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.csv"), "answers,prediction\n['a',x\n").unwrap();
    let error = report(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("row 0") && error.contains("`answers`"),
        "{error}"
    );
}

/// The pandas-written fixtures (`scripts/make-report-fixtures.py`).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/report")
        .join(name)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The LZ4 (fused) and ZSTD (per_prompt) files pandas wrote: without the
/// arrow-ipc features both fail with "... IPC decompression requires the ...
/// feature".
#[test]
fn pandas_lz4_and_zstd_files_are_scored() {
    let inputs = [
        fixture("pandas_lz4.feather"),
        fixture("pandas_zstd.feather"),
    ];
    let lemmatizer = Lemmatizer::english().unwrap();
    let report = report_paths(&inputs, &lemmatizer, ReportOptions::default()).unwrap();
    let [fused, per_prompt] = report.files.as_slice() else {
        panic!("{:?}", report.files);
    };
    // No metadata: model from the folder, method from the file name.
    assert_eq!(
        (fused.model.as_str(), fused.method.as_str(), fused.kind),
        ("report", "pandas_lz4", FileKind::Fused)
    );
    assert_eq!(fused.paraphrases, 3);
    assert_eq!(
        (
            fused.prediction.correct,
            fused.prediction.total,
            fused.prediction.empty
        ),
        (3, 5, 1)
    );

    assert_eq!(per_prompt.kind, FileKind::PerParaphrase);
    assert_eq!(
        (per_prompt.prediction.correct, per_prompt.prediction.total),
        (3, 9)
    );
    let metrics = per_prompt.paraphrase_metrics.as_ref().unwrap();
    assert_eq!((metrics.items, metrics.paraphrases_per_item), (3, 3));
    // "Paris"/"paris" are equal once lemmatised (lower-cased).
    assert!(close(metrics.consistency.unwrap(), 5.0 / 9.0));
    assert!(close(metrics.fluctuation_range, 2.0 / 3.0));
    assert!(close(metrics.oracle, 2.0 / 3.0));

    // The fused file's u1..u3 (right, right, wrong) against the reference.
    let oracle = fused.oracle.as_ref().unwrap();
    assert_eq!(oracle.reference, inputs[1]);
    assert_eq!(oracle.gap.items, 3);
    assert!(close(oracle.gap.accuracy, 2.0 / 3.0));
    assert!(close(oracle.gap.mean_accuracy, 1.0 / 3.0));
    assert!(close(oracle.gap.recovered.unwrap(), 1.0));

    let compat = ReportOptions {
        match_options: MatchOptions {
            bidirectional: true,
            anchor_compat: true,
        },
        ..ReportOptions::default()
    };
    let report = report_paths(&inputs[..1], &lemmatizer, compat).unwrap();
    assert_eq!(report.files[0].prediction.correct, 4);
}

#[test]
fn stored_lemmas_only_refuses_a_file_without_them() {
    let options = ReportOptions {
        lemmas: LemmaSource::Stored,
        ..ReportOptions::default()
    };
    let error = report_paths(
        &[fixture("pandas_lz4.feather")],
        &Lemmatizer::english().unwrap(),
        options,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("pandas_lz4.feather")
            && error.contains("`predict_lemma`")
            && error.contains("--lemmaize-missing"),
        "{error}"
    );
}

#[test]
fn a_column_of_the_wrong_type_names_file_and_column() {
    let error = report_paths(
        &[fixture("../report-errors/bad_answers.feather")],
        &Lemmatizer::english().unwrap(),
        ReportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(error, EvalError::ColumnType { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("bad_answers.feather")
            && message.contains("column `answers`")
            && message.contains("Int64"),
        "{message}"
    );
}

#[test]
fn inputs_without_result_files_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let error = report(dir.path()).unwrap_err();
    assert!(matches!(error, EvalError::NoResultFiles { .. }), "{error}");
}

#[test]
fn a_file_given_twice_is_scored_once() {
    let dir = results_dir();
    let avg = dir.path().join("smollm/avg.feather");
    let inputs = [dir.path().to_path_buf(), avg.clone(), avg];
    let report = report_paths(
        &inputs,
        &Lemmatizer::english().unwrap(),
        ReportOptions::default(),
    )
    .unwrap();
    assert_eq!(report.files.len(), 2);
    // Several inputs: paths are shown as found.
    assert!(report.files[0].path.starts_with(dir.path()));
}

/// A data folder whose `webquestions/test.jsonl` holds two items with
/// paraphrases: item a keeps its content words in one of two paraphrases
/// (one copy), item b in none.
fn paraphrase_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("webquestions");
    std::fs::create_dir_all(&folder).unwrap();
    let rows = [
        r#"{"uuid": "a", "question": "what is the capital of france?", "answers": ["Paris"], "paraphrases": ["what is the capital of france?", "What is the capital of France", "which city is the french capital?"]}"#,
        r#"{"uuid": "b", "question": "where does rome lie?", "answers": ["Italy"], "paraphrases": ["where does rome lie?", "a missing item from khipex party track"]}"#,
    ];
    std::fs::write(folder.join("test.jsonl"), rows.join("\n") + "\n").unwrap();
    dir
}

#[test]
fn paraphrase_quality_goes_beside_the_files_of_its_set() {
    let results = results_dir();
    let data = paraphrase_data();
    let lemmatizer = Lemmatizer::english().unwrap();
    let set = chorus_eval::paraphrase_set_quality("webqa", Some(data.path()), &lemmatizer).unwrap();
    assert_eq!((set.items, set.all.paraphrases), (2, 3));
    // Only the copy keeps "capital" and "france" ("french" is another lemma).
    assert!((set.all.keep_all - 1.0 / 3.0).abs() < 1e-12, "{set:?}");
    assert!((set.all.copies - 1.0 / 3.0).abs() < 1e-12, "{set:?}");
    assert_eq!(set.all.keep_all_not_copy, 0.0);
    // Kept shares: 1 (copy), 1/2 ("capital"), 0 (rome).
    assert!((set.all.mean_kept - 0.5).abs() < 1e-12, "{set:?}");

    let report = report(results.path())
        .unwrap()
        .with_paraphrase_sets(vec![set.clone()]);
    // The avg file records dataset webqa; the origin CSV records none.
    assert_eq!(report.files[0].paraphrase_quality, Some(set.all));
    assert_eq!(report.files[1].paraphrase_quality, None);
    let markdown = report.to_markdown();
    assert!(markdown.contains("| keep question | file |"), "{markdown}");
    assert!(
        markdown.contains("| webqa | all | 2 | 3 | 33.3% | 50.0% | 33.3% | 0.0% |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| webqa | generated | 2 | 3 |"),
        "{markdown}"
    );
    let csv = report.to_csv();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("paraphrase_keep_question,paraphrase_mean_content_kept,paraphrase_copies")
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["paraphrase_sets"][0]["dataset"], "webqa");

    let missing = chorus_eval::paraphrase_set_quality("no/such.jsonl", None, &lemmatizer)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no/such.jsonl"), "{missing}");
}
