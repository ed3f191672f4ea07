//! Items per second of every method on CPU with SmolLM2-135M (GGUF Q4_1,
//! dequantised to f32) over the first WebQuestions golden items, 5 paraphrases each.
//!
//! `cargo bench -p chorus-ensemble --bench methods` (env `CHORUS_MODEL` = the GGUF,
//! `CHORUS_BENCH_ITEMS` = items per iteration, default 5, `CHORUS_BENCH_BATCH` =
//! questions per batch, default the binaries' 8). Skips, printing why, when the
//! model is absent. Every method runs with the shared context (the default);
//! `*_no_shared_context` cases encode every row whole.

use std::sync::Arc;
use std::time::Duration;

mod common;

use chorus_ensemble::{DecodeConfig, Engine, FlexConfig, Method, Positions};
use chorus_llama::{Checkpoint, Cpu, Llama};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// Same allocator as the binaries, so that the figures are theirs (glibc's malloc
// spends a third of CPU wall time re-faulting activation buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn methods(c: &mut Criterion) {
    let Some(model_path) = chorus_llama::testing::smollm2_or_skip() else {
        return;
    };
    let items: usize = std::env::var("CHORUS_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let checkpoint = Checkpoint::open(&model_path).unwrap();
    let model = Arc::new(Llama::<Cpu>::from_source(checkpoint.weights.as_ref(), &()).unwrap());
    let (context, questions) = common::webqa(items);
    let batch_size = std::env::var("CHORUS_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DecodeConfig::default().batch_size);
    let decode = DecodeConfig {
        batch_size,
        ..DecodeConfig::default()
    };
    let engine = |shared_context: bool| {
        let decode = DecodeConfig {
            shared_context,
            ..decode
        };
        Engine::shared(
            Arc::clone(&model),
            checkpoint.tokenizer.clone(),
            context.clone(),
            decode,
        )
        .unwrap()
    };
    let (shared, whole) = (engine(true), engine(false));
    let cases: Vec<(&str, Method, FlexConfig)> = vec![
        ("origin", Method::Origin, FlexConfig::default()),
        ("per_prompt", Method::PerPrompt, FlexConfig::default()),
        ("avg", Method::Avg, FlexConfig::default()),
        ("max", Method::Max, FlexConfig::default()),
        ("weighted_avg", Method::WeightedAvg, FlexConfig::default()),
        ("weighted_max", Method::WeightedMax, FlexConfig::default()),
        ("flex", Method::Flex, FlexConfig::default()),
        (
            "flex_segment_pipeline",
            Method::Flex,
            FlexConfig::pipeline(Positions::Segment),
        ),
    ];
    let mut group = c.benchmark_group("methods");
    group.throughput(Throughput::Elements(questions.len() as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    for (name, method, flex) in cases {
        group.bench_function(name, |b| {
            b.iter(|| shared.run(method, &flex, &questions).unwrap())
        });
    }
    // The same without the shared context (every row encoded whole), for
    // comparison: what `--no-shared-context` costs.
    for (name, method, flex) in [
        ("avg_no_shared_context", Method::Avg, FlexConfig::default()),
        (
            "flex_no_shared_context",
            Method::Flex,
            FlexConfig::default(),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| whole.run(method, &flex, &questions).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, methods);
criterion_main!(benches);
