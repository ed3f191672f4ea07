//! Times one method on the first golden WebQuestions items and prints where
//! the time went, per model operation (the trace spans of chorus-llama):
//! `CHORUS_MODEL=... cargo run --release -p chorus-ensemble --example profile -- per_prompt 2 8`
//! (method, items, batch size; `RUST_LOG=chorus_ensemble=debug` adds per-batch lines).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use chorus_ensemble::{DecodeConfig, Engine, FlexConfig, Method, Positions, Question};

// Same allocator as the binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use chorus_llama::{Checkpoint, Cpu, Llama};
use chorus_prompt::PromptContext;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(
            OpTimes.with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("chorus_llama", tracing::Level::TRACE),
            ),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    let method = args.get(1).map_or("per_prompt", String::as_str);
    let items: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    let batch_size: usize = args.get(3).map_or(Ok(8), |s| s.parse())?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()?
        .join("../..");
    let model_path = std::env::var_os("CHORUS_MODEL").map_or_else(
        || root.join("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        PathBuf::from,
    );
    let started = Instant::now();
    let checkpoint = Checkpoint::open(&model_path)?;
    let model = Llama::<Cpu>::from_source(checkpoint.weights.as_ref(), &())?;
    eprintln!("load {:.2}s", started.elapsed().as_secs_f64());
    let text = std::fs::read_to_string(root.join("tests/fixtures/golden/webqa.items.jsonl"))?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .take(items)
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let context = PromptContext::from_rendered(
        rows[0]["instruction"].as_str().unwrap_or_default(),
        rows[0]["few_shot"].as_str().unwrap_or_default(),
    )?;
    let started = Instant::now();
    let decode = DecodeConfig {
        batch_size: chorus_ensemble::BatchSize::Fixed(batch_size),
        ..DecodeConfig::default()
    };
    let engine = Engine::new(model, checkpoint.tokenizer, context, decode)?;
    eprintln!("engine {:.2}s", started.elapsed().as_secs_f64());
    let questions: Vec<Question> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let paraphrases = r["paraphrases"].as_array().into_iter().flatten();
            Question::new(
                i,
                paraphrases
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .collect();
    let (method, flex) = match method {
        "flex_segment" => (Method::Flex, FlexConfig::pipeline(Positions::Segment)),
        "flex_continuous" => (Method::Flex, FlexConfig::pipeline(Positions::Continuous)),
        name => (name.parse()?, FlexConfig::default()),
    };
    let started = Instant::now();
    let answers = engine.run(method, &flex, &questions)?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{method}: {items} items in {seconds:.2}s ({:.2} s/item)",
        seconds / items as f64
    );
    for a in answers.iter().take(3) {
        eprintln!("{:?} {:?}", a.generated_ids, a.prediction);
    }
    print_op_times(seconds);
    Ok(())
}

/// Busy time and calls per operation span.
static TIMES: Mutex<Option<HashMap<String, (Duration, usize)>>> = Mutex::new(None);

/// Accumulates the busy time of chorus-llama's `op` spans by their `name`
/// field (and of `forward` spans as a whole).
struct OpTimes;

struct Started(Instant, String);

#[derive(Default)]
struct NameField(Option<String>);

impl tracing::field::Visit for NameField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for OpTimes
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut name = NameField::default();
        attrs.record(&mut name);
        let key = name
            .0
            .unwrap_or_else(|| attrs.metadata().name().to_string());
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now(), key));
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(started) = span.extensions_mut().get_mut::<Started>()
        {
            started.0 = Instant::now();
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(started) = span.extensions().get::<Started>()
        {
            let mut times = TIMES.lock().unwrap_or_else(|e| e.into_inner());
            let entry = times
                .get_or_insert_with(HashMap::new)
                .entry(started.1.clone())
                .or_default();
            entry.0 += started.0.elapsed();
            entry.1 += 1;
        }
    }
}

fn print_op_times(total: f64) {
    let times = TIMES.lock().unwrap_or_else(|e| e.into_inner());
    let Some(times) = times.as_ref() else {
        return;
    };
    let mut rows: Vec<_> = times.iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.0));
    eprintln!(
        "{:<12} {:>9} {:>7} {:>7}",
        "span", "seconds", "share", "calls"
    );
    for (name, (busy, calls)) in rows {
        eprintln!(
            "{name:<12} {:>9.3} {:>6.1}% {calls:>7}",
            busy.as_secs_f64(),
            100.0 * busy.as_secs_f64() / total
        );
    }
}
