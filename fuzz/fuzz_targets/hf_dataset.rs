//! Hugging Face `save_to_disk` folders. The first byte picks what the input
//! replaces in a valid one-file `Dataset` folder: 0 — the Arrow stream file;
//! 1 — `state.json`; 2 — `dataset_dict.json` of a `DatasetDict` around it.
#![no_main]

use chorus_data::{EmptyPolicy, load_hf_dataset};
use chorus_fuzz::{put, scratch};
use libfuzzer_sys::fuzz_target;

const STATE: &[u8] = br#"{"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}"#;
/// A valid Arrow stream (a fixture of chorus-data's tests).
const ARROW: &[u8] = include_bytes!(
    "../../crates/chorus-data/tests/fixtures/webqa_paraphrases/data-00000-of-00002.arrow"
);

fuzz_target!(|data: &[u8]| {
    chorus_fuzz::tolerate_caught_arrow_panics();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let root = scratch().join("hf");
    let _ = std::fs::remove_dir_all(&root);
    let (arrow, state, dict): (&[u8], &[u8], Option<&[u8]>) = match mode % 3 {
        0 => (rest, STATE, None),
        1 => (ARROW, rest, None),
        _ => (ARROW, STATE, Some(rest)),
    };
    let split = if dict.is_some() { "hf/test" } else { "hf" };
    put(&format!("{split}/data-00000-of-00001.arrow"), arrow);
    put(&format!("{split}/state.json"), state);
    put(&format!("{split}/dataset_info.json"), b"{}");
    if let Some(dict) = dict {
        put("hf/dataset_dict.json", dict);
        let _ = load_hf_dataset(&root, Some("test"), EmptyPolicy::Skip);
    }
    let _ = load_hf_dataset(&root, None, EmptyPolicy::Error);
});
