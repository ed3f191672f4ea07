//! Writing 10,000 result rows: the final Feather + CSV write alone, a whole
//! run through the checkpointing writer, and reading the file back.

use std::hint::black_box;
use std::path::Path;

use chorus_results::{
    Method, Outcome, Output, ResultRow, ResultWriter, RowInput, RunInfo, StopReason, WriteOptions,
    read_results, write_table,
};
use criterion::{Criterion, criterion_group, criterion_main};

const ROWS: u64 = 10_000;
const PARAPHRASES: usize = 5;

/// A weighted row shaped like a WebQuestions one: five paraphrases with
/// 5-shot prompts of about 500 characters.
fn row(item_index: u64) -> ResultRow {
    let few_shot = "Q: what is the capital of france?\nA: Paris\n\n".repeat(10);
    let paraphrases: Vec<String> = (0..PARAPHRASES)
        .map(|p| format!("what country is item {item_index} in (variant {p})?"))
        .collect();
    let prompts = paraphrases
        .iter()
        .map(|paraphrase| format!("Answer the question.\n\n{few_shot}Q: {paraphrase}\nA:"))
        .collect();
    let confidences = (0..PARAPHRASES).map(|p| 0.1 * p as f64 + 0.05).collect();
    ResultRow {
        item_index,
        uuid: format!("{item_index:032x}"),
        answers: vec!["Jamaica".into(), "Kingston, Jamaica".into()],
        input: RowInput::Weighted {
            paraphrases,
            prompts,
            confidences,
        },
        output: Output {
            prediction: "Jamaica".into(),
            generation: " Jamaica\n".into(),
            generated_ids: vec![24051, 198],
            stop_reason: StopReason::Newline,
        },
        lemmas: None,
    }
}

fn run() -> RunInfo {
    RunInfo::new(
        "SmolLM2-135M",
        Method::WeightedAvg,
        "webqa",
        serde_json::json!({"max_new_tokens": 10}),
    )
}

/// Writes all rows through the writer, 100 rows (one fsync) per batch.
fn write_run(feather: &Path) {
    let options = WriteOptions {
        force: true,
        resume: false,
    };
    let Ok(Outcome::Ready(mut writer)) = ResultWriter::open(feather, run(), options) else {
        panic!("cannot open the writer at {}", feather.display());
    };
    let rows: Vec<ResultRow> = (0..ROWS).map(row).collect();
    for batch in rows.chunks(100) {
        if let Err(error) = writer.append(batch.to_vec()) {
            panic!("{error}");
        }
    }
    if let Err(error) = writer.finish() {
        panic!("{error}");
    }
}

fn benches(c: &mut Criterion) {
    let directory = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let source = directory.path().join("source.feather");
    write_run(&source);
    let table = read_results(&source).unwrap_or_else(|error| panic!("{error}"));
    let target = directory.path().join("target.feather");

    let mut group = c.benchmark_group("results_10k_weighted_rows");
    group.sample_size(10);
    group.bench_function("write_table_feather_and_csv", |b| {
        b.iter(|| write_table(black_box(&table), &target).unwrap_or_else(|error| panic!("{error}")))
    });
    group.bench_function("writer_checkpoint_100_per_batch_then_finish", |b| {
        b.iter(|| write_run(&target))
    });
    group.bench_function("read_results", |b| {
        b.iter(|| read_results(black_box(&source)).unwrap_or_else(|error| panic!("{error}")))
    });
    group.finish();
}

criterion_group!(results, benches);
criterion_main!(results);
