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
