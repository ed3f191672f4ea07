//! Items per second of every method on CPU with SmolLM2-135M (GGUF Q4_1,
//! dequantised to f32) over the first WebQuestions golden items, 5 paraphrases each.
//!
//! `cargo bench -p chorus-ensemble --bench methods` (env `CHORUS_MODEL` = the GGUF,
//! `CHORUS_BENCH_ITEMS` = items per iteration, default 5). Skips, printing why,
//! when the model is absent.

use std::sync::Arc;
use std::time::Duration;

use chorus_ensemble::{DecodeConfig, Engine, FlexConfig, Method, Positions, Question};
use chorus_llama::{Checkpoint, Cpu, Llama};
use chorus_prompt::PromptContext;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// Same allocator as the binaries, so that the figures are theirs (glibc's malloc
// spends a third of CPU wall time re-faulting activation buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The golden WebQuestions items: prompt context and questions.
fn webqa(limit: usize) -> (PromptContext, Vec<Question>) {
    let mut rows = chorus_llama::testing::golden_records("webqa.items.jsonl");
    rows.truncate(limit);
    let context = PromptContext::from_rendered(
        rows[0]["instruction"].as_str().unwrap(),
        rows[0]["few_shot"].as_str().unwrap(),
    )
    .unwrap();
    let questions = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let paraphrases = r["paraphrases"].as_array().unwrap();
            Question::new(
                i,
                paraphrases
                    .iter()
                    .map(|p| p.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    (context, questions)
}

fn methods(c: &mut Criterion) {
    let Some(model_path) = chorus_llama::testing::smollm2_or_skip() else {
        return;
    };
    let items: usize = std::env::var("CHORUS_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let checkpoint = Checkpoint::open(&model_path).unwrap();
    let model = Arc::new(
        Llama::<Cpu>::from_source(checkpoint.weights.as_ref(), &Default::default()).unwrap(),
    );
    let (context, questions) = webqa(items);
    let engine = Engine::shared(
        model,
        checkpoint.tokenizer,
        context,
        DecodeConfig::default(),
    );
    let cases: Vec<(&str, Method, FlexConfig)> = vec![
        ("origin", Method::Origin, FlexConfig::default()),
        ("per_prompt", Method::PerPrompt, FlexConfig::default()),
        ("avg", Method::Avg, FlexConfig::default()),
        ("max", Method::Max, FlexConfig::default()),
        ("weighted_avg", Method::WeightedAvg, FlexConfig::default()),
        ("weighted_max", Method::WeightedMax, FlexConfig::default()),
        ("flex", Method::Flex, FlexConfig::default()),
        (
            "flex_share_prefix",
            Method::Flex,
            FlexConfig {
                share_prefix: true,
                ..FlexConfig::default()
            },
        ),
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
            b.iter(|| engine.run(method, &flex, &questions).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, methods);
criterion_main!(benches);
