//! Lemmatising 10,000 short strings (answers and predictions from the dev
//! set, cycled), the workload of scoring one result file.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use chorus_eval::Lemmatizer;

fn dev_texts() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/lemmas/spacy_lg_dev.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("dev set present");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value["text"].as_str().map(str::to_owned))
        .collect()
}

fn lemmatize_10k(c: &mut Criterion) {
    let lemmatizer = Lemmatizer::english().expect("embedded tables load");
    let texts: Vec<String> = dev_texts().into_iter().cycle().take(10_000).collect();
    c.bench_function("lemmatize 10k strings", |b| {
        b.iter(|| {
            let mut total = 0;
            for text in &texts {
                total += lemmatizer.lemmas(black_box(text)).len();
            }
            total
        });
    });
    c.bench_function("Lemmatizer::english", |b| b.iter(Lemmatizer::english));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = lemmatize_10k
}
criterion_main!(benches);
