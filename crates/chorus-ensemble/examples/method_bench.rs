//! Items per second of each ensemble method through the [`Engine`], on any backend:
//! the golden WebQuestions items (5 paraphrases each, prompts ~140 tokens),
//! greedy decoding of up to 10 tokens, `--batch-size` questions per batch.
//!
//! ```text
//! cargo build --release --features cuda -p chorus-ensemble --example method_bench
//! method_bench --tokenizer SmolLM2-135M-Instruct.Q4_1.gguf [--model random-3b|PATH]
//!              [--backend cuda-bf16|cuda-f16|cuda-f32|cpu] [--items tests/fixtures/golden/webqa.items.jsonl]
//!              [--methods avg,max,flex,flex-share,per_prompt] [--batch-size 8] [--repeats 3] [--out FILE]
//! ```
//!
//! `--model random-3b` (default) is seeded random weights of Llama-3.2-3B shape
//! (vocab 128256) driven by the tokenizer given (SmolLM2's ids are all below that
//! vocabulary): the compute of a 3B model on real prompt lengths. With random
//! weights no newline is ever chosen, so every answer runs the full 10 steps. A
//! `.gguf` or Hugging Face directory as `--model` uses its weights and tokenizer.
//!
//! Each method: one untimed warm-up over the first batch, then `--repeats` timed
//! runs over all items; reported: median seconds, items/s, prompt tokens/s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chorus_ensemble::{DecodeConfig, Engine, FlexConfig, Method, Question};
use chorus_llama::backend::{OnBackend, run_on};
use chorus_llama::{Checkpoint, Kernels, Llama, RandomWeights, Tokenizer, presets};
use chorus_prompt::PromptContext;
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

/// Parsed command line.
struct Args {
    model: String,
    tokenizer: Option<PathBuf>,
    backend: String,
    items: PathBuf,
    methods: Vec<String>,
    batch_size: usize,
    repeats: usize,
    out: Option<String>,
}

fn parse_args() -> Result<Args, Failure> {
    let mut args = Args {
        model: "random-3b".into(),
        tokenizer: None,
        backend: "cuda-bf16".into(),
        items: PathBuf::from("tests/fixtures/golden/webqa.items.jsonl"),
        methods: ["avg", "max", "flex", "flex-share", "per_prompt"]
            .map(String::from)
            .to_vec(),
        batch_size: 8,
        repeats: 3,
        out: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |flag: &str| words.next().ok_or_else(|| format!("{flag} needs a value"));
        match word.as_str() {
            "--model" => args.model = value("--model")?,
            "--tokenizer" => args.tokenizer = Some(PathBuf::from(value("--tokenizer")?)),
            "--backend" => args.backend = value("--backend")?,
            "--items" => args.items = PathBuf::from(value("--items")?),
            "--methods" => {
                args.methods = value("--methods")?.split(',').map(String::from).collect();
            }
            "--batch-size" => args.batch_size = value("--batch-size")?.parse()?,
            "--repeats" => args.repeats = value("--repeats")?.parse()?,
            "--out" => args.out = Some(value("--out")?),
            other => return Err(format!("unknown argument `{other}` (see the file's docs)").into()),
        }
    }
    if args.repeats == 0 || args.batch_size == 0 {
        return Err("--repeats and --batch-size must be at least 1".into());
    }
    Ok(args)
}

