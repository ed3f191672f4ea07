//! Greedy continuation of one prompt, with the top-10 next-token logits.
//!
//! ```text
//! cargo run --release -p chorus-llama --example chorus-llama -- \
//!     [--model PATH] [--backend cpu|burn-cpu|cuda-bf16|cuda-f16|cuda-f32] [--max-new N] PROMPT
//! cargo run --release -p chorus-llama --example chorus-llama -- \
//!     --random tiny|smollm2-135m|llama-3.2-3b [--prompt-len N] [--batch B] [--backend ...]
//! ```
//!
//! `--model` is a `.gguf` file or a Hugging Face directory (default: env
//! `CHORUS_MODEL`, else `models/SmolLM2-135M-Instruct.Q4_1.gguf`). Decoding stops
//! at EOS, at a token whose text contains a newline, or after `--max-new` tokens
//! (default 10), as the Chorus pipeline does. `--random` runs seeded random weights
//! of a preset shape on synthetic token ids (no tokenizer) and prints prefill and
//! decode timings: a quick check of a backend at real model shapes.

use std::path::PathBuf;
use std::time::Instant;

use chorus_llama::backend::{OnBackend, run_on};
use chorus_llama::{
    Checkpoint, ForwardInput, Kernels, Llama, RandomWeights, WeightSource, presets,
};

type Failure = Box<dyn std::error::Error>;

/// Parsed command line.
struct Args {
    model: PathBuf,
    backend: String,
    max_new: usize,
    random: Option<String>,
    prompt_len: usize,
    batch: usize,
    prompt: String,
}

fn parse_args() -> Result<Args, Failure> {
    let default_model = std::env::var_os("CHORUS_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let mut args = Args {
        model: default_model,
        backend: "cpu".into(),
        max_new: 10,
        random: None,
        prompt_len: 140,
        batch: 1,
        prompt: String::new(),
    };
    let mut words = std::env::args().skip(1);
    let mut prompt = Vec::new();
    while let Some(word) = words.next() {
        let mut value = |flag: &str| words.next().ok_or_else(|| format!("{flag} needs a value"));
        match word.as_str() {
            "--model" => args.model = PathBuf::from(value("--model")?),
            "--backend" => args.backend = value("--backend")?,
            "--max-new" => args.max_new = value("--max-new")?.parse()?,
            "--random" => args.random = Some(value("--random")?),
            "--prompt-len" => args.prompt_len = value("--prompt-len")?.parse()?,
            "--batch" => args.batch = value("--batch")?.parse()?,
            "--help" | "-h" => {
                return Err("see the doc comment at the top of examples/chorus-llama.rs".into());
            }
            _ => prompt.push(word),
        }
    }
    args.prompt = prompt.join(" ");
    if args.prompt.is_empty() && args.random.is_none() {
        args.prompt = "Q: What is the capital of France?\nA:".into();
    }
    Ok(args)
}

fn main() -> Result<(), Failure> {
    let args = parse_args()?;
    run_on(&args.backend, 0, Job(&args))?
}

/// [`run`] on the kernels `--backend` names.
struct Job<'a>(&'a Args);

impl OnBackend for Job<'_> {
    type Output = Result<(), Failure>;
    fn run<K: Kernels>(self, device: K::Device, _: &'static str) -> Self::Output {
        run::<K>(self.0, device)
    }
}

fn run<K: Kernels>(args: &Args, device: K::Device) -> Result<(), Failure> {
    match &args.random {
        Some(preset) => run_random::<K>(args, preset, &device),
        None => run_checkpoint::<K>(args, &device),
    }
}

