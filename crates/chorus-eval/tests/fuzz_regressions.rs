//! Feather files the fuzzer found crashing arrow-ipc (issue 16; they live in
//! chorus-results' tests/fuzz-regressions/), replayed through the report's own
//! reader: each must be a report error naming the file, not a panic.

use std::path::Path;

use chorus_eval::{Lemmatizer, ReportOptions, report_paths};

#[test]
fn feather_files_that_crashed_arrow_are_report_errors() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../chorus-results/tests/fuzz-regressions");
    let lemmatizer = Lemmatizer::english().unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "feather") {
            let error = report_paths(&[&path], &lemmatizer, ReportOptions::default())
                .expect_err("a crashing input must be an error");
            let message = error.to_string();
            assert!(message.contains("fuzz-regressions"), "{message}");
            let name = path.file_name().unwrap().to_string_lossy();
            if name.starts_with("oom-") || name.starts_with("alloc-") {
                assert!(
                    message.contains("truncated or corrupt Feather file"),
                    "{message}"
                );
            }
            seen += 1;
        }
    }
    assert!(seen > 0);
}