fn main() -> Result<(), Failure> {
    let args = parse_args()?;
    let result = run_on(&args.backend, 0, Job(&args))??;
    let text = serde_json::to_string_pretty(&result)?;
    println!("{text}");
    if let Some(path) = &args.out {
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// The method name of the command line and the engine's method and flex options.
fn method_of(name: &str) -> Result<(Method, FlexConfig), Failure> {
    Ok(match name {
        "flex-share" => (Method::Flex, FlexConfig::default()),
        "flex-plain" => (
            Method::Flex,
            FlexConfig {
                share_prefix: false,
                ..FlexConfig::default()
            },
        ),
        other => (other.parse::<Method>()?, FlexConfig::default()),
    })
}

fn load_model<K: Kernels>(
    args: &Args,
    device: &K::Device,
) -> Result<(Llama<K>, Tokenizer), Failure> {
    if args.model == "random-3b" {
        let path = args
            .tokenizer
            .as_deref()
            .ok_or("--model random-3b needs --tokenizer (a .gguf or tokenizer.json)")?;
        let weights = RandomWeights::new(presets::llama_3_2_3b(), 0);
        return Ok((
            Llama::from_source(&weights, device)?,
            Tokenizer::open(path)?,
        ));
    }
    let checkpoint = Checkpoint::open(Path::new(&args.model))?;
    let tokenizer = match &args.tokenizer {
        Some(path) => Tokenizer::open(path)?,
        None => checkpoint.tokenizer,
    };
    Ok((
        Llama::from_source(checkpoint.weights.as_ref(), device)?,
        tokenizer,
    ))
}

/// The items' questions and their (single) prompt context, from a golden
/// `*.items.jsonl` (fields `paraphrases`, `instruction`, `few_shot`).
fn questions(path: &Path) -> Result<(Vec<Question>, PromptContext), Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut context = None;
    let mut questions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = || format!("{} line {}", path.display(), index + 1);
        let row: Value = serde_json::from_str(line).map_err(|e| format!("{}: {e}", at()))?;
        let paraphrases = row["paraphrases"]
            .as_array()
            .ok_or_else(|| format!("{}: no `paraphrases` array", at()))?
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let item_context = context_of(&row).map_err(|e| format!("{}: {e}", at()))?;
        match &context {
            None => context = Some(item_context),
            Some(c) if *c != item_context => {
                return Err(
                    format!("{}: a second prompt context; one per file expected", at()).into(),
                );
            }
            Some(_) => {}
        }
        questions.push(Question::new(index, paraphrases));
    }
    let context = context.ok_or_else(|| format!("{}: no items", path.display()))?;
    Ok((questions, context))
}

/// The item's context from its `instruction` and rendered `few_shot` block.
fn context_of(row: &Value) -> Result<PromptContext, Failure> {
    let instruction = row["instruction"].as_str().ok_or("no `instruction`")?;
    let few_shot = row["few_shot"].as_str().ok_or("no `few_shot`")?;
    Ok(PromptContext::from_rendered(instruction, few_shot)?)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn bench<K: Kernels>(args: &Args, device: K::Device, dtype: &str) -> Result<Value, Failure> {
    let start = Instant::now();
    let (model, tokenizer) = load_model::<K>(args, &device)?;
    let load_s = start.elapsed().as_secs_f64();
    eprintln!("model ready in {load_s:.1} s");
    let (questions, context) = questions(&args.items)?;
    let decode = DecodeConfig {
        batch_size: chorus_ensemble::BatchSize::Fixed(args.batch_size),
        ..DecodeConfig::default()
    };
    let engine = Engine::shared(Arc::new(model), tokenizer, context, decode)?;
    let mut methods = Vec::new();
    for name in &args.methods {
        let row = bench_method(&engine, name, &questions, args.repeats)?;
        eprintln!("{row}");
        methods.push(row);
    }
    Ok(json!({
        "impl": format!("chorus-ensemble Engine over chorus-llama ({})", engine.model().kernels().name()),
        "backend": args.backend,
        "dtype": dtype,
        "model": args.model,
        "items_file": args.items.display().to_string(),
        "items": questions.len(),
        "paraphrases_per_item": questions.first().map_or(0, |q| q.paraphrases.len()),
        "batch_size": args.batch_size,
        "max_new_tokens": decode.max_new_tokens,
        "model_load_s": load_s,
        "methods": methods,
    }))
}

fn bench_method<K: Kernels>(
    engine: &Engine<K>,
    name: &str,
    questions: &[Question],
    repeats: usize,
) -> Result<Value, Failure> {
    let (method, flex) = method_of(name)?;
    let warm = &questions[..questions
        .len()
        .min(engine.decode_config().batch_size.fixed().unwrap_or(8))];
    engine.run(method, &flex, warm)?;
    let mut times = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        // `run` reads every step's logits back to the host, so the GPU work is done
        // when it returns.
        answers = engine.run(method, &flex, questions)?;
        times.push(t.elapsed().as_secs_f64());
    }
    let seconds = median(times.clone());
    let prompt_tokens: usize = answers.iter().map(|a| a.prompt_tokens).sum();
    let generated: usize = answers.iter().map(|a| a.generated_ids.len()).sum();
    Ok(json!({
        "method": name,
        "items": questions.len(),
        "answers": answers.len(),
        "prompt_tokens": prompt_tokens,
        "generated_tokens": generated,
        "seconds": seconds,
        "items_per_s": questions.len() as f64 / seconds,
        "prompt_tokens_per_s": prompt_tokens as f64 / seconds,
        "runs_s": times,
    }))
}

/// [`bench`] on the backend `--backend` names.
struct Job<'a>(&'a Args);

impl OnBackend for Job<'_> {
    type Output = Result<Value, Failure>;
    fn run<K: Kernels>(self, device: K::Device, dtype: &'static str) -> Self::Output {
        bench::<K>(self.0, device, dtype)
    }
}
