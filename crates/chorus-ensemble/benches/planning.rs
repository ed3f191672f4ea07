//! Planning (prompts built and tokenized, masks compiled) of the golden
//! WebQuestions items for `avg` and `flex`, on one thread, with the SmolLM2
//! tokenizer: the host work of a batch before the device sees it (on a GPU
//! the first batch waits for all of it). `whole` encodes every prompt from its
//! first character, `prefix` from the context's last word on
//! ([`chorus_llama::PromptPrefix`]), as the engine does.
//!
//! `cargo bench -p chorus-ensemble --bench planning` (env `CHORUS_MODEL` =
//! the GGUF). Skips, printing why, when the model is absent.

mod common;

use chorus_ensemble::rows::{Prompter, context_prefix};
use chorus_ensemble::{FlexConfig, Method, strategy_for};
use chorus_llama::{PromptPrefix, Tokenizer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn planning(c: &mut Criterion) {
    let Some(model_path) = chorus_llama::testing::smollm2_or_skip() else {
        return;
    };
    let tokenizer = Tokenizer::open(&model_path).unwrap();
    let (context, questions) = common::webqa(usize::MAX);
    let prefix = context_prefix(&context, &tokenizer).unwrap();
    assert!(prefix.resumes());
    // The same prefix ids, but every prompt encoded whole: an empty prefix
    // text starts every prompt and never resumes.
    let whole = PromptPrefix::new(&tokenizer, "").unwrap();
    let mut group = c.benchmark_group("planning");
    group.throughput(Throughput::Elements(questions.len() as u64));
    for method in [Method::Avg, Method::Flex] {
        let strategy = strategy_for(method, &FlexConfig::default());
        for (name, encoder) in [("whole", &whole), ("prefix", &prefix)] {
            let prompter = Prompter {
                context: &context,
                tokenizer: &tokenizer,
                prefix: encoder,
            };
            group.bench_function(format!("{}/{name}", method.name()), |b| {
                b.iter(|| {
                    questions
                        .iter()
                        .map(|q| strategy.plan(q, &prompter).unwrap().len())
                        .sum::<usize>()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
