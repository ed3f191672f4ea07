//! Arrow streams of a `save_to_disk` folder that claim more than they hold
//! (issue 16): arrow-ipc would allocate the claimed length before reading it,
//! and a failed allocation aborts. They must be clear errors naming the file.

use std::path::Path;

use chorus_data::{EmptyPolicy, load_hf_dataset};

/// A copy of the two-file WebQuestions fixture folder, with `edit` applied to
/// the first Arrow file.
fn edited_fixture(dir: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webqa_paraphrases");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let first = dir.join("data-00000-of-00002.arrow");
    let mut bytes = std::fs::read(&first).unwrap();
    edit(&mut bytes);
    std::fs::write(&first, bytes).unwrap();
}

#[test]
fn a_stream_message_claiming_2_gib_of_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    edited_fixture(dir.path(), |bytes| {
        assert_eq!(
            bytes[..4],
            [0xff; 4],
            "the fixture starts with a continuation marker"
        );
        bytes[4..8].copy_from_slice(&i32::MAX.to_le_bytes());
    });
    let message = load_hf_dataset(dir.path(), None, EmptyPolicy::Error)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("data-00000-of-00002.arrow")
            && message.contains("claims 2147483647 metadata bytes"),
        "{message}"
    );
}

#[test]
fn a_truncated_stream_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    edited_fixture(dir.path(), |bytes| bytes.truncate(bytes.len() / 2));
    let message = load_hf_dataset(dir.path(), None, EmptyPolicy::Error)
        .unwrap_err()
        .to_string();
    assert!(message.contains("data-00000-of-00002.arrow"), "{message}");
}

/// Every Arrow stream the `hf_dataset` fuzz target saved (tests/fuzz-regressions/,
/// the target's mode byte stripped), as the one data file of a `Dataset`
/// folder: each loads or fails with an error naming the file, never a panic
/// or an abort. `oom-*` streams made arrow allocate the lengths they claim:
/// they must be refused by the length walk before arrow reads them.
#[test]
fn every_fuzz_regression_stream_is_an_error_or_loads() {
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("state.json"),
        r#"{"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("dataset_info.json"), "{}").unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&inputs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "arrow") {
            continue;
        }
        std::fs::copy(&path, dir.path().join("data-00000-of-00001.arrow")).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match load_hf_dataset(dir.path(), None, EmptyPolicy::Skip) {
            Ok(_) => assert!(!name.starts_with("oom-"), "{name} loaded"),
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.contains("data-00000-of-00001.arrow"),
                    "{name}: {message}"
                );
                if name.starts_with("oom-") {
                    assert!(
                        message.contains("truncated or corrupt Arrow stream"),
                        "{name}: {message}"
                    );
                }
            }
        }
        seen += 1;
    }
    assert!(seen > 0);
}
