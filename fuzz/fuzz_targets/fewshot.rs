//! The few-shot JSON file (`data/fewshot.json`): loaded, then every entry's
//! examples built.
#![no_main]

use chorus_data::load_fewshot;
use chorus_fuzz::put;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = put("fewshot.json", data);
    if let Ok(entries) = load_fewshot(&path) {
        for entry in entries.values() {
            let _ = entry.examples();
        }
    }
});
