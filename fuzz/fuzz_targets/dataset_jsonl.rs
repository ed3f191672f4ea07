//! Dataset JSONL files: the format sniffed from the first record as the CLI
//! does (`load_path`), then both named formats, under both empty policies.
#![no_main]

use chorus_data::{EmptyPolicy, load_path};
use chorus_data::{load_myriadlama, load_webquestions};
use chorus_fuzz::put;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = put("dataset.jsonl", data);
    for policy in [EmptyPolicy::Error, EmptyPolicy::Skip] {
        let _ = load_path(&path, policy);
        let _ = load_webquestions(&path, policy);
        let _ = load_myriadlama(&path, policy);
    }
});
