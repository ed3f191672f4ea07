//! SmolLM2-135M on the CPU backend: prefill of a 140-token prompt and one decode
//! step over a 140-token KV cache. Skips (prints why) when the model is absent.
//!
//! `cargo bench -p chorus-llama --bench smollm2`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use chorus_llama::{Checkpoint, Cpu, ForwardInput, Llama};

const PROMPT_LEN: usize = 140;

fn model_path() -> PathBuf {
    chorus_llama::testing::smollm2_path()
}

/// A deterministic prompt of in-vocabulary ids (the cost does not depend on them).
fn prompt(vocab: usize, len: usize) -> Vec<u32> {
    (0..len)
        .map(|i| ((i * 104_729 + 7) % vocab) as u32)
        .collect()
}

fn smollm2(c: &mut Criterion) {
    let path = model_path();
    if !path.exists() {
        eprintln!(
            "skipping smollm2 benches: {} not found (bash scripts/fetch-model)",
            path.display()
        );
        return;
    }
    let checkpoint = Checkpoint::open(&path).expect("model loads");
    let model = Llama::<Cpu>::from_source(checkpoint.weights.as_ref(), &Default::default())
        .expect("model builds");
    let tokens = prompt(model.config().vocab_size, PROMPT_LEN);

    let mut group = c.benchmark_group("smollm2_cpu");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(PROMPT_LEN as u64));
    group.bench_function("prefill_140", |b| {
        b.iter(|| {
            let mut cache = model.new_cache(1);
            let input = ForwardInput::causal(vec![tokens.clone()], 0);
            model
                .forward(&input, &mut cache)
                .expect("forward")
                .into_data()
        })
    });

    let mut prefilled = model.new_cache(1);
    let input = ForwardInput::causal(vec![tokens.clone()], 0);
    model.forward(&input, &mut prefilled).expect("prefill");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_step_after_140", |b| {
        b.iter_batched(
            || prefilled.fork(),
            |mut cache| {
                let input = ForwardInput::causal(vec![vec![tokens[0]]], cache.len());
                model
                    .forward(&input, &mut cache)
                    .expect("forward")
                    .into_data()
            },
            BatchSize::SmallInput,
        )
    });

    // Five rows decoding together (avg / max / per_prompt batches of 5 paraphrases).
    let batch5 = prefilled.repeat_rows(5).expect("batch-1 cache");
    group.throughput(Throughput::Elements(5));
    group.bench_function("decode_step_batch5_after_140", |b| {
        b.iter_batched(
            || batch5.fork(),
            |mut cache| {
                let input = ForwardInput::causal(vec![vec![tokens[0]]; 5], cache.len());
                model
                    .forward(&input, &mut cache)
                    .expect("forward")
                    .into_data()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, smollm2);
criterion_main!(benches);
