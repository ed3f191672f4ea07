//! SmolLM2-135M on the CPU kernels: prefill of a 140-token prompt and of 20
//! ragged rows, and one decode step of 1, 5 and 40 rows over a 140-token KV
//! cache. Skips (prints why) when the model is absent.
//!
//! `cargo bench -p chorus-llama --bench smollm2`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use chorus_llama::{Checkpoint, Cpu, ForwardInput, KvCache, Llama};

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
    let model = Llama::<Cpu>::from_source(checkpoint.weights.as_ref(), &()).expect("model builds");
    let tokens = prompt(model.config().vocab_size, PROMPT_LEN);
    let logits = |cache: &mut KvCache<Cpu>, input: &ForwardInput| {
        let logits = model.forward(input, cache).expect("forward");
        model.logits_to_vec(&logits).expect("logits")
    };

    let mut group = c.benchmark_group("smollm2_cpu");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(PROMPT_LEN as u64));
    group.bench_function("prefill_140", |b| {
        b.iter(|| {
            let mut cache = model.new_cache(1, PROMPT_LEN).expect("cache");
            logits(&mut cache, &ForwardInput::causal(vec![tokens.clone()], 0))
        })
    });

    // 20 rows of 85 tokens in one pass: the new tokens of a flex batch once the
    // context is shared.
    let ragged: Vec<Vec<u32>> = (0..20)
        .map(|r| prompt(model.config().vocab_size - r, 85))
        .collect();
    group.throughput(Throughput::Elements(20 * 85));
    group.bench_function("prefill_20x85", |b| {
        b.iter(|| {
            let mut cache = model.new_cache(20, 85).expect("cache");
            logits(&mut cache, &ForwardInput::causal(ragged.clone(), 0))
        })
    });

    for rows in [1usize, 5, 8, 16, 40] {
        let mut prefilled = model.new_cache(rows, PROMPT_LEN + 1).expect("cache");
        logits(
            &mut prefilled,
            &ForwardInput::causal(vec![tokens.clone(); rows], 0),
        );
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(format!("decode_step_{rows}_rows_after_140"), |b| {
            b.iter_batched(
                || model.fork_cache(&prefilled).expect("fork"),
                |mut cache| {
                    let input = ForwardInput::causal(vec![vec![tokens[0]]; rows], PROMPT_LEN);
                    logits(&mut cache, &input)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, smollm2);
criterion_main!(benches);
