//! The `report` subcommand's reader: one result file, Feather (even first
//! byte) or CSV (odd), scored with the English lemmatiser.
#![no_main]

use std::sync::OnceLock;

use chorus_eval::{Lemmatizer, ReportOptions, report_paths};
use chorus_fuzz::put;
use libfuzzer_sys::fuzz_target;

fn lemmatizer() -> &'static Lemmatizer {
    static L: OnceLock<Lemmatizer> = OnceLock::new();
    L.get_or_init(|| Lemmatizer::english().expect("built-in lemmatiser"))
}

fuzz_target!(|data: &[u8]| {
    chorus_fuzz::tolerate_caught_arrow_panics();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let name = if mode % 2 == 0 {
        "r/run.feather"
    } else {
        "r/run.csv"
    };
    let path = put(name, rest);
    if let Ok(report) = report_paths(&[&path], lemmatizer(), ReportOptions::default()) {
        let _ = report.to_markdown();
        let _ = report.to_json();
    }
});
