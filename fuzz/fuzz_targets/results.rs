//! Result files as `--resume` and `merge` read them. The first byte picks:
//! even — the input is the checkpoint `<out>.feather.partial.jsonl` of a fixed
//! run (method from the byte) and the writer resumes from it, then finishes;
//! odd — the input is a Feather file read by `read_results` (what `merge` and
//! `report --resume` checks read).
#![no_main]

use chorus_fuzz::{fuzz_run, put, scratch};
use chorus_results::{Method, Outcome, ResultWriter, WriteOptions, read_results};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chorus_fuzz::tolerate_caught_arrow_panics();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let path = put("in.feather", rest);
        let _ = read_results(&path);
        return;
    }
    let methods = Method::ALL;
    let method = methods[usize::from(mode / 2) % methods.len()];
    let out = scratch().join("out/run.feather");
    let _ = std::fs::remove_dir_all(scratch().join("out"));
    put("out/run.feather.partial.jsonl", rest);
    let options = WriteOptions {
        force: false,
        resume: true,
    };
    if let Ok(Outcome::Ready(writer)) = ResultWriter::open(&out, fuzz_run(method), options) {
        let _ = writer.finish();
        let _ = read_results(&out);
    }
});
