//! Inputs the fuzzer (`fuzz/`, target `results`) found crashing the reader,
//! kept as files in tests/fuzz-regressions/ and replayed here on stable,
//! without the fuzzer. Each must now be an error naming the file.
//! `<name>.feather` files are read by `read_results` (what `merge` and the
//! report read), as the target's odd first byte does (the byte is stripped).
//! `crash-*` made arrow-ipc panic; `oom-*` and `alloc-*` (an aborting
//! allocation) made it allocate the lengths the
//! file claims (found by the `report_feather` target, the same reader code).

use std::path::Path;

use chorus_results::read_results;

#[test]
fn every_fuzz_regression_is_a_clear_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "feather") {
            let error = read_results(&path).expect_err("a crashing input must be an error");
            let message = error.to_string();
            assert!(message.contains(path.to_str().unwrap()), "{message}");
            // `oom-*` inputs made arrow allocate what they claimed: they must
            // now be refused by the length check, before arrow reads them.
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
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}