fn run_checkpoint<K: Kernels>(args: &Args, device: &K::Device) -> Result<(), Failure> {
    let start = Instant::now();
    let checkpoint = Checkpoint::open(&args.model)?;
    let model = Llama::<K>::from_source(checkpoint.weights.as_ref(), device)?;
    let tokenizer = &checkpoint.tokenizer;
    eprintln!(
        "loaded {} in {:.2} s",
        args.model.display(),
        start.elapsed().as_secs_f64()
    );
    let prompt_ids = tokenizer.encode_prompt(&args.prompt)?;
    println!("prompt: {:?} ({} tokens)", args.prompt, prompt_ids.len());

    let mut cache = model.new_cache(1, 256)?;
    let prefill_start = Instant::now();
    let mut logits = last_logits(&model, &mut cache, prompt_ids)?;
    eprintln!(
        "prefill: {} tokens in {:.3} s",
        cache.len(0),
        prefill_start.elapsed().as_secs_f64()
    );
    println!("top-10 next-token logits:");
    for (id, logit) in top_k(&logits, 10) {
        println!("  {id:>6} {logit:>10.4} {:?}", tokenizer.decode(&[id])?);
    }
    let mut generated = Vec::new();
    let decode_start = Instant::now();
    for _ in 0..args.max_new {
        let (next, _) = top_k(&logits, 1)[0];
        generated.push(next);
        let text = tokenizer.decode(&[next])?;
        if Some(next) == tokenizer.eos_id() || text.contains('\n') {
            break;
        }
        logits = last_logits(&model, &mut cache, vec![next])?;
    }
    let seconds = decode_start.elapsed().as_secs_f64();
    println!("generated ids: {generated:?}");
    println!("continuation: {:?}", tokenizer.decode(&generated)?);
    eprintln!("{} tokens in {seconds:.3} s", generated.len());
    Ok(())
}

/// Feeds `tokens` (one row) after the cache and returns the last position's logits.
fn last_logits<K: Kernels>(
    model: &Llama<K>,
    cache: &mut chorus_llama::KvCache<K>,
    tokens: Vec<u32>,
) -> Result<Vec<f32>, Failure> {
    let input = ForwardInput::causal(vec![tokens], cache.len(0));
    let logits = model.forward(&input, cache)?;
    Ok(model.logits_to_vec(&logits)?)
}

/// The `k` largest logits, largest first; ties go to the smaller id (as argmax).
fn top_k(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(k);
    order
}

fn run_random<K: Kernels>(args: &Args, preset: &str, device: &K::Device) -> Result<(), Failure> {
    let config = match preset {
        "tiny" => presets::tiny(),
        "smollm2-135m" => presets::smollm2_135m(),
        "llama-3.2-3b" => presets::llama_3_2_3b(),
        other => {
            return Err(
                format!("unknown preset `{other}` (tiny, smollm2-135m, llama-3.2-3b)").into(),
            );
        }
    };
    let weights = RandomWeights::new(config, 0);
    let vocab = weights.config().vocab_size as u32;
    let start = Instant::now();
    let model = Llama::<K>::from_source(&weights, device)?;
    eprintln!(
        "random {preset} weights uploaded in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let rows: Vec<Vec<u32>> = (0..args.batch as u32)
        .map(|r| {
            (0..args.prompt_len as u32)
                .map(|i| (r * 7919 + i * 104_729) % vocab)
                .collect()
        })
        .collect();
    // One warm-up pass (kernel compilation, autotune), then the timed ones.
    last_batch(&model, rows.clone(), None)?;
    let start = Instant::now();
    let mut cache = model.new_cache(args.batch, args.prompt_len + args.max_new)?;
    last_batch(&model, rows, Some(&mut cache))?;
    let prefill = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for step in 0..args.max_new {
        let next = vec![vec![(step as u32 * 31) % vocab]; args.batch];
        last_batch(&model, next, Some(&mut cache))?;
    }
    let decode = start.elapsed().as_secs_f64();
    let tokens = (args.batch * args.prompt_len) as f64;
    println!(
        "prefill: {} x {} tokens in {prefill:.4} s = {:.1} tokens/s",
        args.batch,
        args.prompt_len,
        tokens / prefill
    );
    println!(
        "decode: {} steps x {} rows in {decode:.4} s = {:.1} tokens/s",
        args.max_new,
        args.batch,
        (args.max_new * args.batch) as f64 / decode
    );
    Ok(())
}

/// One causal pass over `rows`, reading the logits back (which also waits for an
/// asynchronous device to finish).
fn last_batch<K: Kernels>(
    model: &Llama<K>,
    rows: Vec<Vec<u32>>,
    cache: Option<&mut chorus_llama::KvCache<K>>,
) -> Result<(), Failure> {
    let mut scratch;
    let cache = match cache {
        Some(cache) => cache,
        None => {
            scratch = model.new_cache(rows.len(), rows[0].len())?;
            &mut scratch
        }
    };
    let input = ForwardInput::causal(rows, cache.len(0));
    let logits = model.forward(&input, cache)?;
    model.logits_to_vec(&logits)?;
    Ok(())
}
