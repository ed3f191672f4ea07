//! Times one method on the first golden WebQuestions items:
//! `CHORUS_MODEL=... RUST_LOG=chorus_ensemble=debug cargo run --release -p chorus-ensemble --example profile -- per_prompt 2 8`.

use std::path::PathBuf;
use std::time::Instant;

use chorus_ensemble::{DecodeConfig, Engine, FlexConfig, Method, Positions, Question};
use chorus_llama::{Checkpoint, Cpu, Llama};
use chorus_prompt::PromptContext;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
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
        batch_size,
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
    Ok(())
}
