//! `report` over a directory holding a Feather file (with a CSV twin that
//! must be ignored) and a lone CSV file, with every renderer and the plot.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chorus_eval::{Lemmatizer, MatchOptions, ReportOptions, report, report_with};

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
